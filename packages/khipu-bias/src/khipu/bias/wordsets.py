"""Word sets and WEAT tests: the ten tests of Caliskan et al. (2017), English and Spanish
example sets, and user files (JSON or YAML).

A WEAT test file looks like::

    {"name": "my-test",
     "targets": {"Male": ["he", "man", ...], "Female": ["she", "woman", ...]},
     "attributes": {"Career": ["salary", ...], "Family": ["home", ...]}}

(the same keys in YAML). A word-set file is a mapping ``{set name: [words]}``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import khipu.core as kc
from khipu.bias.embeddings import display_name

Language = Literal["en", "es"]
LANGUAGES: tuple[str, ...] = ("en", "es")


@dataclass(frozen=True)
class WordSet:
    """A named list of words (e.g. ``WordSet("Flowers", ("aster", ...))``)."""

    name: str
    words: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "words", tuple(str(w) for w in self.words))
        if not self.words:
            raise kc.KhipuError(f"word set {self.name!r} is empty")

    def __len__(self) -> int:
        return len(self.words)


@dataclass(frozen=True)
class WeatTest:
    """Two target sets X, Y and two attribute sets A, B.

    The WEAT asks whether X is closer to A (and Y to B) than the other way round.

    Attributes:
      name: an identifier such as ``"caliskan-t1"``.
      x, y: the target sets (equal size).
      a, b: the attribute sets.
      title: a one-line description.
      paper: published figures (``effect_size``, ``p_value``) when there are some.
    """

    name: str
    x: WordSet
    y: WordSet
    a: WordSet
    b: WordSet
    title: str = ""
    paper: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y):
            raise kc.KhipuError(
                f"WEAT test {self.name!r}: the target sets must have the same size, got "
                f"{self.x.name!r} with {len(self.x)} words and {self.y.name!r} with {len(self.y)}"
            )

    def word_sets(self) -> dict[str, tuple[str, ...]]:
        """``{set name: words}`` for X, Y, A, B (names made unique with X/Y/A/B suffixes)."""
        out: dict[str, tuple[str, ...]] = {}
        for role, ws in zip("XYAB", (self.x, self.y, self.a, self.b), strict=True):
            key = ws.name if ws.name not in out else f"{ws.name} ({role})"
            out[key] = ws.words
        return out


def _weat_test(
    name: str, sets: Sequence[WordSet], *, title: str = "", paper: Mapping[str, float] | None = None
) -> WeatTest:
    x, y, a, b = sets
    return WeatTest(name, x, y, a, b, title=title, paper=dict(paper or {}))


def _resource(name: str) -> Any:
    text = resources.files("khipu.bias").joinpath("resources", name).read_text(encoding="utf-8")
    return json.loads(text)


def _caliskan_set(spec: Mapping[str, Any], include_excluded: bool) -> WordSet:
    excluded = set(spec.get("excluded", ()))
    words = [w for w in spec["words"] if include_excluded or w not in excluded]
    return WordSet(spec["name"], tuple(words))


@cache
def _caliskan_specs() -> dict[str, Any]:
    return {t["id"]: t for t in _resource("caliskan.json")["tests"]}


def caliskan_test(name: str, *, include_excluded: bool = False) -> WeatTest:
    """One of the ten WEAT tests of Caliskan et al. (2017): ``"caliskan-t1"`` ... ``"-t10"``.

    Args:
      name: ``"caliskan-t<k>"`` (``"t<k>"`` and ``"weat<k>"`` are accepted too).
      include_excluded: keep the names that the paper lists in italics and removed from
        its replication (tests 3-5); by default they are removed, as in the paper.

    Raises:
      UnknownNameError: no such test.
    """
    specs = _caliskan_specs()
    key = name.lower()
    for prefix in ("caliskan-", "weat"):
        if key.startswith(prefix):
            key = key.removeprefix(prefix)
    key = "caliskan-" + (key if key.startswith("t") else f"t{key}")
    if key not in specs:
        raise kc.UnknownNameError("WEAT test", name, available_tests())
    spec = specs[key]
    return _weat_test(
        key,
        [_caliskan_set(spec[r], include_excluded) for r in "XYAB"],
        title=spec["title"],
        paper=spec.get("paper", {}),
    )


@cache
def examples(language: str = "en") -> dict[str, Any]:
    """The example word sets of one language (``"en"`` or ``"es"``).

    Returns:
      ``{"sets": {name: [words]}, "tests": [...], "definitional_pairs": [[f, m], ...],
      "equalize_pairs": [...], "gender_specific": [...], "description": str}``.
    """
    if language not in LANGUAGES:
        raise kc.UnknownNameError("language", language, list(LANGUAGES))
    data: dict[str, Any] = _resource(f"examples_{language}.json")
    return data


def example_sets(language: str = "en") -> dict[str, list[str]]:
    """``{set name: words}`` of the example sets in English or Spanish."""
    return {k: list(v) for k, v in examples(language)["sets"].items()}


def definitional_pairs(language: str = "en") -> list[tuple[str, str]]:
    """Female/male definitional pairs (Bolukbasi et al. 2016 style) for a gender direction."""
    return [(f, m) for f, m in examples(language)["definitional_pairs"]]


def equalize_pairs(language: str = "en") -> list[tuple[str, str]]:
    """Female/male pairs that hard debiasing makes equidistant from every neutral word."""
    return [(f, m) for f, m in examples(language)["equalize_pairs"]]


def gender_specific_words(language: str = "en") -> list[str]:
    """Words whose gender is part of their meaning: hard debiasing leaves them alone."""
    return list(examples(language)["gender_specific"])


def analogy_family_pairs() -> list[tuple[str, str]]:
    """The distinct word pairs of the ``: family`` section of gensim's ``questions-words.txt``.

    The analogy ``boy girl brother sister`` gives the pairs (boy, girl) and (brother, sister),
    in male, female order; they can serve as definitional pairs.
    """
    from khipu.bias.data import gensim_datapath

    pairs: list[tuple[str, str]] = []
    section = ""
    for line in gensim_datapath("questions-words.txt").read_text().splitlines():
        if line.startswith(":"):
            section = line[1:].strip()
            continue
        if section == "family":
            a, b, c, d = line.lower().split()
            for pair in ((a, b), (c, d)):
                if pair not in pairs:
                    pairs.append(pair)
    return pairs


def _example_test(language: str, spec: Mapping[str, Any]) -> WeatTest:
    sets = examples(language)["sets"]
    return _weat_test(
        spec["id"], [WordSet(spec[r], tuple(sets[spec[r]])) for r in "XYAB"], title=spec["title"]
    )


def available_tests() -> list[str]:
    """Names of the built-in WEAT tests."""
    names = list(_caliskan_specs())
    for lang in LANGUAGES:
        names += [t["id"] for t in examples(lang)["tests"]]
    return names


def get_test(name_or_path: str | Path) -> WeatTest:
    """A built-in test by name, or a test read from a JSON/YAML file.

    Raises:
      UnknownNameError: not a built-in name and not an existing file.
      KhipuError: the file is unreadable or malformed.
    """
    text = str(name_or_path)
    if Path(text).is_file():
        return load_weat_test(text)
    if text.lower().startswith(("caliskan-", "weat")):
        return caliskan_test(text)
    for lang in LANGUAGES:
        for spec in examples(lang)["tests"]:
            if spec["id"] == text:
                return _example_test(lang, spec)
    if text.endswith((".json", ".yaml", ".yml")):
        raise kc.KhipuError(f"WEAT test file {text} does not exist")
    raise kc.UnknownNameError("WEAT test", text, available_tests())


MAX_WORD_SET_BYTES = 10_000_000  # a word-set or WEAT file is a few KB; refuse anything huge


def _yaml_loader() -> type[Any]:
    """A safe YAML loader that refuses aliases and reads every scalar as a string.

    Aliases are what "billion laughs" documents multiply; word lists never need them.
    Without the implicit resolvers, ``yes``, ``no``, ``on``, ``1e3`` and ``null`` stay the
    words they look like.
    """
    import yaml

    class WordLoader(yaml.SafeLoader):
        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise yaml.YAMLError(
                    f"YAML aliases (*name) are not allowed in word-set files "
                    f"(line {mark.line + 1}, column {mark.column + 1})"
                )
            return super().compose_node(parent, index)

    WordLoader.yaml_implicit_resolvers = {}
    return WordLoader


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def read_mapping(path: str | Path) -> dict[str, Any]:
    """Reads a JSON or YAML file holding a mapping, with clear one-line errors.

    YAML is read without aliases and with every scalar as a string (words are strings).

    Raises:
      KhipuError: missing, larger than :data:`MAX_WORD_SET_BYTES`, not UTF-8, malformed,
        uses YAML aliases, or not a mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise kc.KhipuError(f"{path} does not exist")
    try:
        size = path.stat().st_size
        if size > MAX_WORD_SET_BYTES:
            raise kc.KhipuError(
                f"{path} is {size} bytes; a word-set file may hold at most {MAX_WORD_SET_BYTES}"
            )
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        if isinstance(exc, UnicodeDecodeError):
            kc.check_utf8_file(path)  # names the byte offset in the file
        raise kc.KhipuError(f"could not read {path}: {_one_line(str(exc))}") from exc
    data: Any
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.load(text, Loader=_yaml_loader())
        except yaml.YAMLError as exc:
            raise kc.KhipuError(f"{path} is not valid YAML: {_one_line(str(exc))}") from exc
    else:
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise kc.KhipuError(f"{path} is not valid JSON: {_one_line(str(exc))}") from exc
    if not isinstance(data, dict):
        raise kc.KhipuError(f"{path} must hold a mapping, got {type(data).__name__}")
    return data


def _describe(value: Any) -> str:
    """A short description of a value read from a file (never its full repr)."""
    if isinstance(value, (list, dict)):
        return f"a {type(value).__name__} of {len(value)} items"
    return _one_line(repr(value), 60)


def _words(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = value.split()
    if not isinstance(value, list) or not all(isinstance(w, (str, int, float)) for w in value):
        raise kc.KhipuError(f"{where} must be a list of words, got {_describe(value)}")
    words = tuple(str(w) for w in value)
    if not words:
        raise kc.KhipuError(f"{where} is empty")
    return words


def load_word_sets(path: str | Path) -> dict[str, list[str]]:
    """Reads ``{set name: [words]}`` from a JSON or YAML file (a string of words split on spaces
    is accepted too)."""
    data = read_mapping(path)
    if not data:
        raise kc.KhipuError(f"{path} holds no word sets")
    return {str(k): list(_words(v, f"{path}: set {k!r}")) for k, v in data.items()}


def load_weat_test(path: str | Path) -> WeatTest:
    """Reads a WEAT test (``name``, ``targets`` and ``attributes`` with two sets each).

    Raises:
      KhipuError: the file is missing, malformed, or a set is empty; the targets have
        different sizes.
    """
    data = read_mapping(path)
    sets: list[WordSet] = []
    for role in ("targets", "attributes"):
        group = data.get(role)
        if not isinstance(group, dict) or len(group) != 2:
            raise kc.KhipuError(
                f"{path}: {role!r} must map exactly two set names to word lists, "
                f"got {_describe(group)}"
            )
        sets += [WordSet(str(k), _words(v, f"{path}: {role} {k!r}")) for k, v in group.items()]
    return _weat_test(
        str(data.get("name", display_name(Path(path).stem))),
        sets,
        title=str(data.get("title", "")),
    )


def make_test(
    name: str,
    targets: Mapping[str, Sequence[str]],
    attributes: Mapping[str, Sequence[str]],
    *,
    title: str = "",
) -> WeatTest:
    """A WEAT test from two ``{name: words}`` mappings of two sets each."""
    if len(targets) != 2 or len(attributes) != 2:
        raise kc.KhipuError("a WEAT test needs exactly two target sets and two attribute sets")
    sets = [WordSet(k, tuple(v)) for k, v in (*targets.items(), *attributes.items())]
    return _weat_test(name, sets, title=title)
