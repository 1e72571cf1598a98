"""Spec strings: parsing, options, resolvers and the errors users see."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mulligan.errors import ConfigError, DependencyNotInstalled
from mulligan.llm import ScriptedLLM, Spec, make_llm, parse_spec, register_resolver


@pytest.fixture
def no_resolvers(monkeypatch):
    """Hide resolvers registered by other tests or fixtures (the session default policy)."""
    monkeypatch.setattr("mulligan.llm.spec.RESOLVERS", {})
    from mulligan.llm import spec

    return spec.RESOLVERS


@pytest.fixture
def replies_file(tmp_path):
    path = tmp_path / "replies.json"
    path.write_text(json.dumps(["one", "two"]))
    return path


@pytest.mark.parametrize(
    "text, expected",
    [
        ("scripted:replies.json", Spec("scripted", "replies.json")),
        ("litellm:openai/gpt-4o-mini", Spec("litellm", "openai/gpt-4o-mini")),
        ("litellm:ollama/llama3:8b", Spec("litellm", "ollama/llama3:8b")),
        ("transformers:gpt2", Spec("transformers", "gpt2")),
        ("hf:/ckpt/x?device=cpu", Spec("transformers", "/ckpt/x", {"device": "cpu"})),
        ("HF:/ckpt/x", Spec("transformers", "/ckpt/x")),
        ("openai/gpt-4o", Spec("litellm", "openai/gpt-4o")),
        ("anthropic/claude-sonnet-4-5?timeout=30", Spec("litellm", "anthropic/claude-sonnet-4-5", {"timeout": 30})),
        ("ollama/llama3:8b", Spec("litellm", "ollama/llama3:8b")),
        ("default", Spec("default", "default")),
        ("default?device=cuda&dtype=bfloat16", Spec("default", "default", {"device": "cuda", "dtype": "bfloat16"})),
    ],
)
def test_parse_every_form(text, expected):
    assert parse_spec(text) == expected


def test_option_values_are_typed():
    spec = parse_spec("litellm:openai/x?max_retries=2&timeout=1.5&drop_params=true&verbose=False&api_key=k-1&seed=-3")
    assert spec.options == {
        "max_retries": 2, "timeout": 1.5, "drop_params": True, "verbose": False, "api_key": "k-1", "seed": -3,
    }
    assert type(spec.options["max_retries"]) is int


def test_existing_local_path_goes_to_transformers(tmp_path):
    assert parse_spec(str(tmp_path)) == Spec("transformers", str(tmp_path))


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("scriptd:x.json", "Did you mean 'scripted'?"),
        ("litelm:openai/x", "Did you mean 'litellm'?"),
        ("transformer:/x", "Did you mean 'transformers'?"),
        ("defualt", "Did you mean 'default'?"),
        ("gpt4", "Known: default, hf, litellm, scripted, transformers"),
        ("", "empty model spec"),
        ("litellm:", "no target"),
        ("litellm:openai/x?timeout=1&timeout=2", "given twice"),
    ],
)
def test_bad_specs_say_what_is_known(text, fragment):
    with pytest.raises(ConfigError, match=None) as info:
        make_llm(text)
    assert fragment in str(info.value)


def test_unknown_option_gets_a_suggestion(replies_file):
    with pytest.raises(ConfigError, match="unknown backend 'scripted' option 'nme'. Did you mean 'name'"):
        make_llm(f"scripted:{replies_file}?nme=x")


@pytest.mark.parametrize(
    "query, fragment",
    [
        ("api_bse=http://x", "unknown backend 'litellm' option 'api_bse'. Did you mean 'api_base'?"),
        ("timeout=soon", "bad backend 'litellm' option 'timeout' = 'soon': input should be a valid number"),
        ("max_retries=1.5", "bad backend 'litellm' option 'max_retries' = 1.5"),
        ("max_concurrency=0", "'max_concurrency' = 0: must be at least 1"),
        ("timeout=0", "'timeout' = 0.0: must be above 0"),
        ("seeed=3", "Did you mean 'seed'?"),
    ],
)
def test_litellm_options_are_checked_by_name_and_value(query, fragment):
    with pytest.raises(ConfigError) as info:
        make_llm(f"litellm:openai/x?{query}")
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_litellm_takes_its_own_parameters_and_prefixed_pass_through():
    llm = make_llm("litellm:openai/x?seed=3&extra_headers=x&drop_params=true&litellm.num_ctx=4096")
    assert llm.litellm_kwargs == {"seed": 3, "extra_headers": "x", "drop_params": True, "num_ctx": 4096}


def test_backends_by_import_path_and_register_backend(replies_file):
    from mulligan.llm import register_backend

    llm = make_llm(f"mulligan.llm.scripted:ScriptedLLM.from_file:{replies_file}?name=by-path")
    assert isinstance(llm, ScriptedLLM) and llm.name == "by-path"
    register_backend("replay", "mulligan.llm.scripted:ScriptedLLM.from_file")
    try:
        assert make_llm(f"replay:{replies_file}").replies == ["one", "two"]
        with pytest.raises(ConfigError, match="unknown backend 'replay' option 'nme'"):
            make_llm(f"replay:{replies_file}?nme=1")
    finally:
        from mulligan.llm.spec import BACKENDS

        BACKENDS.pop("replay")
    with pytest.raises(ConfigError, match="cannot import the model backend 'no_such.module:F'"):
        make_llm("no_such.module:F:x")
    with pytest.raises(ConfigError, match="plain word"):
        register_backend("a.b", lambda target: None)


def test_secrets_are_redacted():
    from mulligan.llm.spec import redact

    spec = "litellm:openai/x?api_base=http://me:hunter2@host:1/v1&api_key=sk-secret&max_tokens=5&timeout=3"
    assert redact(spec) == "litellm:openai/x?api_base=http://me:***@host:1/v1&api_key=***&max_tokens=5&timeout=3"
    assert redact({"model": spec, "opts": {"critic_model": "a/b?token=t0k", "api_key": "k", "max_tokens": 2}}) == {
        "model": redact(spec), "opts": {"critic_model": "a/b?token=***", "api_key": "***", "max_tokens": 2},
    }


def test_scripted_spec_and_overrides(replies_file):
    llm = make_llm(f"scripted:{replies_file}?name=from-spec")
    assert isinstance(llm, ScriptedLLM) and llm.replies == ["one", "two"] and llm.name == "from-spec"
    assert make_llm(f"scripted:{replies_file}?name=from-spec", name="override").name == "override"


def test_default_without_resolver_is_a_clear_error(no_resolvers):
    with pytest.raises(ConfigError, match="no resolver is registered for 'default'"):
        make_llm("default")


def test_default_resolver_hook(no_resolvers, tiny_checkpoint):
    register_resolver(lambda: tiny_checkpoint)
    llm = make_llm("default?max_batch_size=3", device="cpu")
    try:
        assert type(llm).__name__ == "TransformersLLM"
        assert llm.path == str(tiny_checkpoint) and llm.max_batch_size == 3 and llm.device == "cpu"
    finally:
        llm.close()


def test_resolver_by_module_reference_and_bad_path(no_resolvers, tmp_path):
    register_resolver("tempfile:gettempdir", name="tmp")
    assert parse_spec("tmp") == Spec("default", "tmp")
    from mulligan.llm.spec import resolve

    assert resolve("tmp")
    register_resolver(lambda: tmp_path / "missing", name="gone")
    with pytest.raises(ConfigError, match="not an existing path"):
        make_llm("gone")
    with pytest.raises(ConfigError, match="plain word"):
        register_resolver(lambda: "x", name="a:b")


def test_litellm_spec_options_reach_the_backend():
    llm = make_llm("litellm:openai/x?api_base=http://127.0.0.1:9/v1&api_key=dummy&timeout=2&max_retries=1")
    assert llm.name == "litellm:openai/x" and llm.api_base == "http://127.0.0.1:9/v1"
    assert llm.timeout == 2.0 and llm.retry.attempts == 2


def _run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_import_mulligan_llm_stays_light():
    out = _run_python(
        "import sys, mulligan, mulligan.llm\n"
        "print(sorted(m for m in ('torch', 'transformers', 'litellm') if m in sys.modules))"
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("blocked, spec", [("litellm", "litellm:openai/x"), ("torch", "transformers:/tmp")])
def test_missing_package_names_the_extra(blocked, spec):
    out = _run_python(
        f"import sys; sys.modules[{blocked!r}] = None\n"
        "from mulligan.llm import make_llm\n"
        f"make_llm({spec!r})"
    )
    assert DependencyNotInstalled.__name__ in out.stderr
    assert "pip install" in out.stderr


@pytest.mark.parametrize("model, engine, expected", [
    (None, "transformers", "default"),
    (None, "vllm", "vllm:default"),
    ("default?dtype=float32", "vllm", "vllm:default?dtype=float32"),
    ("transformers:/ckpt", "vllm", "vllm:/ckpt"),
    ("vllm:/ckpt?max_model_len=512", "vllm", "vllm:/ckpt?max_model_len=512"),
    ("litellm:openai/x", "transformers", "litellm:openai/x"),
])
def test_serve_engine_spec(model, engine, expected):
    from mulligan.llm.spec import engine_spec

    assert engine_spec(model, engine) == expected


@pytest.mark.parametrize("model, engine", [("litellm:openai/x", "vllm"), (None, "sglang")])
def test_serve_engine_spec_rejects(model, engine):
    from mulligan.llm.spec import engine_spec

    with pytest.raises(ConfigError):
        engine_spec(model, engine)


def test_vllm_spec_without_vllm_names_the_script(monkeypatch, tmp_path):
    """No vLLM here and no vLLM virtualenv: the error says how to get one."""
    from mulligan.llm import vllm_backend

    monkeypatch.delenv("MULLIGAN_VLLM_PYTHON", raising=False)
    monkeypatch.setattr(vllm_backend, "VENV_DIRS", ("no-such-venv",))
    with pytest.raises(DependencyNotInstalled, match="vllm-venv.sh"):
        make_llm(f"vllm:{tmp_path}")
    with pytest.raises(ConfigError, match="does not exist"):
        make_llm(f"vllm:{tmp_path}?python=/no/such/python")
