"""`python -m engine` is `nudge`."""

from engine.cli import main

main()
