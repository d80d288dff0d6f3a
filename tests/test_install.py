"""gankit installed the ordinary way: the sdist builds, a wheel built from that sdist installs (not
editable) into a fresh virtual environment, and the `gankit` it installs lists, trains and samples
every in-repo variant and evaluates with the evaluator weights it ships.

``make test`` installs gankit editable, which finds any package from the source tree; this test is
what notices a package, a plugin or a data file that the wheel lacks. The fresh environment gets
the test environment's dependencies (torch is 5 GB: it is not installed twice) through a folder of
links to every installed package except gankit's own, and it runs outside the source tree, so the
only gankit it can import is the wheel's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
IN_REPO_VARIANTS = {"vanilla", "dcgan", "cgan"}
ONE_PROCESS_RUNS = [
    [*command, *(["--out", "{work}/" + variant] if command[0] == "train" else [])]
    for variant in ("dcgan", "cgan")
    for command in (["train", variant, "--epochs", "1", "--max-images", "100", "--batch-size", "50", "--no-progress"],
                    ["sample", "{work}/" + variant, "--n", "4", "--out", "{work}/" + variant + ".png"])
]


def source_files() -> list[str]:
    """What a clean clone holds (tracked and new files, not what .gitignore ignores)."""
    try:
        listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                                capture_output=True, text=True, check=True).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the source files cannot be told from build outputs")
    return [name for name in listed if (ROOT / name).is_file()]


def build(backend_call: str, source: Path, out: Path) -> Path:
    """Run a PEP 517 hook of setuptools (what pip and `python -m build` call) in ``source``."""
    out.mkdir(parents=True, exist_ok=True)
    code = f"from setuptools import build_meta; print(build_meta.{backend_call}({str(out)!r}))"
    result = subprocess.run([sys.executable, "-c", code], cwd=source, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    return out / result.stdout.strip().splitlines()[-1]


def dependencies_folder(tmp_path: Path) -> Path:
    """Links to every package of this environment but gankit's own (and its editable finders)."""
    folder = tmp_path / "dependencies"
    folder.mkdir()
    paths = {Path(sysconfig.get_paths()[key]) for key in ("purelib", "platlib")}
    for site in paths:
        for entry in site.iterdir():
            name = entry.name.lower()
            if name.startswith(("gankit", "_gankit", "__editable__")) or name.endswith(".pth"):
                continue
            if not (folder / entry.name).exists():
                (folder / entry.name).symlink_to(entry)
    return folder


def fresh_environment(tmp_path: Path, wheel: Path) -> Path:
    """A new virtual environment with the wheel installed by pip, as a user would; its bin folder."""
    env = tmp_path / "fresh"
    venv.EnvBuilder(with_pip=False).create(env)
    site = Path(subprocess.run([env / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "dependencies.pth").write_text(f"{dependencies_folder(tmp_path)}\n")
    result = subprocess.run([sys.executable, "-m", "pip", "--python", str(env / "bin" / "python"), "install",
                             "--no-deps", "--no-index", "--quiet", str(wheel)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    return env / "bin"


def run(bin_dir: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("GANKIT_", "PYTHON"))}
    env.update(GANKIT_OFFLINE="1", GANKIT_DATA_ROOT=str(cwd / "no-data"), GANKIT_STRICT_PLUGINS="1")
    result = subprocess.run([str(bin_dir / args[0]), *args[1:]], cwd=cwd, env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result


def test_a_wheel_built_from_the_sdist_installs_and_trains_samples_and_lists(tmp_path):
    source = tmp_path / "clone"
    for name in source_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    sdist = build("build_sdist", source, tmp_path / "dist")
    with tarfile.open(sdist) as archive:
        archive.extractall(tmp_path / "unpacked", filter="data")
    [unpacked] = (tmp_path / "unpacked").iterdir()
    wheel = build("build_wheel", unpacked, tmp_path / "wheels")  # from the sdist, as pip does
    bin_dir = fresh_environment(tmp_path, wheel)
    work = tmp_path / "work"
    work.mkdir()

    where = run(bin_dir, "python", "-c", "import gankit, gankit_vanilla; print(gankit.__file__)", cwd=work)
    assert Path(where.stdout.strip()).is_relative_to(bin_dir.parent), where.stdout
    listing = json.loads(run(bin_dir, "gankit", "list", "--json", cwd=work).stdout)
    assert IN_REPO_VARIANTS <= {variant["name"] for variant in listing["variants"]}
    plugins = {p["name"]: p["state"] for p in json.loads(run(bin_dir, "gankit", "plugins", cwd=work).stdout)}
    assert all(plugins[name] == "loaded" for name in IN_REPO_VARIANTS), plugins

    run(bin_dir, "gankit", "train", "vanilla", "--epochs", "1", "--max-images", "100", "--batch-size", "50",
        "--no-progress", "--out", str(work / "vanilla"), cwd=work)
    run(bin_dir, "gankit", "sample", str(work / "vanilla"), "--n", "4", "--out", str(work / "vanilla.png"), cwd=work)
    # The other in-repo variants through the installed CLI in one process (each gankit start costs
    # a torch import of seconds): one tiny epoch and samples each.
    script = (f"import sys\nfrom gankit.cli import main\n"
              f"for args in {ONE_PROCESS_RUNS!r}:\n"
              f"    sys.argv = ['gankit', *[a.format(work={str(work)!r}) for a in args]]\n"
              f"    try:\n        main()\n    except SystemExit as stop:\n"
              f"        assert not stop.code, (args, stop.code)\n")
    run(bin_dir, "python", "-c", script, cwd=work)
    for variant in sorted(IN_REPO_VARIANTS):
        assert (work / variant / "checkpoints" / "last.pt").is_file()
        assert (work / f"{variant}.png").stat().st_size > 0
    # The shipped evaluator's weights are package data: evaluate needs them and no training.
    run(bin_dir, "gankit", "evaluate", str(work / "vanilla"), "--n", "100", cwd=work)
