"""Where sessionlens writes: a folder checked before any work starts."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import InputError


def writable_dir(path: Path, what: str) -> Path:
    """Creates ``path`` if missing and proves it writable with a probe file.

    Args:
        path: the folder to write into.
        what: the flag it came from (``--out``, ``--lake``), for the message.

    Returns:
        ``path``.

    Raises:
        InputError: ``path`` is a file, or cannot be created or written; one line.
    """
    if path.exists() and not path.is_dir():
        raise InputError(f"{what} {path}: exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".sessionlens-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise InputError(f"{what} {path}: cannot write there ({exc.strerror or type(exc).__name__})") from None
    return path
