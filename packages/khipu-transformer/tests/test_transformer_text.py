"""Tokenizers, the grammar text, the inversion rule and text files."""

from __future__ import annotations

import numpy as np
import pytest
from khipu.core import KhipuError
from khipu.transformer import (
    BOS,
    EOS,
    PAD,
    ByteTokenizer,
    CharTokenizer,
    WordTokenizer,
    grammar_text,
    inversion_arrays,
    invert_words,
    lengths_to_mask,
    lm_arrays,
    pad_batch,
    random_crops,
    read_text_file,
    split_text,
    split_words,
    tokenizer_from_dict,
)


def test_invert_words_moves_separators_as_tokens() -> None:
    assert invert_words("Look at me, I am reversed.") == ".reversed am I me, at Look"
    assert invert_words("a\tb\nc") == "c\nb\ta"
    text = "The old cat sees a dog.\nThen"
    assert invert_words(invert_words(text)) == text
    assert sorted(invert_words(text)) == sorted(text)


@pytest.mark.parametrize(
    "make", [CharTokenizer.from_text, lambda t: ByteTokenizer(), WordTokenizer.from_text]
)
def test_tokenizers_are_reversible_and_reserve_specials(make) -> None:
    text = grammar_text(2000, seed=3)
    tok = make(text)
    ids = tok.encode(text, bos=True, eos=True)
    assert ids[0] == BOS and ids[-1] == EOS and (ids[1:-1] >= 3).all()
    assert ids.max() < tok.vocab_size
    assert tok.decode(ids) == text
    assert tok.decode(np.concatenate([ids, [7, 8]])) == text  # stops at EOS
    assert tokenizer_from_dict(tok.to_dict()) == tok


def test_unknown_characters_and_words_are_errors() -> None:
    tok = CharTokenizer.from_text("abc ")
    with pytest.raises(KhipuError, match=r"unknown character.*'z'.*position 2"):
        tok.encode("abz")
    with pytest.raises(KhipuError, match="unknown word"):
        WordTokenizer.from_text("the cat").encode("the dog")
    with pytest.raises(KhipuError, match="empty"):
        CharTokenizer.from_text("")
    assert split_words("a b.c") == ["a", " ", "b", ".", "c"]


def test_pad_batch_and_masks_from_lengths() -> None:
    tokens, lengths = pad_batch([[5, 6, 7], [8]], 4)
    assert tokens.tolist() == [[5, 6, 7, PAD], [8, PAD, PAD, PAD]]
    assert lengths.tolist() == [3, 1]
    assert lengths_to_mask(lengths, 4).tolist() == [[1, 1, 1, 0], [1, 0, 0, 0]]
    with pytest.raises(KhipuError, match="longer"):
        pad_batch([[1, 2, 3]], 2)


def test_grammar_text_is_seeded_and_splits_do_not_overlap() -> None:
    a, b = grammar_text(3000, seed=1), grammar_text(3000, seed=1)
    assert a == b and a != grammar_text(3000, seed=2)
    assert len(a) >= 3000 and a.count(".") > 20
    parts = split_text(a, min_length=10)
    assert parts.train + parts.val + parts.test == a
    with pytest.raises(KhipuError, match="too short"):
        split_text("short text", min_length=10)


def test_inversion_arrays_shift_targets_and_pad() -> None:
    text = grammar_text(3000, seed=0)
    tok = CharTokenizer.from_text(text)
    crops = random_crops(text, 12, 50, seed=0, min_length=6)
    assert {len(c) for c in crops} <= set(range(6, 13)) and len({len(c) for c in crops}) > 1
    arr = inversion_arrays(crops, tok, 12)
    assert arr["src"].shape == (50, 12) and arr["tgt"].shape == (50, 13)
    for i, crop in enumerate(crops):
        n = arr["src_len"][i]
        assert tok.decode(arr["src"][i]) == crop and n == len(crop)
        assert tok.decode(arr["tgt"][i]) == invert_words(crop) and arr["tgt"][i, n] == EOS
        assert arr["dec_in"][i, 0] == BOS
        np.testing.assert_array_equal(arr["dec_in"][i, 1 : n + 1], arr["tgt"][i, :n])


def test_lm_windows() -> None:
    text = grammar_text(2000, seed=0)
    tok = CharTokenizer.from_text(text)
    windows = lm_arrays(text, tok, 15, None, seed=0)["tokens"]
    assert windows.shape == (len(text) // 16, 16)
    assert tok.decode(windows[0]) == text[:16]
    with pytest.raises(KhipuError, match="shorter"):
        lm_arrays("abc", tok, 15, 4, seed=0)


def test_text_files_bad_and_good(tmp_path) -> None:
    with pytest.raises(KhipuError, match="does not exist"):
        read_text_file(tmp_path / "missing.txt")
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(KhipuError, match="empty"):
        read_text_file(tmp_path / "empty.txt")
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00\x01")
    with pytest.raises(KhipuError, match="UTF-8"):
        read_text_file(tmp_path / "bin.txt")
    (tmp_path / "blank.txt").write_text(" \n\n ")
    with pytest.raises(KhipuError, match="whitespace"):
        read_text_file(tmp_path / "blank.txt")
    (tmp_path / "ok.txt").write_text("héllo wörld.\n")
    assert read_text_file(tmp_path / "ok.txt") == "héllo wörld.\n"


def test_tiny_shakespeare_through_tfds_mock_data_and_missing_data(tmp_path) -> None:
    tfds = pytest.importorskip("tensorflow_datasets")
    from khipu.core import DatasetNotAvailableError
    from khipu.transformer import load_text

    with tfds.testing.mock_data(num_examples=3):
        text = load_text("tiny_shakespeare")
    assert isinstance(text, str) and len(text) > 0
    with pytest.raises(DatasetNotAvailableError, match="tfds build tiny_shakespeare"):
        load_text("tiny_shakespeare", data_dir=tmp_path)
