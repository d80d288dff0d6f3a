"""`gankit show VARIANT`: every config field with its type, default, bounds and meaning (read from the
field's comment, so a third-party variant documents itself), the losses and datasets, torch-free."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import types
from dataclasses import dataclass
from typing import Optional

import pytest

from gankit import ConfigError, TrainConfig, VariantSpec, hookimpl, param
from gankit.testing import PluginCheckError, check_variant, invoke, plugin_host, variant_config


@dataclass
class ShowcaseConfig(TrainConfig):
    """A third-party config: a commented field, tuple fields, one without a comment."""

    width: int = param(32, ge=1)  # channels of the showcase's one hidden layer
    sizes: tuple[int, ...] = param((8, 16), ge=1)  # hidden widths, first to last
    pair: tuple[float, float] = (0.5, 1.5)
    names: list[str] = dataclasses.field(default_factory=lambda: ["a", "b"])
    # Why a block above a field counts: some fields need more than a trailing comment.
    shift: Optional[float] = None


@dataclass
class OpaqueConfig(TrainConfig):
    weights: dict[str, int] = dataclasses.field(default_factory=dict)  # --set cannot read a dict


def showcase_host(config_class: type = ShowcaseConfig):
    plugin = types.ModuleType("gankit_showcase")
    plugin.gankit_register_variants = hookimpl(lambda register: register(VariantSpec(
        "showcase", "a variant defined in a test", config_class, build=lambda config, data: None,
        paper="Nobody, Showcases, 2024")))
    return plugin_host(plugin)


def lines_of(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.strip()]


def field_line(output: str, name: str) -> str:
    (line,) = [line for line in output.splitlines() if line.split()[:1] == [name]]
    return line


def test_vanilla_shows_dropout_with_its_default_bounds_and_meaning():
    result = invoke(["show", "vanilla"])
    assert result.exit_code == 0, result.output
    assert lines_of(result.output)[0].startswith("vanilla (")
    assert "Goodfellow et al., Generative Adversarial Nets" in result.output
    line = field_line(result.output, "dropout")
    assert line.split()[1:3] == ["float", "0.7"]
    assert "in [0, 1)" in line and line.endswith("D's drop rate after each hidden layer")
    # A field TrainConfig declares keeps its meaning in a subclass that only changed its default.
    epochs = field_line(result.output, "epochs")
    assert epochs.split()[1:3] == ["int", "200"] and epochs.endswith("full passes over the dataset")
    optimizer = field_line(result.output, "optimizer")
    assert "one of adam|adamw|rmsprop|sgd" in optimizer and "Literal" not in result.output
    assert "hinge" in lines_of(result.output)[-3] and "mnist" in result.output


def test_json_has_every_field_of_the_config_class():
    from gankit_vanilla import VanillaConfig

    result = invoke(["show", "vanilla", "--json"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    assert [row["name"] for row in found["fields"]] == [f.name for f in dataclasses.fields(VanillaConfig)]
    dropout = {row["name"]: row for row in found["fields"]}["dropout"]
    assert dropout == {"name": "dropout", "type": "float", "default": 0.7, "bounds": {"ge": 0, "lt": 1},
                       "bounds_text": "in [0, 1)", "meaning": "D's drop rate after each hidden layer"}
    assert found["name"] == "vanilla" and found["conditional"] is False and "bce" in found["losses"]
    assert "mnist" in found["datasets"]["supported"]


def test_a_third_party_variant_shows_its_own_comments_and_types():
    result = invoke(["show", "showcase"], host=showcase_host())
    assert result.exit_code == 0, result.output
    assert lines_of(result.output)[0].startswith("showcase (gankit_showcase:showcase): a variant defined")
    width = field_line(result.output, "width")
    assert width.split()[1:3] == ["int", "32"]
    assert width.endswith("channels of the showcase's one hidden layer")
    sizes = field_line(result.output, "sizes")
    assert "list of ints: 1,2,3" in sizes and " 8,16 " in sizes
    assert sizes.endswith("hidden widths, first to last")
    assert "2 floats: 0.5,1.5" in field_line(result.output, "pair")
    assert "list of strings" in field_line(result.output, "names")
    assert field_line(result.output, "shift").endswith("some fields need more than a trailing comment.")
    assert "<" not in result.output and "typing" not in result.output
    found = json.loads(invoke(["show", "showcase", "--json"], host=showcase_host()).output)
    rows = {row["name"]: row for row in found["fields"]}
    assert rows["sizes"]["default"] == [8, 16] and rows["names"]["default"] == ["a", "b"]
    assert rows["pair"]["meaning"] == "" and rows["shift"]["type"] == "float or none"


def test_show_does_not_import_torch():
    code = ("import sys\nfrom gankit.cli import main\nsys.argv = ['gankit', 'show', 'vanilla']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "dropout" in out and out.strip().endswith("NO-TORCH")


def test_an_unknown_variant_is_one_line_with_a_suggestion():
    result = invoke(["show", "vanila"])
    assert result.exit_code == 2, result.output
    (line,) = lines_of(result.output)  # one line, whatever else is installed
    assert line.startswith("Error: Unknown variant 'vanila'. Did you mean 'vanilla'? Available: ")
    assert all(f" {name}," in line for name in ("cgan", "dcgan", "vanilla"))


def test_set_parses_a_tuple_field_and_a_bad_one_is_one_line(tmp_path):
    host = showcase_host()
    config = variant_config("showcase", {"sizes": "4, 8,12", "pair": "1,2", "names": "x"}, host=host)
    assert (config.sizes, config.pair, config.names) == ((4, 8, 12), (1.0, 2.0), ["x"])
    for item, message in (("sizes=4,x", "sizes must be list of ints: 1,2,3; got '4,x'."),
                          ("pair=1,2,3", "pair must be 2 floats: 0.5,1.5; got '1,2,3' (3 values)."),
                          ("sizes=4,0", "sizes must be at least 1, got 0.")):
        result = invoke(["train", "showcase", "--set", item, "--out", tmp_path / "run"], host=host)
        assert result.exit_code == 2, result.output
        assert lines_of(result.output) == [f"Error: {message}"]


def test_the_unknown_key_error_points_at_show():
    pointer = r"; `gankit show VARIANT` lists them with their defaults\.$"
    with pytest.raises(ConfigError, match=r"^Unknown config key 'colour' for VanillaConfig\. Valid keys: "
                                          r"epochs, .*" + pointer):
        variant_config("vanilla", {"colour": "red"})


def test_check_variant_refuses_a_field_set_cannot_parse():
    with pytest.raises(PluginCheckError, match=r"config field 'weights' has a type --set cannot parse: "
                                               r"dict\[str, int\] is not int, float, bool, str"):
        check_variant("showcase", host=showcase_host(OpaqueConfig))
    shown = invoke(["show", "showcase"], host=showcase_host(OpaqueConfig))
    assert shown.exit_code == 0 and "dict[str, int]" in field_line(shown.output, "weights")


def test_list_shows_each_variants_paper_in_short(monkeypatch):
    from gankit.cli.info import short_citation
    from gankit.testing import invoke

    monkeypatch.setenv("COLUMNS", "200")
    result = invoke(["list"])
    assert result.exit_code == 0, result.output
    assert "Radford et al. 2016" in result.output and "Goodfellow et al. 2014" in result.output
    assert "Mirza & Osindero 2014" in result.output and "Liu et al. 2020" in result.output
    assert short_citation("Jolicoeur-Martineau, The relativistic discriminator, ICLR 2019 "
                          "(arXiv:1807.00734)") == "Jolicoeur-Martineau 2019"
