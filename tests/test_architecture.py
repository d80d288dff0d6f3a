"""docs/architecture.md stays true: its table of where each job lives names every module of the
package and no other, and the step it shows is TrainStep.__call__ as it is."""

from __future__ import annotations

import inspect
import re
import textwrap
from pathlib import Path

from gankit.train.step import TrainStep

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "architecture.md"


def table_modules() -> list[str]:
    section = DOC.read_text().split("## Where each job lives", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `(gankit/[\w/]+\.py)` \| .+ \|$", section, re.MULTILINE)


def test_the_table_names_every_module_once_and_no_other():
    listed = table_modules()
    modules = sorted(str(path.relative_to(ROOT)) for path in (ROOT / "gankit").rglob("*.py"))
    assert sorted(set(listed)) == sorted(listed), "a module is listed twice"
    assert sorted(listed) == modules


def test_the_step_shown_is_the_step_that_runs():
    source = textwrap.dedent(inspect.getsource(TrainStep.__call__))
    assert f"```python\n{source}```" in DOC.read_text()


def test_the_step_reads_top_to_bottom_in_one_screen():
    """D's update and G's, each optimizer.step() in the function itself: no hop to a precision or
    helper module, and the whole of it within one screen."""
    source = inspect.getsource(TrainStep.__call__)
    assert len(source.splitlines()) <= 60
    for player in ("d", "g"):
        assert f"precision.{player}_scaler.scale({player}_loss).backward()" in source
        assert f"precision.{player}_scaler.step(context.{player}_optimizer)" in source
    assert source.index("d_scaler.step") < source.index("g_scaler.step")
