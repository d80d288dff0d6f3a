"""The docs stay true to the code.

The plugin author's docs are a tutorial, docs/plugins.md, and reference pages under docs/plugins/.
The checks here read the code and fail when those pages drift from it: every hook with its exact
signature (hooks.md); the test kit and the plugin variables (testing.md, host.md); every
``TrainConfig`` field with its default and range, and no other (config.md); every training event,
``TrainingContext`` and ``Batch`` field (events.md); every public name of ``gankit``,
``gankit.blocks``, ``gankit.testing`` and ``gankit.cli.common`` documented, and the API index
(api.md) listing exactly those; imports in the docs' code only from those four modules and only
of their public names; no advice to raise ``ValueError`` in a plugin, and the rule
tests/test_structure.py enforces stated; links between the docs that resolve, anchors included.
The lists come from the code (``__all__``, ``dataclasses.fields``, ...), never from this file.

Which snippets run: every ```python block of docs/plugins.md and of docs/plugins/*.md (no mark
needed), and in any other docs/*.md only the blocks right after a ``<!-- runnable -->`` line. A
page's blocks run in order in one namespace, in a scratch folder that is on sys.path; a block whose
first line is ``# file: PATH`` is written to PATH instead, and a ``test_*.py`` file written that
way then has its ``test_*`` functions called. A reference page (docs/plugins/*.md) runs in a
scratch folder that already holds the tutorial's ``# file:`` files (their tests are not run
again), so its examples may import the tutorial's ``gankit_mbstd``.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import importlib.util
import inspect
import re
import sys
import typing
from pathlib import Path

import pytest

import gankit
from gankit import hookspecs, testing

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PLUGINS_DOC = DOCS / "plugins.md"  # the tutorial
REFERENCE = DOCS / "plugins"  # the reference pages
HOOKS_DOC, CONFIG_DOC, EVENTS_DOC = REFERENCE / "hooks.md", REFERENCE / "config.md", REFERENCE / "events.md"
HOST_DOC, TESTING_DOC, API_DOC = REFERENCE / "host.md", REFERENCE / "testing.md", REFERENCE / "api.md"
PUBLIC_MODULES = ("gankit", "gankit.blocks", "gankit.testing", "gankit.cli.common")
RUNNABLE_MARK = "<!-- runnable -->"
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)
FILE_LINE = re.compile(r"#\s*file:\s*(\S+)")
TABLE_ROW = re.compile(r"^\|(.*)\|\s*$")
CODE_NAME = re.compile(r"`(?:[\w.]+\.)?([A-Za-z_]\w*)(?:\(|`)")  # `name`, `name(...)`, `mod.name`


# -- reading the docs -------------------------------------------------------------------------

def plugin_pages() -> list[Path]:
    return [PLUGINS_DOC, *sorted(REFERENCE.glob("*.md"))]


def is_plugin_page(path: Path) -> bool:
    return path == PLUGINS_DOC or path.parent == REFERENCE


def python_blocks(path: Path) -> list[str]:
    text = path.read_text()
    blocks = []
    for match in FENCE.finditer(text):
        if match.group(1) != "python":
            continue
        before = text[:match.start()].rstrip().splitlines()
        marked = bool(before) and before[-1].strip() == RUNNABLE_MARK
        if is_plugin_page(path) or marked:
            blocks.append(match.group(2))
    return blocks


def file_block(block: str) -> str | None:
    """The PATH of a ``# file: PATH`` block, else ``None``."""
    first = FILE_LINE.fullmatch(block.splitlines()[0].strip()) if block.strip() else None
    return first.group(1) if first else None


def prose(text: str) -> str:
    """``text`` without its fenced blocks."""
    return FENCE.sub("", text)


def flat(text: str) -> str:
    """Whitespace runs as one space, so a phrase split over two lines is still found."""
    return " ".join(text.split())


def section(text: str, heading: str) -> str:
    """From the heading line ``heading`` (e.g. "## `Batch`") to the next heading of its level or
    above."""
    level = len(heading) - len(heading.lstrip("#"))
    lines = prose(text).splitlines()
    assert heading in lines, f"no heading {heading!r}"
    start = lines.index(heading) + 1
    end = next((i for i in range(start, len(lines)) if re.match(rf"#{{1,{level}}} ", lines[i])), len(lines))
    return "\n".join(lines[start:end])


def table_rows(text: str, header: tuple[str, ...] | None = None) -> list[list[str]]:
    """The body rows of the Markdown tables in ``text`` (those whose header is ``header``, if
    given), as lists of cells."""
    rows, current_header, in_table = [], None, False
    for line in text.splitlines():
        match = TABLE_ROW.match(line.strip())
        if not match:
            in_table = False
            continue
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", match.group(1))]
        if not in_table:
            current_header, in_table = tuple(cells), True
        elif set("".join(cells)) <= set("-: "):
            continue
        elif header is None or current_header == header:
            rows.append(cells)
    return rows


def first_column_names(text: str, header: tuple[str, ...] | None = None) -> list[str]:
    """The names written in code in the first cell of each table row, in order."""
    return [name for row in table_rows(text, header) for name in CODE_NAME.findall(row[0])]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: dict[str, int] = {}
    result = set()
    for line in prose(path.read_text()).splitlines():
        match = re.match(r"#{1,6} (.*)", line)
        if match:
            base = slug(match.group(1))
            count = found.get(base, 0)
            result.add(base if count == 0 else f"{base}-{count}")
            found[base] = count + 1
    return result


def all_text() -> str:
    return "\n".join(page.read_text() for page in plugin_pages())


# -- hooks, the kit, the tutorial's package ----------------------------------------------------

def hook_signature(function) -> str:
    """``name(arg: Annotation) -> Return`` as written in gankit/hookspecs.py."""
    signature = inspect.signature(function)
    params = ", ".join(f"{p.name}: {p.annotation}" for p in signature.parameters.values())
    return f"{function.__name__}({params}) -> {signature.return_annotation}"


def hooks() -> list:
    return [f for _, f in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(f, "gankit_spec")]


def test_every_hook_is_documented_with_its_exact_signature():
    text = HOOKS_DOC.read_text()
    assert len(hooks()) >= 4
    missing = [hook_signature(f) for f in hooks() if hook_signature(f) not in text]
    assert not missing, f"docs/plugins/hooks.md lacks these hook signatures: {missing}"
    assert hook_signature(hookspecs.gankit_register_commands) == \
        "gankit_register_commands(app: typer.Typer, host: PluginHost) -> None"
    documented = re.findall(r"^## `(gankit_\w+)`$", HOOKS_DOC.read_text(), re.MULTILINE)
    assert sorted(documented) == sorted(f.__name__ for f in hooks()), "one section per hook, no other"


def test_every_kit_function_and_plugin_variable_is_documented():
    kit, host = TESTING_DOC.read_text(), HOST_DOC.read_text()
    assert [name for name in testing.__all__ if f"`{name}" not in kit] == []
    variables = ["GANKIT_LOAD_PLUGINS", "GANKIT_DISABLE_PLUGINS", "GANKIT_STRICT_PLUGINS", "GANKIT_REQUIRES",
                 "--plugins-dir"]
    assert [name for name in variables if name not in host] == []


def test_the_tutorials_pyproject_declares_the_entry_point_of_its_package():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    text = PLUGINS_DOC.read_text()
    [pyproject] = [m.group(2) for m in FENCE.finditer(text) if m.group(1) == "toml"]
    project = tomllib.loads(pyproject)["project"]
    [(plugin, module)] = project["entry-points"]["gankit"].items()
    assert f"# file: {module}/__init__.py" in text
    assert project["name"] == f"gankit-{plugin}" and any(d.startswith("gankit>=") for d in project["dependencies"])


def test_the_tutorial_stays_short_and_ends_with_the_reference_pages():
    text = PLUGINS_DOC.read_text()
    assert len(text.splitlines()) <= 350, "docs/plugins.md is the tutorial: move reference material to docs/plugins/"
    last = text.split("\n## ")[-1]
    assert last.startswith("Reference")
    linked = set(re.findall(r"\]\(plugins/([\w-]+\.md)\)", last))
    assert linked == {page.name for page in REFERENCE.glob("*.md")}, "the tutorial ends with every reference page"


def test_each_reference_page_says_its_job_first():
    for page in REFERENCE.glob("*.md"):
        title, first = page.read_text().split("\n\n", 2)[:2]
        assert title.startswith("# ") and first.startswith("This page "), f"{page.name}: start with what it covers"


# -- TrainConfig --------------------------------------------------------------------------------

CONFIG_HEADER = ("field", "default", "allowed", "meaning")


def documented_default(cell: str, default: object) -> bool:
    text = cell.strip().strip("`")
    if default is None:
        return text == "None"
    if isinstance(default, bool):
        return text.lower() == str(default).lower()
    if isinstance(default, (int, float)):
        try:
            value = float(text)
        except ValueError:
            return False
        return value == default and (isinstance(default, float) or float(int(value)) == value and "." not in text)
    return text == str(default)


def test_every_train_config_field_is_in_the_config_page_with_its_default_and_range():
    from gankit.config import field_bounds

    rows = table_rows(section(CONFIG_DOC.read_text(), "## `TrainConfig` fields"), CONFIG_HEADER)
    documented = {}
    for row in rows:
        names = CODE_NAME.findall(row[0])
        assert len(names) == 1, f"one field per row: {row[0]}"
        documented[names[0]] = row
    fields = {f.name: f for f in dataclasses.fields(gankit.TrainConfig)}
    assert sorted(set(documented) - set(fields)) == [], "config.md names fields TrainConfig does not have"
    assert sorted(set(fields) - set(documented)) == [], "config.md omits these TrainConfig fields"
    hints = typing.get_type_hints(gankit.TrainConfig)
    bounds = field_bounds(gankit.TrainConfig)
    for name, f in fields.items():
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        _, cell, allowed, _ = documented[name]
        assert documented_default(cell, default), f"config.md: {name}'s default is {default!r}, not {cell}"
        if name in bounds:
            assert bounds[name].describe() in allowed, f"config.md: {name} must be {bounds[name].describe()}"
        if typing.get_origin(hints[name]) is typing.Literal:
            choices = [f"`{choice}`" for choice in typing.get_args(hints[name])]
            assert ", ".join(choices) == allowed, f"config.md: {name} is one of {choices}"


# -- events, TrainingContext, Batch, Callback ----------------------------------------------------

def public_members(cls: type, *, skip: set[str] = frozenset()) -> set[str]:
    return {name for name, value in vars(cls).items() if not name.startswith("_") and name not in skip
            and (callable(value) or isinstance(value, (property, classmethod, staticmethod)))}


def test_the_events_page_lists_every_event_and_every_context_batch_and_callback_member():
    from gankit.train.events import EVENTS

    text = EVENTS_DOC.read_text()
    callback_events = sorted(name[3:] for name in dir(gankit.Callback) if name.startswith("on_"))
    assert callback_events == sorted(EVENTS), "gankit.Callback has one on_<event> method per event"
    rows = table_rows(section(text, "## The events"), ("event", "method", "fires"))
    assert [CODE_NAME.findall(row[0]) for row in rows] == [[event] for event in EVENTS], \
        "events.md lists the events, in the engine's order"
    assert [CODE_NAME.findall(row[1]) for row in rows] == [[f"on_{event}"] for event in EVENTS]

    context = gankit.TrainingContext
    fields = {f.name for f in dataclasses.fields(context) if not f.name.startswith("_")}
    members = fields | public_members(context, skip=fields)
    documented = set(first_column_names(section(text, "## `TrainingContext`")))
    assert sorted(members - documented) == [], "events.md omits these TrainingContext members"
    assert sorted(documented - members) == [], "events.md names TrainingContext members that do not exist"

    documented = first_column_names(section(text, "## `Batch`"), ("field", "what"))
    assert documented == list(gankit.Batch._fields), "events.md lists Batch's fields, in order"

    documented = set(first_column_names(section(text, "## `Callback`")))
    wanted = {"name"} | public_members(gankit.Callback) - {f"on_{event}" for event in EVENTS}
    assert sorted(wanted - documented) == [], "events.md omits these Callback members"


# -- the public API -----------------------------------------------------------------------------

def public_names() -> dict[str, list[str]]:
    return {module: list(importlib.import_module(module).__all__) for module in PUBLIC_MODULES}


def test_every_public_name_is_documented():
    documented = set(CODE_NAME.findall(all_text()))
    missing = {module: [name for name in names if name not in documented]
               for module, names in public_names().items()}
    assert {module: names for module, names in missing.items() if names} == {}, \
        "document these names in docs/plugins.md or docs/plugins/*.md"


def test_the_api_index_lists_exactly_each_public_module():
    text = API_DOC.read_text()
    for module, names in public_names().items():
        listed = first_column_names(section(text, f"## `{module}`"))
        assert len(listed) == len(set(listed)), f"api.md lists a name of {module} twice"
        assert sorted(set(names) - set(listed)) == [], f"api.md's {module} table omits these names of its __all__"
        assert sorted(set(listed) - set(names)) == [], f"api.md's {module} table lists names not in its __all__"
        for row in table_rows(section(text, f"## `{module}`")):
            for page in re.findall(r"\]\(([\w-]+\.md)", row[-1]) if len(row) > 2 else []:
                written = set(CODE_NAME.findall((REFERENCE / page).read_text()))
                missing = [name for name in CODE_NAME.findall(row[0]) if name not in written]
                assert missing == [], f"api.md sends readers to {page} for {missing}, which it does not document"


def code_blocks_of_plugin_pages() -> list[tuple[str, str]]:
    return [(f"{page.relative_to(DOCS)}, python block {i + 1}", block)
            for page in plugin_pages() for i, block in enumerate(python_blocks(page))]


def test_the_docs_code_imports_only_public_names_of_the_public_modules():
    public = public_names()
    wrong = []
    for where, block in code_blocks_of_plugin_pages():
        for node in ast.walk(ast.parse(block)):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "gankit":
                if node.module not in public:
                    wrong.append(f"{where}: from {node.module} import ...")
                    continue
                wrong += [f"{where}: {node.module}.{alias.name} is not in its __all__"
                          for alias in node.names if alias.name not in public[node.module]
                          and not (node.module == "gankit" and alias.name in ("blocks", "testing"))]
            elif isinstance(node, ast.Import):
                wrong += [f"{where}: import {alias.name}" for alias in node.names
                          if alias.name.split(".")[0] == "gankit" and alias.name not in public]
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "gankit":
                if node.attr not in public["gankit"] and node.attr not in ("blocks", "testing", "cli"):
                    wrong.append(f"{where}: gankit.{node.attr}")
    assert wrong == []


def test_the_docs_never_tell_a_plugin_to_raise_value_error():
    for where, block in code_blocks_of_plugin_pages():
        assert "ValueError" not in block, f"{where}: plugins raise gankit.ConfigError (or another GankitError)"
    for page in plugin_pages():
        text = flat(prose(page.read_text()))
        for match in re.finditer(r"ValueError", text):
            before = text[max(0, match.start() - 40):match.start()]
            assert re.search(r"\b(no|not|never)\b", before), \
                f"{page.name}: '...{before}ValueError': say to raise gankit.ConfigError instead"
    rule = flat(prose(CONFIG_DOC.read_text()))
    assert "contains no `raise ValueError`" in rule
    assert "calls `super().__post_init__()` and raises `ConfigError`" in rule
    # The rule stated is the one tests/test_structure.py enforces; if that changes, so must the docs.
    structure = (ROOT / "tests" / "test_structure.py").read_text()
    assert 'assert "raise ValueError" not in text' in structure
    assert '"super().__post_init__()" in text and "raise ConfigError" in text' in structure


# -- links ---------------------------------------------------------------------------------------

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def markdown_files() -> list[Path]:
    found = [ROOT / "README.md", *DOCS.rglob("*.md")]
    for folder in ("examples", "plugins"):
        found += [p for p in (ROOT / folder).rglob("*.md") if ".venv" not in p.parts]
    return found


def test_links_to_and_within_the_plugin_docs_resolve():
    broken = []
    for path in markdown_files():
        for target in LINK.findall(prose(path.read_text())):
            if re.match(r"[a-z]+:", target):
                continue  # http:, https:, mailto:
            file, _, anchor = target.partition("#")
            resolved = (path.parent / file).resolve() if file else path
            touches_plugin_docs = is_plugin_page(resolved) or is_plugin_page(path)
            if not touches_plugin_docs:
                continue
            if resolved.name == "compatibility.md" and not resolved.exists():
                continue  # written beside this change by another one
            if not resolved.exists():
                broken.append(f"{path.relative_to(ROOT)}: {target} (no such file)")
            elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
                broken.append(f"{path.relative_to(ROOT)}: {target} (no such heading)")
    assert broken == []


def test_other_docs_do_not_send_readers_to_sections_that_moved():
    moved = ["API reference", "Hooks reference", "Building blocks", "Testing a plugin", "Training events",
             "Declaring the gankit versions", "Choosing, disabling"]
    stale = [f"{path.relative_to(ROOT)}: {line.strip()}" for path in markdown_files() if not is_plugin_page(path)
             for line in path.read_text().splitlines()
             if "plugins.md" in line and any(name in line for name in moved)]
    assert stale == []


# -- the snippets ---------------------------------------------------------------------------------

def runnable_docs() -> list[str]:
    pages = [*plugin_pages(), *(p for p in sorted(DOCS.glob("*.md")) if p != PLUGINS_DOC)]
    return [page.relative_to(DOCS).as_posix() for page in pages if python_blocks(page)]


@pytest.mark.parametrize("doc", runnable_docs())
def test_python_snippets_run(doc, tmp_path, monkeypatch, forget_modules_from):
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    modules_before = set(sys.modules)
    page = DOCS / doc
    namespace: dict = {"__name__": f"docs_{page.stem}"}
    try:
        if page.parent == REFERENCE:  # the tutorial's package, for the reference pages' examples
            for block in python_blocks(PLUGINS_DOC):
                if (path := file_block(block)) is not None and not Path(path).name.startswith("test_"):
                    write_file(tmp_path / path, block)
        for index, block in enumerate(python_blocks(page)):
            path = file_block(block)
            if path is None:
                exec(compile(block, f"{doc}, python block {index + 1}", "exec", dont_inherit=True), namespace)
                continue
            write_file(tmp_path / path, block)
            if Path(path).name.startswith("test_") and path.endswith(".py"):
                run_test_file(tmp_path / path, tmp_path)
    finally:
        forget_modules_from(tmp_path, modules_before)


def write_file(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    importlib.invalidate_caches()


def run_test_file(path: Path, tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location(f"docs_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    tests = [(name, f) for name, f in vars(module).items() if name.startswith("test_") and callable(f)]
    assert tests, f"{path.name} in the docs defines no test"
    for name, function in tests:
        wanted = inspect.signature(function).parameters
        function(**({"tmp_path": tmp_path / name} if "tmp_path" in wanted else {}))
