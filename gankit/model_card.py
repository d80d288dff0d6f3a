"""The model card (``README.md``) of an export: YAML front matter the Hugging Face Hub reads, then
what the generator is, what it was trained on and how, its scores, and how to load it. Everything
in it comes from the export's ``config.json`` (:func:`gankit.export.export_record`)."""

from __future__ import annotations

import json
from typing import Any

from gankit.exported import ONNX_FILE, SAMPLES_FILE

# gankit's dataset names -> the Hub's ids of the same data (only those known; others are left out).
HUB_DATASETS = {"mnist": "ylecun/mnist", "fashion-mnist": "zalando-datasets/fashion_mnist",
                "cifar10": "uoft-cs/cifar10"}
SCORE_KEYS = ("fid", "kid", "is", "precision", "recall", "density", "coverage", "modes_covered",
              "kl_to_uniform", "label_accuracy")  # the card's order; gankit evaluate prints more


def front_matter(record: dict[str, Any], license: str | None) -> str:
    """The YAML block between ``---`` lines: library, tags, datasets, license (when given)."""
    lines = ["---", "library_name: gankit", "tags:", "- gankit", "- gan", f"- {record['variant']}"]
    conditional = record["latent"]["conditional"]
    lines.append("- class-conditional-image-generation" if conditional
                 else "- unconditional-image-generation")
    if not conditional:
        lines.append("pipeline_tag: unconditional-image-generation")
    hub = HUB_DATASETS.get(record["data"]["name"].split(":")[-1])
    if hub:
        lines += ["datasets:", f"- {hub}"]
    if license:
        lines.append(f"license: {license}")
    return "\n".join([*lines, "---", ""])


def _scores(scores: dict[str, Any] | None) -> list[str]:
    if not scores:
        return ["Not evaluated: run `gankit evaluate RUN --json > scores.json` and export again with "
                "`--scores scores.json`, or train with `--eval-every K`."]
    floor = scores.get("floor") or {}
    rows = ["| metric | value | real vs real |", "| --- | --- | --- |"]
    for key in SCORE_KEYS:
        if isinstance(scores.get(key), (int, float)):
            rows.append(f"| {key} | {scores[key]:.4g} | "
                        f"{format(floor[key], '.4g') if isinstance(floor.get(key), (int, float)) else '-'} |")
    n = scores.get("n_fake")
    where = f"epoch {scores['epoch']}, " if "epoch" in scores else ""
    features = (scores.get("protocol") or {}).get("features") or "evaluator"
    space = "InceptionV3's features" if features == "inception" else "the features of gankit's evaluator"
    return [f"From {scores.get('source', 'gankit evaluate')} ({where}n = {n if n else 'not recorded'}, "
            f"in {space} for the dataset; gankit's docs/metrics.md says what each means).", "", *rows]


def _codes(latent: dict[str, Any]) -> list[str]:
    lines = [f"- z: {latent['dim']} columns, {latent['noise']} noise"
             f"{' (N(0, 1))' if latent['noise'] == 'normal' else ' (U(-1, 1))'}"]
    if latent["conditional"]:
        lines.append("- labels: a class per image (`--labels`, `--traverse label`)")
    for code in latent["codes"]:
        kind = f"{code['categories']}-way categorical" if code["categories"] else "continuous"
        lines.append(f"- code `{code['name']}`: {kind}, z columns from {code['index']}; {code['summary']}")
    return lines


def model_card(record: dict[str, Any], variant: Any, *, license: str | None = None) -> str:
    """The card's text. ``variant``: the registered spec (its summary)."""
    data, versions = record["data"], record["versions"]
    plugin = record.get("plugin") or {}
    trained = (versions.get("trained") or {}).get("gankit", "unknown")
    command = record.get("trained_with")
    weights = "G's exponential moving average (EMA)" if record["weights"]["ema"] else "G's trained weights"
    epochs = record["config"].get("epochs")
    onnx = record.get("onnx")
    lines = [
        front_matter(record, license), f"# {record['variant']} generator ({data['name']})", "",
        f"A GAN generator trained with [gankit](https://pypi.org/project/gankit/): variant "
        f"`{record['variant']}`, {variant.summary}.", "", f"![samples]({SAMPLES_FILE})", "",
        f"*{SAMPLES_FILE}: seed 0, as `gankit sample . --seed 0` draws them.*", "",
        "## Paper", "", record.get("paper") or "The variant declares no paper.", "",
        "## Training", "",
        f"- dataset: `{data['name']}` ({data.get('source') or 'source not recorded'}; "
        f"{data.get('num_images') or '?'} images of shape {'x'.join(map(str, data['image_shape']))}"
        f"{', ' + str(data['num_classes']) + ' classes' if data['num_classes'] else ''})",
        f"- epochs: {record['epoch']} trained of {epochs} planned, {record['step']} generator updates",
        f"- precision: {record.get('precision') or 'not recorded'}; seed {record.get('seed')}",
        f"- weights: {weights}, {record['weights']['file']} (safetensors)",
        f"- plugin: `{plugin.get('name', '?')}` {plugin.get('version', '?')} "
        f"(distribution `{plugin.get('distribution', '?')}`)",
        f"- gankit: trained with {trained}, exported with {versions['exported']['gankit']}", "",
        "The command that trains it again (rebuilt from the run's config.json, which does not record "
        "the command line):" if command else "Trained outside a run folder: no command recorded.", "",
    ]
    if command:
        lines += ["```", command["command"], "```", ""]
    lines += ["## Scores", "", *_scores(record.get("scores")), "", "## Latent space", "",
              *_codes(record["latent"]), "", "## Use", "", "```python", "import gankit", "",
              "loaded = gankit.load_generator('.')  # this folder: no pickle, no torch.load",
              "images, labels = loaded.sample(16, seed=0)  # (16, C, H, W) in [-1, 1]", "```", "",
              "```", "gankit sample . --n 16 --seed 0 --out samples.png",
              "gankit sample . --walk 8 --n 4 --out walk.gif",
              "```", ""]
    if onnx:
        lines += [f"`{ONNX_FILE}` runs without torch (onnxruntime): inputs `z` "
                  f"(N, {record['latent']['dim']})"
                  f"{' and `labels` (N,) int64' if record['latent']['conditional'] else ''}; its output "
                  f"differed from torch's by at most {onnx['max_abs_difference']:.2g} on the export's "
                  "check.", ""]
    lines += ["<details><summary>config.json's training config</summary>", "", "```json",
              json.dumps(record["config"], indent=2), "```", "", "</details>", ""]
    return "\n".join(lines)
