"""``gankit export RUN DIR`` and ``gankit.load_generator(DIR)``: safetensors, config.json and the model
card of real runs; loading in a fresh process where ``torch.load`` and pickle raise."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap

import pytest
import torch

import gankit
from gankit.exported import sha256_of
from gankit.loading import load_run
from gankit.testing import invoke

TINY = ["--epochs", "1", "--max-images", "200", "--no-progress", "--precision", "fp32", "--seed", "3"]
SMALL = ["--set", "g_features=8", "--set", "d_features=8"]
HAS_ONNX = all(importlib.util.find_spec(name) for name in ("onnx", "onnxruntime", "onnxscript"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """vanilla with EMA and a score from --eval-every; cgan (labels); selfcond (buffers, EMA)."""
    root = tmp_path_factory.mktemp("export")
    made = {}
    for variant, extra in (("vanilla", ["--batch-size", "50", "--ema", "0.9", "--eval-every", "1",
                                        "--eval-n", "50"]),
                           ("cgan", SMALL),
                           ("selfcond", [*SMALL, "--set", "clusters=3", "--set", "latent_dim=20"])):
        made[variant] = root / variant
        result = invoke(["train", variant, *TINY, *extra, "--out", made[variant]])
        assert result.exit_code == 0, result.output
    return made


@pytest.fixture(scope="module")
def exports(runs, tmp_path_factory):
    root = tmp_path_factory.mktemp("exported")
    made = {}
    for variant, run in runs.items():
        made[variant] = root / variant
        result = invoke(["export", run, made[variant], "--license", "mit"])
        assert result.exit_code == 0, result.output
    return made


def one_line_error(result, message):
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.output


def test_the_folder_holds_the_hub_layout_and_a_config_that_rebuilds_g(runs, exports):
    folder = exports["vanilla"]
    assert sorted(path.name for path in folder.iterdir()) == \
        ["README.md", "config.json", "model.safetensors", "samples.png"]
    record = json.loads((folder / "config.json").read_text())
    run_config = json.loads((runs["vanilla"] / "config.json").read_text())
    assert record["format"] == "gankit-generator" and record["format_version"] == 1
    assert record["variant"] == "vanilla" and record["qualified_names"]["variant"] == "vanilla:vanilla"
    assert record["plugin"] == run_config["plugin"] and record["config"] == run_config["config"]
    assert record["data"]["image_shape"] == [1, 28, 28] and record["latent"]["noise"] == "normal"
    assert record["weights"] == {"file": "model.safetensors", "ema": True,
                                 "sha256": sha256_of(folder / "model.safetensors")}
    assert record["epoch"] == 1 and record["seed"] == 3 and record["precision"] == "fp32"
    assert record["scores"]["source"] == "metrics.jsonl (--eval-every)" and record["scores"]["fid"] > 0


def test_the_model_card_says_what_the_generator_is_and_how_it_was_made(runs, exports):
    card = (exports["vanilla"] / "README.md").read_text()
    record = json.loads((exports["vanilla"] / "config.json").read_text())
    front, body = card.split("\n---\n", 1)
    assert front.splitlines() == ["---", "library_name: gankit", "tags:", "- gankit", "- gan", "- vanilla",
                                  "- unconditional-image-generation",
                                  "pipeline_tag: unconditional-image-generation",
                                  "datasets:", "- ylecun/mnist", "license: mit"]
    assert gankit.get_variant("vanilla").paper in body and "![samples](samples.png)" in body
    assert "- epochs: 1 trained of 1 planned" in body and "- precision: fp32; seed 3" in body
    assert "G's exponential moving average (EMA)" in body
    assert f"- gankit: trained with {gankit.__version__}, exported with {gankit.__version__}" in body
    assert f"- plugin: `vanilla` {record['plugin']['version']} (distribution `gankit`)" in body
    assert ("gankit train vanilla --dataset mnist --epochs 1 --seed 3 --max-images 200 --precision fp32 "
            "--set batch_size=50 --set ema=0.9\n") in body
    fid = record["scores"]["fid"]
    assert f"| fid | {fid:.4g} | {record['scores']['floor']['fid']:.4g} |" in body
    conditional = (exports["cgan"] / "README.md").read_text()
    assert "Not evaluated" in conditional and "- class-conditional-image-generation" in conditional
    assert "- labels: a class per image" in conditional and "G's trained weights" in conditional


def test_the_weights_are_the_ema_ones_where_the_run_kept_them(runs, exports):
    from safetensors.torch import load_file

    stored = load_file(exports["vanilla"] / "model.safetensors")
    averaged = load_run(runs["vanilla"], ema=True).generator.state_dict()
    raw = load_run(runs["vanilla"], ema=False).generator.state_dict()
    assert stored.keys() == averaged.keys()
    assert all(torch.equal(stored[key], averaged[key]) for key in stored)
    assert not all(torch.equal(stored[key], raw[key]) for key in stored)


@pytest.mark.parametrize("variant", ["cgan", "selfcond"])
def test_the_export_draws_the_runs_images_bit_for_bit(runs, exports, variant):
    exported = gankit.load_generator(exports[variant])
    run = load_run(runs[variant])
    assert exported.variant == variant and exported.ema == run.ema and exported.epoch == 1
    assert torch.equal(exported.sample(12, seed=5)[0], run.sample(12, seed=5)[0])
    assert gankit.load_generator(runs[variant]).variant == variant  # a run folder loads too


FRESH = """
import pickle, _pickle, sys, torch, torch.serialization
def refuse(*args, **kwargs):
    raise AssertionError("torch.load or pickle was called on the export")
class Refused:
    def __init__(self, *args, **kwargs):
        refuse()
torch.load = torch.serialization.load = refuse
pickle.load = pickle.loads = _pickle.load = _pickle.loads = refuse
pickle.Unpickler = _pickle.Unpickler = Refused
import gankit
from gankit.testing import invoke
images, _ = gankit.load_generator(sys.argv[1]).sample(8, seed=2)
open(sys.argv[2], "wb").write(images.numpy().tobytes())
result = invoke(["sample", sys.argv[1], "--n", "4", "--seed", "1", "--out", sys.argv[3]])
assert result.exit_code == 0, result.output
result = invoke(["sample", sys.argv[1], "--walk", "4", "--n", "2", "--seed", "1", "--out", sys.argv[4]])
assert result.exit_code == 0, result.output
print("LOADED")
"""


def test_a_fresh_process_loads_it_with_torch_load_and_pickle_refusing(runs, exports, tmp_path):
    fresh = [tmp_path / name for name in ("images.bin", "fresh.png", "fresh-walk.png")]
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(FRESH), exports["vanilla"], *fresh],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "LOADED" in done.stdout, done.stderr[-3000:]
    images, _ = load_run(runs["vanilla"]).sample(8, seed=2)
    assert fresh[0].read_bytes() == images.numpy().tobytes()  # bit for bit: same weights, same z
    for args, out, ours in ((["--n", 4], fresh[1], "run.png"), (["--walk", 4, "--n", 2], fresh[2], "walk.png")):
        result = invoke(["sample", runs["vanilla"], *args, "--seed", 1, "--out", tmp_path / ours])
        assert result.exit_code == 0 and (tmp_path / ours).read_bytes() == out.read_bytes()


def test_sample_writes_beside_an_export_folder(exports):
    result = invoke(["sample", exports["cgan"], "--n", 10, "--seed", 4])
    assert result.exit_code == 0, result.output
    assert (exports["cgan"].parent / "cgan-sample-seed4.png").is_file()
    assert sorted(path.name for path in exports["cgan"].iterdir()) == \
        ["README.md", "config.json", "model.safetensors", "samples.png"]


@pytest.mark.parametrize("name", ["samples.png", "model.safetensors", "new.png"])
def test_sample_never_writes_into_an_export_folder(exports, name):
    before = {path.name: sha256_of(path) for path in exports["cgan"].iterdir()}
    result = invoke(["sample", exports["cgan"], "--n", 4, "--out", exports["cgan"] / name])
    one_line_error(result, "is inside an export folder")
    assert {path.name: sha256_of(path) for path in exports["cgan"].iterdir()} == before


@pytest.mark.skipif(not HAS_ONNX, reason="the onnx extra is not installed (pip install 'gankit[onnx]')")
def test_onnx_export_runs_in_onnxruntime_as_in_torch(runs, tmp_path):
    import onnxruntime

    from gankit.noise import fixed_noise

    result = invoke(["export", runs["cgan"], tmp_path / "onnx", "--onnx"])
    assert result.exit_code == 0 and "max abs difference from torch" in result.output, result.output
    record = json.loads((tmp_path / "onnx" / "config.json").read_text())
    assert record["onnx"]["file"] == "generator.onnx" and record["onnx"]["max_abs_difference"] < 1e-3
    generator = load_run(runs["cgan"]).generator
    z, labels = fixed_noise(generator, 20, seed=9)  # another batch size than the export's check
    session = onnxruntime.InferenceSession(str(tmp_path / "onnx" / "generator.onnx"),
                                           providers=["CPUExecutionProvider"])
    theirs = session.run(None, {"z": z.numpy(), "labels": labels.numpy()})[0]
    with torch.no_grad():
        assert torch.allclose(torch.from_numpy(theirs), generator(z, labels), atol=1e-4)
    assert "generator.onnx" in (tmp_path / "onnx" / "README.md").read_text()


def damage(folder, what):
    if what == "weights":
        data = bytearray((folder / "model.safetensors").read_bytes())
        data[-1] ^= 0xFF
        (folder / "model.safetensors").write_bytes(bytes(data))
    elif what == "header":  # garbage whose checksum config.json then records: safetensors' own check
        (folder / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not a header}")
        record = json.loads((folder / "config.json").read_text())
        record["weights"]["sha256"] = sha256_of(folder / "model.safetensors")
        (folder / "config.json").write_text(json.dumps(record))
    elif what == "json":
        (folder / "config.json").write_text("{not json")
    else:
        record = json.loads((folder / "config.json").read_text())
        record.update(what)
        (folder / "config.json").write_text(json.dumps(record))


@pytest.mark.parametrize("what, message", [
    ("weights", "model.safetensors' is damaged: its sha256 is not the one config.json records"),
    ("header", "model.safetensors' is not a readable safetensors file"),
    ("json", "config.json' is not valid JSON"),
    ({"data": {"name": "mnist"}}, "'data' lacks its name, image_shape or num_classes"),
    ({"format_version": 9}, "is export format 9, newer than this gankit reads (1)"),
    ({"variant": "gone", "qualified_names": {"variant": "gone:gone"},
      "plugin": {"name": "gone", "distribution": "gankit-gone", "version": "1.2"}},
     "holds a 'gone' generator from plugin 'gone', which is not installed here; pip install 'gankit-gone>=1.2'."),
])
def test_a_damaged_export_is_one_line(exports, tmp_path, what, message):
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(exports["vanilla"], folder)
    damage(folder, what)
    one_line_error(invoke(["sample", folder, "--out", tmp_path / "x.png"]), message)
    with pytest.raises(gankit.CheckpointError, match="export|safetensors|installed"):
        gankit.load_generator(folder)


def test_bad_export_targets_are_one_line_and_force_replaces(runs, exports, tmp_path):
    (tmp_path / "empty").mkdir()
    one_line_error(invoke(["export", tmp_path / "empty", tmp_path / "out"]), "has no checkpoints/last.pt")
    one_line_error(invoke(["export", tmp_path / "nothing", tmp_path / "out"]), "does not exist")
    one_line_error(invoke(["export", runs["cgan"], exports["vanilla"]]), "exists and is not empty; pass")
    one_line_error(invoke(["export", runs["cgan"], runs["vanilla"]]), "is a run folder; export into another")
    one_line_error(invoke(["export", exports["cgan"], tmp_path / "out"]), "is an export already")
    (tmp_path / "file").write_text("x")
    one_line_error(invoke(["export", runs["cgan"], tmp_path / "file"]), "is a file; pass a folder")
    one_line_error(invoke(["export", runs["cgan"], tmp_path / "out", "--scores", tmp_path / "file"]),
                   "is not JSON")
    (tmp_path / "other.json").write_text(json.dumps({"fid": 3.0, "variant": "dcgan", "epoch": 1}))
    one_line_error(invoke(["export", runs["cgan"], tmp_path / "out", "--scores", tmp_path / "other.json"]),
                   "--scores were measured on variant 'dcgan', but the run exports variant 'cgan'")
    assert not (tmp_path / "out").exists()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("kept")
    result = invoke(["export", runs["cgan"], tmp_path / "full", "--force"])
    assert result.exit_code == 0 and (tmp_path / "full" / "notes.txt").read_text() == "kept"
    assert gankit.load_generator(tmp_path / "full").variant == "cgan"


class BranchingGenerator(gankit.Generator):
    """A branch on a value computed from z: torch.export (and so ONNX) cannot trace it."""

    def __init__(self):
        super().__init__(latent_dim=4, image_shape=(1, 2, 2))
        self.linear = torch.nn.Linear(4, 4)

    def forward(self, z, labels=None):
        h = self.linear(z)
        if float(h.sum()) > 0:
            h = -h
        return torch.tanh(h).view(-1, 1, 2, 2)


@pytest.mark.skipif(not HAS_ONNX, reason="the onnx extra is not installed (pip install 'gankit[onnx]')")
def test_a_generator_whose_ops_do_not_export_is_refused_in_one_line(tmp_path, capfd):
    from gankit.onnx_export import export_onnx

    with pytest.raises(gankit.GankitError) as refused:
        export_onnx(BranchingGenerator(), tmp_path / "g.onnx")
    message = str(refused.value)
    assert message.startswith("--onnx: this variant's generator does not export to ONNX (")
    assert "data-dependent" in message and "\n" not in message and "\x1b" not in message
    assert not (tmp_path / "g.onnx").exists() and capfd.readouterr().err == ""


def test_onnx_without_its_extra_names_the_extra(monkeypatch, tmp_path):
    from gankit.onnx_export import export_onnx

    monkeypatch.setitem(sys.modules, "onnxscript", None)  # an import of it raises ImportError
    with pytest.raises(gankit.GankitError, match=r"--onnx needs .*onnxscript.*pip install 'gankit\[onnx\]'"):
        export_onnx(BranchingGenerator(), tmp_path / "g.onnx")
