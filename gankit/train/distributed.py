"""Several processes, one run: ``torch.distributed`` as ``torchrun`` sets it up.

``torchrun`` (``torch.distributed.run``) starts the processes and puts ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK`` and the rendezvous address in their environment; :func:`setup` reads them and joins
the process group (nccl on CUDA, gloo on CPU). Without them, or with ``WORLD_SIZE=1``, nothing is
initialised and :data:`SINGLE` stands in: the engine then takes exactly its one-process path.

What makes N processes train the run one process would:

* ``--batch-size`` stays the global batch. Every rank computes the same seeded permutation of the
  epoch; :meth:`Distributed.shard` re-arranges it so that each of the rank's batches of
  ``batch_size // world`` images is its slice of the global batch (the batch source needs no change).
* The noise is drawn for the global batch on every rank (one RNG stream, the same on every rank)
  and sliced (:meth:`Distributed.slice`); losses are per-shard means of equal shards and DDP
  averages gradients, so each step's gradient is the global batch's mean up to summation order.
* Logged values are averaged over ranks when the loop reads them (a few times an epoch), and the
  stop flag (Ctrl-C, SIGTERM, ``request_stop``) is agreed on at those same points.

What goes wrong with several processes is one line each (:func:`joined`, :func:`launch`): a rank
that finds a peer dead says so (gloo's "Connection reset by peer" was a traceback); a rank whose
torchrun agent is killed stops at its next read-back point with a checkpoint (:func:`watch_parent`:
``os.getppid()`` polled, as ``compare --jobs`` workers do); ``--devices N`` stopped by a signal
exits 130.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterator

import torch

from gankit.errors import ConfigError, TrainingError

PARENT_POLL_S = 0.5  # how often a rank (or a compare --jobs worker) checks that its parent is alive
STOP_GRACE_S = 30.0  # how long an orphaned process may take to write its checkpoint and end
# What gloo (and NCCL) say when the process at the other end of a connection is gone.
PEER_GONE = ("Connection reset by peer", "Connection closed by peer", "Broken pipe", "Connection refused",
             "NCCL communicator was aborted")


@dataclass(frozen=True)
class Distributed:
    """This process's place in the run; ``world == 1`` means no process group."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    backend: str | None = None
    owns_group: bool = False  # gankit joined the group (and leaves it); else the caller's to keep

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def record(self, batch_size: int) -> dict[str, Any]:
        """What ``config.json`` says about the processes."""
        return {"world_size": self.world, "backend": self.backend,
                "per_rank_batch": batch_size // self.world}

    def check_batch(self, batch_size: int) -> None:
        if batch_size % self.world:
            raise ConfigError(f"--batch-size {batch_size} does not split evenly over {self.world} "
                              f"processes; use a multiple of {self.world} (it is the global batch).")

    def shard(self, order: torch.Tensor, batch_size: int) -> torch.Tensor:
        """This rank's slice of every global batch of ``order``, batch after batch: batch k of
        ``batch_size // world`` images from the result is rank's part of global batch k."""
        if not self.active:
            return order
        per_rank, batches = batch_size // self.world, len(order) // batch_size
        grid = order[:batches * batch_size].view(batches, self.world, per_rank)
        return grid[:, self.rank].reshape(-1)

    def slice(self, tensor: torch.Tensor) -> torch.Tensor:
        """Rank's equal part of a tensor drawn for the global batch (dim 0)."""
        if not self.active:
            return tensor
        per_rank = tensor.shape[0] // self.world
        return tensor[self.rank * per_rank:(self.rank + 1) * per_rank]

    def sum_logged(self, sums: dict[str, torch.Tensor], counts: dict[str, int],
                   device: torch.device) -> tuple[list[str], list[float], dict[str, int]]:
        """Logged sums and counts added over the ranks: every name any rank logged, in one order.
        The names travel first (a rank-0 callback may log what the others do not)."""
        gathered: list[Any] = [None] * self.world
        torch.distributed.all_gather_object(gathered, sorted(sums))
        names = sorted(set().union(*gathered))
        local = torch.zeros(2, len(names), dtype=torch.float64, device=device)
        for column, name in enumerate(names):
            if name in sums:
                local[0, column] = sums[name]
                local[1, column] = counts[name]
        torch.distributed.all_reduce(local)
        values, totals = local.tolist()
        return names, values, {name: int(total) for name, total in zip(names, totals)}

    def any(self, flag: bool, device: torch.device) -> bool:
        """True on every rank when it is true on any (the ranks must all call this together)."""
        if not self.active:
            return flag
        value = torch.tensor([1.0 if flag else 0.0], device=device)
        torch.distributed.all_reduce(value, op=torch.distributed.ReduceOp.MAX)
        return bool(value.item())

    def barrier(self) -> None:
        if self.active:
            torch.distributed.barrier()

    def broadcast(self, value: Any) -> Any:
        """Rank 0's ``value`` (a picklable object) on every rank."""
        if not self.active:
            return value
        box = [value]
        torch.distributed.broadcast_object_list(box, src=0)
        return box[0]

    def wrap(self, module: torch.nn.Module, device: torch.device) -> Any:
        """``module`` in its own DDP wrapper (gradient averaging), or as it is in one process.

        ``broadcast_buffers=False``: the G step scores fakes with D's plain module (see
        gankit.train.step), so a buffer broadcast inside DDP's forward would only copy rank 0's
        BatchNorm running statistics over the others' at the D step; without SyncBatchNorm each
        rank keeps its own, and rank 0's are the ones saved (StudioGAN does the same:
        ``broadcast_buffers=synchronized_bn``). Spectral norm's vectors follow from the weights,
        which DDP keeps identical, so they stay identical without a broadcast.
        """
        if not self.active:
            return module
        from torch.nn.parallel import DistributedDataParallel

        ids = [device.index] if device.type == "cuda" else None
        import inspect

        # torch 2.14 renamed the option (forward_sync_buffers); it still syncs once at init, which is
        # harmless here: every rank built the networks from the same seed.
        sync = ("forward_sync_buffers" if "forward_sync_buffers" in
                inspect.signature(DistributedDataParallel.__init__).parameters else "broadcast_buffers")
        return DistributedDataParallel(module, device_ids=ids, **{sync: False})


SINGLE = Distributed()


def environment_world() -> int:
    """The number of processes ``torchrun`` (or SLURM via torchrun) started; 1 outside it."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 1


def setup(device_name: str) -> tuple[Distributed, str]:
    """Join the process group ``torchrun`` described (once per process); returns this process's
    :class:`Distributed` and the device it trains on (``cuda:LOCAL_RANK`` on CUDA)."""
    if environment_world() <= 1:
        return SINGLE, device_name
    import torch.distributed as dist

    rank, world = int(os.environ["RANK"]), environment_world()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = device_name.startswith("cuda") or (device_name == "auto" and torch.cuda.is_available())
    if cuda:
        if local_rank >= torch.cuda.device_count():
            raise ConfigError(f"Process {local_rank} of this machine has no GPU of its own (torch sees "
                              f"{torch.cuda.device_count()}); start at most one process per GPU.")
        device_name = f"cuda:{local_rank}"
        torch.cuda.set_device(local_rank)
    owns = not dist.is_initialized()  # a script may have joined it already, and keep it after
    if owns:
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    return Distributed(rank, world, local_rank, dist.get_backend(), owns), device_name


def teardown(distributed: Distributed) -> None:
    if distributed.owns_group and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


@contextlib.contextmanager
def joined(device_name: str) -> Iterator[tuple[Distributed, str]]:
    """``with joined(device) as (distributed, device):`` :func:`setup`, then :func:`teardown` however
    the block ends. Under torchrun the rank stops (with a checkpoint) once its agent is gone, and a
    peer that died mid-collective is one :class:`TrainingError` line, not gloo's traceback."""
    distributed, device_name = setup(device_name)
    watching = watch_parent(os.getppid()) if distributed.active and "TORCHELASTIC_RUN_ID" in os.environ \
        else None
    try:
        yield distributed, device_name
    except RuntimeError as error:
        if not distributed.active or not peer_gone(error):
            raise
        if threading.current_thread() is threading.main_thread():  # the agent's SIGTERM follows:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # it must not cut this line short
        raise TrainingError(
            f"Process {distributed.rank} of {distributed.world} stopped: another process of this run ended "
            f"without warning ({peer_gone(error)}), so the run cannot go on. The dead process's own "
            "output (or the launcher's) says why; the run continues from its last checkpoint with "
            "--resume.") from None
    finally:
        if watching is not None:
            watching.set()
        with contextlib.suppress(RuntimeError):  # a group whose peers are gone may refuse to close
            teardown(distributed)


def peer_gone(error: BaseException) -> str:
    """What in ``error`` says the process at the other end is gone ("Connection reset by peer"),
    or "" when it is some other failure."""
    text = str(error)
    return next((phrase for phrase in PEER_GONE if phrase in text), "")


def watch_parent(parent: int, poll: float = PARENT_POLL_S, grace: float = STOP_GRACE_S) -> threading.Event:
    """Stop this process once ``parent`` is gone (it is then another's child): SIGTERM first, which
    stops training at its next step with a checkpoint, then ``os._exit(1)`` ``grace`` seconds later
    if it is still alive (stuck in a collective whose peer went too). Polling ``os.getppid()`` works
    wherever Python does and sees a parent that died before the watch began; Linux's
    ``PR_SET_PDEATHSIG`` fires when the parent's *thread* that started this process ends, and only
    on Linux. Returns the event that ends the watch."""
    done = threading.Event()

    def watch() -> None:
        while os.getppid() == parent:
            if done.wait(poll):
                return
        os.kill(os.getpid(), signal.SIGTERM)
        if not done.wait(grace):
            os._exit(1)

    threading.Thread(target=watch, name="gankit-parent-watch", daemon=True).start()
    return done


def launch(devices: int, argv: list[str]) -> int:
    """``gankit ARGV`` on ``devices`` processes of this machine, through ``torch.distributed.run``
    (a free port via ``--standalone``); returns the exit code torchrun reports."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import main as torchrun

    try:
        torchrun(["--standalone", f"--nproc_per_node={devices}", "-m", "gankit", *without_devices(argv)])
    except SystemExit as stop:
        return int(stop.code or 0)
    except SignalException as stop:  # the agent passed the signal on to every rank and waited for them
        return _stopped_by_signal(signal.Signals(stop.sigval).name, devices)
    except ChildFailedError as error:
        return _child_failed(error, devices)
    except Exception as error:
        print(f"error: {type(error).__name__}: a training process failed (see above).", file=sys.stderr)
        return 1
    return 0


EXIT_INTERRUPTED = 130  # as gankit.cli.common's: Ctrl-C and SIGTERM, as shells report them


def _stopped_by_signal(name: str, devices: int) -> int:
    what = "Terminated" if name == "SIGTERM" else "Interrupted"
    print(f"{what} ({name}): the {devices} training processes were stopped at their next step; a run that "
          "saved a checkpoint continues with the same command and --resume.", file=sys.stderr)
    return EXIT_INTERRUPTED


def _child_failed(error: Any, devices: int) -> int:
    """One line for the rank that failed first; 130 when every failure was a stop by a signal
    (the ranks' own SIGTERM or Ctrl-C handling exits 130)."""
    failures = error.failures.values()
    if all(f.exitcode in (EXIT_INTERRUPTED, -signal.SIGTERM, -signal.SIGINT) for f in failures):
        return _stopped_by_signal("SIGTERM" if any(f.exitcode == -signal.SIGTERM for f in failures)
                                  else "SIGINT", devices)
    rank, first = error.get_first_failure()
    how = (f"exited with code {first.exitcode} (its error is above)" if first.exitcode >= 0 else
           f"was killed by {first.signal_name()}" + (" (from outside, or out of memory)"
                                                     if first.exitcode == -signal.SIGKILL else ""))
    print(f"Error: training process {rank} of {devices} {how}, so the others were stopped; a run that "
          "saved a checkpoint continues with --resume.", file=sys.stderr)
    return 1


def without_devices(argv: list[str]) -> list[str]:
    """``argv`` less its ``--devices N`` (or ``--devices=N``), for the processes torchrun starts."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--devices":
            skip = True
        elif not arg.startswith("--devices="):
            out.append(arg)
    return out


def convert_sync_batchnorm(networks: Any, distributed: Distributed, device: torch.device) -> None:
    """``--sync-bn``: G's and D's BatchNorm layers compute their statistics over the global batch
    (``torch.nn.SyncBatchNorm``; same parameters and buffers, so checkpoints keep their names)."""
    if not distributed.active:
        return  # one process: the batch statistics are already the global batch's
    if device.type != "cuda":
        raise ConfigError("--sync-bn needs CUDA (torch's SyncBatchNorm runs on GPUs only); "
                          "drop it on CPU.")
    for network in networks:  # in place: only a network that is itself a BatchNorm would be replaced
        torch.nn.SyncBatchNorm.convert_sync_batchnorm(network)
