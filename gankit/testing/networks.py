"""Checks of a variant's spec, config and networks: shapes, ranges, logits, losses and gradients."""

from __future__ import annotations

import dataclasses
import re
import tempfile
from pathlib import Path
from typing import Any

import torch

from gankit.config import TrainConfig, build_config, unparseable_fields
from gankit.host import PluginHost, get_host
from gankit.registry import DataInfo, DatasetSpec, VariantSpec
from gankit.testing._common import (BATCH, PluginCheckError, backward, check_gradients, check_images,
                                    check_scalar, fail, isolated, labels_for)
from gankit.testing.lifecycle import check_training


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
    check_spec(spec, host, subject)
    data_spec = dataset_for(spec, host, dataset, subject)
    config = check_config(spec, {"batch_size": BATCH, "epochs": 1, **(overrides or {})}, subject)
    with isolated():
        generator, discriminator = build_networks(spec, config, data_spec.info, subject, host)
        check_generator(generator, config, data_spec.info, spec.conditional, subject)
        labels = labels_for(data_spec.info, spec.conditional, BATCH)
        check_discriminator(discriminator, generator, labels, subject)
        loss = host.losses.get(config.loss).build(config)
        check_step_losses(generator, discriminator, loss, labels, f"{subject} with loss '{config.loss}'")
        with tempfile.TemporaryDirectory(prefix="gankit-check-") as temp:
            run_dir = Path(workdir or temp) / f"check-{name}"
            check_training(spec, config, data_spec, host, run_dir, subject, (generator, discriminator))


def check_variant_loss(variant: str, loss: str, *, host: PluginHost | None = None,
                       dataset: str | None = None, overrides: dict[str, Any] | None = None) -> None:
    """One D step and one G step of ``variant`` under ``loss``: finite losses, finite gradients,
    and a gradient that reaches G. Cheap enough to run for every variant and loss pair."""
    host = host or get_host()
    spec = host.variants.get(variant)
    subject = f"variant '{variant}' with loss '{loss}'"
    data_spec = dataset_for(spec, host, dataset, subject)
    config = check_config(spec, {"batch_size": BATCH, "loss": loss, **(overrides or {})}, subject)
    with isolated():
        generator, discriminator = build_networks(spec, config, data_spec.info, subject, host)
        labels = labels_for(data_spec.info, spec.conditional, BATCH)
        built = host.losses.get(loss).build(config)
        check_step_losses(generator, discriminator, built, labels, subject)


def check_spec(spec: VariantSpec, host: PluginHost, subject: str) -> None:
    if not spec.summary.strip() or "\n" in spec.summary:
        fail(subject, "its summary is empty or spans lines", "Give VariantSpec a one-line summary "
              "for `gankit list`")
    if not (dataclasses.is_dataclass(spec.config_class) and isinstance(spec.config_class, type)
            and issubclass(spec.config_class, TrainConfig)):
        fail(subject, f"config_class {spec.config_class!r} is not a dataclass subclassing "
              "gankit.TrainConfig", "Declare it as `@dataclass class MyConfig(TrainConfig): ...`")
    for name, problem in unparseable_fields(spec.config_class).items():
        fail(subject, f"config field '{name}' has a type --set cannot parse: {problem}", "Declare it as "
              "int, float, bool, str, a Literal of those, Optional[...] of one, or a list or tuple of them")
    if not callable(spec.build):
        fail(subject, "VariantSpec.build is not callable", "Pass build(config, data_info) -> Networks")
    try:
        default = spec.config_class()
    except Exception as error:
        raise PluginCheckError(f"{subject}: its default config cannot be created ({error}). Give every "
                               "config field a valid default.") from error
    if default.loss not in host.losses:
        fail(subject, f"its default loss '{default.loss}' is not registered "
              f"(registered: {', '.join(host.losses.names())})", "Set the config's `loss` default to "
              "a registered loss, or register yours")


def dataset_for(spec: VariantSpec, host: PluginHost, dataset: str | None, subject: str) -> DatasetSpec:
    candidates = [dataset] if dataset else sorted(host.datasets.names(), key=lambda n: n != "mnist")
    reasons = []
    for candidate in candidates:
        data_spec = host.datasets.get(candidate)
        if data_spec.image_shape is None:  # its shape is known only once loaded: nothing to imitate
            reasons.append(f"{candidate}: its image shape is known only when loaded")
            continue
        reason = spec.supports(data_spec.info) if spec.supports else None
        if reason is None and spec.conditional and not data_spec.num_classes:
            reason = "it has no labels and the variant is conditional"
        if reason is None:
            return data_spec
        reasons.append(f"{candidate}: {reason}")
    fail(subject, f"it supports none of the datasets tried ({'; '.join(reasons)})",
          "Pass dataset= a registered dataset it supports, or fix VariantSpec.supports")


def check_config(spec: VariantSpec, overrides: dict[str, Any], subject: str) -> Any:
    try:
        return build_config(spec.config_class, overrides)
    except Exception as error:
        raise PluginCheckError(f"{subject}: the check's config {overrides} was refused ({error}). "
                               "Pass overrides= values your config accepts.") from error


def build_networks(spec: VariantSpec, config: Any, info: DataInfo, subject: str,
                   host: PluginHost) -> tuple[Any, Any]:
    """The networks as the engine builds them (``loss=`` handed to a build that takes it)."""
    from gankit.nn import Discriminator, Generator

    try:
        networks = spec.build_networks(config, info, host.losses.get(config.loss))
    except Exception as error:
        raise PluginCheckError(f"{subject}: build(config, {info}) raised {type(error).__name__}: "
                               f"{error}. See the traceback above.") from error
    generator = getattr(networks, "generator", None)
    discriminator = getattr(networks, "discriminator", None)
    if not isinstance(generator, Generator) or not isinstance(discriminator, Discriminator):
        fail(subject, f"build returned {type(networks).__name__} holding {type(generator).__name__} "
              f"and {type(discriminator).__name__}", "Return gankit.Networks(generator, discriminator) "
              "with subclasses of gankit.Generator and gankit.Discriminator")
    for role, module in (("G", generator), ("D", discriminator)):
        if not any(True for _ in module.parameters()):
            fail(subject, f"{role} has no parameters", "Create its layers in __init__ as attributes "
                  "(nn.Module registers them only then)")
    return generator, discriminator


def check_generator(generator: Any, config: Any, info: DataInfo, conditional: bool, subject: str) -> None:
    expected_classes = info.num_classes if conditional else None
    if generator.latent_dim != config.latent_dim:
        fail(subject, f"G.latent_dim is {generator.latent_dim} but config.latent_dim is "
              f"{config.latent_dim}", "Pass latent_dim=config.latent_dim to Generator.__init__")
    if tuple(generator.image_shape) != tuple(info.image_shape):
        fail(subject, f"G.image_shape is {tuple(generator.image_shape)}, the dataset's is "
              f"{info.image_shape}", "Size G from build's data_info.image_shape")
    if generator.num_classes != expected_classes:
        fail(subject, f"G.num_classes is {generator.num_classes}, expected {expected_classes} "
              f"(VariantSpec.conditional={conditional})", "Pass num_classes=data_info.num_classes "
              "to a conditional generator and None to an unconditional one")
    labels = labels_for(info, conditional, BATCH)
    generator.train()
    z = generator.sample_latent(BATCH)
    if tuple(z.shape) != (BATCH, config.latent_dim):
        fail(subject, f"G.sample_latent({BATCH}) returned shape {tuple(z.shape)}, expected "
              f"{(BATCH, config.latent_dim)}", "Return (n, latent_dim) noise from sample_latent")
    images = _call(generator, subject, "G", z, labels)
    check_images(images, BATCH, info, subject, "G(z, labels) in train mode")
    if images.grad_fn is None:
        fail(subject, "G's output does not depend on its parameters", "Do not detach or wrap "
              "G.forward in torch.no_grad()")
    generator.eval()
    with torch.no_grad():
        one = _call(generator, subject, "G", z[:1], None if labels is None else labels[:1])
        check_images(one, 1, info, subject, "G(z) for one sample in eval mode (`gankit sample --n 1`)")
        first, again = generator(z, labels), generator(z, labels)
        if not torch.equal(first, again):
            fail(subject, "G in eval mode gives different images for the same z", "Draw no randomness "
                  "in forward (dropout is fine: eval mode turns it off); sampling must be reproducible")
        other = generator(generator.sample_latent(BATCH), labels)
        if torch.allclose(first, other):
            fail(subject, "G gives the same images for different z", "Feed z into G's first layer")
        if conditional and info.num_classes and info.num_classes > 1:
            zero, one_label = torch.zeros_like(labels), torch.ones_like(labels)
            if torch.allclose(generator(z, zero), generator(z, one_label)):
                fail(subject, "G ignores its labels: class 0 and class 1 give the same images",
                      "Feed the labels into G (e.g. an embedding or one-hot joined with z)")
    generator.train()




def _call(module: Any, subject: str, role: str, *args: Any) -> Any:
    try:
        return module(*args)
    except Exception as error:
        labels = "labels" if args[-1] is not None else "labels=None"
        raise PluginCheckError(f"{subject}: {role} raised {type(error).__name__} on a batch with "
                               f"{labels}: {error}. See the traceback above.") from error


def check_discriminator(discriminator: Any, generator: Any, labels: Any, subject: str) -> None:
    from gankit.nn import DiscriminatorOutput

    discriminator.train()
    with torch.no_grad():
        fake = generator(generator.sample_latent(BATCH), labels)
    output = _call(discriminator, subject, "D", fake, labels)
    logits = output.logits if isinstance(output, DiscriminatorOutput) else output
    if not isinstance(logits, torch.Tensor):
        fail(subject, f"D returned {type(output).__name__}", "Return logits of shape (N,), or a "
              "gankit.DiscriminatorOutput(logits, auxiliary) when D has auxiliary heads")
    if tuple(logits.shape) == (BATCH, 1):
        fail(subject, f"D returned logits of shape ({BATCH}, 1), expected ({BATCH},)", "Squeeze the "
              "last layer's output: .squeeze(1) or .flatten()")
    if tuple(logits.shape) != (BATCH,):
        fail(subject, f"D returned logits of shape {tuple(logits.shape)}, expected ({BATCH},)",
              "Return one logit per image")
    if _ends_in_sigmoid(logits):
        fail(subject, "D returns probabilities (its output ends in a sigmoid)", "Return raw "
              "logits: drop the final sigmoid; every loss applies it itself, stably")
    if not torch.isfinite(logits).all():
        fail(subject, "D returned NaN or Inf logits", "Check D's layers and initialisation")


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


def check_step_losses(generator: Any, discriminator: Any, loss: Any, labels: Any, subject: str) -> None:
    from gankit.losses import discriminator_step_loss, generator_step_loss

    generator.train()
    discriminator.train()
    real = torch.rand(BATCH, *generator.image_shape) * 2 - 1
    z = generator.sample_latent(BATCH)
    fake = generator(z, labels)
    d_out = discriminator_step_loss(loss, discriminator, real, fake.detach(), labels, latent=z)
    check_scalar(d_out.loss, subject, "D's loss")
    discriminator.zero_grad(set_to_none=True)
    backward(d_out.loss, subject, "D", "D's loss")
    check_gradients(discriminator, subject, "D", "D's loss")

    discriminator.requires_grad_(False)
    try:
        g_loss = generator_step_loss(loss, discriminator, fake, labels, real=real, latent=z)
        check_scalar(g_loss, subject, "G's loss")
        generator.zero_grad(set_to_none=True)
        backward(g_loss, subject, "G", "G's loss")
    finally:
        discriminator.requires_grad_(True)
    check_gradients(generator, subject, "G", "G's loss")
