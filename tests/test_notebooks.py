"""Every notebook pins its package, has no stored outputs, matches its jupytext twin,
and executes against the workspace packages in quick mode."""

from __future__ import annotations

import re
import time
from pathlib import Path

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
PIN = re.compile(r'^%pip install (?:-q )?"(khipu-[a-z]+)==([0-9.]+\.\*)"$')

# Every exercise's checker, per notebook: removing an exercise (or renaming its checker)
# fails `test_every_listed_exercise_is_in_its_notebook`. One entry per notebook, so the
# practicals' lessons can grow independently.
EXERCISE_CHECKERS: dict[str, list[str]] = {
    "01_cnn": [
        "check_cosine",
        "check_relu_python",
        "check_relu",
        "check_first_derivative",
        "check_third_derivative",
        "check_time_blocked",
        "check_jit_speedup_answer",
        "check_min_max_of_batch",
        "check_min_max_batched",
        "check_mse_gradient",
        "check_optax_fit",
        "check_linear_module",
        "check_to_channels_first",
        "check_dense_parameters",
        "check_conv_parameters",
        "check_conv2d",
        "check_conv_output_size",
        "check_max_pool",
        "check_cross_entropy",
        "check_make_step",
        "check_train_epoch",
        "check_global_average_pool",
        "check_batch_norm",
        "check_residual_block",
        "check_filter_images",
    ],
    "02_transformer": [
        "check_dot_product_attention",
        "check_sequence_to_qkv",
        "check_scaled_dot_product_attention",
        "check_causal_mask",
        "check_split_heads",
        "check_multi_head_attention",
        "check_encode",
        "check_decode",
        "check_pad_and_mask",
        "check_sinusoidal_encoding",
        "check_frequency_term",
        "check_learned_positions",
        "check_feed_forward",
        "check_add_norm",
        "check_encoder_block",
        "check_decoder_block",
        "check_seq2seq",
        "check_invert_words",
        "check_shift_right",
        "check_sequence_loss",
        "check_image_to_patches",
    ],
    "03_gnn": [
        "check_task_graph",
        "check_edge_sums",
        "check_networkx_to_jraph",
        "check_residual_update",
        "check_mean_aggregate",
        "check_gcn_aggregate",
        "check_gcn_stack",
        "check_attention_weights",
        "check_sender_attention",
        "check_target_mse",
        "check_diffusion_sequence",
        "check_graph_filter",
        "check_gnn_module",
        "check_train_epochs",
        "check_mean_readout",
        "check_link_loss",
    ],
    "04_diffusion": [
        "check_bayes_posterior",
        "check_gaussian_conditional",
        "check_score_fn",
        "check_linear_beta_schedule",
        "check_q_sample",
        "check_posterior_variance",
        "check_unet_up_path",
        "check_ddpm_loss",
        "check_ddpm_step",
        "check_classifier_guided_eps",
        "check_classifier_free_eps",
    ],
    "05_rl": [
        "check_linear_policy",
        "check_episode_return",
        "check_random_search_select_action",
        "check_random_weights",
        "check_random_search_learn",
        "check_weighted_log_prob",
        "check_rewards_to_go",
        "check_sample_action",
        "check_policy_gradient_loss",
        "check_greedy_action",
        "check_squared_error",
        "check_bellman_target",
        "check_q_learning_loss",
        "check_random_action",
        "check_epsilon_schedule",
        "check_epsilon_greedy",
    ],
    "06_bias": [
        "check_cosine_similarity",
        "check_association",
        "check_effect_size",
        "check_n_partitions",
        "check_p_value",
        "check_rnd",
        "check_ripa",
        "check_project",
        "check_neutralize",
    ],
}
# Quizzes (`quiz`-tagged cells calling a `khipu.core.choice_check`) and group tasks
# (markdown with a collapsed `<details><summary>Model answer</summary>`), per notebook:
# the least each lesson keeps.
MIN_QUIZZES: dict[str, int] = {"01_cnn": 7, "02_transformer": 10, "03_gnn": 7, "04_diffusion": 4}
MIN_DISCUSSIONS: dict[str, int] = {
    "01_cnn": 3,
    "02_transformer": 7,
    "03_gnn": 7,
    "04_diffusion": 10,
}


def _versions() -> dict[str, str]:
    versions = {}
    for about in [
        *ROOT.glob("packages/*/src/khipu/*/__about__.py"),
        *ROOT.glob("shared/*/src/khipu/*/__about__.py"),
    ]:
        match = re.search(r'__version__\s*=\s*"([^"]+)"', about.read_text())
        assert match
        versions[f"khipu-{about.parent.name}"] = match.group(1)
    return versions


def _pin_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if "pin" in c.get("metadata", {}).get("tags", [])]


def test_each_practical_has_a_notebook() -> None:
    topics = {
        p.name.removeprefix("khipu-")
        for p in (ROOT / "packages").glob("khipu-*")
        if (p / "src").is_dir()
    }
    pinned = set()
    for path in NOTEBOOKS:
        for cell in _pin_cells(nbformat.read(path, as_version=4)):
            match = PIN.match(cell.source.strip())
            if match:
                pinned.add(match.group(1).removeprefix("khipu-"))
    assert topics <= pinned, f"practicals without a pinned notebook: {sorted(topics - pinned)}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_pin_admits_the_current_version(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    pins = _pin_cells(nb)
    assert len(pins) == 1, f"{path.name}: one code cell tagged 'pin' expected"
    assert nb.cells.index(pins[0]) <= 2, "the pin cell comes first"
    match = PIN.match(pins[0].source.strip())
    assert match, f'{path.name}: pin cell must be %pip install "khipu-<topic>==X.Y.*"'
    dist, spec = match.groups()
    current = _versions()[dist]
    assert SpecifierSet(f"=={spec}").contains(current), (
        f"{path.name} pins {dist}=={spec} but the package is at {current}: update the notebook"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_no_outputs_and_in_sync_with_twin(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (
                f"{path.name} stores outputs"
            )
    twin = path.with_suffix(".py")
    assert twin.is_file(), f"{path.name} has no jupytext py:percent twin"
    paired = jupytext.read(twin)
    assert [c.source.strip() for c in paired.cells] == [c.source.strip() for c in nb.cells], (
        f"{path.name} and {twin.name} differ: run `jupytext --sync {path}`"
    )


def _tags(cell: nbformat.NotebookNode) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _exercises(nb: nbformat.NotebookNode) -> list[tuple[int, int, int]]:
    """(exercise, check, solution) cell indices, in order."""
    code = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    triples = []
    for k, (i, cell) in enumerate(code):
        if "exercise" in _tags(cell):
            nxt = [j for j, _ in code[k + 1 : k + 3]]
            assert len(nxt) == 2, f"exercise cell {i} is not followed by a check and a solution"
            triples.append((i, nxt[0], nxt[1]))
    return triples


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_exercises_have_a_stub_a_check_and_a_hidden_solution(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    triples = _exercises(nb)
    assert len(triples) >= 6, f"{path.name}: a practical has at least 6 exercises"
    tagged = {t: sum(t in _tags(c) for c in nb.cells) for t in ("exercise", "check", "solution")}
    assert tagged == dict.fromkeys(tagged, len(triples)), f"{path.name}: {tagged}"
    for e, c, s in triples:
        stub, check, solution = nb.cells[e], nb.cells[c], nb.cells[s]
        assert "# YOUR CODE HERE" in stub.source, f"{path.name} cell {e}: no stub marker"
        assert "check" in _tags(check) and re.search(r"\bcheck_\w+\(", check.source), (
            f"{path.name} cell {c}: the exercise's check cell must call a package checker"
        )
        assert "solution" in _tags(solution), f"{path.name} cell {s}: not tagged solution"
        assert solution.metadata.get("jupyter", {}).get("source_hidden") is True
        # Colab collapses a cell only as a form
        assert solution.metadata.get("cellView") == "form", f"{path.name} cell {s}: cellView"
        assert solution.source.startswith("# @title"), f"{path.name} cell {s}: # @title form"
    assert any("figure" in _tags(c) for c in nb.cells), f"{path.name} draws nothing"


def _checkers(nb: nbformat.NotebookNode) -> list[str]:
    return [
        name
        for _, c, _ in _exercises(nb)
        for name in re.findall(r"\b(check_\w+)\(", nb.cells[c].source)
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_listed_exercise_is_in_its_notebook(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    found = _checkers(nb)
    listed = EXERCISE_CHECKERS[path.stem]
    missing = [name for name in listed if name not in found]
    assert not missing, f"{path.name}: exercises removed: {missing}"
    unlisted = [name for name in found if name not in listed]
    assert not unlisted, f"{path.name}: list these exercises in EXERCISE_CHECKERS: {unlisted}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_quizzes_and_group_tasks(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    quizzes = [c for c in nb.cells if c.cell_type == "code" and "quiz" in _tags(c)]
    for cell in quizzes:
        assert re.search(r"\b(quiz_\w+)\(None\)", cell.source), (
            f"{path.name}: a quiz cell calls quiz_<name>(None) for the student to fill"
        )
    assert len(quizzes) >= MIN_QUIZZES.get(path.stem, 0), f"{path.name}: quizzes removed"
    details = [
        c
        for c in nb.cells
        if c.cell_type == "markdown" and "<summary>Model answer</summary>" in c.source
    ]
    for cell in details:
        assert "<details>" in cell.source and "</details>" in cell.source
    assert len(details) >= MIN_DISCUSSIONS.get(path.stem, 0), f"{path.name}: group tasks removed"


def _prepared(path: Path, mode: str) -> tuple[nbformat.NotebookNode, list[int]]:
    """The notebook with each stub replaced by its solution ("solutions") or left as
    the student finds it ("stubs"), solution cells dropped; pin cell dropped.
    Returns the notebook and the indices of its check cells."""
    nb = nbformat.read(path, as_version=4)
    drop = {id(c) for c in _pin_cells(nb)}
    for e, _, s in _exercises(nb):
        if mode == "solutions":
            nb.cells[e].source = nb.cells[s].source
        drop.add(id(nb.cells[s]))
    nb.cells = [c for c in nb.cells if id(c) not in drop]
    checks = [i for i, c in enumerate(nb.cells) if "check" in _tags(c)]
    return nb, checks


def _text(cell: nbformat.NotebookNode) -> str:
    parts = []
    for o in cell.get("outputs", []):
        if o.output_type == "stream":
            parts.append(o.text)
        elif "text/plain" in o.get("data", {}):
            parts.append(o.data["text/plain"])
    return "".join(parts)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["solutions", "stubs"])
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_checks_and_shows_figures(
    path: Path, mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nb, checks = _prepared(path, mode)
    monkeypatch.setenv("KHIPU_QUICK", "1")
    monkeypatch.setenv("KHIPU_NOTEBOOK_OUT", str(tmp_path))
    # the kernel picks Jupyter's own inline backend, as in Jupyter and Colab
    monkeypatch.delenv("MPLBACKEND", raising=False)
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    started = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - started
    errors = [
        o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"
    ]
    assert not errors
    for i in checks:
        out = _text(nb.cells[i])
        if mode == "solutions":
            assert "✓" in out and "✗" not in out, f"{path.name} check cell {i}: {out!r}"
        else:
            assert "not attempted" in out, f"{path.name} check cell {i}: {out!r}"
    figures = [c for c in nb.cells if "figure" in _tags(c)]
    pngs = [sum("image/png" in o.get("data", {}) for o in c.outputs) for c in figures]
    blank = [nb.cells.index(c) for c, n in zip(figures, pngs, strict=True) if n == 0]
    assert not blank, f"{path.name}: figure cells {blank} show no image"
    print(
        f"{path.stem} [{mode}]: {len(checks)} checks, {sum(pngs)} images "
        f"in {len(figures)} figure cells, {seconds:.0f} s"
    )
