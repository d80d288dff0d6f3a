"""Every `gankit ...` command of README.md's and docs/quickstart.md's ```bash blocks, run as written,
in order, in a fresh working folder: the docs cannot drift from the CLI.

A command whose comment says ``# Error: MESSAGE`` must fail with that message (``...`` stands for
any text); every other one must succeed, and a ``--out PATH`` it names must exist afterwards.
Other lines (``make``, ``pip install``, ``pytest``, ``python3 -m venv``) are not gankit's and are
skipped. Shell globs are expanded as a shell would, relative to the working folder.

The commands run in-process (each new process would cost a torch import, ~3 s), offline on the
bundled MNIST subset, and shrunk by gankit's test hooks (read where a run's config is settled,
gankit/train/run.py): ``GANKIT_EPOCHS_CAP`` caps every run's epochs (the quickstart's
``gankit train vanilla`` is 200 of them) and ``GANKIT_MAX_IMAGES_CAP`` its training images.
"""

from __future__ import annotations

import glob
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

from gankit.testing import invoke

ROOT = Path(__file__).resolve().parents[1]
DOCS = ["README.md", "docs/quickstart.md"]
BASH_BLOCK = re.compile(r"^```bash\n(.*?)^```", re.S | re.M)


@dataclass
class Command:
    doc: str
    line_no: int
    line: str
    args: list[str]
    error: str | None  # the message of a `# Error: ...` comment

    def where(self) -> str:
        return f"{self.doc}:{self.line_no}: {self.line}"


def documented_commands(doc: str) -> list[Command]:
    text = (ROOT / doc).read_text(encoding="utf-8")
    found = []
    for block in BASH_BLOCK.finditer(text):
        first_line = text.count("\n", 0, block.start(1)) + 1
        for offset, line in enumerate(block.group(1).splitlines()):
            line = line.strip()
            if not line.startswith("gankit "):
                # A gankit command chained after another (`pip install . && gankit ...`) would be skipped.
                assert not re.search(r"(&&|;|\|)\s*gankit\b", line), f"{doc}: split this line: {line}"
                continue
            command, _, comment = line.partition(" #")  # no documented argument holds a ' #'
            error = re.match(r"\s*Error:\s*(.*)", comment)
            found.append(Command(doc, first_line + offset, line, shlex.split(command)[1:],
                                 error.group(1).strip() if error else None))
    return found


def expanded(args: list[str], cwd: Path) -> list[str]:
    """Arguments as a shell passes them: a glob that matches is replaced by its sorted matches, one
    that matches nothing stays as typed (bash's default)."""
    out = []
    for arg in args:
        matches = sorted(glob.glob(arg, root_dir=cwd)) if glob.has_magic(arg) else []
        out.extend(matches or [arg])
    return out


def out_path(args: list[str]) -> str | None:
    return args[args.index("--out") + 1] if "--out" in args[:-1] else None


def problem_with(command: Command, cwd: Path) -> str | None:
    args = expanded(command.args, cwd)
    result = invoke(args)
    output = " ".join(result.output.split())  # Rich may wrap a long line
    if command.error is not None:
        pieces = [piece.strip() for piece in command.error.split("...") if piece.strip()]
        pattern = ".*".join(re.escape(piece) for piece in ["Error:", *pieces])
        if result.exit_code == 0 or not re.search(pattern, output):
            return f"should fail with '{command.error}'; exit {result.exit_code}: {output[-600:]}"
        return None
    if result.exit_code != 0 or result.exception is not None:
        raised = result.exception if not isinstance(result.exception, SystemExit) else None
        return f"exit {result.exit_code}{f' ({raised!r})' if raised else ''}: {output[-600:]}"
    out = out_path(args)
    if out is not None and not (cwd / out).exists():
        return f"succeeded but wrote no {out}"
    return None


@pytest.mark.parametrize("doc", DOCS)
def test_every_documented_gankit_command_runs_as_written(doc, tmp_path, monkeypatch):
    commands = documented_commands(doc)
    assert len(commands) >= {"README.md": 2, "docs/quickstart.md": 10}[doc], [c.line for c in commands]
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("GANKIT_OFFLINE", "1")
    monkeypatch.setenv("GANKIT_DATA_ROOT", str(tmp_path / "no-data"))  # the bundled 5,000 digits
    monkeypatch.setenv("GANKIT_EPOCHS_CAP", "1")
    monkeypatch.setenv("GANKIT_MAX_IMAGES_CAP", "300")
    problems = [f"{command.where()}\n    {problem}" for command in commands
                if (problem := problem_with(command, work)) is not None]
    assert not problems, "documented commands that do not do what the docs say:\n" + "\n".join(problems)


def test_the_parser_reads_comments_errors_and_globs(tmp_path):
    [train, sample, *_] = documented_commands("README.md")
    assert train.args == ["train", "vanilla", "--epochs", "20"] and train.error is None
    assert sample.args[:2] == ["sample", "runs/vanilla-mnist-*/"]
    errors = [c for c in documented_commands("docs/quickstart.md") if c.error]
    assert errors and all(c.args[0] == "train" for c in errors)
    (tmp_path / "runs/vanilla-mnist-1").mkdir(parents=True)
    (tmp_path / "runs/vanilla-mnist-2").mkdir()
    assert expanded(["sample", "runs/vanilla-mnist-*/", "runs/x-*"], tmp_path) == [
        "sample", "runs/vanilla-mnist-1/", "runs/vanilla-mnist-2/", "runs/x-*"]
