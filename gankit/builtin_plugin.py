"""gankit's own losses and datasets, registered through the same hooks as any plugin's.

Only specs live here; the torch code they point to is imported when a spec's factory is called.
"""

from __future__ import annotations

from typing import Any

from gankit.data.imagefolder import OPTIONS as FOLDER_OPTIONS
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


def _load_imagefolder(request: DataRequest) -> Any:
    from gankit.data.imagefolder import load_imagefolder

    return load_imagefolder(request)


def _load_cifar10(request: DataRequest) -> Any:
    from gankit.data.cifar import load_cifar10

    return load_cifar10(request)


def _load_celeba(request: DataRequest) -> Any:
    from gankit.data.celeba import load_celeba

    return load_celeba(request)


@hookimpl
def gankit_register_datasets(register) -> None:
    register(DatasetSpec("mnist", "handwritten digits, 28x28 grey; full set from the data root, "
                         "else download, else a bundled 5,000-digit subset",
                         MNIST_LIKE_SHAPE, 10, _load_mnist))
    register(DatasetSpec("fashion-mnist", "Zalando's clothing images, 28x28 grey; data root, "
                         "Debian's dataset-fashion-mnist, or download",
                         MNIST_LIKE_SHAPE, 10, _load_fashion_mnist))
    register(DatasetSpec("imagefolder", "your own images: every png/jpg/webp under --data-option "
                         "path=DIR, class sub-folders as labels, decoded once into a cache "
                         "(docs/datasets.md)",
                         None, None, _load_imagefolder, options=FOLDER_OPTIONS))
    register(DatasetSpec("cifar10", "CIFAR-10, 32x32 colour, 10 classes; cifar-10-batches-py in the "
                         "data root, or download", (3, 32, 32), 10, _load_cifar10))
    register(DatasetSpec("celeba", "CelebA aligned faces, centre-cropped and resized to 64x64, "
                         "unlabelled; celeba/ in the data root", (3, 64, 64), None, _load_celeba))
