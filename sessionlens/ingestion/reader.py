"""Reading log files: decompression, content hashes, line counts, chunks.

Everything here streams in fixed-size blocks, so memory stays bounded by
the block size whatever the file size.
"""

from __future__ import annotations

import functools
import io
import os
import shutil
import sys
import zlib
from pathlib import Path
from typing import BinaryIO, Iterator

import zstandard

from ..errors import InputError

BLOCK = 8 << 20  # bytes read at a time when hashing and counting
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def compression_of(path: Path) -> str:
    """Returns 'gzip', 'zstd' or 'none': the magic bytes, confirmed by decompressing.

    A file that merely starts with the magic bytes but does not decompress is
    read as plain text.
    """
    with open(path, "rb") as fh:
        head = fh.read(4)
    kind = "gzip" if head.startswith(GZIP_MAGIC) else "zstd" if head.startswith(ZSTD_MAGIC) else "none"
    if kind == "none":
        return kind
    try:
        with _decompressor(path, kind) as stream:
            if not stream.read(1):
                return "none"  # nothing comes out: treat the bytes as they are
    except (EOFError, OSError, zlib.error, zstandard.ZstdError):
        return "none"
    return kind


def _decompressor(path: Path, kind: str) -> BinaryIO:
    raw = open(path, "rb")
    if kind == "gzip":
        return _GzipStream(raw)  # type: ignore[return-value]
    return zstandard.ZstdDecompressor().stream_reader(raw, closefd=True)


class _GzipStream(io.RawIOBase):
    """gzip via zlib: yields every byte a cut stream still holds, and reads
    concatenated members (rotated logs appended with ``cat``)."""

    def __init__(self, raw: BinaryIO):
        self.raw = raw
        self.zobj = zlib.decompressobj(wbits=31)
        self.pending = b""
        self.done = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        want = size if size and size > 0 else 1 << 62
        while len(self.pending) < want and not self.done:
            chunk = self.raw.read(64 << 10)
            if not chunk:
                self.done = True
                if not self.zobj.eof:
                    self.pending += self.zobj.flush()
                    if self.pending:
                        break  # hand out what there is; the cut is reported next call
                    raise EOFError("compressed file ended before the end-of-stream marker")
                break
            self.pending += self.zobj.decompress(chunk)
            while self.zobj.eof and self.zobj.unused_data:
                rest = self.zobj.unused_data
                self.zobj = zlib.decompressobj(wbits=31)
                self.pending += self.zobj.decompress(rest)
        out, self.pending = self.pending[:want], self.pending[want:]
        if not out and self.done and not self.zobj.eof:
            raise EOFError("compressed file ended before the end-of-stream marker")
        return out

    def close(self) -> None:
        self.raw.close()
        super().close()


class _Tolerant(io.RawIOBase):
    """A decompressing stream that ends, rather than fails, where the data is cut.

    ``truncated`` tells afterwards whether the compressed stream was cut short.
    """

    def __init__(self, inner: BinaryIO):
        self.inner = inner
        self.truncated = False

    PIECE = 256 << 10  # small reads, so a cut loses at most this much

    def read(self, size: int = -1) -> bytes:
        if self.truncated:
            return b""
        want = size if size and size > 0 else 1 << 62
        parts: list[bytes] = []
        got = 0
        while got < want:
            try:
                piece = self.inner.read(min(self.PIECE, want - got))
            except (EOFError, OSError, zlib.error, zstandard.ZstdError):
                self.truncated = True
                break
            if not piece:
                break
            parts.append(piece)
            got += len(piece)
        return b"".join(parts)

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self.inner.close()
        super().close()


def open_decompressed(path: Path) -> BinaryIO:
    """Opens a file for binary reading, decompressing gzip or zstd."""
    kind = compression_of(path)
    if kind == "none":
        return open(path, "rb")
    return _Tolerant(_decompressor(path, kind))  # type: ignore[return-value]


def count_lines(path: Path, start_byte: int = 0, first_line: int = 1,
                find_blanks: bool = True) -> tuple[int, list[int]]:
    """Counts physical lines from ``start_byte`` and finds the blank ones.

    Returns:
        (number of lines, 1-based numbers of the empty lines). A line holding
        only ``\\r`` counts as blank too. With ``find_blanks=False`` only the
        count is made (several times faster) and the list is empty.
    """
    lines = 0
    blanks: list[int] = []
    prev_end_newline = True  # at start_byte we are at the start of a line
    tail_len = 0
    with open_decompressed(path) as fh:
        _skip(fh, start_byte)
        while True:
            block = fh.read(BLOCK)
            if not block:
                break
            lines_before = lines
            n = block.count(b"\n")
            # blank lines: a newline right after a newline (or at a line start)
            if find_blanks and prev_end_newline and block[:1] == b"\n":
                blanks.append(first_line + lines)
            if find_blanks and prev_end_newline and block[:2] == b"\r\n":
                blanks.append(first_line + lines)
            for marker in (b"\n\n", b"\n\r\n") if find_blanks else ():
                pos = block.find(marker)
                while pos != -1:
                    blanks.append(first_line + lines_before + block.count(b"\n", 0, pos + 1))
                    pos = block.find(marker, pos + 1)
            lines += n
            prev_end_newline = block.endswith(b"\n")
            tail_len = 0 if prev_end_newline else len(block) - (block.rfind(b"\n") + 1)
    if tail_len:
        lines += 1  # a final line with no newline is still a line
    return lines, sorted(set(blanks))


def holds_byte(path: Path, byte: bytes) -> bool:
    """Whether the (decompressed) file holds ``byte`` anywhere; stops at the first.

    Asked again of the same unchanged file (same size and time), the answer
    is remembered rather than read again.
    """
    st = os.stat(path)
    return _holds_byte(str(path), st.st_size, st.st_mtime_ns, st.st_ino, byte)


@functools.lru_cache(maxsize=256)
def _holds_byte(path: str, size: int, mtime_ns: int, inode: int, byte: bytes) -> bool:
    with open_decompressed(Path(path)) as fh:
        while block := fh.read(BLOCK):
            if byte in block:
                return True
    return False


def iter_line_blocks(
    path: Path, start_byte: int = 0, first_line: int = 1, chunk_bytes: int = 32 << 20
) -> Iterator[tuple[int, bytes]]:
    """Yields (number of the block's first line, bytes of whole lines).

    Every block ends with a newline: the file's last line gets one if it
    lacks it. Bytes are as in the file (see :func:`iter_line_chunks` for text).
    """
    line_no = first_line
    carry = b""
    with open_decompressed(path) as fh:
        _skip(fh, start_byte)
        while True:
            block = fh.read(chunk_bytes)
            if not block:
                break
            data = carry + block
            cut = data.rfind(b"\n")
            if cut == -1:
                carry = data
                continue
            body, carry = data[: cut + 1], data[cut + 1 :]
            yield line_no, body
            line_no += body.count(b"\n")
    if carry:
        yield line_no, carry + b"\n"


def iter_line_chunks(
    path: Path, start_byte: int = 0, first_line: int = 1, chunk_bytes: int = 32 << 20
) -> Iterator[tuple[int, str]]:
    """Yields (number of the chunk's first line, text of whole lines).

    Chunks end on a newline. Text is decoded as UTF-8 with invalid bytes
    replaced, so no byte sequence can stop a run.
    """
    for line_no, body in iter_line_blocks(path, start_byte, first_line, chunk_bytes):
        yield line_no, body.decode("utf-8", "replace")


def head_lines(path: Path, n: int = 20, max_bytes: int = 256 << 10, start_byte: int = 0) -> list[str]:
    """The first ``n`` non-blank lines (from ``start_byte``, a line start), for format detection."""
    with open_decompressed(path) as fh:
        _skip(fh, start_byte)
        data = fh.read(max_bytes)
    text = data.decode("utf-8", "replace")
    return [line for line in text.splitlines() if line.strip()][:n]


def stage_stdin(dest: Path, stream: BinaryIO | None = None) -> Path:
    """Copies standard input to a file so it can be hashed and re-read."""
    src = stream if stream is not None else sys.stdin.buffer
    # Raw input may hold addresses and cookies: readable by the owner only.
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        shutil.copyfileobj(src, out, BLOCK)
    return dest


def _skip(fh: BinaryIO, nbytes: int) -> None:
    if nbytes <= 0:
        return
    try:
        fh.seek(nbytes)
    except (OSError, io.UnsupportedOperation):
        remaining = nbytes
        while remaining:
            got = fh.read(min(BLOCK, remaining))
            if not got:
                break
            remaining -= len(got)


def ensure_readable(path: Path) -> None:
    """Raises InputError with a one-line reason if ``path`` cannot be read."""
    if not path.exists():
        raise InputError(f"{path}: no such file or directory")
    if path.is_dir():
        raise InputError(f"{path}: is a directory")
    try:
        with open(path, "rb") as fh:
            fh.read(1)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
