"""The README and docs/ link only to files that exist inside the repository."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _targets(tokens: list[Token]) -> Iterator[str]:
    """Every link and image target, wherever it sits (code spans and blocks excluded)."""
    for token in tokens:
        if token.type == "link_open":
            yield str(token.attrs["href"])
        elif token.type == "image":
            yield str(token.attrs["src"])
        yield from _targets(token.children or [])


def _relative_targets(page: Path) -> list[str]:
    tokens = MarkdownIt("commonmark").enable("table").parse(page.read_text())
    return [t for t in _targets(tokens) if not urlsplit(t).scheme and not t.startswith("#")]


def test_the_pages_are_found() -> None:
    assert ROOT / "docs" / "concepts.md" in PAGES


def _problems(page: Path, root: Path) -> list[str]:
    found = []
    for target in _relative_targets(page):
        path = unquote(urlsplit(target).path)
        resolved = (page.parent / path).resolve()
        if path.startswith("/") or not resolved.is_relative_to(root):
            found.append(f"{page.name}: {target!r} points outside the repository")
        elif not resolved.exists():
            found.append(f"{page.name}: {target!r} does not exist")
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_stay_in_the_repository_and_exist(page: Path) -> None:
    assert _problems(page, ROOT) == []


def test_links_out_of_the_repository_and_to_missing_files_are_caught(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "here.md").write_text("")
    page = root / "README.md"
    page.write_text(
        "[contract](../shared/PRODUCT.md) [abs](/etc/hosts) [ok](docs/here.md#top) "
        "[gone](docs/gone.md) [web](https://example.com/x) [anchor](#top) `[code](x.md)`\n"
    )
    assert _problems(page, root) == [
        "README.md: '../shared/PRODUCT.md' points outside the repository",
        "README.md: '/etc/hosts' points outside the repository",
        "README.md: 'docs/gone.md' does not exist",
    ]
