"""One config path for every agent: options validated against the agent's ``config_class``, with one
line naming the option and what it accepts; agents by import path."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from mulligan.agents import AGENTS, agent_needs_llm, check_agent_options, make_agent, register_agent
from mulligan.agents.base import AgentConfig, TextAgent
from mulligan.agents.react import ReActAgent
from mulligan.errors import ConfigError


@pytest.mark.parametrize("name", sorted(AGENTS))
def test_every_agent_rejects_an_unknown_option_by_name(name):
    with pytest.raises(ConfigError) as info:
        make_agent(name, None, no_such_option=1)
    message = str(info.value)
    assert f"unknown agent {name!r} option 'no_such_option'" in message and "Options: " in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "name, options, fragment",
    [
        ("react", {"admissible": "likelyhood"},
         "'admissible' = 'likelyhood': input should be 'off', 'nearest' or 'likelihood'. Did you mean 'likelihood'?"),
        ("expert", {"admissible": "likelyhood"}, "Did you mean 'likelihood'?"),
        ("self-debug", {"feedback": "loud"}, "'feedback' = 'loud': input should be 'simple', 'unit' or 'explanation'"),
        ("reflexion", {"trials": "many"}, "'trials' = 'many': input should be a valid integer"),
        ("expert", {"noise": 1.5}, "'noise' = 1.5: input should be less than or equal to 1"),
        ("search", {"verifier": "oracle"}, "'verifier' = 'oracle'"),
        ("expert", {"follow_lessons": "maybe"}, "'follow_lessons' = 'maybe': input should be a valid boolean"),
        ("dagger", {"beta": 1.5}, "'beta' = 1.5: input should be less than or equal to 1"),
        ("dagger", {"noise": 0.2}, "unknown agent 'dagger' option 'noise'"),
        ("dagger-reflexion", {"beta": -0.1}, "'beta' = -0.1: input should be greater than or equal to 0"),
        ("dagger-reflexion", {"sed": 1}, "unknown agent 'dagger-reflexion' option 'sed'. Did you mean 'seed'?"),
        ("reflexion", {"retry_temperature": -5}, "'retry_temperature' = -5: input should be greater than or equal"),
        ("mulligan.training.policy_build:FailThenRetry", {"seed": "x"}, "'seed' = 'x': input should be a valid integer"),
        ("react", {"params.temperature": -1}, "'params.temperature' = -1: input should be greater than or equal to 0"),
        ("react", {"params.tempreature": 1}, "unknown agent 'react' option 'params.tempreature'"),
        ("react", {"max_turns.x": 1}, "option 'max_turns' has no fields"),
    ],
)
def test_bad_values_name_the_option_and_what_it_accepts(name, options, fragment):
    with pytest.raises(ConfigError) as info:
        make_agent(name, None, **options)
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_good_options_reach_the_config_of_every_kind_of_agent():
    react = make_agent("react", None, **{"admissible": "nearest", "params.temperature": 0.7, "max_turns": 5})
    assert react.config.admissible == "nearest" and react.config.params.temperature == 0.7
    assert react.config.params.max_tokens == 128 and react.config.max_turns == 5
    expert = make_agent("expert", None, noise=0.25, noise_seed=3, follow_lessons=False)
    assert expert.noise == 0.25 and expert.config.noise_seed == 3 and not expert.config.follow_lessons
    dagger = make_agent("dagger", None, beta=0.25, seed=4, **{"params.max_tokens": 96})
    assert (dagger.config.beta, dagger.config.seed, dagger.noise) == (0.25, 4, 0.0)
    both = make_agent("dagger-reflexion", None, beta=1.0, seed=5, trials=2, max_turns=10, retry_temperature=0.7)
    assert (both.config.trials, both.config.retry_temperature, both.labeller.config.beta) == (2, 0.7, 1.0)
    assert both.labeller.config.seed == 5 and both.labeller.config.max_turns == 10
    retry = make_agent("mulligan.training.policy_build:FailThenRetry", None, seed=7)
    assert retry.config.trials == 2 and retry.config.seed == 7 and retry.expert.config.noise_seed == 7
    debug = make_agent("self-debug", None, feedback="simple")
    assert debug.config.feedback == "simple" and debug.config.params.max_tokens == 1024
    search = make_agent("search", None, config=AgentConfig(max_turns=7), samples=2)
    assert search.config.max_turns == 7 and search.config.samples == 2


class ShoutingConfig(AgentConfig):
    volume: int = 3


class ShoutingAgent(ReActAgent):
    """An agent defined outside the package, with its own options."""

    name = "shouting"
    config_class = ShoutingConfig


def test_agents_by_import_path_and_register_agent():
    ref = f"{__name__}:ShoutingAgent"
    agent = make_agent(ref, None, volume=11)
    assert isinstance(agent, ShoutingAgent) and agent.config.volume == 11
    assert agent_needs_llm(ref) and not agent_needs_llm("expert")
    with pytest.raises(ConfigError, match="unknown agent 'shouting' option 'volum'. Did you mean 'volume'?"):
        check_agent_options(ref, {"volum": 1})
    register_agent("shouting", ref)
    try:
        assert isinstance(make_agent("shouting"), ShoutingAgent)
    finally:
        AGENTS.pop("shouting")
    with pytest.raises(ConfigError, match="cannot import the agent 'no_such_pkg.agents:X'"):
        make_agent("no_such_pkg.agents:X")
    with pytest.raises(ConfigError, match="is not an agent class"):
        make_agent("mulligan.agents.base:AgentConfig")
    with pytest.raises(ConfigError, match="unknown agent 'reactt'.*Did you mean 'react'"):
        make_agent("reactt")


def test_the_base_class_builds_the_config_once():
    """No agent overrides the build: options of every agent go through TextAgent.build_config."""
    import inspect

    from mulligan.registry import resolve

    for name in AGENTS:
        cls = resolve(name, AGENTS, "agent")
        assert issubclass(cls, TextAgent) and issubclass(cls.config_class, AgentConfig)
        assert "build_config" not in vars(cls), name
        init = vars(cls).get("__init__")
        assert init is None or "build_options" not in inspect.getsource(init), name


def test_the_cli_prints_one_line_before_loading_any_model(tmp_path):
    from mulligan.cli import app

    for option in ("admissible=likelyhood", "no_such_option=1"):
        result = CliRunner().invoke(app, ["run", "--agent", "react", "-o", option, "--out", str(tmp_path / "r")])
        lines = [ln for ln in result.output.splitlines() if ln.strip()]
        assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), result.output
    result = CliRunner().invoke(app, ["run", "mulligan/Code-v0", "--agent", "self-debug", "-o", "feedback=loud",
                                      "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "Traceback" not in result.output and "'feedback' = 'loud'" in result.output
    assert not (tmp_path / "r").exists()
