"""The memorisation check: a generator that returns training images is flagged; real images it never
saw are not."""

from __future__ import annotations

import pytest
import torch

from gankit.data import load_bundled_mnist
from gankit.evaluate.evaluator import load_evaluator
from gankit.evaluate import level_products
from gankit.evaluate import search as search_module
from gankit.evaluate.level_products import FLOAT32_DEPTH
from gankit.evaluate.memorisation import (NEAR_COPY_QUANTILE, TrainingSet, memorisation, nearest,
                                           nearest_pixels)

N = 400


@pytest.fixture(params=["int8", "float32", "bounded"])
def products(request, monkeypatch):
    """Each exact way of the pixel search, whichever this CPU would pick: the int8 product (VNNI),
    the float32 one (AVX2 alone: see ``_int8_products_faster``), or, with float32 and a pool of any
    size, the principal directions' bound first (gankit/evaluate/pixel_bound.py)."""
    monkeypatch.setattr(level_products, "_int8_products_faster", lambda: request.param == "int8")
    monkeypatch.setattr(search_module, "PRUNE_FROM", 0 if request.param == "bounded" else 2 ** 62)
    return request.param


@pytest.fixture(scope="module")
def split():
    images, _ = load_bundled_mnist()
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
    return images[order[:4000]], images[order[4000:]]  # "training" digits, unseen digits


@pytest.fixture(scope="module")
def evaluator():
    return load_evaluator("mnist")


@pytest.fixture(scope="module")
def training(split, evaluator):
    train, _ = split
    return TrainingSet(train, evaluator.features(train).embeddings)


def _score(images, training, split, evaluator):
    _, unseen = split
    return memorisation(images, training, fake_embeddings=evaluator.features(images).embeddings,
                        heldout_images=unseen, heldout_embeddings=evaluator.features(unseen).embeddings)


def test_nearest_finds_exact_copies_and_can_skip_itself():
    points = torch.randn(50, 8, generator=torch.Generator().manual_seed(0))
    distance, index = nearest(points[10:20], points)
    assert torch.equal(index, torch.arange(10, 20)) and distance.abs().max() < 1e-2  # cdist goes through a matmul
    distance, index = nearest(points, points, exclude_self=True)
    assert not torch.equal(index, torch.arange(50)) and (distance > 0).all()


def _brute_force(queries, pool, own=None):
    """Float64 distances to every pool image: what the exact search must agree with."""
    rows = queries.flatten(1).double()
    rows = rows / 127.5 - 1 if queries.dtype == torch.uint8 else rows
    # Differences, not cdist's matrix-product formula: that leaves 5e-7 at a copy's distance 0 on
    # some CPUs (MKL's float64 product on an Intel Xeon), where the exact search finds 0.
    distances = torch.cdist(rows, pool.flatten(1).double() / 127.5 - 1,
                            compute_mode="donot_use_mm_for_euclid_dist")
    if own is not None:
        distances[torch.arange(len(rows)), own] = float("inf")
    return distances.min(dim=1)


@pytest.mark.parametrize("kind", ["uint8", "between levels", "anywhere in [-1, 1]", "too many candidates"])
def test_the_pixel_search_is_exact(split, kind, products, monkeypatch):
    train, unseen = split
    pool = train[:1500]
    generator = torch.Generator().manual_seed(2)
    queries = {
        "uint8": unseen[:300],
        "between levels": (unseen[:300].float() / 127.5 - 1
                           + 0.01 * torch.randn(300, 1, 28, 28, generator=generator)).clamp(-1, 1),
        "anywhere in [-1, 1]": torch.rand(50, 1, 28, 28, generator=generator) * 2 - 1,
        # a row leaving more than CANDIDATES images (here: any) is checked against the whole pool
        "too many candidates": torch.rand(5, 1, 28, 28, generator=generator) * 2 - 1,
    }[kind]
    if kind == "too many candidates":
        monkeypatch.setattr(search_module, "CANDIDATES", 0)
    distance, index = nearest_pixels(queries, pool)
    expected_distance, expected_index = _brute_force(queries, pool)
    assert torch.equal(index, expected_index)
    assert torch.allclose(distance.double(), expected_distance, rtol=1e-6, atol=0)


def test_the_pixel_search_leaves_each_image_out_and_breaks_ties_by_the_lowest_index(split, products):
    train, _ = split
    pool = torch.cat([train[:400], train[:10]])  # rows 400..409 copy rows 0..9
    own = torch.arange(0, 410, 3)
    distance, index = nearest_pixels(pool[own], pool, own=own)
    expected_distance, expected_index = _brute_force(pool[own], pool, own)
    assert torch.equal(index, expected_index)
    assert torch.equal(distance.double(), expected_distance.float().double())
    copies = own < 10  # their nearest other image is the copy, at distance 0
    assert torch.equal(index[copies], own[copies] + 400) and (distance[copies] == 0).all()
    distance, index = nearest_pixels(pool[405:406].float() / 127.5 - 1, pool)  # ties: rows 5 and 405
    assert index.item() == 5 and distance.item() < 1e-6  # float32 against the levels' float64 values


def test_a_generator_that_returns_training_images_is_flagged(split, training, evaluator):
    train, _ = split
    copies = train[torch.randperm(len(train), generator=torch.Generator().manual_seed(1))[:N]]
    scores = _score(copies, training, split, evaluator)
    assert scores["memorised"] and scores["near_copies"] == 1.0
    assert scores["copy_ratio_pixel"] < 0.05 and scores["copy_ratio_feature"] < 0.05
    closest = scores["closest"]
    assert closest["pixel_distance"][0] < 1e-2
    assert torch.equal(train[closest["train_index"][0]], copies[closest["fake_index"][0]])


def test_slightly_disturbed_copies_are_still_near_copies(split, training, evaluator):
    train, _ = split
    copies = train[:N].float().div(127.5).sub(1.0)
    noisy = (copies + 0.02 * torch.randn(copies.shape, generator=torch.Generator().manual_seed(2))).clamp(-1, 1)
    scores = _score(noisy, training, split, evaluator)
    assert scores["memorised"] and scores["near_copies"] > 0.9


def test_unseen_real_images_are_not_flagged(split, training, evaluator):
    _, unseen = split
    scores = memorisation(unseen[:N], training)
    # The threshold is what 1% of training digits get from their nearest other training digit.
    assert not scores["memorised"] and scores["near_copies"] < 5 * NEAR_COPY_QUANTILE
    assert "copy_ratio_pixel" not in scores


def test_a_novel_generator_has_a_copy_ratio_near_one(split, training, evaluator):
    _, unseen = split
    novel, heldout = unseen[:N], unseen[N:]  # real digits the "generator" never trained on
    scores = memorisation(novel, training, fake_embeddings=evaluator.features(novel).embeddings,
                          heldout_images=heldout, heldout_embeddings=evaluator.features(heldout).embeddings)
    assert 0.85 < scores["copy_ratio_pixel"] < 1.15
    assert 0.85 < scores["copy_ratio_feature"] < 1.15


class CopyingGenerator(torch.nn.Module):
    """A 'generator' that returns training images: z picks which one."""

    num_classes = None
    image_shape = (1, 28, 28)

    def __init__(self, images: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("images", images.float().div(127.5).sub(1.0))
        self.unused = torch.nn.Parameter(torch.zeros(()))  # scoring finds the device by a parameter

    def sample_latent(self, n, generator=None):
        return torch.randint(0, len(self.images), (n, 1), generator=generator).float()

    def forward(self, z, labels=None):
        return self.images[z[:, 0].long()]


def test_scoring_a_copying_generator_flags_it_and_names_its_closest_pairs(evaluator, tmp_path):
    from gankit.evaluate.reference import build_reference
    from gankit.evaluate.score import score_generator
    from gankit.host import get_host

    dataset = get_host().datasets.get("mnist")  # the bundled digits: train and test split alike
    reference = build_reference(dataset, evaluator, N, data_root=tmp_path, extras=("memorisation",))
    training = reference.training_set().images
    copier = CopyingGenerator(training)
    result = score_generator(copier, evaluator, reference)
    assert result["memorised"] and result["near_copies"] == 1.0
    assert "near_copies" not in result["floor"]  # real images are not scored for copying
    pairs = reference.closest_pairs(copier, result["closest"])
    fake, nearest_train = pairs.chunk(2)
    assert fake.shape == (10, 1, 28, 28) and (fake - nearest_train).abs().max() < 1e-5


def test_memorisation_is_only_scored_when_asked_for(evaluator, tmp_path):
    from gankit.evaluate.reference import build_reference
    from gankit.host import get_host

    reference = build_reference(get_host().datasets.get("mnist"), evaluator, 50, data_root=tmp_path)
    fake = torch.zeros(50, 1, 28, 28) - 1
    assert reference.extra_scores(fake, evaluator.features(fake)) == {}


def test_the_pixel_search_is_exact_without_the_int8_kernel(split, monkeypatch):
    """A torch build without ``torch._int_mm`` on this device takes float32 products, exact too."""
    def missing(*args, **kwargs):
        raise RuntimeError("no int8 kernel here")
    train, unseen = split
    expected = nearest_pixels(unseen[:100], train[:800])
    monkeypatch.setattr(torch, "_int_mm", missing)
    probe = level_products._int8_products_faster
    probe.cache_clear()
    try:
        assert probe() is False
        found = nearest_pixels(unseen[:100], train[:800])
    finally:
        probe.cache_clear()  # the next test times the real kernel again
    assert all(torch.equal(got, want) for got, want in zip(found, expected))


@pytest.mark.parametrize("timings, chosen", [((1.0, 2.0), True), ((2.0, 1.0), False)])
def test_the_pixel_search_takes_the_faster_product_of_this_cpu(timings, chosen, monkeypatch):
    """int8 where it outruns float32 (VNNI), float32 where it does not (AVX2 alone: 23x slower)."""
    times = iter(timings)  # int8's, then float32's
    monkeypatch.setattr(level_products, "_seconds", lambda work: next(times))
    probe = level_products._int8_products_faster
    probe.cache_clear()
    try:
        assert probe() is chosen
    finally:
        probe.cache_clear()


def test_float_images_take_their_levels_and_rounding_in_pieces_as_in_one():
    """The levels and rounding of float images, taken ``LEVELS_AT_ONCE`` rows at a time, are those of
    the whole batch at once, row for row (the last piece short), bit for bit."""
    images = torch.rand(2 * level_products.LEVELS_AT_ONCE + 37, 1, 28, 28,
                        generator=torch.Generator().manual_seed(9)) * 2 - 1
    images[3] = torch.round((images[3] + 1) * 127.5) / 127.5 - 1  # on the levels: no rounding
    flat = images.flatten(1)
    whole = ((flat.float() + 1) * (1 / level_products.LEVEL)).round_().clamp_(0, 255)
    expected = (flat.double() - (whole.double() * level_products.LEVEL - 1)).norm(dim=1)
    levels, rounding = level_products._levels(images)
    assert levels.dtype == torch.int8 and torch.equal(levels, whole.sub(128).to(torch.int8))
    assert torch.equal(rounding, expected) and rounding[3] < 1e-6 < rounding[4]


def test_the_float32_product_of_levels_is_exact_to_its_depth_limit():
    generator = torch.Generator().manual_seed(4)
    rows, pool = (torch.randint(-128, 128, (size, 3 * FLOAT32_DEPTH + 5), dtype=torch.int8, generator=generator)
                  for size in (20, 30))
    rows[0], pool[0], pool[1] = -128, -128, 127  # 128 x 128 per term: 2^24 per slice, float32's limit
    # An odd sum past 2^24, which float32 cannot hold: exact only if no slice is deeper than 1,024.
    pool[2], pool[2, :1100], rows[0, 1100], pool[2, 1100] = 0, -128, 1, 1
    got = level_products._float32_product(rows, pool.float())
    assert got.dtype == torch.int32 and torch.equal(got.long(), rows.long() @ pool.long().T)
    assert got[0, 2] == 1100 * 128 * 128 + 1


@pytest.mark.parametrize("prune_from", [2 ** 62, 0], ids=["full product", "bound first"])
def test_the_float32_product_runs_in_full_float32_whatever_the_user_set(split, prune_from, monkeypatch):
    """``torch.set_float32_matmul_precision("medium")`` lets oneDNN take bf16 for a CPU float32
    product: the search sets full precision for its own products (the bound's too, whose margin is
    float32's) and gives the setting back."""
    monkeypatch.setattr(search_module, "PRUNE_FROM", prune_from)
    matmul = torch.backends.mkldnn.matmul
    seen, mm = [], torch.mm
    monkeypatch.setattr(torch, "mm", lambda *args, **kwargs: seen.append(matmul.fp32_precision)
                        or mm(*args, **kwargs))
    monkeypatch.setattr(level_products, "_int8_products_faster", lambda: False)
    train, unseen = split
    before = matmul.fp32_precision
    matmul.fp32_precision = "bf16"
    try:
        distance, index = nearest_pixels(unseen[:50], train[:300])
        assert matmul.fp32_precision == "bf16"
    finally:
        matmul.fp32_precision = before
    assert seen and set(seen) == {"ieee"}
    expected_distance, expected_index = _brute_force(unseen[:50], train[:300])
    assert torch.equal(index, expected_index)


@pytest.mark.parametrize("shape", [(1, 200, 200), (3, 128, 128)])  # int32 to its limit; then int64
def test_the_pixel_search_is_exact_for_large_images(shape, products):
    generator = torch.Generator().manual_seed(3)
    pool = torch.randint(0, 256, (30, *shape), dtype=torch.uint8, generator=generator)
    pool[7] = 255  # the brightest image: the largest sums the integer products reach
    queries = torch.cat([pool[7:8].float() / 127.5 - 1 - 0.003,
                         torch.rand(5, *shape, generator=generator) * 2 - 1])
    distance, index = nearest_pixels(queries, pool)
    expected_distance, expected_index = _brute_force(queries, pool)
    assert torch.equal(index, expected_index) and index[0] == 7
    assert torch.allclose(distance.double(), expected_distance, rtol=1e-6, atol=0)


@pytest.mark.parametrize("extras", [("memorisation",), ()])
def test_the_train_split_is_read_once_per_reference_and_kept_only_for_extras(evaluator, tmp_path, extras):
    """The draw (the bundled test split alone cannot hold 2 x 3,000) and memorisation both read
    the train split: one read serves both, and without an extra that needs it, none is held."""
    import dataclasses
    import gc
    import weakref

    from gankit.evaluate.reference import build_reference
    from gankit.host import get_host

    dataset = get_host().datasets.get("mnist")
    reads, held = [], []

    def counting(request):
        data = dataset.load(request)
        if request.split == "train":
            reads.append(1)
            held.append(weakref.ref(data))
        return data

    counted = dataclasses.replace(dataset, load=counting)
    reference = build_reference(counted, evaluator, 3000, data_root=tmp_path, extras=extras)
    if extras:
        assert reference.training_set() is not None and len(reads) == 1
    else:
        gc.collect()
        assert len(reads) == 1 and held[0]() is None  # not kept alive by the reference


def test_the_bound_search_takes_the_full_product_for_rows_it_leaves_too_many_images(split, monkeypatch):
    """Noise images are about as far from every training image: the bound keeps most of them, so
    such rows take the full product, and the answer is the same."""
    train, unseen = split
    generator = torch.Generator().manual_seed(5)
    queries = torch.cat([torch.rand(40, 1, 28, 28, generator=generator) * 2 - 1, unseen[:60].float() / 127.5 - 1])
    monkeypatch.setattr(level_products, "_int8_products_faster", lambda: False)
    monkeypatch.setattr(search_module, "PRUNE_FROM", 0)
    monkeypatch.setattr(search_module, "MAX_PAIRS", 30)
    dense = []
    bounded = search_module._Search.bounded
    monkeypatch.setattr(search_module._Search, "bounded",
                        lambda *args: (found := bounded(*args)) and dense.append(found[2]) or found)
    distance, index = nearest_pixels(queries, train[:2000])
    assert dense and dense[0][:40].all() and not dense[0][40:].all()
    expected_distance, expected_index = _brute_force(queries, train[:2000])
    assert torch.equal(index, expected_index)
    assert torch.allclose(distance.double(), expected_distance, rtol=1e-6, atol=0)


def test_the_bound_is_below_every_distance(split):
    """||p_a - p_b||^2 + (rho_a - rho_b)^2 <= ||a - b||^2, here by float64 against the levels' own
    distances, for real digits against real digits and noise."""
    from gankit.evaluate.pixel_bound import MARGIN, PixelBound

    train, unseen = split
    pool = search_module._levels(train[:1000])[0]
    bound = PixelBound.of(pool)
    generator = torch.Generator().manual_seed(6)
    rows = torch.cat([search_module._levels(unseen[:50])[0],
                      torch.randint(-128, 128, (20, 784), dtype=torch.int8, generator=generator)])
    lower, row_m = bound.lower(rows)
    pool_m = bound.pool_side[:, -1].double() / (1 - MARGIN)
    bounds = lower.double() + row_m[:, None] + MARGIN * pool_m[None]
    squared = torch.cdist(rows.double(), pool.double(), compute_mode="donot_use_mm_for_euclid_dist").pow(2)
    assert (bounds <= squared + MARGIN * (row_m[:, None] + pool_m[None])).all()
    assert (bounds > 0.5 * squared).double().mean() > 0.5  # and it is a useful bound, not zero


def _flat_world(seed):
    """Images that vary only in a 10 x 10 patch: the bound's 128 directions hold all of it, so the
    bound is tight (what P leaves is 0) and only its reach keeps the images a row needs. Each base
    image comes in 20 near copies a few levels apart, so float rows between levels have several
    images within reach, and their true nearest is often not their levels' nearest."""
    generator = torch.Generator().manual_seed(seed)
    base = torch.zeros(100, 1, 28, 28, dtype=torch.uint8)
    # Levels near one grey (120-136): the bound's margin, 1e-4 of the images' squared distances from
    # the mean, stays a few levels^2, far below what the rounding's reach adds.
    base[:, :, 9:19, 9:19] = torch.randint(120, 137, (100, 1, 10, 10), dtype=torch.uint8, generator=generator)
    pool = base.repeat(20, 1, 1, 1).short()
    # each copy two levels off in 4 of the patch's pixels
    changed = torch.zeros(2000, 100, dtype=torch.bool)
    changed[torch.arange(2000)[:, None], torch.rand(2000, 100, generator=generator).argsort(dim=1)[:, :4]] = True
    steps = torch.randint(0, 2, (2000, 100), generator=generator).short() * 4 - 2
    pool[:, :, 9:19, 9:19] += (changed.short() * steps).view(2000, 1, 10, 10)
    pool = pool.clamp(0, 255).to(torch.uint8)
    # Float rows halfway between two copies of one base image, nudged: their levels' nearest is
    # often not their true nearest.
    chosen = torch.randint(0, 2000, (200,), generator=generator)
    other = chosen % 100 + 100 * torch.randint(0, 20, (200,), generator=generator)
    noise = torch.zeros(200, 1, 28, 28)
    noise[:, :, 9:19, 9:19] = (torch.rand(200, 1, 10, 10, generator=generator) - 0.5) * 0.6
    floats = (((pool[chosen].float() + pool[other].float()) / 2 + noise).clamp(0, 255) / 127.5 - 1)
    return pool, floats, pool[chosen.flip(0)]


@pytest.mark.parametrize("seed", [0, 1])
def test_the_bound_search_is_exact_where_the_bound_is_tight(seed, monkeypatch):
    pool, floats, copies = _flat_world(seed)
    monkeypatch.setattr(level_products, "_int8_products_faster", lambda: False)
    monkeypatch.setattr(search_module, "PRUNE_FROM", 0)
    distance, index = nearest_pixels(floats, pool)
    expected_distance, expected_index = _brute_force(floats, pool)
    assert torch.equal(index, expected_index)
    assert torch.allclose(distance.double(), expected_distance, rtol=1e-6, atol=0)
    # uint8 rows: integer distances, whose ties (near copies have many) go to the lowest index; a
    # float64 brute force breaks them by its own rounding of x / 127.5 - 1, so the check is in integers.
    own = torch.arange(0, 2000, 7)
    for queries, skip in ((copies, None), (pool[own], own)):
        a, b = queries.flatten(1).long(), pool.flatten(1).long()
        squared = a.pow(2).sum(dim=1)[:, None] + b.pow(2).sum(dim=1)[None] - 2 * a @ b.T
        if skip is not None:
            squared[torch.arange(len(skip)), skip] = 2 ** 62
        least, expected_index = squared.min(dim=1)  # the first of equal minima
        distance, index = nearest_pixels(queries, pool, own=skip)
        assert torch.equal(index, expected_index)
        assert torch.equal(distance, (least.double().sqrt() / 127.5).float())


def test_the_span_minima_hold_each_rows_least_entry_in_each_span():
    lower = torch.rand(6, 103, generator=torch.Generator().manual_seed(7))
    spans = search_module._span_minima(lower, 4)
    assert spans.shape == (6, 5)  # 4 spans of 25 columns, and one of the 3 left over
    for start, column in zip(range(0, 103, 25), spans.T):
        assert torch.equal(column, lower[:, start:start + 25].argmin(dim=1) + start)
    assert torch.equal(lower.gather(1, spans).amin(dim=1), lower.amin(dim=1))


def test_a_float_image_finds_a_nearest_its_levels_put_second(products):
    """Its levels are 2 levels from A and sqrt(10) from B, but the image itself is nearer B: only a
    search that reaches ``min + 2r`` past its levels' nearest (r: its rounding) finds B. Without the
    2r every way of the search answers A (the bound's too: the pool's other images lie evenly about
    grey, so the bound is tight and its margin, 1e-4 of the squared norms about the pool's mean, is
    far below a level^2 here)."""
    grey = torch.full((1, 28, 28), 128, dtype=torch.uint8)
    a, b = grey.clone(), grey.clone()
    a.view(-1)[:4] += 1
    b.view(-1)[100:110] += 1
    generator = torch.Generator().manual_seed(8)
    away = torch.randint(20, 40, (15, 1, 28, 28), dtype=torch.uint8, generator=generator)
    others = torch.cat([grey + away, grey - away])
    pool = torch.cat([others[:13], a[None], others[13:], b[None]])  # A at 13, B at 31
    query = grey.float() / 127.5 - 1
    query.view(-1)[100:110] += 0.49 * 2 / 255  # just short of B's level in each of B's 10 pixels
    distance, index = nearest_pixels(query[None], pool)
    expected_distance, expected_index = _brute_force(query[None], pool)
    assert expected_index.item() == 31 and index.item() == 31
    assert torch.allclose(distance.double(), expected_distance, rtol=1e-6, atol=0)
