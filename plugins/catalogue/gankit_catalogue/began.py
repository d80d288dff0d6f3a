"""BEGAN: Berthelot, Schumm & Metz, "BEGAN: Boundary Equilibrium Generative Adversarial Networks",
arXiv:1703.10717 (2017).

What it changes: D is an autoencoder, and the game is on its reconstruction error
``L(v) = mean |v - D(v)|`` (the paper's L with eta = 1): D lowers L on real images and raises it on fakes,
G lowers it on its fakes, ``L_D = L(x) - k_t L(G(z))`` and ``L_G = L(G(z))``. A
proportional controller keeps the two in balance, ``E[L(G(z))] = gamma E[L(x)]``:
``k_{t+1} = clip(k_t + lambda_k (gamma L(x) - L(G(z))), 0, 1)`` from ``k_0 = 0``; gamma, the
diversity ratio, trades sample diversity against quality. ``M_global = L(x) + |gamma L(x) -
L(G(z))|`` measures convergence.

Followed from the paper: the loss, the controller (lambda_k 0.001, k_0 0, gamma 0.5, also the
reference's default), the architecture of Figure 1 (3x3 convs with ELU repeated twice per scale,
stride-2 sub-sampling, filters growing linearly n, 2n, 3n, ..., nearest-neighbour up-sampling, a
linear bottleneck h with Nh = Nz = 64, G shaped like D's decoder, no BatchNorm, dropout or
transposed convs), z ~ U(-1, 1), Adam at lr 1e-4 (the top of the paper's 5e-5 to 1e-4). From the
code the paper links (carpedm20/BEGAN-tensorflow): batches of 16; Adam's betas (0.9, 0.999), which
it gets as TensorFlow's defaults (its ``--beta1 0.5`` flag is never passed to the optimizer; the
paper names none); one D step per G step, both on the same fakes; TF-slim's initialisation; the
stride-2 conv keeping the channels of its scale.

Adapted: n = 32 filters instead of the code's 128, so that a run fits a 2-core CPU (compute grows
with n squared); on 28x28 digits the scales are 28, 14 and 7 (the paper ends every resolution at
8x8; 32 and 64 do here too); G ends in tanh, as gankit's images lie in [-1, 1]; the learning rate
stays constant (the paper halves it when M_global stalls, the code every 100,000 steps, far beyond
a default run). The paper's optional improvements (skip connections, vanishing residuals) are left out.

In gankit, D's score is ``-L(v)``: every loss sees a critic whose higher scores mean "more like the
data", at most 0. k_t and M_global live in buffers of D (checkpoints keep them, ``--resume``
continues bit for bit) and the ``began`` loss updates them. A loss cannot log, so they are logged
by the callback ``began-equilibrium`` (as ``k`` and ``convergence``), when the run asks for it.
The networks and the loss are in :mod:`gankit_catalogue.nets.began`.
"""

from __future__ import annotations

from dataclasses import dataclass

from gankit import CallbackSpec, DataInfo, LossSpec, TrainConfig, VariantSpec, param

PAPER = ("Berthelot, Schumm & Metz, BEGAN: Boundary Equilibrium Generative Adversarial Networks, "
         "arXiv:1703.10717 (2017)")


@dataclass
class BEGANConfig(TrainConfig):
    """The paper's recipe: the began loss with gamma 0.5 and lambda_k 0.001, Adam at lr 1e-4 with
    betas (0.9, 0.999) (the reference's effective ones), batches of 16, z ~ U(-1, 1) of Nz = 64,
    h of Nh = 64, two convs per scale. 6 epochs: one epoch of 1,000 digits took 34 s on the
    shared 2-core development CPU (one thread), 4.7 times selfcond's epoch timed alongside, which
    takes about 7 s per 5,000 digits on an idle one (its docstring): so about 34 s per epoch of
    the 5,000 bundled digits, and 3.4 minutes for a default run (1,872 G steps).

    Measured at its defaults (bench/catalogue.py, seed 0, the bundled 5,000 digits, gankit's
    evaluator, n = 2,500; 2026-12-02, a 2-core AMD EPYC without AVX-512, 1 torch thread, load
    5.2-4.8): FID 172.17, 1 of 10 classes, KL 2.303, recall 0.00, after 6 epochs (1,872 G updates)
    in 10.8 CPU minutes (27.3 min of wall clock on the shared machine)."""

    epochs: int = 6
    batch_size: int = 16
    lr: float = 1e-4
    beta1: float = 0.9
    beta2: float = 0.999
    n_critic: int = 1
    latent_dim: int = 64  # Nz, the width of z ~ U(-1, 1)
    loss: str = "began"
    diversity_ratio: float = param(0.5, gt=0, le=1)  # gamma = E[L(G(z))] / E[L(x)] the controller holds
    lambda_k: float = param(0.001, ge=0)  # the controller's gain: k_t's step per unit of imbalance
    embedding: int = param(64, ge=1)  # Nh, the width of D's bottleneck h
    filters: int = param(32, ge=1)  # n: channels of G and D's decoder; D's encoder has n, 2n, 3n, ...
    repeats: int = param(2, ge=1)  # 3x3 convs per scale


def supports(data: DataInfo) -> str | None:
    channels, height, width = data.image_shape
    if data.upsampling_plan(start_sides=(8, 7)) is None:
        return (f"its images are {channels}x{height}x{width}, but BEGAN needs square images whose side "
                "is 8 or 7 times a power of two (e.g. 28, 32, 64); resize the dataset or use 'vanilla'")
    return None


def build(config: BEGANConfig, data: DataInfo, *, loss: LossSpec | None = None):
    """The networks; D has no batch statistics, so a per-sample-penalty ``loss`` needs no swap."""
    from gankit_catalogue.nets.began import build_networks

    return build_networks(config, data)


def build_loss(config):
    from gankit_catalogue.nets.began import BEGANLoss

    return BEGANLoss.from_config(config)


def build_callback(config):
    from gankit_catalogue.nets.began import EquilibriumLog

    return EquilibriumLog()


VARIANTS = (
    VariantSpec(
        name="began",
        summary="autoencoder D, equilibrium-controlled energy loss (gamma 0.5), Adam 1e-4, batch 16",
        config_class=BEGANConfig,
        build=build,
        supports=supports,
        paper=PAPER,
    ),
)

LOSSES = (
    LossSpec("began", "BEGAN's equilibrium loss: L(x) - k_t L(G(z)) for D, L(G(z)) for G "
             "(Berthelot et al. 2017)", build_loss),
)

# The package's hooks forward VARIANTS and LOSSES; offering this one needs a callbacks hook there too.
CALLBACKS = (
    CallbackSpec("began-equilibrium", "log BEGAN's k_t (k) and M_global (convergence) every D step",
                 build_callback),
)
