"""The plugin authors' test kit: checks a plugin's own test suite calls.

.. code-block:: python

    import gankit_myplugin
    from gankit.testing import check_plugin, check_variant, plugin_host

    def test_myvariant():
        check_variant("myvariant", host=plugin_host(gankit_myplugin))

    def test_import_is_torch_free():
        check_plugin("gankit_myplugin")

Each check runs on the CPU, on a small synthetic dataset shaped like a registered one, in seconds.
A failed check raises :class:`PluginCheckError`, an ``AssertionError`` (pytest reports it as a
failed test), whose message says what is wrong and what to change.

- :func:`plugin_host`: a fresh plugin host with gankit's built-ins and the given plugins only.
- :func:`check_plugin`: importing the plugin and running its hooks does not import torch.
- :func:`check_variant`: the whole life of a variant: spec and config, shapes, value ranges,
  logits, finite losses with gradients, two training steps with the real engine, a checkpoint round
  trip, sampling and conditioning.
- :func:`check_variant_loss`: one D and one G step of a variant under a given loss (cheap).
- :func:`check_loss`: a loss's formulas: finite scalars, rewarding the right player, finite for
  huge logits.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator, NoReturn

import torch

from gankit.config import TrainConfig, build_config
from gankit.host import PluginHost, PluginInfo, get_host
from gankit.registry import DataInfo, DatasetSpec, VariantSpec

BATCH = 8  # images per batch in every check: small, but enough for BatchNorm
SEED = 0

__all__ = ["PluginCheckError", "plugin_host", "check_plugin", "check_variant", "check_variant_loss",
           "check_loss"]


class PluginCheckError(AssertionError):
    """A plugin check failed; the message says what is wrong and what to change."""


def _fail(subject: str, problem: str, fix: str) -> NoReturn:
    raise PluginCheckError(f"{subject}: {problem}. {fix}.")


@contextlib.contextmanager
def _isolated() -> Iterator[None]:
    """Leave the caller's RNG state alone, and use one CPU thread: the checks' tensors are tiny,
    and several threads per test process thrash a shared CPU (CI runners, pytest -n)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(SEED)
            yield
    finally:
        torch.set_num_threads(threads)


# -- hosts and plugins -----------------------------------------------------------------------------


def plugin_host(*modules: ModuleType | object) -> PluginHost:
    """A fresh host with gankit's built-in losses and datasets plus ``modules``, each registered as
    a plugin named after its module (``__name__``). Installed plugins are not loaded, so a test sees
    exactly these. A module that fails to register raises :class:`PluginCheckError`."""
    host = PluginHost()
    host.load_builtins()
    for module in modules:
        name = getattr(module, "__name__", type(module).__name__)
        if not host.add_plugin(module, PluginInfo(name, "loaded")):
            _fail(f"plugin '{name}'", f"registering failed ({host.plugins[name].error})",
                  "Fix the hook that raised; run with GANKIT_STRICT_PLUGINS=1 for the traceback")
    return host


_PLUGIN_PROBE = """
import importlib, json, sys
from gankit.host import PluginHost, PluginInfo
name = sys.argv[1]
module = importlib.import_module(name)
after_import = "torch" in sys.modules
host = PluginHost()
host.load_builtins()
ok = host.add_plugin(module, PluginInfo(name, "loaded"))
print(json.dumps({"after_import": after_import, "after_hooks": "torch" in sys.modules,
                  "ok": ok, "error": host.plugins[name].error,
                  "registered": host.plugins[name].registered}))
"""


def check_plugin(module_name: str) -> dict[str, list[str]]:
    """Import ``module_name`` and run its hooks in a fresh interpreter: neither may import torch
    (every CLI start runs them, ``gankit --help`` included), and registering must succeed.

    :returns: what the plugin registered, e.g. ``{"variants": ["acgan"]}``.
    """
    subject = f"plugin module '{module_name}'"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    run = subprocess.run([sys.executable, "-c", _PLUGIN_PROBE, module_name], capture_output=True,
                         text=True, env=env, timeout=120)
    if run.returncode != 0:
        last = (run.stderr.strip().splitlines() or ["(no output)"])[-1]
        _fail(subject, f"importing it failed in a fresh interpreter ({last})",
              "Make it importable on its own (is it installed, or on sys.path?)")
    result = json.loads(run.stdout.strip().splitlines()[-1])
    if result["after_import"]:
        _fail(subject, "importing it imports torch", "Import torch (and modules that import it, such "
              "as your model file) inside functions, e.g. inside VariantSpec.build")
    if not result["ok"]:
        _fail(subject, f"registering failed ({result['error']})", "Fix the hook that raised")
    if result["after_hooks"]:
        _fail(subject, "its hooks import torch", "Hooks only register specs; import torch inside "
              "the build functions the specs point to")
    if not result["registered"]:
        _fail(subject, "it registers nothing", "Implement a gankit_register_* hook with "
              "@gankit.hookimpl and call register(...) in it")
    return result["registered"]


# -- variants ---------------------------------------------------------------------------------------


def check_variant(name: str, *, host: PluginHost | None = None, dataset: str | None = None,
                  overrides: dict[str, Any] | None = None, workdir: Path | None = None) -> None:
    """Check a registered variant end to end, on the CPU, in a few seconds.

    :param host: where the variant is registered (default: the process-wide host, i.e. installed
        plugins); plugin tests usually pass ``plugin_host(their_module)``.
    :param dataset: a registered dataset whose shape and classes to imitate (default: ``mnist`` or
        else the first one the variant supports). Its files are not read: the data is synthetic.
    :param overrides: config values for the check, e.g. a narrower network.
    :param workdir: where the check's run folder goes (default: a temporary folder, removed after).
    """
    host = host or get_host()
    spec = host.variants.get(name)
    subject = f"variant '{name}'"
    _check_spec(spec, host, subject)
    data_spec = _dataset_for(spec, host, dataset, subject)
    config = _check_config(spec, {"batch_size": BATCH, "epochs": 1, **(overrides or {})}, subject)
    with _isolated():
        generator, discriminator = _build(spec, config, data_spec.info, subject)
        _check_generator(generator, config, data_spec.info, spec.conditional, subject)
        labels = _labels(data_spec.info, spec.conditional, BATCH)
        _check_discriminator(discriminator, generator, labels, subject)
        loss = host.losses.get(config.loss).build(config)
        _check_step_losses(generator, discriminator, loss, labels, f"{subject} with loss '{config.loss}'")
        with tempfile.TemporaryDirectory(prefix="gankit-check-") as temp:
            run_dir = Path(workdir or temp) / f"check-{name}"
            _check_training(spec, config, data_spec, host, run_dir, subject, (generator, discriminator))


def check_variant_loss(variant: str, loss: str, *, host: PluginHost | None = None,
                       dataset: str | None = None, overrides: dict[str, Any] | None = None) -> None:
    """One D step and one G step of ``variant`` under ``loss``: finite losses, finite gradients,
    and a gradient that reaches G. Cheap enough to run for every variant and loss pair."""
    host = host or get_host()
    spec = host.variants.get(variant)
    subject = f"variant '{variant}' with loss '{loss}'"
    data_spec = _dataset_for(spec, host, dataset, subject)
    config = _check_config(spec, {"batch_size": BATCH, "loss": loss, **(overrides or {})}, subject)
    with _isolated():
        generator, discriminator = _build(spec, config, data_spec.info, subject)
        labels = _labels(data_spec.info, spec.conditional, BATCH)
        built = host.losses.get(loss).build(config)
        _check_step_losses(generator, discriminator, built, labels, subject)


def _check_spec(spec: VariantSpec, host: PluginHost, subject: str) -> None:
    if not spec.summary.strip() or "\n" in spec.summary:
        _fail(subject, "its summary is empty or spans lines", "Give VariantSpec a one-line summary "
              "for `gankit list`")
    if not (dataclasses.is_dataclass(spec.config_class) and isinstance(spec.config_class, type)
            and issubclass(spec.config_class, TrainConfig)):
        _fail(subject, f"config_class {spec.config_class!r} is not a dataclass subclassing "
              "gankit.TrainConfig", "Declare it as `@dataclass class MyConfig(TrainConfig): ...`")
    if not callable(spec.build):
        _fail(subject, "VariantSpec.build is not callable", "Pass build(config, data_info) -> Networks")
    try:
        default = spec.config_class()
    except Exception as error:
        raise PluginCheckError(f"{subject}: its default config cannot be created ({error}). Give every "
                               "config field a valid default.") from error
    if default.loss not in host.losses:
        _fail(subject, f"its default loss '{default.loss}' is not registered "
              f"(registered: {', '.join(host.losses.names())})", "Set the config's `loss` default to "
              "a registered loss, or register yours")


def _dataset_for(spec: VariantSpec, host: PluginHost, dataset: str | None, subject: str) -> DatasetSpec:
    candidates = [dataset] if dataset else sorted(host.datasets.names(), key=lambda n: n != "mnist")
    reasons = []
    for candidate in candidates:
        data_spec = host.datasets.get(candidate)
        reason = spec.supports(data_spec.info) if spec.supports else None
        if reason is None and spec.conditional and not data_spec.num_classes:
            reason = "it has no labels and the variant is conditional"
        if reason is None:
            return data_spec
        reasons.append(f"{candidate}: {reason}")
    _fail(subject, f"it supports none of the datasets tried ({'; '.join(reasons)})",
          "Pass dataset= a registered dataset it supports, or fix VariantSpec.supports")


def _check_config(spec: VariantSpec, overrides: dict[str, Any], subject: str) -> Any:
    try:
        return build_config(spec.config_class, overrides)
    except Exception as error:
        raise PluginCheckError(f"{subject}: the check's config {overrides} was refused ({error}). "
                               "Pass overrides= values your config accepts.") from error


def _build(spec: VariantSpec, config: Any, info: DataInfo, subject: str) -> tuple[Any, Any]:
    from gankit.nn import Discriminator, Generator

    try:
        networks = spec.build(config, info)
    except Exception as error:
        raise PluginCheckError(f"{subject}: build(config, {info}) raised {type(error).__name__}: "
                               f"{error}. See the traceback above.") from error
    generator = getattr(networks, "generator", None)
    discriminator = getattr(networks, "discriminator", None)
    if not isinstance(generator, Generator) or not isinstance(discriminator, Discriminator):
        _fail(subject, f"build returned {type(networks).__name__} holding {type(generator).__name__} "
              f"and {type(discriminator).__name__}", "Return gankit.Networks(generator, discriminator) "
              "with subclasses of gankit.Generator and gankit.Discriminator")
    for role, module in (("G", generator), ("D", discriminator)):
        if not any(True for _ in module.parameters()):
            _fail(subject, f"{role} has no parameters", "Create its layers in __init__ as attributes "
                  "(nn.Module registers them only then)")
    return generator, discriminator


def _labels(info: DataInfo, conditional: bool, n: int) -> torch.Tensor | None:
    if not conditional:
        return None
    return torch.arange(n) % int(info.num_classes)


# -- generator and discriminator ----------------------------------------------------------------------


def _check_generator(generator: Any, config: Any, info: DataInfo, conditional: bool, subject: str) -> None:
    expected_classes = info.num_classes if conditional else None
    if generator.latent_dim != config.latent_dim:
        _fail(subject, f"G.latent_dim is {generator.latent_dim} but config.latent_dim is "
              f"{config.latent_dim}", "Pass latent_dim=config.latent_dim to Generator.__init__")
    if tuple(generator.image_shape) != tuple(info.image_shape):
        _fail(subject, f"G.image_shape is {tuple(generator.image_shape)}, the dataset's is "
              f"{info.image_shape}", "Size G from build's data_info.image_shape")
    if generator.num_classes != expected_classes:
        _fail(subject, f"G.num_classes is {generator.num_classes}, expected {expected_classes} "
              f"(VariantSpec.conditional={conditional})", "Pass num_classes=data_info.num_classes "
              "to a conditional generator and None to an unconditional one")
    labels = _labels(info, conditional, BATCH)
    generator.train()
    z = generator.sample_latent(BATCH)
    if tuple(z.shape) != (BATCH, config.latent_dim):
        _fail(subject, f"G.sample_latent({BATCH}) returned shape {tuple(z.shape)}, expected "
              f"{(BATCH, config.latent_dim)}", "Return (n, latent_dim) noise from sample_latent")
    images = _call(generator, subject, "G", z, labels)
    _check_images(images, BATCH, info, subject, "G(z, labels) in train mode")
    if images.grad_fn is None:
        _fail(subject, "G's output does not depend on its parameters", "Do not detach or wrap "
              "G.forward in torch.no_grad()")
    generator.eval()
    with torch.no_grad():
        one = _call(generator, subject, "G", z[:1], None if labels is None else labels[:1])
        _check_images(one, 1, info, subject, "G(z) for one sample in eval mode (`gankit sample --n 1`)")
        first, again = generator(z, labels), generator(z, labels)
        if not torch.equal(first, again):
            _fail(subject, "G in eval mode gives different images for the same z", "Draw no randomness "
                  "in forward (dropout is fine: eval mode turns it off); sampling must be reproducible")
        other = generator(generator.sample_latent(BATCH), labels)
        if torch.allclose(first, other):
            _fail(subject, "G gives the same images for different z", "Feed z into G's first layer")
        if conditional and info.num_classes and info.num_classes > 1:
            zero, one_label = torch.zeros_like(labels), torch.ones_like(labels)
            if torch.allclose(generator(z, zero), generator(z, one_label)):
                _fail(subject, "G ignores its labels: class 0 and class 1 give the same images",
                      "Feed the labels into G (e.g. an embedding or one-hot joined with z)")
    generator.train()


def _check_images(images: Any, n: int, info: DataInfo, subject: str, call: str) -> None:
    expected = (n, *info.image_shape)
    if not isinstance(images, torch.Tensor):
        _fail(subject, f"{call} returned {type(images).__name__}", "Return a tensor of images")
    if tuple(images.shape) != expected:
        _fail(subject, f"{call} returned shape {tuple(images.shape)}, expected {expected} "
              "(batch, channels, height, width)", "Reshape G's output to (n, *data_info.image_shape), "
              "e.g. .view(z.shape[0], *self.image_shape)")
    if not images.is_floating_point():
        _fail(subject, f"{call} returned {images.dtype}", "Return float images in [-1, 1]")
    if not torch.isfinite(images).all():
        _fail(subject, f"{call} returned NaN or Inf", "Check G's layers and initialisation")
    low, high = images.min().item(), images.max().item()
    if low < -1 - 1e-5 or high > 1 + 1e-5:
        _fail(subject, f"{call} returned values in [{low:.3g}, {high:.3g}], outside [-1, 1] (the range "
              "the data is scaled to)", "End G with tanh")


def _call(module: Any, subject: str, role: str, *args: Any) -> Any:
    try:
        return module(*args)
    except Exception as error:
        labels = "labels" if args[-1] is not None else "labels=None"
        raise PluginCheckError(f"{subject}: {role} raised {type(error).__name__} on a batch with "
                               f"{labels}: {error}. See the traceback above.") from error


def _check_discriminator(discriminator: Any, generator: Any, labels: Any, subject: str) -> None:
    from gankit.nn import DiscriminatorOutput

    discriminator.train()
    with torch.no_grad():
        fake = generator(generator.sample_latent(BATCH), labels)
    output = _call(discriminator, subject, "D", fake, labels)
    logits = output.logits if isinstance(output, DiscriminatorOutput) else output
    if not isinstance(logits, torch.Tensor):
        _fail(subject, f"D returned {type(output).__name__}", "Return logits of shape (N,), or a "
              "gankit.DiscriminatorOutput(logits, auxiliary) when D has auxiliary heads")
    if tuple(logits.shape) == (BATCH, 1):
        _fail(subject, f"D returned logits of shape ({BATCH}, 1), expected ({BATCH},)", "Squeeze the "
              "last layer's output: .squeeze(1) or .flatten()")
    if tuple(logits.shape) != (BATCH,):
        _fail(subject, f"D returned logits of shape {tuple(logits.shape)}, expected ({BATCH},)",
              "Return one logit per image")
    if _ends_in_sigmoid(logits):
        _fail(subject, "D returns probabilities (its output ends in a sigmoid)", "Return raw "
              "logits: drop the final sigmoid; every loss applies it itself, stably")
    if not torch.isfinite(logits).all():
        _fail(subject, "D returned NaN or Inf logits", "Check D's layers and initialisation")


_VIEW_OPS = re.compile(r"(View|UnsafeView|Squeeze|Unsqueeze|Reshape\w*|Select|Clone|Expand|Permute|"
                       r"Transpose|T|ToCopy|Alias|Mean)Backward\d*")


def _ends_in_sigmoid(tensor: torch.Tensor) -> bool:
    # Walk back through shape-only operations to the op that produced the values.
    function = tensor.grad_fn
    while function is not None:
        name = type(function).__name__
        if name.startswith("SigmoidBackward"):
            return True
        if not _VIEW_OPS.fullmatch(name):
            return False
        function = next((f for f, _ in function.next_functions if f is not None), None)
    return False


def _check_step_losses(generator: Any, discriminator: Any, loss: Any, labels: Any, subject: str) -> None:
    from gankit.losses import discriminator_step_loss, generator_step_loss

    generator.train()
    discriminator.train()
    real = torch.rand(BATCH, *generator.image_shape) * 2 - 1
    z = generator.sample_latent(BATCH)
    fake = generator(z, labels)
    d_out = discriminator_step_loss(loss, discriminator, real, fake.detach(), labels, latent=z)
    _check_scalar(d_out.loss, subject, "D's loss")
    discriminator.zero_grad(set_to_none=True)
    _backward(d_out.loss, subject, "D", "D's loss")
    _check_gradients(discriminator, subject, "D", "D's loss")

    discriminator.requires_grad_(False)
    try:
        g_loss = generator_step_loss(loss, discriminator, fake, labels, real=real, latent=z)
        _check_scalar(g_loss, subject, "G's loss")
        generator.zero_grad(set_to_none=True)
        _backward(g_loss, subject, "G", "G's loss")
    finally:
        discriminator.requires_grad_(True)
    _check_gradients(generator, subject, "G", "G's loss")


def _check_scalar(value: Any, subject: str, what: str) -> None:
    if not isinstance(value, torch.Tensor) or value.dim() != 0:
        shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
        _fail(subject, f"{what} is {shape}, not a scalar tensor", "Reduce it with .mean()")
    if not torch.isfinite(value):
        _fail(subject, f"{what} is {value.item()}", "Compute it from logits with softplus/logsigmoid "
              "rather than log(sigmoid(.)), and check D returns finite logits")


def _no_gradient(subject: str, role: str, what: str) -> NoReturn:
    hint = ("G's images must reach D's logits: no .detach() or torch.no_grad() in G.forward or "
            "D.forward") if role == "G" else "D's logits must depend on its parameters"
    _fail(subject, f"{what} gives {role} no gradient", hint)


def _backward(value: torch.Tensor, subject: str, role: str, what: str) -> None:
    if not value.requires_grad:
        _no_gradient(subject, role, what)
    value.backward()


def _check_gradients(module: Any, subject: str, role: str, what: str) -> None:
    gradients = [p.grad for p in module.parameters() if p.requires_grad and p.grad is not None]
    if not gradients or not any(bool(g.abs().sum() > 0) for g in gradients):
        _no_gradient(subject, role, what)
    if not all(bool(torch.isfinite(g).all()) for g in gradients):
        _fail(subject, f"{what} gives {role} NaN or Inf gradients", "Check the loss and the "
              "networks' numerics (e.g. log of zero, division by a norm)")


# -- training, checkpoints, sampling -------------------------------------------------------------------


def _check_training(spec: VariantSpec, config: Any, data_spec: DatasetSpec, host: PluginHost,
                    run_dir: Path, subject: str, networks: tuple[Any, Any]) -> None:
    from gankit import runs
    from gankit.checkpoint import load_checkpoint
    from gankit.data import ImageData
    from gankit.nn import Networks
    from gankit.sample import draw_samples, load_generator
    from gankit.train import RunOptions, Trainer

    # Enough batches for two G steps whatever n_critic is.
    count = BATCH * config.n_critic * 2
    rng = torch.Generator().manual_seed(SEED)
    images = torch.randint(0, 256, (count, *data_spec.image_shape), dtype=torch.uint8, generator=rng)
    labels = torch.arange(count) % data_spec.num_classes if data_spec.num_classes else None
    data = ImageData(images, labels, source="synthetic data (gankit.testing)")
    options = RunOptions(dataset=data_spec.name, device="cpu", out=run_dir, progress=False)
    run_dir.mkdir(parents=True, exist_ok=True)

    def trainer(variant: VariantSpec, seed: int) -> Trainer:
        return Trainer(variant=variant, config=config, dataset=data_spec, data=data, options=options,
                       run_dir=run_dir, seed=seed, host=host, console=None)

    # Train the networks checked above (one build fewer: a build can take a while on a busy CPU).
    trained = trainer(dataclasses.replace(spec, build=lambda *_: Networks(*networks)), SEED)
    before = {role: [p.detach().clone() for p in module.parameters()]
              for role, module in (("G", trained.generator), ("D", trained.discriminator))}
    trained.fit()
    for role, module in (("G", trained.generator), ("D", trained.discriminator)):
        after = list(module.parameters())
        if all(torch.equal(old, new) for old, new in zip(before[role], after)):
            _fail(subject, f"{role}'s parameters did not change in two training steps", "Make sure "
                  "they require grad and that the loss depends on them")
        if not all(bool(torch.isfinite(p).all()) for p in after):
            _fail(subject, f"{role}'s parameters became NaN or Inf in two training steps", "Check the "
                  "losses and the learning rate")

    # A checkpoint round trip: a run rebuilt with another seed must come back exactly.
    reloaded = trainer(spec, SEED + 1)
    reloaded.load_state_dict(load_checkpoint(runs.checkpoint_path(run_dir)))
    z = trained.generator.sample_latent(BATCH)
    sample_labels = _labels(data_spec.info, spec.conditional, BATCH)
    trained.generator.eval()
    reloaded.generator.eval()
    with torch.no_grad():
        if not torch.allclose(trained.generator(z, sample_labels), reloaded.generator(z, sample_labels)):
            _fail(subject, "G restored from its checkpoint gives other images than G before saving",
                  "Keep every tensor G uses in a parameter or a registered buffer "
                  "(self.register_buffer), so it is in state_dict()")

    loaded = load_generator(run_dir, host=host)
    if loaded.variant != spec.name:
        _fail(subject, f"its checkpoint loads as variant '{loaded.variant}'", "Register one name only")
    chosen = [min(1, (data_spec.num_classes or 1) - 1)] if spec.conditional else None
    first, drawn_labels = draw_samples(loaded, 3, seed=7, labels=chosen)
    _check_images(first, 3, data_spec.info, subject, "`gankit sample` (draw_samples)")
    again, _ = draw_samples(loaded, 3, seed=7, labels=chosen)
    if not torch.equal(first, again):
        _fail(subject, "sampling twice with one seed gives different images", "Draw all randomness "
              "from sample_latent (the sampler seeds it), none in forward")
    if spec.conditional and (drawn_labels is None or drawn_labels.tolist() != chosen * 3):
        _fail(subject, "conditional sampling did not use the requested labels", "Keep "
              "G.num_classes set for a conditional variant")


# -- losses -----------------------------------------------------------------------------------------


class _LinearCritic(torch.nn.Module):
    """logits = weight * mean(x): on images of +1 (real) and -1 (fake), weight > 0 scores real above
    fake, and the logits' size is set by the weight."""

    def __init__(self, weight: float) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.tensor(float(weight)))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.weight * x.flatten(1).mean(1)


def check_loss(name: str, *, host: PluginHost | None = None, config: Any = None) -> None:
    """Check a registered loss on a one-parameter critic: both losses are finite scalars; D's is
    lower when D scores real images above fakes, G's is no higher when D scores fakes as real; both
    stay finite, with finite gradients, for logits of magnitude 1e4."""
    from gankit.losses import DiscriminatorLoss, generator_step_loss

    host = host or get_host()
    subject = f"loss '{name}'"
    loss = host.losses.get(name).build(config if config is not None else TrainConfig())
    real = torch.ones(4, 1, 8, 8)
    fake = -torch.ones(4, 1, 8, 8)
    right, wrong = _LinearCritic(2.0), _LinearCritic(-2.0)

    with _isolated():
        d_right = loss.discriminator_loss(right, real, fake, None)
        if not isinstance(d_right, DiscriminatorLoss):
            _fail(subject, f"discriminator_loss returned {type(d_right).__name__}", "Return "
                  "gankit.DiscriminatorLoss(loss, real_logits, fake_logits)")
        d_wrong = loss.discriminator_loss(wrong, real, fake, None)
        for what, value in (("D's loss", d_right.loss), ("D's loss", d_wrong.loss)):
            _check_scalar(value, subject, what)
        if not d_right.loss < d_wrong.loss:
            _fail(subject, f"D's loss is {d_right.loss.item():.4g} when D scores real above fake but "
                  f"{d_wrong.loss.item():.4g} when it scores fake above real", "Check the signs: D's "
                  "loss must fall as real logits rise and fake logits fall")
        g_fooled = generator_step_loss(loss, wrong, fake, None, real=real)  # D scores fakes as real
        g_caught = generator_step_loss(loss, right, fake, None, real=real)
        for value in (g_fooled, g_caught):
            _check_scalar(value, subject, "G's loss")
        # Not strictly lower: a G loss may aim at the decision boundary (LSGAN with c = 0).
        if g_fooled > g_caught:
            _fail(subject, f"G's loss is {g_fooled.item():.4g} when D takes the fakes for real but "
                  f"{g_caught.item():.4g} when D spots them", "Check the signs: G's loss must not "
                  "rise as D's logits on fakes rise")

        for weight in (1e4, -1e4):
            critic = _LinearCritic(weight)
            d_loss = loss.discriminator_loss(critic, real, fake, None).loss
            g_loss = generator_step_loss(loss, critic, fake, None, real=real)
            for what, value in (("D's loss", d_loss), ("G's loss", g_loss)):
                _check_scalar(value, f"{subject} at logits of {weight:+.0e}", what)
                critic.zero_grad(set_to_none=True)
                value.backward(retain_graph=True)
                if critic.weight.grad is None or not torch.isfinite(critic.weight.grad):
                    _fail(f"{subject} at logits of {weight:+.0e}", f"{what} has a NaN, Inf or missing "
                          "gradient", "Use softplus/logsigmoid forms, which stay finite")
