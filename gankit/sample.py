"""What ``gankit sample`` does around drawing (gankit/noise.py): label and latent-code choices
from the command line, where the images may go, and saving them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from gankit.checkpoint import safe_load
from gankit.errors import CheckpointError, GankitError
from gankit.host import PluginHost
from gankit._io import atomic_write
from gankit.runs import CONFIG_FILE
from gankit.images import save_grid
# 0.1 imported these from here.
from gankit.noise import code_grid, draw_samples, fixed_noise, generate  # noqa: F401

MAX_SAMPLES = 100_000  # images per `gankit sample` call as a tensor (~300 MB at 28x28)
MAX_GRID = 10_000  # images in one .png grid (100 x 100)


def parse_labels(text: str, num_classes: int, option: str = "--labels") -> list[int]:
    """``"7"``, ``"0-9"`` or ``"1,4,4"`` -> a list of class indices. ``option`` names what the user
    typed in the messages (``--code cluster`` for a categorical code)."""
    labels: list[int] = []
    noun = "labels" if option == "--labels" else "values"
    try:
        for part in text.split(","):
            part = part.strip()
            if "-" in part[1:]:
                low, high = (int(p) for p in part.split("-", 1))
                if low > high:
                    raise GankitError(f"{option} '{text}': the range {part} runs backwards; "
                                      f"write it low-high, e.g. {high}-{low}.")
                ends = [low, high]  # checked before the range is built: 0-99999999 stays cheap
            else:
                low = high = int(part)
                ends = [low]
            if any(not 0 <= label < num_classes for label in ends):
                raise GankitError(f"{option} '{text}': {noun} must be in 0-{num_classes - 1}.")
            labels.extend(range(low, high + 1))
    except ValueError:
        raise GankitError(f"{option} must look like 7, 0-9 or 1,4,4; got '{text}'.") from None
    if not labels:
        raise GankitError(f"{option} '{text}': {noun} must be in 0-{num_classes - 1}.")
    return labels


def parse_codes(items: list[str], generator: Any) -> dict[str, list[float]]:
    """``--code NAME=VALUES`` -> values per code. A categorical code takes ``3``, ``0-9`` or
    ``1,4``; a continuous one ``0.5``, ``-1,0,1`` or ``LOW:HIGH:COUNT`` (evenly spaced)."""
    codes = {code.name: code for code in getattr(generator, "latent_codes", ())}
    if items and not codes:
        raise GankitError("This variant declares no latent codes; --code needs one that does "
                          "(Generator.latent_codes).")
    parsed: dict[str, list[float]] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or name not in codes:
            raise GankitError(f"--code expects NAME=VALUES with NAME one of {', '.join(codes)}; "
                              f"got '{item}'.")
        code = codes[name]
        if code.categories:
            parsed[name] = [float(v) for v in parse_labels(text, code.categories, f"--code {name}")]
            continue
        try:
            if text.count(":") == 2:
                low, high, count = text.split(":")
                parsed[name] = torch.linspace(float(low), float(high), int(count)).tolist()
            else:
                parsed[name] = [float(v) for v in text.split(",")]
        except ValueError:
            raise GankitError(f"--code {name}: a continuous code takes 0.5, -1,0,1 or LOW:HIGH:COUNT; "
                              f"got '{text}'.") from None
    return parsed


def default_sample_path(run: Path, seed: int, kind: str = "sample") -> Path:
    """Where ``gankit sample`` writes without ``--out``: ``RUN/samples/``, also when given
    ``RUN/checkpoints/X.pt``; beside any other checkpoint file, and beside an export folder (which
    stays as it was exported). ``kind``: ``sample``, ``walk``, ``traverse-CODE``."""
    from gankit.exported import is_export

    run = Path(run)
    if is_export(run):
        return run.resolve().parent / f"{run.resolve().name}-{kind}-seed{seed}.png"
    if run.is_dir():
        base = run
    elif run.parent.name == "checkpoints" and (run.parent.parent / "config.json").is_file():
        base = run.parent.parent
    else:
        return run.parent / f"{run.stem}-{kind}-seed{seed}.png"
    return base / "samples" / f"{kind}-seed{seed}.png"


def check_out(out: Path, source: Path | None = None) -> Path:
    """Refuse to write ``out`` over a folder, a run's ``config.json``, a checkpoint (the ``source``
    sampled from, a file in a run's ``checkpoints/``, or any other ``.pt`` file holding one); an
    existing samples file is replaced, atomically, as ``cp`` or ``save_image`` would."""
    out = Path(out)
    if out.is_dir():
        raise GankitError(f"--out '{out}' is a folder; pass a file name, e.g. {out / 'samples.png'}.")
    if out.resolve().parent.name == "checkpoints":
        raise GankitError(f"--out '{out}' is inside a run's checkpoints folder, which only training "
                          "writes; pass a file elsewhere.")
    if out.name == CONFIG_FILE and out.exists():
        raise GankitError(f"--out '{out}' would replace a run's {CONFIG_FILE}; pass another file name.")
    if _in_export(out):
        raise GankitError(f"--out '{out}' is inside an export folder, which stays as `gankit export` "
                          "wrote it (its sha256 and model card describe it); pass a file elsewhere.")
    if out.is_file() and (source is not None and out.resolve() == Path(source).resolve()
                          or _is_checkpoint(out)):
        raise GankitError(f"--out '{out}' is a checkpoint, which sampling never writes over; "
                          "pass another --out.")
    return out


def _in_export(path: Path) -> bool:
    """Whether ``path`` would be written into an export folder (gankit/export.py)."""
    from gankit.exported import is_export

    return is_export(path.resolve().parent)


def _is_checkpoint(path: Path) -> bool:
    """Whether ``path`` is a training checkpoint (a dict of networks' weights), not a samples tensor."""
    if path.suffix.lower() != ".pt":
        return False
    try:  # mmap: only the index is read, however large the weights
        state = safe_load(path, map_location="cpu", mmap=True)
    except CheckpointError:  # torch's loader was replaced: no file is read through it
        raise
    except Exception:  # not a torch file (or not one we can read): no checkpoint of gankit's
        return False
    return isinstance(state, dict) and "generator" in state


def save_samples(images: torch.Tensor, out: Path, columns: int | None = None) -> None:
    """``.png``: a grid; ``.npy`` / ``.pt``: the tensor (n, C, H, W) in [-1, 1]."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".png", ".npy", ".pt"):
        raise GankitError(f"--out '{out}': unknown format '{suffix}'. Use .png, .npy or .pt.")
    if suffix == ".png":  # written atomically, as the tensors below
        save_grid(images, out, columns or max(1, round(images.shape[0] ** 0.5)))
        return
    # A full disk or Ctrl-C leaves the old file, never a torn one; atomic_write turns torch's and
    # numpy's reports of a failed write into the OSError naming `out`.
    with atomic_write(out) as file:
        if suffix == ".npy":
            import numpy as np

            np.save(file, images.numpy())
        else:
            torch.save(images, file)


@dataclass
class LoadedGenerator:
    """What :func:`load_generator` returned in gankit 0.1; :func:`gankit.load_run` supersedes it."""

    generator: Any
    variant: str
    dataset: str
    config: Any
    checkpoint: dict[str, Any]


def load_generator(path: Path, *, host: PluginHost | None = None,
                   device: str | torch.device = "cpu") -> LoadedGenerator:
    """A run's generator in eval mode (kept for plugins written for 0.1; use ``gankit.load_run``)."""
    from gankit.loading import load_run

    run = load_run(path, host=host, device=device)
    return LoadedGenerator(run.generator, run.variant, run.dataset, run.config, run.checkpoint)
