"""The docs stay true: every hook is documented in docs/plugins.md with its exact signature, the
test kit's functions are documented, and the docs' Python snippets run.

Which snippets run: every ```python block of docs/plugins.md, and in any other docs/*.md the blocks
right after a ``<!-- runnable -->`` line. A file's blocks run in order in one namespace, in a scratch
folder that is on sys.path; a block whose first line is ``# file: PATH`` is written to PATH
instead, and a ``test_*.py`` file written that way then has its ``test_*`` functions called.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
import sys
from pathlib import Path

import pytest

from gankit import hookspecs, testing

DOCS = Path(__file__).resolve().parents[1] / "docs"
PLUGINS_DOC = DOCS / "plugins.md"
RUNNABLE_MARK = "<!-- runnable -->"
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)
FILE_LINE = re.compile(r"#\s*file:\s*(\S+)")


def hook_signature(function) -> str:
    """``name(arg: Annotation) -> Return`` as written in gankit/hookspecs.py."""
    signature = inspect.signature(function)
    params = ", ".join(f"{p.name}: {p.annotation}" for p in signature.parameters.values())
    return f"{function.__name__}({params}) -> {signature.return_annotation}"


def hooks() -> list:
    return [f for _, f in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(f, "gankit_spec")]


def python_blocks(path: Path) -> list[str]:
    text = path.read_text()
    blocks = []
    for match in FENCE.finditer(text):
        if match.group(1) != "python":
            continue
        before = text[:match.start()].rstrip().splitlines()
        marked = bool(before) and before[-1].strip() == RUNNABLE_MARK
        if path == PLUGINS_DOC or marked:
            blocks.append(match.group(2))
    return blocks


def test_every_hook_is_documented_with_its_exact_signature():
    text = PLUGINS_DOC.read_text()
    assert len(hooks()) >= 4
    missing = [hook_signature(f) for f in hooks() if hook_signature(f) not in text]
    assert not missing, f"docs/plugins.md lacks these hook signatures: {missing}"
    assert hook_signature(hookspecs.gankit_register_commands) == \
        "gankit_register_commands(app: typer.Typer, host: PluginHost) -> None"


def test_every_kit_function_and_plugin_variable_is_documented():
    text = PLUGINS_DOC.read_text()
    names = [*testing.__all__, "GANKIT_LOAD_PLUGINS", "GANKIT_DISABLE_PLUGINS",
             "GANKIT_STRICT_PLUGINS", "GANKIT_REQUIRES", "--plugins-dir"]
    assert [name for name in names if name not in text] == []


def test_the_tutorials_pyproject_declares_the_entry_point_of_its_package():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    text = PLUGINS_DOC.read_text()
    [pyproject] = [m.group(2) for m in FENCE.finditer(text) if m.group(1) == "toml"]
    project = tomllib.loads(pyproject)["project"]
    [(plugin, module)] = project["entry-points"]["gankit"].items()
    assert f"# file: {module}/__init__.py" in text
    assert project["name"] == f"gankit-{plugin}" and any(d.startswith("gankit>=") for d in project["dependencies"])


@pytest.mark.parametrize("doc", sorted(p.name for p in DOCS.glob("*.md") if python_blocks(p)))
def test_python_snippets_run(doc, tmp_path, monkeypatch, forget_modules_from):
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    modules_before = set(sys.modules)
    namespace: dict = {"__name__": f"docs_{Path(doc).stem}"}
    try:
        for index, block in enumerate(python_blocks(DOCS / doc)):
            first = FILE_LINE.fullmatch(block.splitlines()[0].strip()) if block.strip() else None
            if first is None:
                exec(compile(block, f"{doc}, python block {index + 1}", "exec"), namespace)
                continue
            path = tmp_path / first.group(1)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(block)
            importlib.invalidate_caches()
            if path.name.startswith("test_") and path.suffix == ".py":
                run_test_file(path, tmp_path)
    finally:
        forget_modules_from(tmp_path, modules_before)


def run_test_file(path: Path, tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location(f"docs_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    tests = [(name, f) for name, f in vars(module).items() if name.startswith("test_") and callable(f)]
    assert tests, f"{path.name} in the docs defines no test"
    for name, function in tests:
        wanted = inspect.signature(function).parameters
        function(**({"tmp_path": tmp_path / name} if "tmp_path" in wanted else {}))
