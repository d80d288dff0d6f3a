"""The lifecycle check: two real training steps through the engine, a checkpoint round trip,
loading the run back and sampling from it. Also :func:`fake_dataset`, synthetic data shaped like a
real dataset, for plugin tests that train without reading files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from gankit.host import PluginHost
from gankit.registry import DatasetSpec, VariantSpec
from gankit.testing._common import BATCH, SEED, check_images, fail, labels_for


def fake_dataset(like: DatasetSpec | None = None, *, name: str = "fake", count: int = 64,
                 image_shape: tuple[int, int, int] = (1, 28, 28), num_classes: int | None = 10,
                 seed: int = SEED) -> DatasetSpec:
    """A registered-ready :class:`gankit.DatasetSpec` of ``count`` random uint8 images (and labels
    ``i mod num_classes``), shaped like ``like`` when given. Its loader ignores the data root, so a
    test trains offline in seconds: ``host.datasets.register(spec.name, spec, "tests")``."""
    if like is not None:
        image_shape, num_classes = like.image_shape, like.num_classes

    def load(request: Any) -> Any:
        from gankit.data import ImageData

        rng = torch.Generator().manual_seed(seed)
        images = torch.randint(0, 256, (count, *image_shape), dtype=torch.uint8, generator=rng)
        labels = torch.arange(count) % num_classes if num_classes else None
        return ImageData(images, labels, source=f"synthetic data (gankit.testing, {count} images)")

    return DatasetSpec(like.name if like is not None else name, "synthetic images for tests",
                       tuple(image_shape), num_classes, load)


def check_training(spec: VariantSpec, config: Any, data_spec: DatasetSpec, host: PluginHost,
                   run_dir: Path, subject: str, networks: tuple[Any, Any]) -> None:
    from gankit.checkpoint import load_checkpoint
    from gankit.loading import load_run
    from gankit.nn import Networks
    from gankit.runs import checkpoint_path
    from gankit.noise import draw_samples
    from gankit.train.run import RunOptions, build_trainer

    # Enough batches for two G steps whatever n_critic is.
    synthetic = fake_dataset(data_spec, count=BATCH * config.n_critic * 2)
    data = synthetic.load(None)
    options = RunOptions(dataset=data_spec.name, device="cpu", out=run_dir, progress=False)
    run_dir.mkdir(parents=True, exist_ok=True)

    # Train the networks checked above (one build fewer: a build can take a while on a busy CPU).
    trained = build_trainer(spec, config, data_spec, data, options, run_dir, SEED, host,
                            networks=Networks(*networks))
    modules = (("G", trained.context.generator), ("D", trained.context.discriminator))
    before = {role: [p.detach().clone() for p in module.parameters()] for role, module in modules}
    trained.fit()
    for role, module in modules:
        after = list(module.parameters())
        if all(torch.equal(old, new) for old, new in zip(before[role], after)):
            fail(subject, f"{role}'s parameters did not change in two training steps", "Make sure "
                 "they require grad and that the loss depends on them")
        if not all(bool(torch.isfinite(p).all()) for p in after):
            fail(subject, f"{role}'s parameters became NaN or Inf in two training steps", "Check the "
                 "losses and the learning rate")

    # A checkpoint round trip: a run rebuilt with another seed must come back exactly.
    reloaded = build_trainer(spec, config, data_spec, data, options, run_dir, SEED + 1, host)
    reloaded.load_state_dict(load_checkpoint(checkpoint_path(run_dir)))
    generator, again_generator = trained.context.generator, reloaded.context.generator
    z = generator.sample_latent(BATCH)
    sample_labels = labels_for(data_spec.info, spec.conditional, BATCH)
    generator.eval()
    again_generator.eval()
    with torch.no_grad():
        if not torch.allclose(generator(z, sample_labels), again_generator(z, sample_labels)):
            fail(subject, "G restored from its checkpoint gives other images than G before saving",
                 "Keep every tensor G uses in a parameter or a registered buffer "
                 "(self.register_buffer), so it is in state_dict()")

    loaded = load_run(run_dir, host=host)
    if loaded.variant != spec.name:
        fail(subject, f"its checkpoint loads as variant '{loaded.variant}'", "Register one name only")
    chosen = [min(1, (data_spec.num_classes or 1) - 1)] if spec.conditional else None
    first, drawn_labels = draw_samples(loaded, 3, seed=7, labels=chosen)
    check_images(first, 3, data_spec.info, subject, "`gankit sample` (draw_samples)")
    again, _ = draw_samples(loaded, 3, seed=7, labels=chosen)
    if not torch.equal(first, again):
        fail(subject, "sampling twice with one seed gives different images", "Draw all randomness "
             "from sample_latent (the sampler seeds it), none in forward")
    if spec.conditional and (drawn_labels is None or drawn_labels.tolist() != chosen * 3):
        fail(subject, "conditional sampling did not use the requested labels", "Keep "
             "G.num_classes set for a conditional variant")
