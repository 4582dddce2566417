"""Word-set and test files (JSON, YAML), example sets and definitional pairs."""

from __future__ import annotations

from pathlib import Path

import khipu.bias as kb
import khipu.core as kc
import pytest


def test_word_set_files_json_and_yaml(tmp_path: Path) -> None:
    js = tmp_path / "sets.json"
    js.write_text('{"mujeres": ["ella", "mujer"], "hombres": "él hombre"}', encoding="utf-8")
    assert kb.load_word_sets(js) == {"mujeres": ["ella", "mujer"], "hombres": ["él", "hombre"]}
    ym = tmp_path / "sets.yml"
    ym.write_text("young: [young, youth]\nold:\n  - old\n  - elderly\n")
    assert kb.load_word_sets(ym) == {"young": ["young", "youth"], "old": ["old", "elderly"]}
    for text, message in [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "mapping"),
        ('{"a": []}', "empty"),
        ('{"a": {"b": 1}}', "list of words"),
        ("{}", "no word sets"),
    ]:
        js.write_text(text)
        with pytest.raises(kc.KhipuError, match=message):
            kb.load_word_sets(js)
    ym.write_text("a: [unclosed\n")
    with pytest.raises(kc.KhipuError, match="not valid YAML"):
        kb.load_word_sets(ym)
    with pytest.raises(kc.KhipuError, match="does not exist"):
        kb.load_word_sets(tmp_path / "none.json")


def test_weat_test_files(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(
        '{"name": "mine", "targets": {"X": ["a", "b"], "Y": ["c", "d"]}, '
        '"attributes": {"A": ["e"], "B": ["f", "g"]}}'
    )
    test = kb.get_test(str(path))
    assert test.name == "mine" and test.x.words == ("a", "b") and test.b.name == "B"
    path.write_text('{"targets": {"X": ["a"]}, "attributes": {"A": ["e"], "B": ["f"]}}')
    with pytest.raises(kc.KhipuError, match="exactly two"):
        kb.load_weat_test(path)
    with pytest.raises(kc.KhipuError, match="does not exist"):
        kb.get_test(str(tmp_path / "missing.yaml"))


def test_example_sets_and_pairs() -> None:
    en, es = kb.example_sets("en"), kb.example_sets("es")
    assert len(en["male"]) == len(en["female"]) and "nurse" in en["professions"]
    assert "mujer" in es["femenino"] and "médico" in es["profesiones"]
    assert ("she", "he") in kb.definitional_pairs("en")
    assert ("reina", "rey") in kb.equalize_pairs("es")
    assert "herself" in kb.gender_specific_words("en")
    family = kb.analogy_family_pairs()
    assert ("boy", "girl") in family and ("king", "queen") in family
    assert len(family) == len(set(family)) >= 20
    with pytest.raises(kc.UnknownNameError):
        kb.example_sets("fr")
    for name in ("en-gender-career", "en-gender-science", "es-genero-carrera"):
        test = kb.get_test(name)
        assert len(test.x) == len(test.y)
