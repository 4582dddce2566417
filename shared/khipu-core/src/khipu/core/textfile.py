"""Reading a user's text files strictly: one clear line for anything that is not text.

Every text input of the practicals (edge lists, ratings, TU files, word lists, analogy
questions, training corpora) goes through :func:`read_text`: a missing path, a folder, a
file past a size limit, a byte that is not UTF-8 or a NUL byte (a binary file) is a
:class:`~khipu.core.errors.KhipuError` naming the file and the byte offset, never a
``UnicodeDecodeError`` traceback. The cost is the file's size: its bytes and one decoded
string.
"""

from __future__ import annotations

import codecs
import io
from collections.abc import Iterator
from pathlib import Path

from khipu.core.errors import KhipuError

DEFAULT_MAX_BYTES = 200_000_000


def check_input_file(path: str | Path, what: str = "file") -> Path:
    """``path`` as a ``Path`` when it names an existing regular file.

    Raises:
      KhipuError: it does not exist or is a folder (or another non-file).
    """
    p = Path(path)
    if p.is_dir():
        raise KhipuError(f"{what} {p} is a folder, not a file")
    if not p.exists():
        raise KhipuError(f"{what} file {p} does not exist")
    if not p.is_file():
        raise KhipuError(f"{what} {p} is not a regular file")
    return p


def decode_text(data: bytes, name: str) -> str:
    """``data`` decoded as UTF-8 (a leading byte-order mark is dropped).

    Raises:
      KhipuError: a byte that is not UTF-8, or a NUL byte; the message names ``name``,
        the byte offset and its line.
    """
    nul = data.find(b"\x00")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if 0 <= nul < exc.start:
            raise KhipuError(_not_text(data, name, nul, "a NUL byte")) from None
        raise KhipuError(
            _not_text(data, name, exc.start, f"byte 0x{data[exc.start]:02x} is not UTF-8")
        ) from None
    if nul >= 0:
        raise KhipuError(_not_text(data, name, nul, "a NUL byte")) from None
    return text


def _not_text(data: bytes, name: str, offset: int, what: str) -> str:
    line = data.count(b"\n", 0, offset) + 1
    return f"{name} is not UTF-8 text: {what} at byte offset {offset} (line {line})"


def check_utf8_file(path: str | Path, *, chunk_bytes: int = 1 << 20) -> None:
    """Streams a file through a strict UTF-8 decoder (constant memory, any size).

    For readers that hand a large file to another library (gensim, csv): call it when
    the library reports a ``UnicodeDecodeError``, whose position is relative to a line or
    a buffer, to name the byte offset in the file.

    Raises:
      KhipuError: the first byte that is not UTF-8 (or a NUL byte), with its offset and
        line, as :func:`decode_text` words it.
    """
    p = Path(path)
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    offset = lines = 0
    with p.open("rb") as f:
        while chunk := f.read(chunk_bytes):
            nul = chunk.find(b"\x00")
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                # exc.object is the bytes held back from the last chunk (an unfinished
                # character, never a newline) followed by this chunk
                at = exc.start - (len(exc.object) - len(chunk))  # may be < 0: last chunk
                what = f"byte 0x{exc.object[exc.start]:02x} is not UTF-8"
                if 0 <= nul < at:
                    at, what = nul, "a NUL byte"
                line = lines + chunk.count(b"\n", 0, max(at, 0)) + 1
                raise KhipuError(
                    f"{p} is not UTF-8 text: {what} at byte offset {offset + at} (line {line})"
                ) from None
            if nul >= 0:
                line = lines + chunk.count(b"\n", 0, nul) + 1
                raise KhipuError(
                    f"{p} is not UTF-8 text: a NUL byte at byte offset {offset + nul} (line {line})"
                )
            offset += len(chunk)
            lines += chunk.count(b"\n")
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise KhipuError(
            f"{p} is not UTF-8 text: it ends inside a character (byte offset {offset})"
        ) from None


def read_text(path: str | Path, *, what: str = "file", max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """The UTF-8 text of a user's file, checked before it is used.

    Args:
      path: the file.
      what: what the file is, for messages ("edge list", "ratings"...).
      max_bytes: refuse larger files (their size is checked before reading).

    Raises:
      KhipuError: missing path, a folder, a file above ``max_bytes``, bytes that are not
        UTF-8 text (the message names the file and the byte offset).
    """
    p = check_input_file(path, what)
    size = p.stat().st_size
    if size > max_bytes:
        raise KhipuError(f"{what} file {p} has {size} bytes, above the limit of {max_bytes}")
    return decode_text(p.read_bytes(), str(p))


def read_lines(
    path: str | Path, *, what: str = "file", max_bytes: int = DEFAULT_MAX_BYTES
) -> Iterator[tuple[int, str]]:
    """``(line number, line)`` of a user's text file (see :func:`read_text`), 1-based.

    The whole file is decoded first (so a bad byte late in the file fails before any line
    is used); lines are then produced one at a time, not as a list.
    """
    text = read_text(path, what=what, max_bytes=max_bytes)
    return ((i, line.rstrip("\r\n")) for i, line in enumerate(io.StringIO(text), 1))
