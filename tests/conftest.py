from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"

# Processes the tests start (`python -m engine ...`, some from a temporary directory) must run
# this checkout's code, not whichever copy is installed editable in the virtualenv.
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
