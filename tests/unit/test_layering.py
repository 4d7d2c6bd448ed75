"""Import boundaries (STYLE.md §6), checked by parsing every module's imports with ast:
faces never touch SQL, and domain services never touch HTTP frameworks."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

SRC = Path(__file__).resolve().parents[2] / "src" / "dockyard"

#: package → modules it must not import (a prefix match on the dotted name).
FORBIDDEN = {
    "registry": ("sqlalchemy", "dockyard.metadata"),
    "api": ("sqlalchemy", "dockyard.metadata"),
    "services": ("starlette", "fastapi", "httpx"),
}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ".".join(("dockyard", *path.relative_to(SRC).with_suffix("").parts[:-1]))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def violations(package: str) -> list[str]:
    out = []
    for path in sorted((SRC / package).rglob("*.py")):
        for name in sorted(imports_of(path)):
            for banned in FORBIDDEN[package]:
                if name == banned or name.startswith(banned + "."):
                    out.append(f"{path.relative_to(SRC)} imports {name}")
    return out


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_respects_its_boundary(package: str) -> None:
    assert (SRC / package).is_dir()
    assert violations(package) == []


def test_the_checker_sees_violations(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import sqlalchemy.orm\nfrom dockyard.metadata import models\n")
    names = imports_of_any(module)
    assert "sqlalchemy.orm" in names and "dockyard.metadata.models" in names


def imports_of_any(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names
