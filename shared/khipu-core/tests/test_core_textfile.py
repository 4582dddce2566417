"""Strict reading of users' text files (issue 20, item 2): anything that is not text is one
KhipuError naming the file and the byte offset."""

from __future__ import annotations

from pathlib import Path

import pytest
from khipu.core import KhipuError, check_input_file, decode_text, read_lines, read_text


def test_utf8_text_and_a_byte_order_mark_are_read(tmp_path: Path) -> None:
    f = tmp_path / "words.txt"
    f.write_bytes("\ufeffcanción\r\nniño\n".encode())
    assert read_text(f) == "canción\r\nniño\n"
    assert list(read_lines(f)) == [(1, "canción"), (2, "niño")]


@pytest.mark.parametrize(
    ("data", "offset", "line", "what"),
    [
        (b"0 1\n1 2\n2 3\xff\n", 11, 3, "0xff"),  # a stray Latin-1 byte
        (b"\xe9t\xe9\n", 0, 1, "0xe9"),  # a Latin-1 file
        (b"ok\nbad \xe2\x82\n", 7, 2, "0xe2"),  # a UTF-8 sequence cut short
        (b"PK\x03\x04\x00\x00", 4, 1, "NUL"),  # a binary file (a zip/npz)
    ],
)
def test_bytes_that_are_not_text_name_the_file_and_the_offset(
    tmp_path: Path, data: bytes, offset: int, line: int, what: str
) -> None:
    f = tmp_path / "edges.txt"
    f.write_bytes(data)
    # the offset is the first byte Python's own strict decoder (or a NUL search) rejects
    try:
        data.decode("utf-8")
        expected = data.index(b"\x00")
    except UnicodeDecodeError as exc:
        expected = exc.start
    assert expected == offset
    with pytest.raises(KhipuError) as info:
        read_text(f, what="edge list")
    message = str(info.value)
    assert str(f) in message and f"byte offset {offset}" in message
    assert f"line {line}" in message and what in message and "\n" not in message


def test_missing_files_folders_and_oversized_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(KhipuError, match="does not exist"):
        read_text(tmp_path / "missing.txt")
    with pytest.raises(KhipuError, match="is a folder, not a file"):
        read_text(tmp_path, what="corpus")
    big = tmp_path / "big.txt"
    big.write_text("x" * 101)
    with pytest.raises(KhipuError, match="101 bytes, above the limit of 100"):
        read_text(big, max_bytes=100)
    assert check_input_file(big) == big
    with pytest.raises(KhipuError, match="not UTF-8"):
        decode_text(b"\x80", "stdin")


def test_the_command_turns_a_stray_unicode_error_into_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import khipu.core.cli as cli

    def reader(args: object) -> int:
        b"ab\xff".decode("utf-8")
        return 0

    code = cli._run_command(reader, None)  # type: ignore[arg-type]
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "byte offset 2" in err


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 1 << 20])
def test_streaming_check_names_the_same_offset_as_the_whole_file_check(
    tmp_path: Path, chunk: int
) -> None:
    """check_utf8_file reads in chunks (constant memory) yet reports the file offset,
    also when a multi-byte character straddles two chunks."""
    from khipu.core import check_utf8_file

    f = tmp_path / "vectors.txt"
    good = "añb\nçé€\n".encode()
    f.write_bytes(good)
    check_utf8_file(f, chunk_bytes=chunk)
    for data in (good + b"x\xe9y\n", good + b"\x00", b"ok\n\xe2\x82"):
        f.write_bytes(data)
        with pytest.raises(KhipuError) as whole:
            decode_text(data, str(f))
        with pytest.raises(KhipuError) as streamed:
            check_utf8_file(f, chunk_bytes=chunk)
        if data.endswith(b"\xe2\x82"):  # cut short at the end: no byte is wrong yet
            assert "ends inside a character (byte offset 5)" in str(streamed.value)
        else:
            assert str(streamed.value) == str(whole.value)
