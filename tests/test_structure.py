"""Guards on the code's shape: no import circles, files that fit on a few screens, and the repeated
code that gankit's shared helpers replaced staying gone."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "gankit"
# One job per file, named in its docstring, may take up to ~400 lines (../shared/LAYOUT.md): a file cut
# only to meet a count is worse than a long one.
MAX_LINES = 400
SOURCES = sorted(PACKAGE.rglob("*.py"))


def imports_of(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def module_of(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_import_circles_in_gankit():
    """Every import counts, the ones inside functions too; a module importing its own parent
    package does not (every submodule import does that), as in ../shared/tools/import_circles.py."""
    modules = {module_of(path): path for path in SOURCES}
    graph = {}
    for name, path in modules.items():
        targets = set()
        for target in imports_of(path):
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name and not name.startswith(target + "."):
                targets.add(target)
        graph[name] = targets
    index, low, stack, on_stack, circles, counter = {}, {}, [], set(), [], [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    assert circles == []


def test_the_shared_circle_tool_agrees_when_it_is_there():
    tool = ROOT.parent / "shared" / "tools" / "import_circles.py"
    if not tool.is_file():
        pytest.skip("../shared/tools/import_circles.py is not here")
    run = subprocess.run([sys.executable, str(tool), "gankit"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_engine_never_imports_evaluation_or_the_cli():
    for path in (PACKAGE / "train").glob("*.py"):
        bad = [m for m in imports_of(path) if m.startswith(("gankit.evaluate", "gankit.cli", "gankit.compare"))]
        assert not bad, f"{path.name} imports {bad}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_module_fits_in_a_few_screens(path):
    assert len(path.read_text().splitlines()) <= MAX_LINES


def test_files_are_replaced_only_through_the_atomic_writer():
    writers = [path.name for path in SOURCES if path.name != "_io.py"
               and re.search(r"os\.replace|\.replace\(path\)|\.tmp\b", path.read_text())]
    assert writers == []


def test_no_hard_coded_set_of_penalty_losses_and_no_value_errors_for_config_ranges():
    plugins = sorted((ROOT / "plugins").rglob("gankit_*/*.py"))
    for path in plugins:
        text = path.read_text()
        assert '{"wgan-gp"}' not in text, f"{path}: use LossSpec.per_sample_penalty"
        if "(TrainConfig)" in text:  # a config module
            assert "raise ValueError" not in text, f"{path}: declare bounds with gankit.param"
        # A rule between two fields (dcgan: latent_dim > clusters) is the only __post_init__ left:
        # it keeps TrainConfig's checks and raises a ConfigError, like every bound.
        if "def __post_init__" in text:
            assert "super().__post_init__()" in text and "raise ConfigError" in text, path


def test_environment_flags_are_read_in_one_place():
    readers = [path.name for path in SOURCES if path.name != "_io.py"
               and re.search(r"environ\.get\(\"GANKIT_(OFFLINE|DEBUG|STRICT_PLUGINS)", path.read_text())]
    assert readers == []


def test_the_data_root_gets_its_default_in_one_place():
    """DataRequest resolves a missing --data-root; nobody else calls default_data_root()."""
    callers = [path.relative_to(PACKAGE).as_posix() for path in SOURCES
               if "default_data_root()" in path.read_text()]
    assert callers == ["data/__init__.py", "registry.py"]  # where it is defined, and its one caller


PUBLIC_MODULES = {"gankit", "gankit.blocks", "gankit.testing", "gankit.cli.common"}


def gankit_imports(path: Path) -> set[str]:
    """The gankit modules ``path`` imports (a plugin's own ``gankit_*`` packages are not gankit)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else \
            [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else []
        found.update(name for name in names if name == "gankit" or name.startswith("gankit."))
    return found


def test_plugins_and_examples_import_only_the_public_surface():
    """What a plugin author copies from the reference plugin and the examples is the public API:
    ``gankit``, ``gankit.blocks``, ``gankit.testing`` and ``gankit.cli.common`` (their tests too)."""
    files = sorted((ROOT / "plugins").rglob("*.py")) + sorted((ROOT / "examples").rglob("*.py"))
    assert len(files) > 10
    private = {str(path.relative_to(ROOT)): sorted(gankit_imports(path) - PUBLIC_MODULES) for path in files}
    assert {path: modules for path, modules in private.items() if modules} == {}


def test_the_scaffolded_plugin_imports_only_the_public_surface():
    from gankit.cli import scaffold

    imported = set(re.findall(r"^\s*(?:from|import) (gankit(?:\.[\w.]+)?)\b", Path(scaffold.__file__).read_text().split(
        '"""', 2)[2], re.MULTILINE))
    templates = {name for name in imported if name not in ("gankit.cli.common", "gankit.errors", "gankit._io")}
    assert templates and templates <= PUBLIC_MODULES


def test_the_root_exports_no_runner_names_and_the_old_ones_warn():
    import warnings

    import gankit

    runner = {"PluginHost", "build_app", "RunOptions", "TrainResult", "Interrupted"}
    assert runner.isdisjoint(gankit.__all__)
    for name in sorted(runner):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            value = getattr(gankit, name)
        assert value is not None and [w.category for w in caught] == [DeprecationWarning], name
        assert "gankit.train" in str(caught[0].message) or "gankit.host" in str(caught[0].message) \
            or "gankit.cli" in str(caught[0].message)


# The unit of size is the function (../shared/LAYOUT.md). 60 lines of body is one screen: nanoGPT's
# longest (GPT.configure_optimizers, GPT.generate) and mimicry's train loop are under it; StyleGAN2's
# 300-line training_loop is what it rules out. A Typer command's Annotated options are declarations,
# not steps, so the signature and docstring do not count.
MAX_FUNCTION_BODY = 60
MAX_LINE = 110


def function_bodies(path: Path):
    """(name, first body line, body length) of every function in ``path``, docstrings left out."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if len(body) > 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                body = body[1:]
            yield node.name, body[0].lineno, node.end_lineno - body[0].lineno + 1


def test_every_function_fits_on_a_screen():
    long = [f"{path.relative_to(ROOT)}:{line} {name} ({length} lines)" for path in SOURCES
            for name, line, length in function_bodies(path) if length > MAX_FUNCTION_BODY]
    assert long == []


def test_no_line_is_longer_than_the_projects_line_length():
    long = [f"{path.relative_to(ROOT)}:{number} ({len(line)})" for path in SOURCES
            for number, line in enumerate(path.read_text().splitlines(), 1) if len(line) > MAX_LINE]
    assert long == []


def test_the_engines_map_names_every_engine_module():
    import gankit.train

    modules = {path.stem for path in (PACKAGE / "train").glob("*.py")} - {"__init__"}
    doc = gankit.train.__doc__
    assert [m for m in sorted(modules) if f"gankit.train.{m}`" not in doc and f"~gankit.train.{m}`" not in doc] == []
