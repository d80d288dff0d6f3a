"""``gankit train --eval-every K``: score the generator every K epochs while it trains.

Each evaluation appends one ``{"event": "eval", ...}`` line to the run's ``metrics.jsonl`` with the
metrics and their real-vs-real floor; ``modes_covered`` and ``kl_to_uniform`` are the numeric
mode-collapse signal. ``checkpoints/best.pt`` holds the checkpoint with the lowest FID so far,
written atomically; a resumed run remembers its best FID from ``metrics.jsonl``. The real
reference set is drawn once, at the first evaluation. Evaluation draws its noise from its own
seeded generator and leaves the global RNG alone, so a run with evaluation trains exactly as one
without.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from gankit import runs
from gankit.checkpoint import save_checkpoint
from gankit.evaluate.evaluator import Evaluator, load_evaluator
from gankit.evaluate.reference import RealReference, build_reference
from gankit.evaluate.run_eval import score_generator, show_notices

BEST_CHECKPOINT = "best.pt"
DEFAULT_EVAL_N = 2000  # images per evaluation during training: seconds on a CPU, not minutes


class EpochEvaluator:
    """An ``on_epoch`` callback for :meth:`gankit.train.Trainer.fit`."""

    def __init__(self, trainer: Any, every: int, n: int = DEFAULT_EVAL_N,
                 evaluator_path: Path | None = None) -> None:
        self.trainer, self.every, self.n = trainer, every, n
        # Loaded now, so a missing evaluator stops the run before its first epoch, not after it.
        self.evaluator: Evaluator = load_evaluator(trainer.dataset.name, evaluator_path,
                                                   device=trainer.device)
        self.reference: RealReference | None = None
        self.best_fid = min((record["fid"] for record in runs.read_metrics(trainer.run_dir)
                             if record.get("event") == "eval"), default=math.inf)

    def due(self, epoch: int) -> bool:
        """Every ``every`` epochs, and after the last one so best.pt sees the final model."""
        return epoch % self.every == 0 or epoch == self.trainer.config.epochs

    def __call__(self, epoch_record: dict[str, Any]) -> None:
        epoch = epoch_record["epoch"]
        if not self.due(epoch):
            return
        trainer = self.trainer
        started = time.perf_counter()
        if self.reference is None:
            from gankit.data import default_data_root

            self.reference = build_reference(
                trainer.dataset, self.evaluator, self.n,
                data_root=Path(trainer.options.data_root or default_data_root()),
                download=trainer.options.download)
            show_notices(self.reference, trainer.console)
        result = score_generator(trainer.generator, self.evaluator, self.reference)
        line = {"event": "eval", "epoch": epoch, "step": trainer.step,
                **{key: _rounded(value) for key, value in result.items() if key != "floor"
                   and isinstance(value, (int, float)) and not isinstance(value, bool)},
                "floor": {key: _rounded(value) for key, value in result["floor"].items()},
                "real_split": result["real_split"], "evaluator_sha256": result["evaluator"]["sha256"],
                "seconds": round(time.perf_counter() - started, 2)}
        runs.append_metrics(trainer.run_dir, [line])
        improved = result["fid"] < self.best_fid
        if improved:
            self.best_fid = result["fid"]
            save_checkpoint({**trainer.state_dict(), "eval": line},
                            runs.checkpoint_path(trainer.run_dir, BEST_CHECKPOINT))
        if trainer.console is not None:
            label = f"  label acc {result['label_accuracy']:.1%}" if "label_accuracy" in result else ""
            trainer.console.print(
                f"eval epoch {epoch}: FID {result['fid']:.2f} (real vs real {result['floor']['fid']:.2f}, "
                f"n={result['n_fake']:,})  modes {result['modes_covered']}/{result['num_classes']}  "
                f"KL {result['kl_to_uniform']:.3f}{label}{'  -> best.pt' if improved else ''}"
            )


def _rounded(value: Any) -> Any:
    return round(value, 6) if isinstance(value, float) else value
