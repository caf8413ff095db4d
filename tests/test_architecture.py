"""The shape of the house, checked on the source: layers, a one-way import graph, no hidden imports.

Every module of ``optimizer/``, ``geo/`` and ``api/`` is parsed with :mod:`ast` (nothing is
imported). Rules:

1. ``optimizer`` imports nothing from ``geo`` or ``api``; ``geo`` nothing from ``api`` (any
   import, also one inside a function).
2. The graph of module-level imports between project modules has no cycle.
3. No function-local import of a project module (such an import usually hides a cycle).
4. One settings object: ``api.settings.Settings`` is the only ``BaseSettings`` class (direct or
   through another project class), and ``optimizer``/``geo`` never read the environment (no
   ``os.environ``/``os.getenv``, no ``pydantic_settings`` or ``dotenv``): they are given settings.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("optimizer", "geo", "api")
FORBIDDEN = {"optimizer": ("geo", "api"), "geo": ("api",), "api": ()}


@dataclass(frozen=True)
class Import:
    """One import of a project module found in a source file."""

    target: str  # dotted module name
    line: int
    local: bool  # inside a function (or lambda), i.e. run only when called


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the project packages."""
    found = {module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}
    assert set(PACKAGES) <= set(found), "a project package lost its __init__.py"
    return found


MODULES = source_files()


def resolve(name: str) -> str | None:
    """The project module ``name`` refers to (its longest prefix that is a module), else None."""
    parts = name.split(".")
    if parts[0] not in PACKAGES:
        return None
    while parts:
        candidate = ".".join(parts)
        if candidate in MODULES:
            return candidate
        parts.pop()
    return None


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def imports_in(source: str, module: str, is_package: bool = False) -> Iterator[Import]:
    """The project-module imports of ``module``'s source, each marked local when inside a
    function. Imports under ``if TYPE_CHECKING:`` count as module-level: a cycle that only type
    checking sees is still a cycle of the design."""
    tree = ast.parse(source)

    def visit(node: ast.AST, local: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            inner = local or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            if isinstance(child, ast.Import):
                for alias in child.names:
                    target = resolve(alias.name)
                    if target is not None:
                        yield Import(target, child.lineno, local)
            elif isinstance(child, ast.ImportFrom):
                base = _absolute(child, module, is_package)
                for alias in child.names:
                    # ``from geo import places`` imports the module geo.places.
                    target = resolve(f"{base}.{alias.name}") or resolve(base)
                    if target is not None:
                        yield Import(target, child.lineno, local)
            else:
                yield from visit(child, inner)

    yield from visit(tree, False)


def imports_of(path: Path) -> list[Import]:
    found = imports_in(
        path.read_text(encoding="utf-8"), module_name(path), path.name == "__init__.py"
    )
    return sorted(set(found), key=lambda i: (i.line, i.target))


IMPORTS = {name: list(imports_of(path)) for name, path in MODULES.items()}


def relative(module: str) -> str:
    return MODULES[module].relative_to(ROOT).as_posix()


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as ``[a, b, ..., a]``, or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in sorted(graph):
        if root in state:
            continue
        path = [root]
        stack = [iter(sorted(graph[root]))]
        state[root] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph.get(nxt, ()))))
    return None


def module_graph() -> dict[str, set[str]]:
    return {
        name: {i.target for i in found if not i.local and i.target != name}
        for name, found in IMPORTS.items()
    }


# --- the checker itself ---------------------------------------------------------------------------


def test_find_cycle_reports_the_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set()}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"a"}}) == ["a", "a"]


SAMPLE = """
import numpy
import api.schemas.planning as planning
from geo import places
from . import mapping
from .storage.weeks import week_request

if TYPE_CHECKING:
    from api.planner import Planner


class Holder:
    from geo.settings import GeoSettings  # a class body runs on import

    def method(self) -> None:
        import geo.cache


def function() -> None:
    from optimizer.solve import solve

    def inner() -> None:
        from optimizer import domain


handler = lambda: __import__("optimizer.checker")
"""


def test_imports_are_classified() -> None:
    found = {(i.target, i.local) for i in imports_in(SAMPLE, "api.sample_module")}
    assert found == {
        ("api.schemas.planning", False),
        ("geo.places", False),
        ("api.mapping", False),
        ("api.storage.weeks", False),
        ("api.planner", False),
        ("geo.settings", False),
        ("geo.cache", True),
        ("optimizer.solve", True),
        ("optimizer.domain", True),
    }
    assert resolve("geo.places.base") == "geo.places"
    assert resolve("numpy") is None


# --- the rules ------------------------------------------------------------------------------------


@pytest.mark.parametrize("package", PACKAGES)
def test_layers_point_one_way(package: str) -> None:
    wrong = [
        f"{relative(name)}:{i.line} imports {i.target}"
        for name, found in IMPORTS.items()
        if name.split(".")[0] == package
        for i in found
        if i.target.split(".")[0] in FORBIDDEN[package]
    ]
    assert not wrong, f"{package} must not import {FORBIDDEN[package]}:\n" + "\n".join(wrong)


def test_module_imports_have_no_cycle() -> None:
    cycle = find_cycle(module_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_no_function_local_project_imports() -> None:
    hidden = [
        f"{relative(name)}:{i.line} imports {i.target} inside a function"
        for name, found in IMPORTS.items()
        for i in found
        if i.local
    ]
    assert not hidden, "import project modules at module level:\n" + "\n".join(hidden)


# --- rule 4: one settings object, read by the api only ------------------------------------------

SETTINGS_BASES = frozenset({"BaseSettings"})
ENV_MODULES = frozenset({"pydantic_settings", "dotenv"})
ENV_NAMES = frozenset({"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"})
READS_ENV = {"optimizer": True, "geo": True, "api": False}
"""Package -> whether the environment rule applies to it (the api builds the settings)."""


def _base_name(node: ast.expr) -> str:
    """``BaseSettings`` for ``BaseSettings`` and ``pydantic_settings.BaseSettings``."""
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def settings_classes(sources: dict[str, str]) -> list[str]:
    """``module.Class`` of every class deriving from ``BaseSettings``, also through classes of
    ``sources`` (module -> source text) that do."""
    classes = [
        (module, node.name, {_base_name(b) for b in node.bases})
        for module, source in sources.items()
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ClassDef)
    ]
    bases = set(SETTINGS_BASES)
    while True:  # grow to a fixpoint: subclasses of subclasses
        grown = bases | {name for _, name, parents in classes if parents & bases}
        if grown == bases:
            break
        bases = grown
    return sorted(f"{module}.{name}" for module, name, parents in classes if parents & bases)


def environment_reads(source: str) -> list[str]:
    """``line: what`` for every way ``source`` reads the environment or settings from it."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [
                (node.lineno, f"import {a.name}")
                for a in node.names
                if a.name.split(".")[0] in ENV_MODULES
            ]
        elif isinstance(node, ast.ImportFrom) and node.module:
            top = node.module.split(".")[0]
            names = sorted(a.name for a in node.names)
            if top in ENV_MODULES or (node.module == "os" and ENV_NAMES.intersection(names)):
                found.append((node.lineno, f"from {node.module} import {', '.join(names)}"))
        elif (
            isinstance(node, ast.Attribute)
            and node.attr in ENV_NAMES
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
        ):
            found.append((node.lineno, f"os.{node.attr}"))
    return [f"{line}: {what}" for line, what in sorted(found)]


SOURCES = {name: path.read_text(encoding="utf-8") for name, path in MODULES.items()}


def test_settings_checks_find_what_they_look_for() -> None:
    sample = {
        "a": "import pydantic_settings\nclass S(pydantic_settings.BaseSettings): ...\n",
        "b": "from a import S\nclass T(S): ...\nclass U: ...\n",
        "c": "from pydantic_settings import BaseSettings as B\nclass V(B): ...\n",
    }
    # Renaming the base on import hides it from this check (nobody does that here).
    assert settings_classes(sample) == ["a.S", "b.T"]
    env = """
import os
from os import environ, path
import dotenv
from pydantic_settings import BaseSettings

x = os.environ.get("A")
y = os.getenv("B")
z = os.path.join("a", "b")
"""
    assert environment_reads(env) == [
        "3: from os import environ, path",
        "4: import dotenv",
        "5: from pydantic_settings import BaseSettings",
        "7: os.environ",
        "8: os.getenv",
    ]
    assert environment_reads("import os\nos.PathLike\n") == []


def test_one_settings_class() -> None:
    assert settings_classes(SOURCES) == ["api.settings.Settings"]


@pytest.mark.parametrize("package", [p for p, rule in READS_ENV.items() if rule])
def test_optimizer_and_geo_never_read_the_environment(package: str) -> None:
    found = [
        f"{relative(name)}:{where}"
        for name, source in SOURCES.items()
        if name.split(".")[0] == package
        for where in environment_reads(source)
    ]
    assert not found, f"{package} must take its settings as parameters:\n" + "\n".join(found)


# --- start-up cost: what a process imports ------------------------------------------------------

HEAVY_ON_USE = ("numba", "networkx", "scipy", "pyproj", "osmnx", "geopandas", "folium", "requests")
"""Libraries imported only where they are used (road networks, downloads, maps): every server,
job worker and CLI process imports the whole service at start, and these would add about a
second to each start on an idle machine (several under load)."""


def test_the_service_starts_without_the_libraries_it_uses_on_demand() -> None:
    code = (
        "import sys, api.app, api.cli; "
        f"print(' '.join(m for m in {HEAVY_ON_USE!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == [], f"imported on start: {out.stdout}"
