"""The rules of the layout (kreg/run/README.md), read off the sources: no import cycle, Keras Tuner's private API
only in `kreg/tuning/_compat.py`, no hyperparameter name written outside the space registry."""

import ast
import glob
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMPAT = os.path.join("kreg", "tuning", "_compat.py")


def sources():
    """`{module name: parsed source}` of the package and the two modules beside it."""
    found = {}
    for path in glob.glob(os.path.join(ROOT, "kreg", "**", "*.py"), recursive=True) + [
            os.path.join(ROOT, "kreg_cli.py"), os.path.join(ROOT, "kreg_startup.py")]:
        relative = os.path.relpath(path, ROOT)
        name = relative[: -len(".py")].replace(os.sep, ".").removesuffix(".__init__")
        with open(path, encoding="utf-8") as f:
            found[name] = (relative, ast.parse(f.read()))
    return found


def imports(name, tree, modules):
    """The modules of kreg that `name` imports, at its top or inside a function (deferred imports count)."""
    package = name if name in modules and any(m.startswith(name + ".") for m in modules) else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                out.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return {m for m in out if m in modules and m != name}


def cycles(graph):
    """Every strongly connected group of more than one module (Tarjan)."""
    index, low, stack, on, groups = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in graph:
        if v not in index:
            visit(v)
    return groups


def test_no_module_imports_a_module_that_imports_it():
    found = sources()
    packages = {m for m in found if any(other.startswith(m + ".") for other in found)}
    # A package's __init__ imports its modules, which import their siblings through it: those edges are Python's
    # package machinery, not a dependency. Every other edge counts, deferred imports included.
    graph = {m: {i for i in imports(m, tree, found) if i not in packages} for m, (_, tree) in found.items()
             if m not in packages}
    assert cycles(graph) == []
    # nothing imports the command back (kreg.cli re-exports it for `python -m kreg.cli`)
    assert [m for m, imported in graph.items() if "kreg_cli" in imported] == ["kreg.cli"]


def test_the_cycle_check_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


OWNERS = ("oracle", "tuner", "hypermodel", "hp", "hyperparameters", "trial")


def private_access(tree):
    """`x._name` where `x` is a Keras Tuner object by its name, and imports of `keras_tuner.src`."""
    hits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            owner = node.value
            owner_name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
            if owner_name in OWNERS:
                hits.append(f"line {node.lineno}: {owner_name}.{node.attr}")
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("keras_tuner.src"):
            hits.append(f"line {node.lineno}: from {node.module}")
        if isinstance(node, ast.Import) and any(a.name.startswith("keras_tuner.src") for a in node.names):
            hits.append(f"line {node.lineno}: import keras_tuner.src")
    return hits


def test_keras_tuners_private_api_is_reached_only_in_compat():
    found = {path: private_access(tree) for path, tree in sources().values()}
    assert found[COMPAT]  # the check sees what it looks for
    tuners = os.path.join("kreg", "tuning", "tuners.py")
    # kreg's tuners call their own `_start_session` through `self.tuner`: kreg's method, not Keras Tuner's
    found[tuners] = [hit for hit in found[tuners] if not hit.endswith("tuner._start_session")]
    assert {path: hits for path, hits in found.items() if hits and path != COMPAT} == {}


def test_no_hyperparameter_name_is_written_outside_the_registry():
    from kreg.tuning import spaces

    # Names that are also a space's table, a key of one, or a regularizer's kind ("l2") are words of the
    # experiment file too; the others ("dropout_rate", "augment_crop_magnitude", ...) are hyperparameter names only.
    words = set(spaces.SPACES) | {key for space in spaces.SPACES.values() for key in space.keys}
    words |= set(spaces._ALLOWED_REGULARIZERS)
    only_names = set(spaces.NAMES) - words
    assert "dropout_rate" in only_names and "max_norm_on" in only_names
    registry = os.path.join("kreg", "tuning", "spaces.py")
    # where hyperparameters are read: the search side (a component's argument may share a name: `dropout_rate=`)
    readers = (os.path.join("kreg", "run", ""), os.path.join("kreg", "tuning", ""), "kreg_cli.py", "kreg_startup.py")
    written = {}
    for path, tree in sources().values():
        if not path.startswith(readers):
            continue
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and node.body
                      and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
                    and node.value in only_names and path != registry):
                written.setdefault(path, []).append(f"line {node.lineno}: {node.value!r}")
    assert written == {}
