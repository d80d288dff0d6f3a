"""A/B of the engine's speed levers on vanilla by CPU time, one thread, alternated round by round.

Each configuration trains `gankit train vanilla` (fp32, defaults, bundled 5,000 digits unless
--max-images) with one lever turned back, in this process; the order of the configurations is
reversed every other round so that drifting load hits all alike. Steps are timed by the training
thread's CPU seconds (``time.thread_time``; with one torch thread every op runs in it), an epoch
with its outputs by the process's (``time.process_time``, the writer thread included), so load on
a shared machine barely moves the figures. ``--clock wall --threads 2`` times by the wall clock
instead, what a user waits for on an idle machine.

    python bench/train_levers.py default,no_fused,no_mixed,native_dropout [--rounds 2] [--epochs 4]
    python bench/train_levers.py --outputs     # CPU and wall ms of each per-epoch output

Configurations: default (the engine as it is), no_fused (torch's default CPU Adam, a loop over the
parameters, instead of fused=True), foreach_off (the same, foreach=False stated), no_mixed (D scores
real and fake in two forward passes), native_dropout (nn.Dropout's bernoulli_ mask instead of
gankit.nn.Dropout's), no_dprobs (D(x) and D(G(z)) not logged), sync_writer (outputs in the training thread,
as the engine does on a CPU without a spare core), threaded_writer (every output on the writer
thread, as on a GPU), io_thread (only the checkpoint's write and fsync on the writer thread), no_plot (no loss plot),
compile (``--compile``: torch.compile's inductor; its compile time is in the first epoch, printed apart).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from gankit import Callback
from gankit.train import RunOptions, loop, train
from gankit.train import step as step_module
from gankit.train import outputs as outputs_module
from gankit.train.events import TrainingContext


def _patch(stack, owner, name, value):
    stack.callback(setattr, owner, name, getattr(owner, name))
    setattr(owner, name, value)


def _adam_without_fused(stack):
    adam = torch.optim.Adam
    _patch(stack, torch.optim, "Adam", lambda *a, fused=None, **k: adam(*a, **k))


def _adam_foreach_off(stack):
    adam = torch.optim.Adam
    _patch(stack, torch.optim, "Adam", lambda *a, fused=None, **k: adam(*a, foreach=False, **k))


def _compiled(stack):
    """``gankit train --compile``: the step's forward passes through torch.compile."""
    original = step_module.TrainStep.__init__

    def init(self, context, loss, callbacks, precision, compile=False, *args, **kwargs):
        original(self, context, loss, callbacks, precision, True, *args, **kwargs)
    _patch(stack, step_module.TrainStep, "__init__", init)


def _two_d_forwards(stack):
    init = step_module.TrainStep.__init__

    def without_mixing(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.mixed_batch = False
    _patch(stack, step_module.TrainStep, "__init__", without_mixing)


def _native_dropout(stack):
    import gankit.nn
    _patch(stack, gankit.nn.Dropout, "forward", torch.nn.Dropout.forward)


def _no_dprobs(stack):
    log = TrainingContext.log
    _patch(stack, TrainingContext, "log", lambda self, name, value: None
           if self.record is None and name in ("d_real", "d_fake") else log(self, name, value))


def _checkpoint_io_on_a_thread(stack):
    """The checkpoint serialised in the training thread, only its write and fsync on the writer
    thread (the grid and plot stay in the training thread): the I/O wait off the epoch."""
    from gankit.checkpoint import FORMAT_VERSION
    from gankit._io import atomic_write
    from gankit.runs import checkpoint_path

    init, save = loop.Trainer.__init__, loop.Trainer.save

    def init_with_thread(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.writer.threaded = True
        self.context._background = lambda job: job()

    def write(payload, path):
        with atomic_write(path) as file:
            file.write(payload.getbuffer())

    def save_io_in_thread(self, background=False):
        if not background:
            return save(self, background)
        payload = io.BytesIO()
        torch.save({"format_version": FORMAT_VERSION, **self.state_dict()}, payload)
        self.writer.submit(lambda: write(payload, checkpoint_path(self.context.run_dir)))
        self.callbacks.emit("checkpoint", self.context)

    _patch(stack, loop.Trainer, "__init__", init_with_thread)
    _patch(stack, loop.Trainer, "save", save_io_in_thread)


CONFIGS = {
    "default": lambda stack: None, "no_fused": _adam_without_fused, "foreach_off": _adam_foreach_off,
    "no_mixed": _two_d_forwards,
    "native_dropout": _native_dropout, "no_dprobs": _no_dprobs,
    "sync_writer": lambda stack: _patch(stack, loop, "spare_core", lambda device: False),
    "threaded_writer": lambda stack: _patch(stack, loop, "spare_core", lambda device: True),
    "io_thread": _checkpoint_io_on_a_thread, "compile": _compiled,
    "no_plot": lambda stack: _patch(stack, outputs_module.LossPlot, "on_epoch_end", lambda self, c: None),
}


FIRST: dict[str, list[float]] = {}  # each run's first epoch, by configuration
CLOCKS = {"cpu": (time.thread_time, time.process_time), "wall": (time.perf_counter, time.perf_counter)}
step_clock, epoch_clock = CLOCKS["cpu"]  # what the steps and whole epochs are timed by (--clock)


def run_once(config: str, epochs: int, max_images: int | None) -> tuple[list[float], list[float]]:
    steps, ends = [], []

    class Clock(Callback):
        def on_epoch_end(self, context):
            ends.append(epoch_clock())

    run_epoch = loop.Trainer._run_epoch

    def timed(trainer, *args):
        start = step_clock()
        try:
            return run_epoch(trainer, *args)
        finally:
            steps.append(step_clock() - start)

    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory() as folder:
        _patch(stack, loop.Trainer, "_run_epoch", timed)
        CONFIGS[config](stack)
        train("vanilla", {"epochs": epochs}, RunOptions(out=Path(folder) / "run", progress=False, device="cpu",
                                                         download=False, max_images=max_images), callbacks=[Clock()])
    FIRST.setdefault(config, []).append(steps[0])  # warm-up: with compile, the compile time is here
    return steps[1:], [b - a for a, b in zip(ends, ends[1:])]


def time_outputs() -> None:
    from gankit.checkpoint import save_checkpoint
    from gankit.images import save_grid
    from gankit.plots import plot_losses
    from gankit.train.background import detached_copy

    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        train("vanilla", {"epochs": 1}, RunOptions(out=folder / "run", progress=False, device="cpu",
                                                    download=False, max_images=200))
        state = torch.load(folder / "run/checkpoints/last.pt", weights_only=True)
        records = [{"event": "epoch", "epoch": i, "d_loss": 1.3 - i / 1000, "g_loss": 0.7 + i / 100}
                   for i in range(1, 201)]
        images = torch.rand(16, 1, 28, 28) * 2 - 1
        jobs = {"snapshot of the state (threaded writer)": lambda: detached_copy(state),
                "torch.save into memory": lambda: torch.save(state, io.BytesIO()),
                "save_checkpoint (write, fsync, rename)": lambda: save_checkpoint(state, folder / "x.pt"),
                "sample grid PNG (16 images)": lambda: save_grid(images, folder / "g.png", 4),
                "loss plot, 20 epochs": lambda: plot_losses(records[:20], folder / "l.png", title="vanilla"),
                "loss plot, 200 epochs": lambda: plot_losses(records, folder / "l.png", title="vanilla")}
        for name, job in jobs.items():
            job()
            cpu, wall = [], []
            for _ in range(7):
                c, w = time.process_time(), time.perf_counter()
                job()
                cpu.append(time.process_time() - c)
                wall.append(time.perf_counter() - w)
            print(f"{name:42s} CPU {statistics.median(cpu) * 1e3:7.1f} ms, wall {statistics.median(wall) * 1e3:7.1f} ms")
        print(f"checkpoint size {(folder / 'x.pt').stat().st_size / 1e6:.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="?", default="default,no_fused,no_mixed,native_dropout")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=4, help="per run; the first is warm-up")
    parser.add_argument("--max-images", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="cpu",
                        help="wall: the wall clock, for an idle machine and several threads")
    parser.add_argument("--outputs", action="store_true", help="time each per-epoch output instead")
    args = parser.parse_args()
    global step_clock, epoch_clock
    step_clock, epoch_clock = CLOCKS[args.clock]
    torch.set_num_threads(args.threads)
    load = lambda: " ".join(f"{x:.2f}" for x in os.getloadavg())  # noqa: E731
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, clock {args.clock}; load average at start {load()}")
    if args.outputs:
        time_outputs()
        return
    names = [name.strip() for name in args.configs.split(",")]
    steps = {name: [] for name in names}
    epochs = {name: [] for name in names}
    for round_index in range(args.rounds):
        for name in names if round_index % 2 == 0 else names[::-1]:
            s, e = run_once(name, args.epochs, args.max_images)
            steps[name] += s
            epochs[name] += e
        print(f"round {round_index + 1} (load {os.getloadavg()[0]:.2f}): " + ", ".join(
            f"{name} {statistics.median(steps[name]):.3f}" for name in names))
    base = statistics.median(steps[names[0]])
    for name in names:
        step, epoch = statistics.median(steps[name]), statistics.median(epochs[name])
        print(f"{name:15s} steps {step:.3f} {args.clock} s/epoch ({base / step:.3f}x of {names[0]}'s throughput), "
              f"with outputs {epoch:.3f} ({100 * (epoch / step - 1):+.1f}%); first epoch of each run "
              + ", ".join(f"{first:.2f}" for first in FIRST[name]))
    print(f"load average at end {load()}")


if __name__ == "__main__":
    main()
