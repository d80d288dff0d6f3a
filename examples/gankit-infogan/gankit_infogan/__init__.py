"""InfoGAN (Chen et al., 2016) as a gankit plugin.

G's noise carries named *latent codes* next to the plain noise: for MNIST, as in the paper, one
10-way categorical code (``digit``) and two continuous codes (``c1``, ``c2``, uniform in [-1, 1]).
D has a second head, Q, on its shared features, which tries to recover the codes from an image.
Both players minimise Q's loss (cross-entropy on the categorical code, Gaussian negative
log-likelihood on the continuous ones, weighted by ``info_weight``, the paper's lambda), a lower
bound on the mutual information between the codes and the image. No labels are used: which digit
a value of ``digit`` draws is learnt, not told.

The codes reach Q's loss through gankit's own interface: the engine hands
``discriminator_auxiliary_loss`` / ``generator_auxiliary_loss`` the noise ``z`` the fakes were made
from (their keyword ``latent``), and the codes are read back from z's columns, which
``Generator.latent_codes`` declares. Nothing passes between G and D on the side.

This module is what gankit imports at start-up, so it stays torch-free: the networks live in
:mod:`gankit_infogan.model`, the traversal command in :mod:`gankit_infogan.commands`, the
``infogan-q`` training callback in :mod:`gankit_infogan.callbacks`.
"""

from __future__ import annotations

from dataclasses import dataclass

from gankit import CallbackSpec, ConfigError, DataInfo, TrainConfig, VariantSpec, hookimpl, param

__version__ = "0.1.0"


@dataclass
class InfoGANConfig(TrainConfig):
    """The paper's MNIST recipe (Chen et al. 2016, appendix C.1): Adam with beta1 0.5, 1e-3 for G
    and 2e-4 for D, batch 64, z = 62 noise + one 10-way categorical + two continuous codes."""

    epochs: int = 30
    batch_size: int = 64
    lr: float = 2e-4  # the fallback when g_lr / d_lr are unset
    g_lr: float | None = 1e-3
    d_lr: float | None = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    latent_dim: int = 74  # noise + categorical one-hots + continuous codes
    loss: str = "bce"
    categorical_codes: int = param(1, ge=0)  # how many categorical codes ("digit", then "cat2", ...)
    categories: int = param(10, ge=2)  # values of each categorical code
    continuous_codes: int = param(2, ge=0)  # how many continuous codes ("c1", "c2", ...), uniform(-1, 1)
    info_weight: float = param(1.0, ge=0)  # lambda: weight of Q's loss in D's and G's loss
    continuous_weight: float = param(1.0, ge=0)  # extra factor on the continuous codes' term
    # Q's Gaussian for a continuous code has std 1 (the authors' released code), or learns it. A
    # learnt std lets Q shrink it and scales G's gradient by 1/std^2: on MNIST, G then paints the
    # codes in as high-frequency noise instead of drawing digits.
    learn_std: bool = False
    g_hidden: int = param(1024, ge=1)  # G's fully connected layer
    g_features: int = param(64, ge=1)  # G's last hidden conv channels (the 7x7 map has twice as many)
    d_features: int = param(64, ge=1)  # D's first conv channels (its second has twice as many)
    d_hidden: int = param(1024, ge=1)  # D's fully connected layer, the features D and Q share
    q_hidden: int = param(128, ge=1)  # Q's own hidden layer
    leaky_slope: float = param(0.1, ge=0, lt=1)
    init_std: float = param(0.02, gt=0)  # weights N(0, init_std), as in DCGAN and InfoGAN's ports

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.categorical_codes + self.continuous_codes == 0:
            raise ConfigError("InfoGAN needs at least one latent code: set categorical_codes or "
                              "continuous_codes above 0.")
        if self.noise_dim < 0:
            raise ConfigError(
                f"latent_dim {self.latent_dim} is too small for the codes: they take "
                f"{self.latent_dim - self.noise_dim} columns ({self.categorical_codes} x "
                f"{self.categories} one-hot + {self.continuous_codes} continuous).")

    @property
    def noise_dim(self) -> int:
        """The columns of z that are plain noise (62 with the defaults)."""
        return self.latent_dim - self.categorical_codes * self.categories - self.continuous_codes


def supports(data: DataInfo) -> str | None:
    """The paper's MNIST networks: 1x28x28 images only."""
    shape = tuple(data.image_shape)
    return None if shape == (1, 28, 28) else \
        f"its images are {'x'.join(map(str, shape))}; InfoGAN's MNIST networks need 1x28x28"


def build(config: InfoGANConfig, data: DataInfo, loss=None):
    from gankit_infogan.model import build_networks

    return build_networks(config, data, loss=loss)


@hookimpl
def gankit_register_variants(register):
    register(VariantSpec(
        name="infogan",
        summary="InfoGAN: named latent codes (digit, c1, c2) that D's Q head must recover; unsupervised",
        config_class=InfoGANConfig,
        build=build,
        supports=supports,
        paper="Chen et al., InfoGAN: Interpretable Representation Learning by Information "
              "Maximizing Generative Adversarial Nets, NeurIPS 2016 (arXiv:1606.03657)",
    ))


def build_q_metrics(config):
    from gankit_infogan.callbacks import build

    return build(config)


@hookimpl
def gankit_register_callbacks(register):
    register(CallbackSpec("infogan-q", "log Q's accuracy on the digit code and its loss (q_accuracy, "
                          "info_loss) every 10th G step", build_q_metrics))


@hookimpl
def gankit_register_commands(app, host):
    from gankit_infogan.commands import add_commands

    add_commands(app, host)
