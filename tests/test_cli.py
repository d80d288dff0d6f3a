"""The CLI as a user meets it: help without torch, one-line errors, train then sample."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from gankit.cli import build_app

runner = CliRunner()


def invoke(*args, **kwargs):
    return runner.invoke(build_app(), [str(a) for a in args], **kwargs)


def test_help_does_not_import_torch():
    code = ("import sys\nfrom gankit.cli import main\nsys.argv = ['gankit', '--help']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH')\n"
            "print('RICH-HELP' if 'rich.markdown' in sys.modules else 'PLAIN-HELP')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "train" in out and "sample" in out
    # Typer's Rich help page imports rich.markdown, markdown-it and pygments: ~0.08 s of the 0.3 s
    assert out.strip().endswith("NO-TORCH\nPLAIN-HELP")


def test_version():
    from gankit import __version__

    result = invoke("--version")
    assert result.exit_code == 0 and result.output.strip() == f"gankit {__version__}"


def test_python_dash_m_runs_the_cli():
    out = subprocess.run([sys.executable, "-m", "gankit", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("gankit ")


@pytest.mark.parametrize("args, message", [
    (["train", "vanila"], "Unknown variant 'vanila'. Did you mean 'vanilla'? Available:"),
    (["train", "vanilla", "--set", "colour=red"], "Unknown config key 'colour' for VanillaConfig. Valid keys:"),
    (["train", "vanilla", "--set", "dropout=lots"], "dropout must be float; got 'lots'"),
    (["train", "vanilla", "--set", "dropout=1.5"], "dropout must be in [0, 1)"),
    (["train", "vanilla", "--loss", "hnge"], "Unknown loss 'hnge'. Did you mean 'hinge'?"),
    (["train", "vanilla", "--dataset", "cifar"], "Unknown dataset 'cifar'."),
    (["sample", "no/such/run"], "'no/such/run' does not exist"),
])
def test_bad_input_is_one_line_and_exit_code_2(args, message, tmp_path):
    result = invoke(*args, "--out", tmp_path / "out") if args[0] == "train" else invoke(*args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()  # nothing was written for bad input


def test_debug_shows_the_traceback(monkeypatch):
    monkeypatch.setenv("GANKIT_DEBUG", "1")
    result = invoke("train", "vanila")
    assert result.exit_code == 2 and "Traceback" in result.output


def test_list_names_every_variant_loss_and_dataset_with_its_plugin():
    listing = json.loads(invoke("list", "--json").output)
    variants = {row["name"]: row["plugin"] for row in listing["variants"]}
    assert variants["vanilla"] == "vanilla"
    assert {row["name"] for row in listing["losses"]} >= {"bce", "minimax", "lsgan", "hinge", "wgan-gp"}
    assert {row["name"] for row in listing["datasets"]} >= {"mnist", "fashion-mnist"}
    table = invoke("list").output
    assert "vanilla" in table and "wgan-gp" in table and "fashion-mnist" in table


def test_plugins_prints_json_with_states():
    plugins = {p["name"]: p for p in json.loads(invoke("plugins").output)}
    assert plugins["gankit"]["state"] == "loaded"
    assert plugins["vanilla"]["state"] == "loaded" and plugins["vanilla"]["registered"] == {"variants": ["vanilla"]}


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("cli") / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GANKIT_OFFLINE", "1")
        patch.setenv("GANKIT_DATA_ROOT", str(run.parent / "empty"))
        result = runner.invoke(build_app(), ["train", "vanilla", "--epochs", "1", "--batch-size", "50",
                                             "--max-images", "200", "--out", str(run), "--no-progress",
                                             "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert "bundled 5,000-digit MNIST subset" in result.output and "notice:" in result.output
    assert "epoch 1/1" in result.output
    return run


def test_train_writes_a_run_and_refuses_to_overwrite_it(trained_run):
    assert (trained_run / "checkpoints/last.pt").is_file()
    again = invoke("train", "vanilla", "--epochs", "1", "--out", trained_run)
    assert again.exit_code == 2 and "already exists" in again.output


@pytest.mark.parametrize("suffix", [".npy", ".pt"])
def test_sample_writes_tensors_in_range(trained_run, tmp_path, suffix):
    out = tmp_path / f"samples{suffix}"
    result = invoke("sample", trained_run, "--n", 7, "--out", out)
    assert result.exit_code == 0, result.output
    images = np.load(out) if suffix == ".npy" else torch.load(out).numpy()
    assert images.shape == (7, 1, 28, 28)
    assert images.min() >= -1 and images.max() <= 1 and images.std() > 0


def test_sample_png_grid_and_seed_determinism(trained_run, tmp_path):
    for name in ("a", "b"):
        assert invoke("sample", trained_run / "checkpoints/last.pt", "--seed", 5,
                      "--out", tmp_path / f"{name}.npy").exit_code == 0
    assert np.array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))
    result = invoke("sample", trained_run, "--n", 16)
    assert result.exit_code == 0 and (trained_run / "samples/sample-seed0.png").is_file()


@pytest.mark.parametrize("args, message", [
    (["--labels", "3"], "Variant 'vanilla' is unconditional; --labels needs a conditional variant."),
    (["--out", "grid.jpg"], "unknown format '.jpg'. Use .png, .npy or .pt."),
    (["--n", "0"], "--n must be at least 1"),
])
def test_sample_bad_input(trained_run, args, message):
    result = invoke("sample", trained_run, *args)
    assert result.exit_code == 2 and message in result.output


def test_sample_from_a_checkpoint_of_another_shape_is_a_clear_error(trained_run, tmp_path):
    from gankit.checkpoint import load_checkpoint, save_checkpoint

    state = load_checkpoint(trained_run / "checkpoints/last.pt")
    state["config"]["latent_dim"] = 64
    save_checkpoint(state, tmp_path / "odd.pt")
    result = invoke("sample", tmp_path / "odd.pt")
    assert result.exit_code == 2 and "does not fit variant 'vanilla'" in result.output


def test_ctrl_c_exits_130_with_the_resume_command(tmp_path, monkeypatch):
    from gankit.train import loop as train_module

    class StopAtOnce(train_module.StopOnSigint):
        requested = property(lambda self: True, lambda self, value: None)

    monkeypatch.setattr(train_module, "StopOnSigint", StopAtOnce)
    result = invoke("train", "vanilla", "--epochs", "1", "--max-images", "200", "--batch-size", "50",
                    "--out", tmp_path / "run", "--no-progress")
    assert result.exit_code == 130
    assert f"--out {tmp_path / 'run'} --resume" in result.output
    assert (tmp_path / "run/checkpoints/last.pt").is_file()


def test_plugin_new_writes_a_plugin_that_passes_the_kit(tmp_path, monkeypatch):
    result = invoke("plugin", "new", "mygan", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    root = tmp_path / "gankit-mygan"
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) == [
        "README.md", "gankit_mygan/__init__.py", "gankit_mygan/model.py", "pyproject.toml",
        "tests/test_mygan.py"]
    monkeypatch.syspath_prepend(str(root))
    import gankit_mygan
    from gankit.testing import check_plugin, check_variant, check_variant_loss, plugin_host

    host = plugin_host(gankit_mygan)
    check_variant("mygan", host=host)
    check_variant_loss("mygan", "ragan", host=host)
    assert check_plugin("gankit_mygan") == {"variants": ["mygan"]}
    again = invoke("plugin", "new", "mygan", "--out", tmp_path)
    assert again.exit_code == 2 and "already exists" in again.output
    bad = invoke("plugin", "new", "My-GAN", "--out", tmp_path)
    assert bad.exit_code == 2 and "must be lower case" in bad.output
