"""The evaluation cache (gankit/evaluate/cache.py): a hit gives exactly a miss's numbers, a changed
key recomputes, a damaged file is rebuilt with a warning, and the cache can be turned off."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from gankit import GankitWarning, get_variant
from gankit.config import build_config
from gankit.evaluate.evaluator import load_evaluator
from gankit.evaluate.reference import build_reference
from gankit.evaluate.score import score_generator
from gankit.host import get_host

N = 60


@pytest.fixture(scope="module")
def evaluator():
    return load_evaluator("mnist")


@pytest.fixture(scope="module")
def generator():
    spec = get_variant("vanilla")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return spec.build(build_config(spec.config_class), get_host().datasets.get("mnist").info).generator


def _reference(evaluator, root, **kwargs):
    kwargs = {"n": N, "cache": True, "extras": ("memorisation",), **kwargs}
    return build_reference(get_host().datasets.get("mnist"), evaluator, kwargs.pop("n"),
                           data_root=root, **kwargs)


def _files(root, kind="reference"):
    return sorted((root / "cache").glob(f"eval-{kind}-*.pt"))


def _no_features(monkeypatch, evaluator):
    def refuse(*args, **kwargs):
        raise AssertionError("features were computed although the cache holds them")
    monkeypatch.setattr(evaluator, "features", refuse)


def test_a_hit_scores_exactly_what_a_miss_scores(evaluator, generator, tmp_path, monkeypatch):
    miss = _reference(evaluator, tmp_path)
    first = score_generator(generator, evaluator, miss)
    assert len(_files(tmp_path)) == 1 and len(_files(tmp_path, "training")) == 1

    with monkeypatch.context() as patched:
        _no_features(patched, evaluator)
        hit = _reference(evaluator, tmp_path)
        assert torch.equal(hit.reference.embeddings, miss.reference.embeddings)
        assert torch.equal(hit.floor_set.logits, miss.floor_set.logits)
        assert hit.floor() == miss.floor()
        training = hit.training_set()  # the train split's features come from the cache too
        assert torch.equal(training.embeddings, miss.training_set().embeddings)
        assert training.threshold() == miss.training_set().threshold()
    second = score_generator(generator, evaluator, hit)
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)


def test_a_changed_key_recomputes(evaluator, tmp_path):
    _reference(evaluator, tmp_path).floor()
    _reference(evaluator, tmp_path, seed=1).floor()  # another seed: other real images
    _reference(evaluator, tmp_path, n=N + 10).floor()
    assert len(_files(tmp_path)) == 3
    # A file renamed to another key's name is not trusted: the key stored inside is checked.
    first, second = _files(tmp_path)[:2]
    second.write_bytes(first.read_bytes())
    with pytest.warns(GankitWarning, match="stored key does not match"):  # whichever two they are
        for options in ({}, {"seed": 1}, {"n": N + 10}):
            _reference(evaluator, tmp_path, **options).floor()


@pytest.mark.parametrize("damage", ["truncate", "garbage", "wrong shape"])
def test_a_damaged_file_is_rebuilt_with_a_warning(evaluator, tmp_path, damage):
    miss = _reference(evaluator, tmp_path)
    floor = miss.floor()
    path = _files(tmp_path)[0]
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:2000])
    elif damage == "garbage":
        path.write_bytes(b"not a torch file")
    else:
        contents = torch.load(path, weights_only=True)
        contents["reference"]["embeddings"] = contents["reference"]["embeddings"][:-1]
        torch.save(contents, path)
    with pytest.warns(GankitWarning, match="damaged.*rebuilding"):
        rebuilt = _reference(evaluator, tmp_path)
    assert rebuilt.floor() == floor
    assert torch.load(path, weights_only=True)["reference"]["embeddings"].shape[0] == N  # written anew


def test_the_cache_can_be_turned_off(evaluator, generator, tmp_path, monkeypatch):
    on = score_generator(generator, evaluator, _reference(evaluator, tmp_path / "on"))
    off = score_generator(generator, evaluator, _reference(evaluator, tmp_path / "off", cache=False))
    monkeypatch.setenv("GANKIT_NO_EVAL_CACHE", "1")
    flag = score_generator(generator, evaluator, _reference(evaluator, tmp_path / "flag"))
    assert not (tmp_path / "off" / "cache").exists() and not (tmp_path / "flag" / "cache").exists()
    def numbers(result):  # the notices name each data root
        return json.dumps({k: v for k, v in result.items() if k not in ("data_notice", "real_split")},
                          sort_keys=True)

    assert numbers(on) == numbers(off) == numbers(flag)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from gankit.host import PluginHost
    from gankit.train import RunOptions, train

    host = PluginHost()
    host.load_builtins()
    host.load_entry_points()
    run = tmp_path_factory.mktemp("cache-run") / "run"
    train("vanilla", {"epochs": 1, "batch_size": 50}, RunOptions(
        out=run, progress=False, max_images=100, device="cpu", data_root=run.parent / "data"), host=host)
    return run, host


def test_evaluate_no_cache_and_a_damaged_file_on_the_command_line(tiny_run, tmp_path):
    from gankit.cli import build_app

    run, host = tiny_run
    root = tmp_path / "data"
    args = ["evaluate", str(run), "--n", str(N), "--json", "--data-root", str(root)]
    off = CliRunner().invoke(build_app(host), [*args, "--no-cache", "--precision", "bf16"])
    assert off.exit_code == 0, off.output
    assert not _files(root)
    first = CliRunner().invoke(build_app(host), args)
    assert first.exit_code == 0 and len(_files(root)) == 1
    _files(root)[0].write_bytes(b"damaged")
    again = CliRunner().invoke(build_app(host), args)
    assert again.exit_code == 0, again.output
    assert "warning: The evaluation cache file" in again.output and "rebuilding it" in again.output
    scores = [json.loads(result.stdout) for result in (first, again)]
    assert scores[0] == scores[1]
    assert json.loads(off.stdout)["floor"] == scores[0]["floor"]


def test_sample_precision_draws_the_same_images_within_bf16_rounding(tiny_run, tmp_path):
    from gankit.cli import build_app

    run, host = tiny_run
    drawn = {}
    for precision in ("fp32", "bf16"):
        out = tmp_path / f"{precision}.pt"
        result = CliRunner().invoke(build_app(host), ["sample", str(run), "--n", "8", "--out", str(out),
                                                      "--precision", precision])
        assert result.exit_code == 0, result.output
        drawn[precision] = torch.load(out, weights_only=True)
    assert drawn["bf16"].dtype == torch.float32
    difference = (drawn["bf16"] - drawn["fp32"]).abs().max()
    assert 0 < difference < 0.1  # autocast ran (bf16 rounds), and drew the same images
    refused = CliRunner().invoke(build_app(host), ["sample", str(run), "--precision", "fp16",
                                                   "--out", str(tmp_path / "x.pt")])
    assert refused.exit_code != 0 and "fp16 needs a CUDA GPU" in refused.output


def test_a_feature_set_round_trips_with_its_recognition_confidence():
    from gankit.evaluate.cache import features_from, features_record
    from gankit.evaluate.evaluator import FeatureSet

    stored = FeatureSet(torch.randn(5, 8), torch.randn(5, 3), None, 0.0)  # Inception's: no threshold
    back = features_from(features_record(stored), 5, labelled=False)
    assert torch.equal(back.embeddings, stored.embeddings) and back.recognised_confidence == 0.0
    with pytest.raises(ValueError, match="labels"):
        features_from(features_record(stored), 5, labelled=True)



class _Counter:
    def __init__(self, function):
        self.function, self.calls = function, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.function(*args, **kwargs)


def _calls_to_score(generator, evaluator, reference, monkeypatch):
    """How often scoring a run computes k-NN radii, kernel sums and nearest-neighbour searches."""
    from gankit.evaluate import memorisation, metrics

    counters = {"radii": _Counter(metrics._kth_neighbour_radii), "kernel sums": _Counter(metrics._kernel_sums),
                "nearest": _Counter(memorisation.nearest)}
    with monkeypatch.context() as patched:
        patched.setattr(metrics, "_kth_neighbour_radii", counters["radii"])
        patched.setattr(metrics, "_kernel_sums", counters["kernel sums"])
        patched.setattr(memorisation, "nearest", counters["nearest"])
        scores = score_generator(generator, evaluator, reference)
    return scores, {name: counter.calls for name, counter in counters.items()}


def test_what_the_real_set_alone_gives_is_computed_once_and_cached(evaluator, generator, tmp_path,
                                                                   monkeypatch):
    miss = _reference(evaluator, tmp_path)
    first, cold = _calls_to_score(generator, evaluator, miss, monkeypatch)
    miss.floor()
    # At n = 60 KID's subsets are the whole sets, so one. The first scoring also scores the floor:
    # radii of the real set, the floor set and the run's; kernel sums within-real once, then
    # within-fake and cross for the floor set and for the run.
    assert cold["radii"] == 3 and cold["kernel sums"] == 5
    assert {key.split("/")[0] for key in miss.reference.memo} == {"kid_within", "knn_radii"}
    _, warm = _calls_to_score(generator, evaluator, miss, monkeypatch)  # the same process: the memo
    assert warm["radii"] == 1 and warm["kernel sums"] == 2 and warm["nearest"] <= cold["nearest"]

    hit = _reference(evaluator, tmp_path)  # another process: the cache file
    assert hit.reference.memo.keys() == miss.reference.memo.keys()
    assert all(torch.equal(hit.reference.memo[key], value) for key, value in miss.reference.memo.items())
    second, from_file = _calls_to_score(generator, evaluator, hit, monkeypatch)
    assert from_file == warm
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)


def test_a_forged_memo_in_the_cache_is_rebuilt(evaluator, tmp_path):
    _reference(evaluator, tmp_path).floor()
    path = _files(tmp_path)[0]
    contents = torch.load(path, weights_only=True)
    key = next(name for name in contents["reference"]["memo"] if name.startswith("knn_radii"))
    contents["reference"]["memo"][key] = -contents["reference"]["memo"][key]  # and the checksum kept
    from gankit.evaluate.cache import payload_digest
    payload = {name: value for name, value in contents.items() if name not in ("key", "checksum")}
    contents["checksum"] = payload_digest(payload)
    torch.save(contents, path)
    with pytest.warns(GankitWarning, match="damaged.*radius|damaged.*distance"):
        rebuilt = _reference(evaluator, tmp_path)
    assert rebuilt.reference.memo == {}  # computed anew when scored


def test_channels_last_features_match_the_contiguous_network(evaluator):
    images = torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8)
    assert evaluator.net.body[0].weight.is_contiguous(memory_format=torch.channels_last)
    fast = evaluator.features(images)
    contiguous = type(evaluator)(evaluator.net.to(memory_format=torch.contiguous_format), evaluator.dataset,
                                 evaluator.sha256, evaluator.path, evaluator.meta, evaluator.other_set)
    try:
        slow = contiguous.features(images)
    finally:
        evaluator.net.to(memory_format=torch.channels_last)
    assert torch.allclose(fast.embeddings, slow.embeddings, rtol=1e-5, atol=1e-5)
    assert torch.allclose(fast.logits, slow.logits, rtol=1e-5, atol=1e-5)


def test_a_training_entry_with_held_out_yardsticks_is_saved_and_read_back(evaluator, tmp_path):
    """The yardsticks are 0-dim medians: storing them once crashed every first evaluation that had
    held-out images (a 0-dim tensor cannot be viewed as bytes for the checksum)."""
    from gankit.evaluate.cache import EvalCache, fingerprint
    from gankit.evaluate.memorisation import TrainingSet
    from gankit.evaluate.reference import save_training, training_set

    assert fingerprint(torch.tensor(1.5)) != fingerprint(torch.tensor([1.5]))  # the shape counts
    images = torch.randint(0, 256, (40, 1, 28, 28), dtype=torch.uint8)
    training = TrainingSet(images, evaluator.features(images).embeddings)
    heldout = torch.randint(0, 256, (8, 1, 28, 28), dtype=torch.uint8)
    from gankit.evaluate.search import _flat
    measured = training.yardstick("pixel", _flat(heldout), _flat(images))
    entry = EvalCache(tmp_path, "training", {"test": 1})
    save_training(entry, training)
    again = training_set(images, evaluator, EvalCache(tmp_path, "training", {"test": 1}))
    assert again.yardsticks.keys() == training.yardsticks.keys()
    assert torch.equal(next(iter(again.yardsticks.values())), measured)


@pytest.fixture
def bound_first(monkeypatch):
    """The pixel search as a CPU without VNNI runs it, the bound first (whatever this CPU has), and
    the pools' bounds counted as they are found."""
    from gankit.evaluate import level_products, search
    from gankit.evaluate.pixel_bound import PixelBound

    monkeypatch.setattr(level_products, "_int8_products_faster", lambda: False)
    monkeypatch.setattr(search, "PRUNE_FROM", 0)
    found, of = [], PixelBound.of.__func__
    monkeypatch.setattr(PixelBound, "of", classmethod(lambda cls, levels: found.append(len(levels))
                                                      or of(cls, levels)))
    return found


def test_the_pixel_bound_is_found_once_and_kept_beside_the_training_features(evaluator, generator, tmp_path,
                                                                             bound_first):
    first = score_generator(generator, evaluator, _reference(evaluator, tmp_path))
    assert len(bound_first) == 1  # the threshold, the yardsticks and the run's search share it
    stored = torch.load(_files(tmp_path, "training")[0], weights_only=True)
    assert set(stored["pixel_bound"]) == {"mean", "basis", "pool_side"}
    second = score_generator(generator, evaluator, _reference(evaluator, tmp_path))
    assert len(bound_first) == 1  # read back, not found again
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)


def test_an_entry_written_without_the_bound_gains_it(evaluator, generator, tmp_path, bound_first):
    """An entry from a CPU whose int8 product is the faster (it takes no bound), or from before the
    bound was kept, is used as it is, and stored again with the bound once one is found."""
    first = score_generator(generator, evaluator, _reference(evaluator, tmp_path))
    path = _files(tmp_path, "training")[0]
    payload = {key: value for key, value in torch.load(path, weights_only=True).items()
               if key not in ("key", "checksum", "pixel_bound")}
    reference = _reference(evaluator, tmp_path)
    reference.training_cache(reference.load_training()).save(payload)
    second = score_generator(generator, evaluator, reference)
    assert len(bound_first) == 2 and "pixel_bound" in torch.load(path, weights_only=True)
    third = score_generator(generator, evaluator, _reference(evaluator, tmp_path))
    assert len(bound_first) == 2
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True) \
        == json.dumps(third, sort_keys=True)


@pytest.mark.parametrize("damage", ["basis not orthonormal", "pool side short"])
def test_a_stored_bound_that_is_no_bound_for_the_pool_is_rebuilt(evaluator, tmp_path, damage, bound_first):
    """A stored bound that would leave out true nearest images is never used, even one whose file
    checksum is right (written by other code): the entry is rebuilt with a warning."""
    from gankit.data import load_bundled_mnist
    from gankit.evaluate.cache import EvalCache
    from gankit.evaluate.reference import training_set

    images = load_bundled_mnist()[0][:600]
    entry = EvalCache(tmp_path, "training", {"test": damage})
    training = training_set(images, evaluator, entry)  # its threshold finds the bound, then it is stored
    payload = {key: value for key, value in torch.load(entry.path, weights_only=True).items()
               if key not in ("key", "checksum")}
    if damage == "basis not orthonormal":
        payload["pixel_bound"]["basis"] = payload["pixel_bound"]["basis"] * 2
    else:
        payload["pixel_bound"]["pool_side"] = payload["pixel_bound"]["pool_side"][1:]
    entry.save(payload)
    with pytest.warns(GankitWarning, match="pixel bound"):
        again = training_set(images, evaluator, entry)
    assert again.pixel_bound is None and len(bound_first) == 2  # found anew, with the threshold
    assert again.threshold() == training.threshold()
