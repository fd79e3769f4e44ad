"""The layering rules of docs/architecture.md, checked on the source: apps import only downward,
no module imports itself back through others (import cycles), and the legacy adapters of
``kinds`` are used by ``kinds`` alone. Imports inside functions count too: a lazy import that
only hides a cycle is still a cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Lowest first: an app may import the apps before it, never those after it. ``wegent`` is the
# project package (settings, transport, shared API pieces); apps fill its registries.
APPS = (
    "accounts",
    "audit",
    "kinds",
    "tasks",
    "quotas",
    "knowledge",
    "chat",
    "devices",
    "subscriptions",
    "console",
)
PACKAGES = ("wegent", *APPS)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _source_modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if not {"tests", "migrations"} & set(path.parts):
                modules[_module_name(path)] = path
    return modules


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    hidden: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            hidden.update(id(child) for child in ast.walk(node))
    return hidden


def _imported_names(path: Path, module: str) -> Iterator[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    hidden = _type_checking_nodes(tree)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if id(node) in hidden:
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from package import module`` names the module; ``from module import name`` the
            # module (the graph keeps only names that are modules, so both resolve right).
            for alias in node.names:
                yield f"{base}.{alias.name}"


def _import_graph() -> dict[str, set[str]]:
    modules = _source_modules()

    def owner(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets = {owner(name) for name in _imported_names(path, module)}
        graph[module] = {target for target in targets if target and target != module}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
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
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
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
    return found


def test_the_checker_sees_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles() -> None:
    assert _cycles(_import_graph()) == []


def test_apps_import_only_downward() -> None:
    rank = {app: position for position, app in enumerate(APPS)}
    upward = [
        f"{module} -> {target}"
        for module, targets in _import_graph().items()
        for target in targets
        if module.split(".")[0] in rank
        and target.split(".")[0] in rank
        and rank[target.split(".")[0]] > rank[module.split(".")[0]]
    ]
    assert upward == []


def test_legacy_adapters_are_used_by_kinds_only() -> None:
    outside = [
        f"{module} -> {target}"
        for module, targets in _import_graph().items()
        for target in targets
        if target.startswith("kinds.adapters") and not module.startswith("kinds.")
    ]
    assert outside == []
