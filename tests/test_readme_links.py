"""The root README opens every notebook in Colab from the repository the packages'
metadata names, and documents installing a package from its subdirectory."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _homepage() -> str:
    project = tomllib.loads((ROOT / "shared/khipu-core/pyproject.toml").read_text())["project"]
    return str(project["urls"]["Homepage"])


def test_every_notebook_has_an_open_in_colab_link_to_this_repository() -> None:
    repo = _homepage().removeprefix("https://github.com/")
    links = set(re.findall(r"https://colab\.research\.google\.com/github/([^)\s]+)", README))
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        expected = f"{repo}/blob/main/notebooks/{notebook.name}"
        assert expected in links, f"README: no Colab link for {notebook.name}"
    for link in links:  # and no link to a notebook that is gone
        assert (ROOT / link.split("/blob/main/", 1)[1]).is_file(), link


def test_every_package_shares_the_homepage() -> None:
    for pyproject in [
        ROOT / "shared/khipu-core/pyproject.toml",
        *ROOT.glob("packages/*/pyproject.toml"),
    ]:
        urls = tomllib.loads(pyproject.read_text())["project"]["urls"]
        assert urls["Homepage"] == _homepage(), pyproject


def test_install_from_the_repository_subdirectory_is_documented() -> None:
    base = f"git+{_homepage()}@main#subdirectory="
    assert f"khipu-core @ {base}shared/khipu-core" in README
    assert re.search(rf"khipu-[a-z]+ @ {re.escape(base)}packages/khipu-[a-z]+", README)
