"""`gankit plugin new NAME` as a new plugin author meets it: what it writes reads cleanly and links
nowhere fake, its tests ask gankit for the losses, its pyproject agrees with docs/plugins.md, and
its name checks say what they check (an installed variant's name is refused, a keyword is not)."""

from __future__ import annotations

import importlib.util
import io
import re
import sys
import tokenize
import tomllib
from pathlib import Path

import pytest

from gankit import LossSpec, hookimpl
from gankit.cli.scaffold import NAME_PATTERN, check_name
from gankit.errors import GankitError
from gankit.testing import check_plugin, check_variant_loss, invoke, plugin_host

ROOT = Path(__file__).resolve().parents[1]


def written(root: Path) -> dict[str, str]:
    return {path.relative_to(root).as_posix(): path.read_text(encoding="utf-8")
            for path in sorted(root.rglob("*")) if path.is_file()}


def new_plugin(name: str, out: Path) -> Path:
    result = invoke(["plugin", "new", name, "--out", out])
    assert result.exit_code == 0, result.output
    return out / f"gankit-{name}"


@pytest.fixture
def importable(monkeypatch, forget_modules_from):
    """``load(root)``: put a written plugin on sys.path; its modules are forgotten afterwards, so no
    other test (tests/test_cli.py writes gankit_mygan too) imports this one's."""
    roots, before = [], set(sys.modules)

    def load(root: Path) -> None:
        roots.append(root)
        monkeypatch.syspath_prepend(str(root))

    yield load
    for root in roots:
        forget_modules_from(root, before)


def misaligned_lines(source: str) -> list[str]:
    """Continuation lines inside brackets that are neither aligned with the first token after the
    opening bracket (a visual indent) nor one level (4 spaces) deeper than the bracket's line (a
    hanging indent; the closing bracket may sit at the bracket line's indent)."""
    lines = source.splitlines()
    stack: list[dict] = []  # open brackets: the indent expected of lines inside them
    problems, last_row, pending = [], 0, None
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
                          tokenize.ENDMARKER):
            continue
        row, col = token.start
        if pending is not None and token.type != tokenize.COMMENT:  # the token after a bracket
            pending["visual"] = col if row == pending["row"] else None
            pending = None
        if row != last_row and stack:  # the first token of a continuation line
            top = stack[-1]
            closing = token.type == tokenize.OP and token.string in ")]}"
            if top["visual"] is not None:
                allowed = {top["visual"]} | ({top["indent"]} if closing else set())
            else:
                allowed = {top["indent"] + 4} | ({top["indent"]} if closing else set())
            if col not in allowed:
                problems.append(f"line {row}: indent {col}, expected {sorted(allowed)}: {lines[row - 1]!r}")
        last_row = token.end[0]
        if token.type == tokenize.OP and token.string in "([{":
            line = lines[row - 1]
            pending = {"row": row, "indent": len(line) - len(line.lstrip()), "visual": None}
            stack.append(pending)
        elif token.type == tokenize.OP and token.string in ")]}":
            stack.pop()
    return problems


def test_the_alignment_check_catches_what_the_old_template_wrote():
    old = ("def build_networks(config, data):\n    return Networks(\n"
           "        MyganGenerator(latent_dim=config.latent_dim, image_shape=data.image_shape,\n"
           "                         hidden=config.hidden),\n    )\n")
    assert len(misaligned_lines(old)) == 1
    assert misaligned_lines(old.replace(" " * 25 + "hidden", " " * 23 + "hidden")) == []


@pytest.mark.parametrize("name", ["g", "mygan", "my-very_long-variant2"])
def test_every_written_file_reads_cleanly_whatever_the_name(tmp_path, name):
    files = written(new_plugin(name, tmp_path))
    module = "gankit_" + name.replace("-", "_")
    assert sorted(files) == ["README.md", f"{module}/__init__.py", f"{module}/model.py", "pyproject.toml",
                             f"tests/test_{module.removeprefix('gankit_')}.py"]
    for relative, text in files.items():
        assert "{" + "name}" not in text and "{title}" not in text and "{module}" not in text, relative
        assert not [line for line in text.splitlines() if line != line.rstrip()], relative
        if relative.endswith(".py"):
            compile(text, relative, "exec")
            assert misaligned_lines(text) == [], relative
    # The README's commands keep their comments in one column, however long the name is.
    block = files["README.md"].split("```bash\n", 1)[1].split("```", 1)[0]
    columns = {line.index("  # ") for line in block.splitlines()}
    assert len(columns) == 1, block
    assert tomllib.loads(files["pyproject.toml"])["project"]["entry-points"]["gankit"] == {name: module}


def test_no_placeholder_link_is_written(tmp_path):
    files = written(new_plugin("mygan", tmp_path))
    for relative, text in files.items():
        assert "://" not in text and "github" not in text.lower(), relative
    assert "urls" not in tomllib.loads(files["pyproject.toml"])["project"]


def test_the_pyproject_agrees_with_docs_plugins_md_on_setuptools(tmp_path):
    files = written(new_plugin("mygan", tmp_path))
    docs = (ROOT / "docs/plugins.md").read_text(encoding="utf-8")
    documented = tomllib.loads(docs.split("```toml\n", 1)[1].split("```", 1)[0])
    generated = tomllib.loads(files["pyproject.toml"])
    assert generated["build-system"] == documented["build-system"]
    assert generated["build-system"]["requires"] == ["setuptools>=77"]
    gankits_own = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert gankits_own["build-system"]["requires"] == ["setuptools>=77"]
    # setuptools>=77 is what reads the SPDX `license = "MIT"` form gankit's own pyproject uses.
    assert '# license = "MIT"' in files["pyproject.toml"]


def test_the_written_tests_ask_gankit_for_its_losses(tmp_path, monkeypatch, importable):
    """No list of losses in the written test: a loss a later gankit adds (simulated here by one more
    built-in) is tested with the variant without editing it; minimax included."""
    import gankit.builtin_plugin as builtin_plugin

    registers_builtins = builtin_plugin.gankit_register_losses

    @hookimpl
    def gankit_register_losses(register):
        registers_builtins(register)
        register(LossSpec("hinge-next", "a loss a later gankit adds", builtin_plugin._loss("HingeLoss")))

    monkeypatch.setattr(builtin_plugin, "gankit_register_losses", gankit_register_losses)
    root = new_plugin("scaffolded", tmp_path)
    source = (root / "tests/test_scaffolded.py").read_text(encoding="utf-8")
    assert not re.search(r"[\"'](bce|hinge|lsgan|wgan-gp|ragan|minimax)[\"']", source)
    importable(root)
    spec = importlib.util.spec_from_file_location("written_test", root / "tests/test_scaffolded.py")
    written_test = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(written_test)
    assert written_test.LOSSES == ["bce", "hinge", "hinge-next", "lsgan", "minimax", "ragan", "wgan-gp"]
    host = plugin_host(sys.modules["gankit_scaffolded"])
    for loss in written_test.LOSSES:  # what pytest's parametrize runs
        written_test.test_every_loss_works(host, loss)


def test_an_installed_variants_name_is_refused_in_one_line_writing_nothing(tmp_path):
    result = invoke(["plugin", "new", "vanilla", "--out", tmp_path])
    assert result.exit_code == 2
    line, = result.output.strip().splitlines()
    assert line == ("Error: 'vanilla' is already a variant, from the installed plugin 'vanilla'; a new "
                    "plugin of that name would clash with it (`gankit train vanilla` could not mean both). "
                    "Pick another name, e.g. 'my-vanilla'.")
    assert list(tmp_path.iterdir()) == []
    assert new_plugin("my-vanilla", tmp_path).is_dir()  # the suggestion is free


def test_an_installed_plugins_name_is_refused_too(tmp_path):
    result = invoke(["plugin", "new", "gankit", "--out", tmp_path])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert "already the name of an installed plugin ('gankit'" in result.output
    assert "e.g. 'my-gankit'" in result.output and list(tmp_path.iterdir()) == []


def test_the_check_asks_the_apps_host(tmp_path):
    """An app built over a host without the vanilla plugin (a test's) lets the name through."""
    result = invoke(["plugin", "new", "vanilla", "--out", tmp_path], host=plugin_host())
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("name", ["class", "import", "none", "my-gan", "my_gan", "gan2", "a1_b2-c3"])
def test_names_the_stated_rule_admits_are_accepted(name):
    check_name(name)  # keywords included: the module is gankit_class, never `class`
    assert NAME_PATTERN.match(name)


@pytest.mark.parametrize("name", ["2gan", "My-GAN", "my--gan", "gan-", "_gan", "my gan", "gän", ""])
def test_names_the_stated_rule_refuses_are_refused_with_it(name):
    with pytest.raises(GankitError, match=r"must be lower case letters and digits, starting with a letter, "
                                          r"words joined by single - or _"):
        check_name(name)


def test_a_keyword_makes_a_working_plugin(tmp_path, importable):
    root = new_plugin("class", tmp_path)
    assert (root / "gankit_class/__init__.py").is_file() and (root / "tests/test_class.py").is_file()
    importable(root)
    import gankit_class

    assert check_plugin("gankit_class") == {"variants": ["class"]}
    host = plugin_host(gankit_class)
    check_variant_loss("class", "minimax", host=host)
    run = tmp_path / "run"
    result = invoke(["train", "class", "--epochs", "1", "--max-images", "100", "--batch-size", "50",
                     "--out", run, "--no-progress"], host=host)
    assert result.exit_code == 0, result.output
    assert (run / "checkpoints/last.pt").is_file()
