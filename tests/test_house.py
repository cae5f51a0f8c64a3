"""The rules of the house (docs/architecture.md), so that later work inherits them.

- imports only go down the floors, no two modules import each other (directly or around a circle),
  and ``ppgan/utils`` imports nothing else of ``ppgan``;
- ``argparse`` only in ``ppgan/cli``;
- no module over 400 lines;
- no public top-level function or class that nothing outside the tests uses;
- every documented command answers ``--help``, and every script is a wrapper over ``ppgan/cli``.
"""
import ast
import os
import re
import subprocess
import sys

import pytest

from conftest import REPO_ROOT

PACKAGE = os.path.join(REPO_ROOT, "ppgan")
FLOORS = {"utils": 1, "modules": 1, "models": 2, "faceutils": 2, "metrics": 2, "styleclip": 3, "inversion": 3,
          "apps": 4, "page": 5, "cli": 6}
MAX_LINES = 400


def _modules():
    """{dotted module name: path} of every module of ppgan."""
    found = {}
    for folder, _, names in os.walk(PACKAGE):
        for name in names:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                dotted = os.path.relpath(path[:-3], REPO_ROOT).replace(os.sep, ".")
                found[dotted[:-len(".__init__")] if dotted.endswith(".__init__") else dotted] = path
    return found


MODULES = _modules()


def _imports(module, path):
    """Every ppgan module ``module`` imports (at any depth of its code), as dotted names of MODULES."""
    package = module if path.endswith("__init__.py") else module.rsplit(".", 1)[0]
    targets = set()
    with open(path) as f:
        tree = ast.parse(f.read())
    entry_point = [node for node in tree.body if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test)]
    run_as_script = {id(inner) for block in entry_point for inner in ast.walk(block)}
    for node in ast.walk(tree):
        if id(node) in run_as_script:  # a module's `if __name__ == "__main__"` block is a command: the top floor
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([node.module] if node.module else []))
            names = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for name in names:
            while name and name not in MODULES:  # `from pkg import name`: the module, else its package
                name = name.rpartition(".")[0]
            if name and name != module:
                targets.add(name)
    return targets


GRAPH = {module: _imports(module, path) for module, path in MODULES.items()}


def _floor(module):
    parts = module.split(".")
    return FLOORS.get(parts[1]) if len(parts) > 1 else 0


def test_every_package_has_a_floor():
    assert {m.split(".")[1] for m in MODULES if m.count(".")} <= set(FLOORS) | {"configs"}


def test_imports_only_go_down_and_utils_imports_nothing_of_ppgan():
    upward = [f"{source} -> {target}" for source, targets in GRAPH.items() for target in targets
              if _floor(source) and _floor(target) > _floor(source)]
    assert upward == []
    from_utils = [f"{source} -> {target}" for source, targets in GRAPH.items() for target in targets
                  if source.startswith("ppgan.utils") and not target.startswith("ppgan.utils")]
    assert from_utils == []


def _cycle(graph):
    """One import circle of ``graph`` as a list of modules, or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return stack[stack.index(target):] + [target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_import_circle():
    # A package's __init__ that re-exports its modules is not a circle with them.
    graph = {source: {t for t in targets if not (source.startswith(t + ".") and MODULES[t].endswith("__init__.py"))}
             for source, targets in GRAPH.items()}
    assert _cycle(graph) is None
    packages = {}
    for source, targets in GRAPH.items():
        if source.count("."):
            packages.setdefault(source.split(".")[1], set()).update(
                t.split(".")[1] for t in targets if t.count(".") and t.split(".")[1] != source.split(".")[1])
    assert _cycle(packages) is None


def test_the_cycle_finder_finds_one():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_argparse_only_in_the_command_lines():
    users = [module for module, path in MODULES.items() if not module.startswith("ppgan.cli")
             and re.search(r"^\s*(import argparse|from argparse import)", open(path).read(), re.M)]
    assert users == []


def test_no_module_over_400_lines():
    long = {module: n for module, path in MODULES.items() if (n := sum(1 for _ in open(path))) > MAX_LINES}
    assert long == {}


def _public_names(path):
    with open(path) as f:
        tree = ast.parse(f.read())
    return [node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))
            and not node.name.startswith("_")]


def _source_texts():
    """The text of every file that counts as use: ppgan, the scripts, the benchmarks and the docs."""
    texts = []
    for root in ("ppgan", "applications", "tools", "benchmark", "docs"):
        for folder, _, names in os.walk(os.path.join(REPO_ROOT, root)):
            texts += [open(os.path.join(folder, name)).read() for name in names if name.endswith((".py", ".md"))]
    return texts + [open(os.path.join(REPO_ROOT, name)).read() for name in ("styleclip_getf.py", "README.md")]


def test_every_public_function_and_class_is_used_outside_the_tests():
    text = "\n".join(_source_texts())
    unused = [f"{module}.{name}" for module, path in MODULES.items() for name in _public_names(path)
              if len(re.findall(rf"\b{name}\b", text)) < 2]  # the definition itself is one
    assert unused == []


WRAPPERS = {"applications/tools/styleganv2.py": "sample", "applications/tools/styleganv2clip.py": "edit",
            "applications/tools/pixel2style2pixel.py": "psp", "applications/tools/encoder4editing.py": "e4e",
            "applications/tools/styleganv2fitting.py": "fitting",
            "applications/tools/face_align.py": "face_align", "applications/tools/styleclip_app.py": "app",
            "tools/export_model.py": "export", "tools/convert_weights.py": "convert",
            "tools/random_mirror.py": "random_mirror", "styleclip_getf.py": "stats"}


def test_every_script_is_a_wrapper_over_its_command():
    scripts = sorted(os.path.relpath(os.path.join(folder, name), REPO_ROOT)
                     for folder in ("applications/tools", "tools") for name in os.listdir(os.path.join(REPO_ROOT, folder))
                     if name.endswith(".py")) + ["styleclip_getf.py"]
    assert set(WRAPPERS) == set(scripts)
    for script, command in WRAPPERS.items():
        with open(os.path.join(REPO_ROOT, script)) as f:
            code = f.read()
        assert f"from ppgan.cli.{command} import main" in code
        assert code.index("configure_cpu_runtime(") < code.index("from ppgan.cli.")  # before paddle loads
        assert len([line for line in code.splitlines() if line and not line.startswith(("#", " "))]) < 20


def _documented_commands():
    """(script, subcommand or None) of every ``python <script>`` line in the README and the tutorials."""
    found = set()
    for doc in ("README.md", "docs/en_US/tutorials/styleclip.md", "docs/zh_CN/tutorials/styleclip.md"):
        with open(os.path.join(REPO_ROOT, doc)) as f:
            for match in re.finditer(r"python (?:-m paddle\.distributed\.launch [^\n]*? )?"
                                     r"((?:applications/tools|tools|ppgan/apps)/\w+\.py|styleclip_getf\.py)"
                                     r"(?: (edit|extract)\b)?", f.read()):
                found.add((match.group(1), match.group(2)))
    return sorted(found, key=str)


DOCUMENTED = _documented_commands()


@pytest.mark.parametrize("script, subcommand", DOCUMENTED, ids=[" ".join(filter(None, c)) for c in DOCUMENTED])
def test_every_documented_command_answers_help(script, subcommand):
    result = subprocess.run([sys.executable, os.path.join(REPO_ROOT, script), *filter(None, [subcommand]), "--help"],
                            capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout and "Traceback" not in result.stderr


def test_the_documented_commands_cover_every_script():
    assert {script for script, _ in DOCUMENTED} >= set(WRAPPERS) - {"tools/convert_weights.py"} | {
        "ppgan/apps/styleganv2clip_predictor.py"}


def test_library_errors_name_arguments_and_commands_name_flags(capsys):
    """One mapping from inputs to flags: the library writes ``{name}``; str() shows the argument, the CLI the flag."""
    from ppgan.cli.common import run_cli
    from ppgan.utils.errors import UserError

    error = UserError("{direction_path} x.npy does not exist; pass a file with {direction_path}, not {'mean', 'std'}")
    assert str(error) == "direction_path x.npy does not exist; pass a file with direction_path, not {'mean', 'std'}"
    assert error.as_flags() == ("--direction_path x.npy does not exist; pass a file with --direction_path, "
                                "not {'mean', 'std'}")

    def main(argv):
        raise error

    with pytest.raises(SystemExit):
        run_cli(main, [])
    assert capsys.readouterr().err == f"error: {error.as_flags()}\n"


def test_no_flag_is_written_in_library_messages():
    """Library code names inputs as ``{name}``; only ppgan/cli writes ``--flag`` (docstrings and comments aside)."""
    written = []
    for module, path in MODULES.items():
        if module.startswith("ppgan.cli"):
            continue
        with open(path) as f:
            tree = ast.parse(f.read())
        docstrings = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                if re.search(r"(?<![\w-])--[a-z]", node.value) and "command with --merge" not in node.value:
                    written.append(f"{module}:{node.lineno}: {node.value[:60]}")
    assert written == []
