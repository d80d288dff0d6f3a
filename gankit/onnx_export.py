"""``gankit export RUN DIR --onnx``: the generator as ONNX (torch's exporter, ``torch.export`` based),
checked by running it with onnxruntime against torch's output on the same z. Needs ``pip install
'gankit[onnx]'`` (onnx, onnxruntime and onnxscript, which torch's exporter translates with)."""

from __future__ import annotations

import contextlib
import io
import re
import warnings
from pathlib import Path
from typing import Any

import torch

from gankit._io import atomic_path
from gankit.errors import GankitError

CHECK_N = 8  # images the check draws, from seed 0
TOLERANCE = 1e-3  # max abs difference (images in [-1, 1]) above which the export is refused
OPSET = 18


class _Inputs(torch.nn.Module):
    """G with the inputs ONNX names: ``z`` and, for a conditional G, ``labels``."""

    def __init__(self, generator: Any) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.generator(z, labels)


def _needs() -> None:
    missing = []
    for module in ("onnx", "onnxruntime", "onnxscript"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise GankitError(f"--onnx needs {', '.join(missing)}: pip install 'gankit[onnx]'.")


def export_onnx(generator: Any, file: Path) -> float:
    """Write ``generator`` (eval mode, CPU) as ONNX with a dynamic batch; return the max abs
    difference between onnxruntime's images and torch's on ``CHECK_N`` seeded z. One line (a
    :class:`GankitError`) where the variant's ops do not export, or the outputs disagree."""
    _needs()
    from gankit.noise import fixed_noise

    generator = generator.cpu().eval()
    z, labels = fixed_noise(generator, CHECK_N, seed=0)
    inputs = (z,) if labels is None else (z, labels)
    batch = torch.export.Dim("n", min=1)
    shapes = ({0: batch},) if labels is None else ({0: batch}, {0: batch})
    names = ["z"] if labels is None else ["z", "labels"]
    try:  # the exporter's progress lines and its notes on axis names are no news to the user
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
                warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            program = torch.onnx.export(_Inputs(generator).eval(), inputs, None, dynamo=True,
                                        opset_version=OPSET, input_names=names, output_names=["images"],
                                        dynamic_shapes=shapes)
    except Exception as error:  # the exporter's own kinds vary by torch version
        raise GankitError(f"--onnx: this variant's generator does not export to ONNX ({_cause(error)}); "
                          "export without --onnx.") from None
    model = program.model_proto.SerializeToString()
    difference = _check(model, generator, inputs, names)
    if difference > TOLERANCE:
        raise GankitError(f"--onnx: onnxruntime's images differ from torch's by up to {difference:.3g} "
                          f"(more than {TOLERANCE}); export without --onnx.")
    with atomic_path(Path(file)) as temp:
        temp.write_bytes(model)
    return difference


def _cause(error: BaseException) -> str:
    """The first line of the innermost cause (the exporter wraps torch.export's error in its own
    advice), without the terminal colours it carries, at most 200 characters."""
    while error.__cause__ is not None:
        error = error.__cause__
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error)).strip()
    return (text.splitlines()[0] if text else type(error).__name__)[:200]


def _check(model: bytes, generator: Any, inputs: tuple[torch.Tensor, ...], names: list[str]) -> float:
    """onnxruntime's output against torch's on the same inputs: the largest absolute difference."""
    import onnxruntime

    session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
    feeds = {name: tensor.numpy() for name, tensor in zip(names, inputs)}
    theirs = torch.from_numpy(session.run(None, feeds)[0])
    with torch.no_grad():
        ours = generator(*inputs)
    return float((theirs - ours).abs().max())
