"""Registries: duplicate names, unknown names with suggestions, and the config parser."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pytest

from gankit import ConfigError, RegistryError, TrainConfig
from gankit.config import build_config, parse_set_options
from gankit.registry import Registry


def test_unknown_name_suggests_the_closest_and_lists_all():
    registry = Registry("variant")
    for name in ("vanilla", "dcgan", "cgan"):
        registry.register(name, object(), owner="x")
    with pytest.raises(RegistryError) as error:
        registry.get("dcgn")
    assert str(error.value) == "Unknown variant 'dcgn'. Did you mean 'dcgan'? Available: cgan, dcgan, vanilla"


def test_unknown_name_without_a_close_match_has_no_suggestion():
    registry = Registry("loss")
    registry.register("hinge", object(), owner="x")
    with pytest.raises(RegistryError, match=r"^Unknown loss 'zzz'\. Available: hinge$"):
        registry.get("zzz")


def test_one_plugin_registering_a_name_twice_is_refused():
    registry = Registry("variant")
    registry.register("vanilla", object(), owner="gankit-vanilla")
    with pytest.raises(RegistryError, match="'vanilla' is registered twice by 'gankit-vanilla'"):
        registry.register("vanilla", object(), owner="gankit-vanilla")
    assert registry.owner("vanilla") == "gankit-vanilla"


@dataclass
class _Config(TrainConfig):
    arch: Literal["mlp", "conv"] = "mlp"
    dropout: float = 0.5
    use_ema: bool = False


def test_set_values_are_parsed_by_field_type():
    config = build_config(_Config, parse_set_options(["arch=conv", "dropout=0.25", "use_ema=yes", "epochs=3"]))
    assert (config.arch, config.dropout, config.use_ema, config.epochs) == ("conv", 0.25, True, 3)


@pytest.mark.parametrize("item, message", [
    ("colour=red", "Unknown config key 'colour' for _Config. Valid keys: epochs, batch_size"),
    ("epochs=many", "epochs must be int; got 'many'"),
    ("arch=rnn", "arch must be one of mlp, conv; got 'rnn'"),
    ("use_ema=maybe", "use_ema must be true or false"),
    ("epochs=0", "epochs must be at least 1"),
    ("beta1=1.5", "beta1 must be in [0, 1)"),
])
def test_bad_set_values_are_one_clear_error(item, message):
    with pytest.raises(ConfigError) as error:
        build_config(_Config, parse_set_options([item]))
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_set_without_equals_sign_is_rejected():
    with pytest.raises(ConfigError, match="--set expects KEY=VALUE, got 'epochs'"):
        parse_set_options(["epochs"])
