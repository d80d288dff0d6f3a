"""The plugin authors' test kit: checks a plugin's own test suite calls.

.. code-block:: python

    import gankit_myplugin
    from gankit.testing import check_plugin, check_variant, plugin_host

    def test_myvariant():
        check_variant("myvariant", host=plugin_host(gankit_myplugin))

    def test_import_is_torch_free():
        check_plugin("gankit_myplugin")

Each check runs on the CPU, on a small synthetic dataset shaped like a registered one, in seconds.
A failed check raises :class:`PluginCheckError`, an ``AssertionError`` (pytest reports it as a
failed test), whose message says what is wrong and what to change.

- :func:`plugin_host`: a fresh plugin host with gankit's built-ins and the given plugins only.
- :func:`check_plugin`: importing the plugin and running its hooks does not import torch, its
  hooks have no silent mistakes, and its commands are added to the CLI and show their help.
- :func:`check_variant`: the whole life of a variant: spec and config, shapes, value ranges,
  logits, finite losses with gradients, two training steps with the real engine, a checkpoint round
  trip, sampling and conditioning.
- :func:`check_variant_loss`: one D and one G step of a variant under a given loss (cheap).
- :func:`check_loss`: a loss's formulas: finite scalars, rewarding the right player, finite for
  huge logits.
- :func:`check_dataset`: a dataset's loader returns what the engine needs (dtype, shape, labels).
- :func:`fake_dataset`: synthetic images shaped like a dataset, for tests that train offline.
- :func:`invoke`: run ``gankit ARGS...`` in-process (CLI tests); :func:`using_host`: make a test's
  host the process-wide one; :func:`variant_config`: a variant's config as ``--set`` makes it.
"""

from gankit.testing._common import PluginCheckError
from gankit.testing.cli import invoke, using_host, variant_config
from gankit.testing.lifecycle import fake_dataset
from gankit.testing.losses import check_loss
from gankit.testing.networks import check_variant, check_variant_loss
from gankit.testing.plugins import check_dataset, check_plugin, plugin_host

__all__ = ["PluginCheckError", "plugin_host", "check_plugin", "check_variant", "check_variant_loss",
           "check_loss", "check_dataset", "fake_dataset", "invoke", "using_host", "variant_config"]
