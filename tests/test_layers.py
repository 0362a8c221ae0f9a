"""hwlib's architecture, read from its imports (``ast``, every import, at module level or inside a function): each
layer imports only the layers below it, and no module imports itself back through others (no circle)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "hwlib"
# bottom up; a layer may import any layer with a smaller rank, and modules of its own layer without a circle
LAYERS = {
    "hwlib": 0, "hwlib.files": 0,
    "hwlib.data": 1,
    "hwlib.machine": 2,
    "hwlib.models": 3,
    "hwlib.train": 4,
    "hwlib.store": 5,
    "hwlib.runs": 6,
    "hwlib.analysis": 7, "hwlib.memory": 7, "hwlib.speed": 7,
    "hwlib.__main__": 8,
}
MAX_LINES = 300


def module_name(path: Path) -> str:
    parts = ("hwlib", *path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def layer_of(name: str) -> str:
    """The layer a module belongs to: the longest prefix of its name in ``LAYERS``."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        if ".".join(parts[:i]) in LAYERS:
            return ".".join(parts[:i])
    raise AssertionError(f"{name} is in no layer of LAYERS: add its package there")


def imports(name: str) -> set[str]:
    """The hwlib modules that module ``name`` imports (a ``from package import submodule`` counts the submodule)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "hwlib"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module
            if mod.split(".")[0] != "hwlib":
                continue
            subs = {f"{mod}.{a.name}" for a in node.names if f"{mod}.{a.name}" in MODULES}
            out |= subs or {mod}
            if len(subs) < len(node.names):
                out.add(mod)
    return {m for m in out if m in MODULES and m != name}


GRAPH = {name: imports(name) for name in MODULES}


def test_every_module_is_in_a_layer():
    for name in MODULES:
        layer_of(name)
    assert len(MODULES) > 30  # the walk found the package


def test_no_import_from_a_higher_layer():
    upward = [f"{a} ({layer_of(a)}, layer {LAYERS[layer_of(a)]}) imports {b} ({layer_of(b)}, layer "
              f"{LAYERS[layer_of(b)]})"
              for a, deps in GRAPH.items() for b in deps
              if LAYERS[layer_of(b)] > LAYERS[layer_of(a)] and not (a == "hwlib" or b.startswith(a + "."))]
    assert not upward, "\n".join(upward)


def _circle(graph) -> list[str] | None:
    state, stack = {}, []

    def visit(n):
        state[n] = "open"
        stack.append(n)
        for m in sorted(graph[n]):
            if state.get(m) == "open":
                return stack[stack.index(m):] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        state[n] = "done"
        stack.pop()
        return None

    for n in sorted(graph):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def test_no_import_circle():
    # a package's __init__ re-exporting its own modules is not a circle: its modules import the modules, not it
    graph = {a: {b for b in deps if not (MODULES[b].name == "__init__.py" and a.startswith(b + "."))}
             for a, deps in GRAPH.items()}
    circle = _circle(graph)
    assert circle is None, " -> ".join(circle)


def test_the_checks_catch_what_they_are_for():
    """The circle finder finds a circle, and the layer lookup puts a module in its package's layer."""
    assert _circle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _circle({"a": {"b"}, "b": set()}) is None
    assert layer_of("hwlib.train.finetune") == "hwlib.train"
    assert "hwlib.train.config" in GRAPH["hwlib.runs.grids"]
    assert "hwlib.models.tapt" in GRAPH["hwlib.models.encoders"]


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_is_short(name):
    lines = len(MODULES[name].read_text().splitlines())
    assert lines <= MAX_LINES, f"{MODULES[name]} has {lines} lines (at most {MAX_LINES}: split it by job)"


def test_the_paths_readers_use_still_import():
    """The names a reader imports from the packages, wherever in a package they live."""
    from hwlib.data import get_dataset
    from hwlib.memory import Encoder, evaluate, training_memory
    from hwlib.models import load_model
    from hwlib.train import RunConfig

    assert RunConfig().method == "full" and callable(get_dataset) and callable(load_model)
    tiny = Encoder(layers=2, hidden=8, heads=2, vocab=10, ffn=32)
    assert evaluate(training_memory(tiny), b=2, s=4)["total"] > 0


@pytest.mark.parametrize("package", sorted({m for m, p in MODULES.items() if p.name == "__init__.py"}))
def test_no_package_name_hides_one_of_its_modules(package):
    """A package that re-exports ``x`` from a module must not have a module ``x``: ``package.x`` would be the
    function, and patching or importing ``package.x.y`` would reach the wrong object."""
    import importlib

    pkg = importlib.import_module(package)
    hidden = [m for m in MODULES if m.rpartition(".")[0] == package and m != package
              and getattr(pkg, m.rpartition(".")[2], pkg) is not pkg
              and not isinstance(getattr(pkg, m.rpartition(".")[2]), type(pkg))]
    assert not hidden, f"{package} re-exports names that hide its modules: {hidden}"
