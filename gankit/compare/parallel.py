"""``gankit compare --jobs N``: the contenders' runs trained N at a time, each in its own process.

A job is one (variant, seed) run, or under ``--budget-seconds`` or ``--g-steps`` all of a variant's seeds (its
first seed sets the epochs the others get). Each worker process holds one slot for its life: on a
machine with several GPUs, slot k trains on ``cuda:k`` (modulo the count); on a CPU the cores are
split, ``torch.set_num_threads(cores // N)`` each. A run is the same function of its seed as in a
serial comparison (the engine seeds everything from it), so the results match ``--jobs 1`` (up
to the float summation order of a different thread count; see docs/distributed.md).

Workers are started with ``spawn`` (safe with CUDA and threads) and load the installed plugins
and the ``--plugins-dir`` folders the parent loaded; a variant registered only in the calling
process (a test's host) cannot be trained here.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

_slot: dict[str, Any] = {}  # this worker's device and thread count, set once when it starts


def train_in_parallel(train_contender: Callable[..., None], contenders: list[Any], options: Any,
                      dataset: str, out: Path, host: Any, console: Any) -> None:
    """Train every contender's seeds with ``train_contender`` (gankit.compare.run's, passed in to
    keep the imports one-way), ``options.jobs`` runs at a time; fills in each contender's
    ``run_dirs``, ``seeds`` and ``epochs`` in seed order, as the serial path does."""
    import torch

    # Under a time or G-step budget seed 0 sets the epochs of the others.
    per_contender = options.budget_seconds is not None or options.g_steps is not None
    jobs = [(index, list(range(options.seeds)) if per_contender else [seed])
            for index in range(len(contenders))
            for seed in ([0] if per_contender else range(options.seeds))]
    workers = max(1, min(options.jobs, len(jobs)))
    gpus = torch.cuda.device_count() if options.device in ("auto", "cuda") else 0
    threads = max(1, torch.get_num_threads() // workers)
    context = multiprocessing.get_context("spawn")
    slots = context.Queue()
    for slot in range(workers):
        slots.put(f"cuda:{slot % gpus}" if gpus > 1 else options.device)
    quiet = replace(options, progress=False)
    if console is not None:
        console.print(f"training {len(jobs)} run(s), {workers} at a time"
                      + (f" ({threads} thread(s) each)" if gpus <= 1 else " (one GPU each)"))
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                             initargs=(slots, threads, sorted(map(str, host.loaded_dirs)))) as pool:
        futures = [pool.submit(_train_job, train_contender, contenders[index], quiet, seeds, dataset, out)
                   for index, seeds in jobs]
        for (index, _), future in zip(jobs, futures):
            run_dirs, seeds, epochs = future.result()  # a job's error is raised here, in order
            contender = contenders[index]
            contender.run_dirs += run_dirs
            contender.seeds += seeds
            contender.epochs = epochs
            if console is not None:
                console.print(f"trained {contender.variant}, seed(s) {', '.join(map(str, seeds))}")


def _start_worker(slots: Any, threads: int, plugin_dirs: list[str]) -> None:
    import torch

    _slot["device"] = slots.get()
    _slot["plugin_dirs"] = plugin_dirs
    if not str(_slot["device"]).startswith("cuda"):
        torch.set_num_threads(threads)


def _train_job(train_contender: Callable[..., None], contender: Any, options: Any, seeds: list[int],
               dataset: str, out: Path) -> tuple[list[Path], list[int], int | None]:
    from gankit.host import get_host

    host = get_host()
    for folder in _slot.get("plugin_dirs", []):
        if Path(folder) not in host.loaded_dirs:
            host.load_plugins_dir(Path(folder))
    contender = replace(contender, run_dirs=[], seeds=[])
    options = replace(options, device=_slot.get("device", options.device))
    train_contender(contender, options, dataset, out, host, None, seeds=seeds)
    return contender.run_dirs, contender.seeds, contender.epochs
