"""Import boundaries (STYLE.md §6), checked by parsing every module's imports with ast:
faces never touch SQL, storage or one another, domain services never touch HTTP frameworks,
workers reach the database only through services, and private names stay in their package."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

SRC = Path(__file__).resolve().parents[2] / "src" / "dockyard"

#: What no face may import: the database and the blob store are reached through services.
_BELOW_FACES = ("sqlalchemy", "dockyard.metadata", "dockyard.storage")

#: package → modules it must not import (a prefix match on the dotted name). The console is
#: the coming face: its rule holds from the day its package appears.
FORBIDDEN = {
    "registry": (*_BELOW_FACES, "dockyard.api", "dockyard.cli", "dockyard.console"),
    "api": (*_BELOW_FACES, "dockyard.registry", "dockyard.cli", "dockyard.console"),
    "console": (*_BELOW_FACES, "dockyard.registry", "dockyard.api", "dockyard.cli"),
    "cli": _BELOW_FACES,
    # Plug-ins for other systems (the kubelet's): HTTP to Dockyard through the CLI's client.
    "integrations": (*_BELOW_FACES, "dockyard.registry", "dockyard.api", "dockyard.console"),
    "workers": (
        *_BELOW_FACES,
        "dockyard.registry",
        "dockyard.api",
        "dockyard.cli",
        "dockyard.console",
    ),
    # Services reach outbound HTTP through a Protocol of their own; bootstrap passes the client.
    "services": ("starlette", "fastapi", "httpx", "httpcore", "dockyard.outbound"),
}


def _package_of(path: Path, root: Path) -> str:
    return ".".join(("dockyard", *path.relative_to(root).with_suffix("").parts[:-1]))


def imports_of(path: Path, root: Path = SRC) -> set[str]:
    """Every dotted name the module imports: ``from a import b`` gives ``a`` and ``a.b``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _package_of(path, root)
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


def private_owner(name: str, root: Path = SRC) -> str | None:
    """The package a private name of ours belongs to: the package holding the private module,
    or holding the module that defines the private attribute."""
    parts = name.split(".")
    if parts[0] != "dockyard":
        return None
    for index, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            holder = parts[:index]
            is_package = root.joinpath(*holder[1:]).is_dir()
            return ".".join(holder if is_package else holder[:-1])
    return None


def violations(package: str, root: Path = SRC) -> list[str]:
    out = []
    for path in sorted((root / package).rglob("*.py")):
        for name in sorted(imports_of(path, root)):
            for banned in FORBIDDEN[package]:
                if name == banned or name.startswith(banned + "."):
                    out.append(f"{path.relative_to(root)} imports {name}")
    return out


def private_imports(root: Path = SRC) -> list[str]:
    """Imports of a private name (module, class, function) from outside its own package."""
    out = []
    for path in sorted(root.rglob("*.py")):
        importer = _package_of(path, root)
        for name in sorted(imports_of(path, root)):
            owner = private_owner(name, root)
            if owner is None or importer == owner or importer.startswith(owner + "."):
                continue
            out.append(f"{path.relative_to(root)} imports the private {name}")
    return out


@pytest.mark.parametrize("package", sorted(p for p in FORBIDDEN if (SRC / p).is_dir()))
def test_package_respects_its_boundary(package: str) -> None:
    assert violations(package) == []


def test_no_private_name_crosses_a_package() -> None:
    assert private_imports() == []


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        module = tmp_path / name
        module.parent.mkdir(parents=True, exist_ok=True)
        module.write_text(text)
    return tmp_path


def test_the_checker_sees_sql_in_a_face(tmp_path: Path) -> None:
    root = _tree(
        tmp_path, {"api/m.py": "import sqlalchemy.orm\nfrom dockyard.metadata import models\n"}
    )
    assert violations("api", root) == [
        "api/m.py imports dockyard.metadata",
        "api/m.py imports dockyard.metadata.models",
        "api/m.py imports sqlalchemy.orm",
    ]


def test_the_checker_sees_storage_in_a_face(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"registry/m.py": "from dockyard.storage.layout import blob_path\n"})
    assert violations("registry", root) == [
        "registry/m.py imports dockyard.storage.layout",
        "registry/m.py imports dockyard.storage.layout.blob_path",
    ]


def test_the_checker_sees_a_face_importing_another(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"api/routers/m.py": "from ...registry.auth import parse_basic\n"})
    assert violations("api", root) == [
        "api/routers/m.py imports dockyard.registry.auth",
        "api/routers/m.py imports dockyard.registry.auth.parse_basic",
    ]


def test_the_checker_sees_a_worker_past_the_services(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "workers/m.py": (
                "from dockyard.services.jobs import JobQueue\n"
                "from dockyard.metadata.queries import jobs\n"
                "import dockyard.api.app\n"
            )
        },
    )
    assert violations("workers", root) == [
        "workers/m.py imports dockyard.api.app",
        "workers/m.py imports dockyard.metadata.queries",
        "workers/m.py imports dockyard.metadata.queries.jobs",
    ]


def test_the_checker_sees_http_in_a_service(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"services/m.py": "from starlette.requests import Request\n"})
    assert violations("services", root) == [
        "services/m.py imports starlette.requests",
        "services/m.py imports starlette.requests.Request",
    ]


def test_the_checker_sees_a_private_name_cross_packages(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "services/a/m.py": "from dockyard.services.b.mod import _helper\n",
            "services/b/n.py": "from ._rows import row\nfrom .mod import _helper\n",
            "services/b/c/o.py": "from dockyard.services.b import _shared\n",
            "services/d.py": "from dockyard.metadata.queries._rows import row\n",
        },
    )
    assert private_imports(root) == [
        "services/a/m.py imports the private dockyard.services.b.mod._helper",
        "services/d.py imports the private dockyard.metadata.queries._rows",
        "services/d.py imports the private dockyard.metadata.queries._rows.row",
    ]
