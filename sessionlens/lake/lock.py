"""One exclusive lock file: how a writer keeps other sessionlens runs out.

The lake's writer (:meth:`sessionlens.lake.store.Lake.writer`) and the
nightly job (one run per output folder) both hold a :class:`FileLock`. It is
an advisory ``flock`` on a file that is never removed: the kernel lets go of
it when the holder exits, so a crashed run never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
from pathlib import Path
from types import TracebackType
from typing import IO

from ..errors import LakeLockedError

__all__ = ["FileLock", "LakeLockedError"]


class FileLock:
    """An exclusive, non-blocking lock on one file (created if missing).

    Use it as a context manager, or call :meth:`acquire` and :meth:`release`
    when opening the file and finding it held must be told apart (the file's
    folder may be unwritable: ``acquire`` then raises the ``OSError``).
    """

    def __init__(self, path: str | Path, busy: str):
        """Args:
            path: the lock file.
            busy: the message of the :class:`LakeLockedError` raised when another process holds it.
        """
        self.path = Path(path)
        self.busy = busy
        self._fh: IO[str] | None = None

    def acquire(self) -> None:
        """Takes the lock at once or fails.

        Raises:
            LakeLockedError: another process (or another FileLock in this one) holds it.
            OSError: the lock file cannot be opened.
        """
        fh = open(self.path, "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            raise LakeLockedError(self.busy) from None
        self._fh = fh

    def release(self) -> None:
        """Lets go of the lock (nothing happens if it is not held)."""
        fh, self._fh = self._fh, None
        if fh is not None:
            try:
                fcntl.flock(fh, fcntl.LOCK_UN)
            finally:
                fh.close()

    @property
    def held(self) -> bool:
        return self._fh is not None

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.release()
