"""The package's shape, read from its imports (module level and inside functions; `if TYPE_CHECKING:` blocks are
for the type checker only and are skipped):

- no import loops inside a top-level package (`catalog`, `accounts`, `core`...): a loop is a module that mounts
  its siblings and also serves as their helper library, and it grows with every page added to it;
- `core/` imports no domain: domains contribute to core through registrations (error renderers, admin sections);
- only `tasks` modules are imported by nobody: logic enqueues jobs by name, so it never imports the jobs module
  (which imports the logic, and would close a loop);
- every listing of models (the home page, the models, tag and profile pages, the site's JSON API and
  `/api/v1/models`) goes through the one listing service, `catalog.browsing`, and nothing else writes out which
  models a list may show.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "modelyard"
ROOT = PACKAGE.parent


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(path): path for path in PACKAGE.rglob("*.py") if "migrations" not in path.parts}


def _type_checking_only(tree: ast.Module) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(inner) for inner in ast.walk(node))
    return skipped


def _imported_names(name: str, path: Path) -> Iterator[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    skipped = _type_checking_only(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield base  # `from a.b import c` runs a/b/__init__.py, whatever c is
            yield from (f"{base}.{alias.name}" for alias in node.names)


@cache
def imports() -> dict[str, frozenset[str]]:
    """Each module of the package and the modules of the package it imports."""
    known = modules()
    return {
        name: frozenset(found for found in _imported_names(name, path) if found in known and found != name)
        for name, path in known.items()
    }


def top_level_packages() -> list[str]:
    return sorted({name.split(".")[1] for name in modules() if name.count(".") >= 1})


def loops_within(package: str) -> list[list[str]]:
    """Strongly connected components of more than one module among `modelyard.<package>`'s own modules."""
    prefix = f"modelyard.{package}"
    members = {name for name in imports() if name == prefix or name.startswith(prefix + ".")}
    graph = {name: sorted(imports()[name] & members) for name in members}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(start: str) -> None:  # Tarjan's algorithm, iterative: no recursion limit to meet
        work = [(start, iter(graph[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))

    for name in sorted(members):
        if name not in index:
            visit(name)
    return found


def test_the_reader_sees_the_imports_it_is_asked_about() -> None:
    """The checks below are only as good as this reader: it must see imports in functions, relative ones, and
    `from package import module`, and skip what only the type checker reads."""
    found = imports()
    assert "modelyard.core.jobs.transport" in found["modelyard.core.bootstrap"]  # inside a function
    assert "modelyard.web.toolkit" in found["modelyard.accounts.pages.common"]
    assert "modelyard.accounts.pages.users" in found["modelyard.accounts.pages"]  # from package import module
    assert "modelyard.api_v1" in found["modelyard.api_v1.mount"]  # ... which runs the package's __init__ too
    assert "modelyard.core.jobs.transport" not in found["modelyard.core.runtime"]  # TYPE_CHECKING only
    assert len(top_level_packages()) >= 8


def test_no_import_loops_inside_any_package() -> None:
    loops = {package: loops_within(package) for package in top_level_packages()}
    assert {package: found for package, found in loops.items() if found} == {}


def test_core_imports_no_domain() -> None:
    reaching_up = {
        name: sorted(found for found in imported if not found.startswith("modelyard.core") and found != "modelyard")
        for name, imported in imports().items()
        if name.startswith("modelyard.core")
    }
    assert {name: found for name, found in reaching_up.items() if found} == {}


def is_tasks(name: str) -> bool:
    return name.rpartition(".")[2] == "tasks"


def test_only_tasks_modules_import_tasks_modules() -> None:
    """Jobs are declared in a domain's `tasks.py` and enqueued by name: nothing else imports them."""
    importing = {
        name: sorted(found for found in imported if is_tasks(found))
        for name, imported in imports().items()
        if not is_tasks(name)
    }
    assert {name: found for name, found in importing.items() if found} == {}


# Where the site and both APIs list models, and the function doing it: each must call `browsing.browse`/`listed`
# or build on `browsing`'s statements.
LISTINGS = {
    "modelyard.web.pages": "home_page",
    "modelyard.catalog.pages.browse": "listing_context",
    "modelyard.catalog.pages.profiles": None,
    "modelyard.catalog.routes.listing": "list_models",
    "modelyard.api_v1.models": None,
}
# The rule "which models a list may show" lives in the catalog's visibility module and is applied by browsing.
LIST_RULE = "listable_models"
LIST_RULE_USERS = {"modelyard.catalog.lifecycle.visibility", "modelyard.catalog.browsing"}


def _calls_browsing(tree: ast.AST) -> bool:
    return any(
        isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "browsing"
        for node in ast.walk(tree)
    )


def test_every_listing_of_models_goes_through_the_listing_service() -> None:
    known = modules()
    for name, function in LISTINGS.items():
        assert "modelyard.catalog.browsing" in imports()[name], f"{name} lists models without catalog.browsing"
        tree = ast.parse(known[name].read_text())
        if function is not None:
            found = [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) and node.name == function]
            assert found, f"{name}.{function} is gone: update LISTINGS"
            tree = found[0]
        assert _calls_browsing(tree), f"{name} imports catalog.browsing but does not call it"


def test_only_the_listing_service_applies_the_list_rule() -> None:
    using = sorted(
        name for name, path in modules().items() if LIST_RULE in path.read_text() and name not in LIST_RULE_USERS
    )
    assert using == []
