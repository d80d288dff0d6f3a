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

A worker dies with its parent: a watchdog thread in it polls ``os.getppid()`` and, once the
parent is gone (killed with SIGKILL, say), stops it as SIGTERM does (its run writes a checkpoint),
then ends it. A worker killed from outside (the OOM killer) ends the comparison in one line naming
the run it was training and how to go on, not in ``BrokenProcessPool``'s traceback.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from gankit.errors import TrainingError

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
    started = context.SimpleQueue()  # job indices, as workers take them (written at once, no feeder)
    initargs = (slots, threads, sorted(map(str, host.loaded_dirs)), os.getpid(), started)
    futures: list[Any] = []
    seen: set[int] = set()  # the job indices taken so far
    try:
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                                 initargs=initargs) as pool:
            try:
                futures += [pool.submit(_train_job, train_contender, contenders[index], quiet, seeds, dataset,
                                        out, number) for number, (index, seeds) in enumerate(jobs)]
                _collect(jobs, futures, contenders, console, lambda: seen.update(_drain(started)))
            except KeyboardInterrupt as stop:
                _stop_workers(pool, stop)
                # The same exception (Terminated stays Terminated), telling the CLI where the
                # comparison's runs are, so that it can print the command that continues it.
                stop.comparison_out = out  # type: ignore[attr-defined]
                raise
    except BrokenProcessPool:  # RUN/runs: the folder gankit.compare.run's train_contender fills
        raise TrainingError(_died_line(jobs, futures, seen | _drain(started), contenders, out)) from None


def _collect(jobs: list[tuple[int, list[int]]], futures: list[Any], contenders: list[Any],
             console: Any, drain: Callable[[], None]) -> None:
    for (index, _), future in zip(jobs, futures):
        run_dirs, seeds, epochs = future.result()  # a job's error is raised here, in order
        drain()  # read as it goes: a pipe full of job indices would block the workers
        contender = contenders[index]
        contender.run_dirs += run_dirs
        contender.seeds += seeds
        contender.epochs = epochs
        if console is not None:
            console.print(f"trained {contender.variant}, seed(s) {', '.join(map(str, seeds))}")


def _stop_workers(pool: Any, stop: BaseException) -> None:
    """Ctrl-C: no job is started any more, and the runs in progress stop with a checkpoint, as
    Ctrl-C reached their workers too; this waits for them. A SIGTERM sent to this process alone
    (gankit.cli.common.Terminated) is passed on to them first."""
    processes = list((getattr(pool, "_processes", None) or {}).values())  # shutdown() forgets them
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if getattr(stop, "signum", None) == signal.SIGTERM:
            with contextlib.suppress(OSError, ValueError):
                process.terminate()
    for process in processes:
        process.join()


def _drain(queue: Any) -> set[int]:
    found = set()
    while not queue.empty():
        found.add(queue.get())
    return found


def _died_line(jobs: list[tuple[int, list[int]]], futures: list[Any], started: set[int],
               contenders: list[Any], out: Path) -> str:
    """One line for a worker that died: the runs it may have been training, what finished, what next."""
    finished = [n for n, future in enumerate(futures) if future.done() and future.exception() is None]
    unfinished = [n for n in range(len(jobs)) if n not in finished]
    running = [n for n in unfinished if n in started] or unfinished

    def name(number: int) -> str:
        index, seeds = jobs[number]
        return f"{contenders[index].variant} seed {', '.join(map(str, seeds))}"

    kept = (f"{len(finished)} of {len(jobs)} runs finished, in '{out / 'runs'}'" if finished
            else "no run finished")
    return (f"A worker process of compare --jobs died (killed from outside, or out of memory) while "
            f"training {' or '.join(name(n) for n in running)}; {kept}. The same command with --out {out} "
            "continues the comparison: finished runs are kept, the others resume from their checkpoints.")


def _start_worker(slots: Any, threads: int, plugin_dirs: list[str], parent: int | None = None,
                  started: Any = None) -> None:
    import torch

    if parent is not None:
        from gankit.train.distributed import watch_parent

        watch_parent(parent)  # as a torchrun rank watches its agent
    _slot["device"] = slots.get()
    _slot["plugin_dirs"] = plugin_dirs
    _slot["started"] = started
    if not str(_slot["device"]).startswith("cuda"):
        torch.set_num_threads(threads)


def _train_job(train_contender: Callable[..., None], contender: Any, options: Any, seeds: list[int],
               dataset: str, out: Path, number: int = 0) -> tuple[list[Path], list[int], int | None]:
    from gankit.host import get_host
    from gankit.train import Interrupted

    if _slot.get("stopped"):  # a job queued before Ctrl-C or SIGTERM: never started
        raise TrainingError("Not trained: the comparison was interrupted.")
    if _slot.get("started") is not None:
        _slot["started"].put(number)
    host = get_host()
    for folder in _slot.get("plugin_dirs", []):
        if Path(folder) not in host.loaded_dirs:
            host.load_plugins_dir(Path(folder))
    contender = replace(contender, run_dirs=[], seeds=[])
    options = replace(options, device=_slot.get("device", options.device))
    try:
        train_contender(contender, options, dataset, out, host, None, seeds=seeds)
    except (KeyboardInterrupt, Interrupted):  # stopped by a signal: this worker trains no more
        _slot["stopped"] = True
        raise
    return contender.run_dirs, contender.seeds, contender.epochs
