"""The package's shape: layers import downwards only, no circles, short modules.

The layers follow the data (docs/architecture.md): foundations, then the lake,
the changes, ingestion, analysis, reports, and the entry points on top. A
module may import its own layer or a lower one; only the entry points import
the package lazily (so that ``sessionlens --help`` starts fast).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "sessionlens"
LAYERS = {
    "errors": 0, "outputs": 0, "notify": 0, "sqltext": 0, "privacy": 0, "timeparse": 0, "samples": 0,
    "lake": 1, "changes": 2, "ingestion": 3, "analysis": 4, "report": 5,
    "nightly": 6, "demo": 6, "live": 6, "cli": 6, "commands": 6, "config": 6, "__init__": 6, "__main__": 6,
}
ENTRY_POINTS = {"cli", "commands", "__init__", "__main__"}  # may import lazily: start-up time
# Elsewhere a package module may be imported lazily only when importing it loads a heavy library
# (altair), and the import's line says so.
HEAVY_MODULES = {"sessionlens.report.charts", "sessionlens.lake.spark",  # altair; pyspark (optional)
                 "sessionlens.lake.duckdb_buckets"}  # sqlglot: 80 ms that ingest and --help need not pay
HEAVY = "heavy"
MAX_LINES = 300
LONG_REASON = "# Longer than 300 lines:"  # a module over the limit says why, near its top


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        out[".".join(["sessionlens", *parts])] = path
    return out


MODULES = _modules()


def _top(module: str) -> str:
    return module.split(".")[1] if "." in module else "__init__"


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> list[str]:
    """The package modules an import statement names (``from . import x`` may name modules)."""
    if node.level:
        base = module.split(".")
        if path.name != "__init__.py":
            base = base[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if not target.startswith("sessionlens"):
        return []
    found = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in MODULES]
    return found or [target]


def _imports(module: str, path: Path) -> list[tuple[str, bool, int]]:
    """(imported module, at module level?, line) for each package import."""
    tree = ast.parse(path.read_text())
    top_level = {id(n) for n in tree.body}
    # imports under `if TYPE_CHECKING:` at module level count as module level for layering
    for n in tree.body:
        if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test):
            top_level.update(id(c) for c in n.body)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            for target in _resolve(module, path, node):
                out.append((target, id(node) in top_level, node.lineno))
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("sessionlens"):
                    out.append((a.name, id(node) in top_level, node.lineno))
        elif isinstance(node, ast.Call) and _dynamic_import(node):
            out.append(("sessionlens.<dynamic>", False, node.lineno))
    return out


def _dynamic_import(call: ast.Call) -> bool:
    """``importlib.import_module("sessionlens...")`` or ``__import__("sessionlens...")``: hidden from the graph."""
    name = ast.unparse(call.func)
    if name not in ("importlib.import_module", "import_module", "__import__"):
        return False
    first = call.args[0] if call.args else None
    return not (isinstance(first, ast.Constant) and isinstance(first.value, str)
                and not first.value.startswith(("sessionlens", ".")))


def test_layers_import_downwards_only():
    wrong = []
    for module, path in MODULES.items():
        mine = LAYERS[_top(module)]
        for target, _, line in _imports(module, path):
            theirs = LAYERS.get(_top(target), 0)
            if theirs > mine:
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {target} (a higher layer)")
    assert not wrong, "\n".join(wrong)


def test_package_imports_at_module_top():
    lazy = []
    for module, path in MODULES.items():
        if _top(module) in ENTRY_POINTS:
            continue
        source = path.read_text().splitlines()
        for target, at_top, line in _imports(module, path):
            comment = source[line - 1].partition("#")[2]
            if not at_top and not (target in HEAVY_MODULES and HEAVY in comment):
                lazy.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {target} inside a function")
    assert not lazy, "\n".join(lazy)


def test_no_import_circles():
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for module, path in MODULES.items():
        for target, at_top, _ in _imports(module, path):
            while target not in MODULES and "." in target:
                target = target.rsplit(".", 1)[0]
            if at_top and target != module and target in MODULES:
                graph[module].add(target)
    # a package's __init__ importing its own children is how packages work, not a circle
    for module in graph:
        graph[module] = {t for t in graph[module] if not t.startswith(module + ".")}
    seen: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        seen[m] = 1
        stack.append(m)
        for t in sorted(graph[m]):
            if seen.get(t) == 1:
                return stack[stack.index(t):] + [t]
            if t not in seen and (cycle := visit(t)):
                return cycle
        stack.pop()
        seen[m] = 2
        return None

    for m in sorted(graph):
        if m not in seen and (cycle := visit(m)):
            pytest.fail("import circle: " + " -> ".join(cycle))


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_is_short_or_says_why(module):
    path = MODULES[module]
    lines = path.read_text().splitlines()
    if len(lines) > MAX_LINES:
        reasons = [line.partition(LONG_REASON)[2].strip() for line in lines[:60] if LONG_REASON in line]
        assert reasons and len(reasons[0]) >= 20, (
            f"{path.relative_to(PACKAGE.parent)} has {len(lines)} lines and no '{LONG_REASON} <the reason>'")


def test_every_capability_has_one_subpackage():
    """The README's capabilities map to these folders; each exists with a docstring saying what it holds."""
    for name in ("ingestion", "lake", "changes", "analysis", "report", "live"):
        init = PACKAGE / name / "__init__.py"
        assert init.is_file(), name
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and len(doc) > 20, f"sessionlens/{name}/__init__.py needs a docstring saying what the subpackage holds"
