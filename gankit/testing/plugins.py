"""Checks of a plugin as gankit loads it: a fresh host with only it, a torch-free import, and what
its hooks register (datasets and commands included)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from gankit.host import PluginHost, PluginInfo
from gankit.testing._common import fail


def plugin_host(*modules: ModuleType | object) -> PluginHost:
    """A fresh host with gankit's built-in losses and datasets plus ``modules``, each registered as
    a plugin named after its module (``__name__``). Installed plugins are not loaded, so a test sees
    exactly these. A module that fails to register raises :class:`PluginCheckError`."""
    host = PluginHost()
    host.load_builtins()
    for module in modules:
        name = getattr(module, "__name__", type(module).__name__)
        if not host.add_plugin(module, PluginInfo(name, "loaded")):
            fail(f"plugin '{name}'", f"registering failed ({host.plugins[name].error})",
                  "Fix the hook that raised; run with GANKIT_STRICT_PLUGINS=1 for the traceback")
    return host


_PLUGIN_PROBE = """
import importlib, json, sys
from gankit.host import PluginHost, PluginInfo
name = sys.argv[1]
module = importlib.import_module(name)
after_import = "torch" in sys.modules
host = PluginHost()
host.load_builtins()
ok = host.add_plugin(module, PluginInfo(name, "loaded"))
after_hooks = "torch" in sys.modules
registered = dict(host.plugins[name].registered)
helps = {}
if ok:
    from typer.testing import CliRunner
    from gankit.cli.app import build_app
    app = build_app(host)
    for command in host.plugins[name].registered.get("commands", []):
        result = CliRunner().invoke(app, [command, "--help"])
        helps[command] = result.exit_code if result.exception is None or result.exit_code \
            else repr(result.exception)
print(json.dumps({"after_import": after_import, "after_hooks": after_hooks,
                  "after_help": "torch" in sys.modules, "ok": ok,
                  "error": host.plugins[name].error, "state": host.plugins[name].state,
                  "problems": host.plugins[name].problems, "helps": helps,
                  "commands": host.plugins[name].registered.get("commands", []),
                  "registered": registered}))
"""


def check_plugin(module_name: str) -> dict[str, list[str]]:
    """Import ``module_name`` and run its hooks in a fresh interpreter: neither may import torch
    (every CLI start runs them, ``gankit --help`` included), registering must succeed with no
    silent mistake (a misspelt hook, a hook without ``@hookimpl``), and each command the plugin
    adds must show its ``--help`` without importing torch.

    :returns: what the plugin's register hooks registered, e.g. ``{"variants": ["acgan"]}``.
    """
    subject = f"plugin module '{module_name}'"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    run = subprocess.run([sys.executable, "-c", _PLUGIN_PROBE, module_name], capture_output=True,
                         text=True, env=env, timeout=120)
    if run.returncode != 0:
        last = (run.stderr.strip().splitlines() or ["(no output)"])[-1]
        fail(subject, f"importing it failed in a fresh interpreter ({last})",
              "Make it importable on its own (is it installed, or on sys.path?)")
    result = json.loads(run.stdout.strip().splitlines()[-1])
    if result["after_import"]:
        fail(subject, "importing it imports torch", "Import torch (and modules that import it, such "
              "as your model file) inside functions, e.g. inside VariantSpec.build")
    if not result["ok"]:
        fail(subject, f"registering failed ({result['error']})", "Fix the hook that raised")
    if result["after_hooks"]:
        fail(subject, "its hooks import torch", "Hooks only register specs; import torch inside "
              "the build functions the specs point to")
    if result["problems"]:
        fail(subject, result["problems"][0], "Fix the hook")
    if not result["registered"] and not result["commands"]:
        fail(subject, "it registers nothing", "Implement a gankit_register_* hook with "
              "@gankit.hookimpl and call register(...) in it")
    for command, outcome in result["helps"].items():  # commands are added when the CLI is built
        if outcome != 0:
            fail(subject, f"`gankit {command} --help` failed ({outcome})", "Check the command's "
                 "options: Typer must be able to read every annotation")
    if result["after_help"]:
        fail(subject, "building its commands or showing their help imports torch", "Import torch "
             "inside the command's body, not where the command is defined")
    return result["registered"]


def check_dataset(name: str, *, host: PluginHost | None = None, split: str = "train",
                  root: Path | None = None, options: dict[str, str] | None = None,
                  min_images: int = 1) -> Any:
    """Load a registered dataset and check that the engine can train on what comes back: an
    ``ImageData`` with uint8 images (N, C, H, W) of the declared shape, int64 labels in range (or
    ``None`` for unlabelled data), and a source description. Returns the data.

    :param root: the data root to load from (default: the user's, ``$GANKIT_DATA_ROOT``...).
    :param options: the dataset's own options, as ``--data-option`` would pass them.
    """
    import torch

    from gankit.data import ImageData
    from gankit.host import get_host
    from gankit.registry import DataRequest

    host = host or get_host()
    spec = host.datasets.get(name)
    subject = f"dataset '{name}'"
    unknown = sorted(set(options or {}) - set(spec.options))
    if unknown:
        fail(subject, f"option '{unknown[0]}' is not declared", "List it in DatasetSpec.options")
    request = DataRequest(**({"root": Path(root)} if root is not None else {}), split=split,
                          download=False, options=dict(options or {}))
    data = spec.load(request)
    if not isinstance(data, ImageData):
        fail(subject, f"load returned {type(data).__name__}",
             "Return gankit.ImageData(images, labels, source)")
    images, labels = data.images, data.labels
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 4:
        fail(subject, f"its images are {getattr(images, 'dtype', type(images).__name__)} with "
             f"{getattr(images, 'dim', lambda: '?')()} dimensions", "Return a uint8 tensor (N, C, H, W)")
    if len(images) < min_images:
        fail(subject, f"it loaded {len(images)} images", f"Load at least {min_images}")
    if spec.image_shape is not None and tuple(images.shape[1:]) != tuple(spec.image_shape):
        fail(subject, f"its images are {tuple(images.shape[1:])}, but it declares {tuple(spec.image_shape)}",
             "Make DatasetSpec.image_shape match the loader, or set it to None")
    classes = spec.num_classes or getattr(data, "num_classes", None)  # a folder's, counted on loading
    if classes:
        if labels is None or labels.dtype != torch.int64 or labels.shape != (len(images),):
            fail(subject, "it declares classes but its labels are not int64 of shape (N,)",
                 "Return labels as torch.int64, one per image")
        if int(labels.min()) < 0 or int(labels.max()) >= classes:
            fail(subject, f"its labels span {int(labels.min())}..{int(labels.max())}, outside "
                 f"0..{classes - 1}", "Fix num_classes or the labels")
    elif labels is not None:
        fail(subject, "it returns labels but declares num_classes=None", "Declare num_classes")
    if not str(data.source).strip():
        fail(subject, "its source description is empty", "Say where the images came from")
    return data
