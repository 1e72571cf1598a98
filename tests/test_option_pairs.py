"""``KEY=VALUE`` options of the command line (``-o``, ``-e``, the benchmarks' ``--grpo-option``)."""

import pytest

from mulligan.envs.cli import parse_pairs
from mulligan.errors import ConfigError


def test_values_are_yaml_scalars_and_exponents_without_a_dot_are_numbers():
    options = parse_pairs(["lr=1e-4", "beta=5E-3", "big=2e+3", "dotted=1.0e-4", "steps=3", "on=true",
                           "name=1e", "loss= dapo", "empty=", "grpo={lr: 5e-5, step_credit: true}"])
    assert options == {"lr": 1e-4, "beta": 5e-3, "big": 2000.0, "dotted": 1e-4, "steps": 3, "on": True,
                       "name": "1e", "loss": "dapo", "empty": "", "grpo": {"lr": 5e-5, "step_credit": True}}
    assert isinstance(options["lr"], float)


def test_a_pair_without_a_key_or_equals_sign_is_refused():
    with pytest.raises(ConfigError, match="'lr' is not KEY=VALUE"):
        parse_pairs(["lr"], "GRPO option")
    with pytest.raises(ConfigError, match="is not KEY=VALUE"):
        parse_pairs(["=3"])


def test_a_value_that_is_not_yaml_is_refused_in_one_line():
    with pytest.raises(ConfigError, match=r"GRPO option .grpo=\{lr: .: not a YAML value") as e:
        parse_pairs(["grpo={lr: "], "GRPO option")
    assert "\n" not in str(e.value)
