"""gankit's own losses and datasets, registered through the same hooks as any plugin's.

Only specs live here; the torch code they point to is imported when a spec's factory is called.
"""

from __future__ import annotations

from typing import Any

from gankit.hookspecs import hookimpl
from gankit.registry import DataRequest, DatasetSpec, LossSpec

MNIST_LIKE_SHAPE = (1, 28, 28)


def _loss(class_name: str):
    def build(config: Any) -> Any:
        from gankit import losses

        return getattr(losses, class_name).from_config(config)

    return build


@hookimpl
def gankit_register_losses(register) -> None:
    register(LossSpec("bce", "non-saturating GAN loss (the tutorial's; Goodfellow et al. 2014, sec. 3)",
                      _loss("NonSaturatingLoss")))
    register(LossSpec("minimax", "the paper's saturating minimax loss: G minimises log(1 - D(G(z)))",
                      _loss("MinimaxLoss")))
    register(LossSpec("lsgan", "least squares (Mao et al. 2017), targets 0/1",
                      _loss("LeastSquaresLoss")))
    register(LossSpec("hinge", "hinge loss (Lim & Ye 2017; Miyato et al. 2018)", _loss("HingeLoss")))
    register(LossSpec("wgan-gp", "Wasserstein loss with gradient penalty (Gulrajani et al. 2017)",
                      _loss("WassersteinGPLoss"), per_sample_penalty=True))
    register(LossSpec("ragan", "relativistic average GAN loss (Jolicoeur-Martineau 2019)",
                      _loss("RelativisticAverageLoss")))


def _load_mnist(request: DataRequest) -> Any:
    from gankit.data.mnist import load_mnist

    return load_mnist(request)


def _load_fashion_mnist(request: DataRequest) -> Any:
    from gankit.data.fashion import load_fashion_mnist

    return load_fashion_mnist(request)


@hookimpl
def gankit_register_datasets(register) -> None:
    register(DatasetSpec("mnist", "handwritten digits, 28x28 grey; full set from the data root, "
                         "else download, else a bundled 5,000-digit subset",
                         MNIST_LIKE_SHAPE, 10, _load_mnist))
    register(DatasetSpec("fashion-mnist", "Zalando's clothing images, 28x28 grey; data root, "
                         "Debian's dataset-fashion-mnist, or download",
                         MNIST_LIKE_SHAPE, 10, _load_fashion_mnist))
