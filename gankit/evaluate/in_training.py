"""``gankit train --eval-every K``: score the generator every K epochs while it trains.

A training callback (:class:`gankit.Callback`) that the CLI attaches; the engine knows nothing of
it. Each evaluation appends one ``{"event": "eval", ...}`` line to the run's ``metrics.jsonl``
with the metrics and their real-vs-real floor; ``modes_covered`` and ``kl_to_uniform`` are the
numeric mode-collapse signal. ``checkpoints/best.pt`` holds the checkpoint with the lowest FID so
far, written atomically; a resumed run remembers its best FID from ``metrics.jsonl``. The real
reference set is drawn once, at the first evaluation. Evaluation draws its noise from its own
seeded generator and leaves the global RNG alone, so a run with evaluation trains exactly as one
without.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from gankit.checkpoint import save_checkpoint
from gankit.evaluate.evaluator import Evaluator, load_evaluator
from gankit.evaluate.reference import RealReference, build_reference
from gankit.evaluate.score import score_generator, show_notices
from gankit.runs import checkpoint_path, read_metrics
from gankit.train.events import Callback, TrainingContext

BEST_CHECKPOINT = "best.pt"
DEFAULT_EVAL_N = 2000  # images per evaluation during training: seconds on a CPU, not minutes


class EvaluationCallback(Callback):
    """Scores G every ``every`` epochs and after the last one, keeping ``best.pt`` by FID."""

    name = "evaluation"

    def __init__(self, every: int, n: int = DEFAULT_EVAL_N, evaluator_path: Path | None = None) -> None:
        self.every, self.n, self.evaluator_path = every, n, evaluator_path
        self.evaluator: Evaluator | None = None
        self.reference: RealReference | None = None
        self.best_fid = math.inf

    def on_run_start(self, context: TrainingContext) -> None:
        # Loaded now, so a missing evaluator stops the run before its first epoch, not after it.
        self.evaluator = load_evaluator(context.dataset, self.evaluator_path, device=context.device)
        self.best_fid = min((record["fid"] for record in read_metrics(context.run_dir)
                             if record.get("event") == "eval"), default=math.inf)

    def due(self, epoch: int, epochs: int) -> bool:
        """Every ``every`` epochs, and after the last one so best.pt sees the final model."""
        return epoch % self.every == 0 or epoch == epochs

    def on_epoch_end(self, context: TrainingContext) -> None:
        if not self.due(context.epoch, context.config.epochs):
            return
        started = time.perf_counter()
        if self.reference is None:
            options = context.options
            self.reference = build_reference(
                context.dataset_spec, self.evaluator, self.n,
                data_root=options.data_root, download=options.download, options=dict(options.data_options))
            show_notices(self.reference, context.console)
        # the averaged G under --ema: the one the grid shows and `sample` and `evaluate` load
        result = score_generator(context.sampling_generator(), self.evaluator, self.reference)
        line = {"event": "eval", "epoch": context.epoch, "step": context.step,
                **{key: _rounded(value) for key, value in result.items() if key != "floor"
                   and isinstance(value, (int, float)) and not isinstance(value, bool)},
                "floor": {key: _rounded(value) for key, value in result["floor"].items()},
                "real_split": result["real_split"], "evaluator_sha256": result["evaluator"]["sha256"],
                "seconds": round(time.perf_counter() - started, 2)}
        context.write_metrics(line)
        improved = result["fid"] < self.best_fid
        if improved:
            self.best_fid = result["fid"]
            save_checkpoint({**context.checkpoint_state(), "eval": line},
                            checkpoint_path(context.run_dir, BEST_CHECKPOINT))
        if context.console is not None:
            label = f"  label acc {result['label_accuracy']:.1%}" if "label_accuracy" in result else ""
            context.console.print(
                f"eval epoch {context.epoch}: FID {result['fid']:.2f} (real vs real "
                f"{result['floor']['fid']:.2f}, n={result['n_fake']:,})  modes "
                f"{result['modes_covered']}/{result['num_classes']}  KL {result['kl_to_uniform']:.3f}"
                f"{label}{'  -> best.pt' if improved else ''}")


def _rounded(value: Any) -> Any:
    return round(value, 6) if isinstance(value, float) else value
