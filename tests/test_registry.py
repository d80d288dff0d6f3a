"""Registries: duplicate names, unknown names with suggestions, and the config parser."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from typing import Literal
from typing import Optional

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


def clashing() -> Registry:
    """gankit's 'ragan' and a plugin's, and one name only gankit has."""
    registry = Registry("loss")
    registry.register("ragan", "gankit's", owner="gankit", first_party=True)
    registry.register("hinge", "gankit's hinge", owner="gankit", first_party=True)
    registry.register("ragan", "extras'", owner="extras", aliases=("gankit-extras",))
    return registry


def test_the_installed_plugin_takes_the_bare_name_and_every_spec_answers_to_its_qualified_one():
    registry = clashing()
    assert registry.get("ragan") == "extras'" and registry.get("gankit:ragan") == "gankit's"
    assert registry.get("extras:ragan") == registry.get("gankit_extras:ragan") == registry.get("Gankit-Extras:ragan")
    assert registry.get("gankit:hinge") == registry.get("hinge") == "gankit's hinge"
    assert registry.qualified("ragan") == "extras:ragan" and registry.owner("gankit:ragan") == "gankit"
    assert [registry.shown_name(r) for r in registry.registrations()] == ["hinge", "gankit:ragan", "ragan"]
    assert "gankit:ragan" in registry and "nobody:ragan" not in registry and len(registry) == 3


def test_a_qualified_name_nobody_registers_says_who_does():
    with pytest.raises(RegistryError, match=r"^Unknown loss 'nobody:ragan': no plugin 'nobody' registers "
                                            r"'ragan'\. Registered: 'gankit:ragan', 'extras:ragan'$"):
        clashing().get("nobody:ragan")
    with pytest.raises(RegistryError, match="Unknown loss 'gankit:hnge'. Did you mean 'hinge'?"):
        clashing().get("gankit:hnge")


def test_a_recorded_name_wins_while_registered_and_strictly_refuses_when_gone():
    registry = clashing()
    assert registry.get("ragan", pinned="gankit:ragan") == "gankit's"
    assert registry.get("hinge", pinned="gankit:ragan") == "gankit's hinge"  # a pin of another name: ignored
    assert registry.get("ragan", pinned="gone:ragan") == "extras'"
    with pytest.raises(RegistryError, match="made with loss 'gone:ragan', but plugin 'gone' is not installed"):
        registry.get("ragan", pinned="gone:ragan", strict=True)


def test_a_name_with_the_separator_is_refused_and_a_failed_plugin_leaves_nothing():
    registry = clashing()
    with pytest.raises(RegistryError, match="contains ':'"):
        registry.register("my:loss", object(), owner="x")
    registry.unregister_owner("extras")
    assert registry.get("ragan") == "gankit's" and registry.qualified("ragan") == "gankit:ragan"


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


@dataclass
class _Sequences(TrainConfig):
    sizes: tuple[int, ...] = (8, 16)
    rates: list[float] = field(default_factory=lambda: [0.5])
    pair: tuple[int, int] = (1, 2)
    tags: Optional[tuple[str, ...]] = None


def test_lists_and_tuples_are_comma_separated():
    config = build_config(_Sequences, parse_set_options(
        ["sizes=1, 2,3", "rates=0.1,2e-3", "pair=3,4", "tags=a,b"]))
    assert (config.sizes, config.rates, config.pair) == ((1, 2, 3), [0.1, 0.002], (3, 4))
    assert config.tags == ("a", "b")
    assert build_config(_Sequences, {"tags": "none", "sizes": ""}).sizes == ()
    # config.json gives a tuple back as a list: a rebuilt run gets its tuple.
    assert build_config(_Sequences, base={"sizes": [4, 5], "tags": ["x"]}).sizes == (4, 5)


@pytest.mark.parametrize("item, message", [
    ("sizes=1,two", "sizes must be list of ints: 1,2,3; got '1,two'."),
    ("rates=0.1,inf", "rates must be list of floats: 0.5,1.5; got '0.1,inf'."),
    ("pair=1", "pair must be 2 ints: 1,2; got '1' (1 value)."),
])
def test_bad_sequences_are_one_line_naming_the_field_and_the_expected_form(item, message):
    with pytest.raises(ConfigError) as error:
        build_config(_Sequences, parse_set_options([item]))
    assert str(error.value) == message


def test_the_unknown_key_error_says_where_the_keys_are_listed():
    with pytest.raises(ConfigError, match=r"Valid keys: epochs, .*, sizes, rates, pair, tags; "
                                          r"`gankit show VARIANT` lists them with their defaults\.$"):
        build_config(_Sequences, {"colour": "red"})
