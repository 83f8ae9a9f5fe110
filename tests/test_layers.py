"""The package's folders are its layers: a module imports only from its own
layer or the layers below, and no imports go round in a circle.

From the bottom: ``fastgmm/_version.py``; ``fastgmm/kernels`` (the compiled
layer); ``fastgmm/engine`` (the EM engine in Python); ``fastgmm/estimators``
(scikit-learn's API); the package's own modules (``fastgmm/__init__.py``,
saving and loading, compiling everything, plots); ``fastgmm/cli``.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "fastgmm"
LAYERS = {"kernels": 1, "engine": 2, "estimators": 3, "": 4, "cli": 5}


def module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(name):
    """The rank of module ``name`` (dotted, ``fastgmm...``)."""
    if name == "fastgmm._version":
        return 0
    if name == "fastgmm.__main__":
        return LAYERS["cli"]
    return LAYERS[folder(name)]


def folder(name):
    """The folder of module or package ``name`` ("" for the package's own)."""
    parts = name.split(".")
    if len(parts) > 2 or (len(parts) == 2 and (PACKAGE / parts[1]).is_dir()):
        return parts[1]
    return ""


def is_module(name):
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imported_from(node, package):
    """The module an ``ImportFrom`` node of a module in ``package`` names."""
    if not node.level:
        return node.module
    parts = package.split(".")
    base = parts[: len(parts) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def imports(path):
    """The fastgmm modules that ``path`` imports, anywhere in it."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = imported_from(node, package)
            # ``from package import module`` imports the module itself.
            modules = [
                f"{base}.{a.name}" for a in node.names if is_module(f"{base}.{a.name}")
            ]
            targets = modules if len(modules) == len(node.names) else [base, *modules]
        else:
            continue
        found.update(t for t in targets if t.split(".")[0] == "fastgmm")
    # The packages a module is in are imported before it, whatever it says.
    return {t for t in found if not (name + ".").startswith(t + ".")}


def graph():
    modules = {
        module_name(path): imports(path)
        for path in PACKAGE.rglob("*.py")
        if "__pycache__" not in path.parts
    }
    return modules


def test_the_layers_are_the_folders_and_hold_every_module():
    names = graph()
    assert "fastgmm.kernels._kmeans" in names and "fastgmm.engine._em" in names
    for name in names:
        layer(name)  # every module is in a known layer (KeyError if not)
    # Compiled code is in the compiled layer only.
    for path in PACKAGE.rglob("*.py"):
        if "@njit" in path.read_text() and "__pycache__" not in path.parts:
            assert path.parent.name == "kernels", path


def upward_imports():
    return [
        f"{name} imports {target}"
        for name, targets in graph().items()
        for target in targets
        if layer(target) > layer(name)
    ]


def test_modules_import_only_their_own_layer_or_below():
    assert upward_imports() == []


def private_names_across_folders():
    """``folder/module: name`` for each private function, class or constant
    that a module takes from another folder's module (imported, or as an
    attribute of a module it imported from there).  Modules themselves are
    still private (``from ..kernels import _mstep``)."""
    found = []
    for path in PACKAGE.rglob("*.py"):
        if "__pycache__" in path.parts:
            continue
        tree = ast.parse(path.read_text())
        name = module_name(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        modules = set()
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom):
                continue
            base = imported_from(node, package)
            if not base.startswith("fastgmm.") or folder(base) == folder(name):
                continue
            for alias in node.names:
                if is_module(f"{base}.{alias.name}"):
                    modules.add(alias.asname or alias.name)
                elif alias.name.startswith("_") and not alias.name.startswith("__"):
                    found.append(f"{path.relative_to(PACKAGE)}: {alias.name}")
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in modules
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                found.append(f"{path.relative_to(PACKAGE)}: {node.attr}")
    return found


def test_private_names_stay_in_their_folder():
    assert private_names_across_folders() == []


def undeclared_kernel_imports(declared):
    """``folder/module: what`` for each import from the compiled layer, by a
    module outside it, that is not one of the names ``declared``."""
    found = []
    for path in PACKAGE.rglob("*.py"):
        if "__pycache__" in path.parts:
            continue
        name = module_name(path)
        if folder(name) == "kernels":
            continue
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                bases = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                bases = [imported_from(node, package)]
            else:
                continue
            for base in bases:
                if not base.startswith("fastgmm.kernels"):
                    continue
                where = path.relative_to(PACKAGE)
                if base != "fastgmm.kernels" or isinstance(node, ast.Import):
                    found.append(f"{where}: {base}")
                    continue
                found.extend(
                    f"{where}: {a.name}" for a in node.names if a.name not in declared
                )
    return found


def test_the_layers_above_use_only_the_declared_kernel_api():
    import fastgmm.kernels

    assert undeclared_kernel_imports(fastgmm.kernels.__all__) == []
    for name in fastgmm.kernels.__all__:  # each declared name exists
        getattr(fastgmm.kernels, name)


def test_no_import_cycles():
    modules = graph()
    state = {}

    def visit(name, stack):
        state[name] = "open"
        for target in sorted(modules.get(name, ())):
            if state.get(target) == "open":
                pytest.fail("import cycle: " + " -> ".join(stack + [target]))
            if target not in state:
                visit(target, stack + [target])
        state[name] = "done"

    for name in sorted(modules):
        if name not in state:
            visit(name, [name])


def test_a_layer_rule_broken_is_found(tmp_path, monkeypatch):
    # The checks above would see an upward import: a kernel module that
    # imports an estimator.
    fake = tmp_path / "fastgmm"
    (fake / "kernels").mkdir(parents=True)
    (fake / "estimators").mkdir()
    (fake / "kernels" / "_low.py").write_text("from ..estimators import _high\n")
    (fake / "estimators" / "_high.py").write_text(
        "from ..kernels import _low\nfrom ..kernels._low import _hidden\n_low._inner\n"
    )
    monkeypatch.setitem(globals(), "PACKAGE", fake)
    assert graph()["fastgmm.kernels._low"] == {"fastgmm.estimators._high"}
    assert upward_imports() == ["fastgmm.kernels._low imports fastgmm.estimators._high"]
    with pytest.raises(pytest.fail.Exception, match="import cycle"):
        test_no_import_cycles()
    assert sorted(private_names_across_folders()) == [
        "estimators/_high.py: _hidden",
        "estimators/_high.py: _inner",
    ]
    assert sorted(undeclared_kernel_imports(["open"])) == [
        "estimators/_high.py: _low",
        "estimators/_high.py: fastgmm.kernels._low",
    ]
