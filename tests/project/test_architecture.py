"""The house keeps its shape: rooms import one way, no cycles, no dodges, every module says what it is.

Walks the source with `ast` (nothing is imported), so a cycle is caught even where it would
only bite at run time in some import order. No size cap: a module is one concern, whatever its
length. The rooms and the way a portal's run goes through them: docs/architecture-walk.md.
"""

import ast
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("checks", "dashboard")
PACKAGES = (*PRODUCT, "simulator")
# (importer prefix, imported prefix): imports that would point the wrong way. dashboard -> checks;
# inside checks: engine -> health -> bitrix24 (the verdicts judge what the client returned, the
# client judges nothing), alerts -> models (never the client or the verdicts' engine).
FORBIDDEN = [
    ("checks", "dashboard"),
    ("checks", "simulator"),
    ("dashboard", "simulator"),
    ("checks.bitrix24", "checks.engine"),
    ("checks.bitrix24", "checks.alerts"),
    ("checks.bitrix24", "checks.health"),
    ("checks.health", "checks.engine"),
    ("checks.health", "checks.alerts"),
    ("checks.alerts", "checks.engine"),
    ("checks.alerts", "checks.bitrix24"),
    ("checks.models", "checks.engine"),
    ("checks.models", "checks.alerts"),
    ("checks.models", "checks.bitrix24"),
    # The one outbound client imports nothing of the product but Django's settings.
    ("checks.net", "checks.bitrix24"),
    ("checks.net", "checks.alerts"),
    ("checks.net", "checks.engine"),
    ("checks.net", "checks.models"),
    ("checks.models", "checks.health"),
    # History stores and reads checks; the engine writes through it, never the other way.
    ("checks.history", "checks.engine"),
    ("checks.history", "checks.alerts"),
    ("checks.history", "checks.bitrix24"),
    ("checks.history", "checks.health"),
    ("simulator", "checks"),
    ("simulator", "dashboard"),
]


@dataclass
class Module:
    name: str
    path: Path
    is_package: bool
    # (module or name imported, the module it comes from, line, the function it sits in or "")
    imports: list[tuple[str, str, int, str]] = field(default_factory=list)
    docstring: str | None = None


def module_name(path: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    return ".".join(parts), is_package


def load_modules(packages=PACKAGES) -> dict[str, Module]:
    modules = {}
    for package in packages:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            name, is_package = module_name(path)
            source = path.read_text()
            tree = ast.parse(source, filename=str(path))
            module = Module(name, path, is_package, docstring=ast.get_docstring(tree))
            module.imports = list(_imports(tree, name, is_package))
            modules[name] = module
    return modules


def _imports(tree: ast.Module, name: str, is_package: bool):
    """Every import at any depth, TYPE_CHECKING blocks included: those are cycles too."""

    def visit(node: ast.AST, function: str):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield alias.name, alias.name, child.lineno, function
            elif isinstance(child, ast.ImportFrom):
                base = _resolve_from(child, name, is_package)
                for alias in child.names:
                    yield f"{base}.{alias.name}", base, child.lineno, function
            inner = child.name if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else function
            yield from visit(child, inner)

    yield from visit(tree, "")


def _resolve_from(node: ast.ImportFrom, name: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    package = name if is_package else name.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def edges(modules: dict[str, Module]) -> dict[str, dict[str, int]]:
    """Module -> {first-party module it imports: line}; `from a import b` is a.b when b is a module, else a."""
    graph: dict[str, dict[str, int]] = {name: {} for name in modules}
    for name, module in modules.items():
        for imported, source, line, _ in module.imports:
            target = imported if imported in modules else source
            if target in modules and target != name and not _is_parent(target, name):
                graph[name].setdefault(target, line)
    return graph


def _is_parent(package: str, module: str) -> bool:
    return module.startswith(package + ".")


def find_cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, {}):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return sorted(cycles)


def forbidden_imports(graph: dict[str, dict[str, int]]) -> list[str]:
    found = []
    for importer, targets in graph.items():
        for target, line in targets.items():
            for source_prefix, target_prefix in FORBIDDEN:
                if _within(importer, source_prefix) and _within(target, target_prefix):
                    found.append(f"{importer}:{line} imports {target}")
    return sorted(found)


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def function_level_imports(modules: dict[str, Module]) -> list[str]:
    """First-party imports inside functions; Django's AppConfig.ready() is the one place for them."""
    found = set()
    for name, module in modules.items():
        for imported, _, line, function in module.imports:
            first_party = imported.split(".")[0] in PACKAGES
            if function and first_party and not (name.endswith(".apps") and function == "ready"):
                found.add(f"{name}:{line} imports {imported} inside {function}()")
    return sorted(found)


@pytest.fixture(scope="module")
def modules() -> dict[str, Module]:
    return load_modules()


def test_no_import_cycles(modules):
    assert find_cycles(edges(modules)) == []


def test_imports_go_one_way_and_the_product_never_imports_the_simulator(modules):
    assert forbidden_imports(edges(modules)) == []


def test_no_function_level_imports_of_our_own_modules(modules):
    assert function_level_imports(modules) == []


def test_every_package_says_what_lives_there(modules):
    assert [m.name for m in modules.values() if m.is_package and not m.docstring] == []


def test_every_product_module_says_what_it_is(modules):
    assert [m.name for m in modules.values() if m.name.split(".")[0] in PRODUCT and not m.docstring] == []


# The walker itself, on small made-up houses: each rule must be able to fail.


def write(tmp: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = tmp / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_the_walker_finds_a_cycle_dodged_inside_a_function(tmp_path, monkeypatch):
    write(
        tmp_path,
        {
            "checks/__init__.py": '"""x"""\n',
            "checks/a.py": "from checks.b import g\n",
            "checks/b.py": "def g():\n    from checks import a\n",
            "checks/c.py": "from checks import b\n",
        },
    )
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    found = load_modules(("checks",))
    assert find_cycles(edges(found)) == [["checks.a", "checks.b"]]
    assert function_level_imports(found) == ["checks.b:2 imports checks.a inside g()"]


def test_the_walker_finds_the_product_importing_the_simulator(tmp_path, monkeypatch):
    write(
        tmp_path,
        {
            "checks/__init__.py": '"""x"""\n',
            "checks/engine/__init__.py": "",
            "checks/engine/run.py": "import typing\nif typing.TYPE_CHECKING:\n    from simulator.server import S\n",
            "simulator/__init__.py": '"""s"""\n',
            "simulator/server.py": "S = 1\n",
        },
    )
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    found = load_modules(("checks", "simulator"))
    assert forbidden_imports(edges(found)) == ["checks.engine.run:3 imports simulator.server"]
    assert [m.name for m in found.values() if m.is_package and not m.docstring] == ["checks.engine"]


def test_the_walker_finds_the_client_importing_a_verdict_and_a_module_without_docstring(tmp_path, monkeypatch):
    write(
        tmp_path,
        {
            "checks/__init__.py": '"""x"""\n',
            "checks/bitrix24/__init__.py": '"""c"""\n',
            "checks/bitrix24/client.py": '"""c"""\nfrom checks.health.bot import assess\n',
            "checks/health/__init__.py": '"""h"""\n',
            "checks/health/bot.py": "def assess():\n    pass\n",
        },
    )
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    found = load_modules(("checks",))
    assert forbidden_imports(edges(found)) == ["checks.bitrix24.client:2 imports checks.health.bot"]
    assert [m.name for m in found.values() if not m.docstring] == ["checks.health.bot"]
