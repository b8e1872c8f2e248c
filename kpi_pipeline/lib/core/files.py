"""Files written whole or not at all, with the permissions of a plain file write.

Landing files and report pages are read while they are being replaced (a normalization
run, a browser, a web server): each is written to a temporary file in the same folder
and renamed over the target, so a reader sees the old file or the new one, never half.

The temporary file is opened with mode 0o666 so the kernel applies the process umask
(and the folder's default ACL), as for any plain ``open(..., "w")``: ``tempfile.mkstemp``
creates its file 0600, which made every page unreadable to a web server or a colleague
running as another user. ``O_EXCL`` with a random suffix keeps mkstemp's guarantee that
the name is ours alone.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def _create_temporary(folder: Path, name: str) -> tuple[int, Path]:
    """A new, empty file beside ``name`` in ``folder``, opened for writing."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = folder / f".{name}.{secrets.token_hex(6)}.tmp"
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name for {name} in {folder}")


def write_atomic(path: Path, content: str | bytes) -> None:
    """Write ``content`` (text as UTF-8) through a temporary file in the same folder, then
    rename it over ``path``; the file gets the mode a plain write would give a new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temporary(path.parent, path.name)
    data = content.encode("utf-8") if isinstance(content, str) else content
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
