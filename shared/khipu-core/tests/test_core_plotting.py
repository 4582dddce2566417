from pathlib import Path

import khipu.core as kc
import numpy as np

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_learning_curves_pair_train_and_validation(tmp_path: Path) -> None:
    history = {
        "epoch": [1.0, 2.0, 3.0],
        "loss": [1.0, 0.5, 0.2],
        "val_loss": [1.1, float("nan"), 0.3],
        "accuracy": [0.5, 0.7, 0.9],
        "val_accuracy": [0.4, 0.6, 0.8],
    }
    fig = kc.plot_learning_curves(history, path=tmp_path / "c.png")
    assert (tmp_path / "c.png").read_bytes()[:8] == PNG_MAGIC
    axes = fig.get_axes()
    assert [ax.get_ylabel() for ax in axes] == ["loss", "accuracy"]
    labels = [line.get_label() for line in axes[0].get_lines()]
    assert labels == ["train", "validation"]
    # the NaN (epoch without evaluation) is skipped, not drawn
    assert len(axes[0].get_lines()[1].get_xdata()) == 2


def test_image_grid_has_one_panel_per_image_with_colored_titles(tmp_path: Path) -> None:
    images = np.random.default_rng(0).random((7, 8, 8, 1))
    fig = kc.plot_image_grid(
        images,
        titles=[str(i) for i in range(7)],
        title_colors=["green"] * 6 + ["red"],
        ncols=3,
        path=tmp_path / "g.png",
    )
    drawn = [ax for ax in fig.get_axes() if ax.get_images()]
    assert len(drawn) == 7
    assert drawn[-1].title.get_color() == "red"
    assert (tmp_path / "g.png").read_bytes()[:8] == PNG_MAGIC


def test_bars_are_labelled(tmp_path: Path) -> None:
    fig = kc.plot_bars(
        {"python": 2.0, "jit": 0.1}, ylabel="seconds", log_y=True, path=tmp_path / "b.png"
    )
    ax = fig.get_axes()[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["python", "jit"]
    assert ax.get_yscale() == "log"


def test_parameter_counts_per_module() -> None:
    params = {
        "conv": {"w": np.zeros((3, 3, 1, 8)), "b": np.zeros(8)},
        "head": {"w": np.zeros((8, 10))},
    }
    assert kc.parameter_counts(params) == {"conv": 80, "head": 80}
    assert kc.total_parameters(params) == 160


def test_figures_show_as_png_in_ipython(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import types

    from IPython.core.formatters import DisplayFormatter
    from khipu.core import plotting

    # a stand-in for the running shell: its display formatter is all that is used
    shell = types.SimpleNamespace(display_formatter=DisplayFormatter())
    monkeypatch.setattr(plotting, "_ipython", lambda: shell)
    fig = kc.plot_learning_curves({"epoch": [1, 2], "loss": [1.0, 0.5]})
    data, _ = shell.display_formatter.format(fig)
    assert data["image/png"][:4] == b"\x89PNG"


def test_show_does_nothing_outside_ipython(capsys) -> None:  # type: ignore[no-untyped-def]
    kc.show(kc.new_figure())
    assert capsys.readouterr().out == ""
