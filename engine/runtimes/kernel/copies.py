"""Copies of a workspace version's files, checked against the version they claim: a process that runs a
version runs those files, whatever the workspace folder holds by then (SPEC §10: a version runs only when
applied). Kafka keeps them on the broker (kafka/snapshots.py); `nudge run` beside its database, for its
engine process (embedded/engine_process.py).
"""

from __future__ import annotations

import io
import shutil
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from engine.runtimes.kernel.serving import content_version
from rules.workspace import fingerprint

UNPACKED_LIMIT = 64 * 1024 * 1024  # bytes a copy's files may take once unpacked: 1 MB of zeros would make ~1 GB


class SnapshotError(Exception):
    """A snapshot that cannot be run: missing, not a zip, or not the version it is filed under."""


def pack(root: Path) -> bytes:
    """The files `content_version` hashes, zipped under their paths in the workspace."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, _ in fingerprint(root):
            archive.writestr(Path(path).relative_to(root).as_posix(), Path(path).read_bytes())
    return buffer.getvalue()


def unpack(data: bytes, into: Path, version: str | None = None, limit: int = UNPACKED_LIMIT) -> Path:
    """The snapshot's files in `into`/VERSION, the version they hash to (a folder unpacked before is
    kept when it still does); raises SnapshotError unless they are `version`, when given, or when they
    would take more than `limit` bytes unpacked."""
    if version is not None and (into / version).is_dir() and content_version(into / version) == version:
        return into / version
    into.mkdir(parents=True, exist_ok=True)
    fresh = Path(tempfile.mkdtemp(prefix=".unpacking.", dir=into))
    try:
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                if sum(entry.file_size for entry in archive.infolist()) > limit:
                    raise SnapshotError(f"a snapshot (of version {version or 'unknown'}) would take more than "
                                        f"{limit:,} bytes unpacked: refused")
                for name in archive.namelist():
                    parts = PurePosixPath(name).parts
                    if not parts or PurePosixPath(name).is_absolute() or ".." in parts:
                        raise SnapshotError(f"a snapshot names a file outside the workspace ({name!r})")
                    (fresh / name).parent.mkdir(parents=True, exist_ok=True)
                    (fresh / name).write_bytes(archive.read(name))
        except (zipfile.BadZipFile, OSError) as exc:
            raise SnapshotError(f"a snapshot (of version {version or 'unknown'}) cannot be read: {exc}") from exc
        found = content_version(fresh)
        if version is not None and found != version:
            raise SnapshotError(f"the snapshot filed as version {version} holds the files of version {found}: "
                                "refused")
        shutil.rmtree(into / found, ignore_errors=True)
        try:
            fresh.rename(into / found)
        except OSError:  # unpacked there at the same moment by another process sharing the folder
            if not (into / found).is_dir() or content_version(into / found) != found:
                raise
        return into / found
    finally:
        shutil.rmtree(fresh, ignore_errors=True)
