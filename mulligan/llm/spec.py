"""Spec strings: one string chooses the model.

Grammar::

    SPEC    := BACKEND ":" TARGET [ "?" OPTIONS ]
             | NAME [ "?" OPTIONS ]               a registered resolver, e.g. "default"
             | PROVIDER "/" MODEL [ "?" OPTIONS ] a bare litellm model name
             | LOCAL_PATH [ "?" OPTIONS ]          an existing local checkpoint folder
    OPTIONS := KEY "=" VALUE { "&" KEY "=" VALUE }

Backends:

- ``scripted:PATH`` replays the reply strings of a JSON list file, from the start in every
  episode (deterministic tests and demos).
- ``litellm:MODEL`` calls any model litellm knows (``litellm:openai/gpt-4o-mini``,
  ``litellm:anthropic/claude-sonnet-4-5``, ``litellm:openai/x?api_base=http://127.0.0.1:8000/v1``
  for an OpenAI-compatible server such as ``mulligan serve``, vLLM or llama.cpp). Options:
  ``api_base``, ``api_key``, ``timeout``, ``max_retries``, ``retry_base_delay``,
  ``max_concurrency``; any other option is passed to ``litellm.acompletion``.
- ``transformers:PATH_OR_NAME`` (alias ``hf:``) runs a Hugging Face checkpoint in process, on
  CPU or GPU. Options: ``device`` (``auto``, ``cpu``, ``cuda``, ``cuda:1``), ``dtype``
  (``auto``, ``float32``, ``bfloat16``, ``float16``), ``max_batch_size``, ``prefix_cache``
  (recent sequences whose keys and values are kept for reuse; 0 turns reuse off).
- ``vllm:PATH_OR_NAME`` runs the checkpoint on vLLM's engine (in process where vLLM is installed,
  else in vLLM's own virtualenv, ``.venv-vllm``); ``vllm:default`` runs the embedded policy there.
  Options: ``python``, ``dtype``, ``max_model_len``, ``prefix_caching``, ``gpu_memory_utilization``,
  ``kv_cache_gib``, ``tensor_parallel_size``, ``seed``, ``engine_args`` (a JSON object).
- ``default`` is the embedded default policy: a resolver registered with
  :func:`register_resolver` returns a local checkpoint path, which runs on the transformers
  backend with the given options.
- ``pkg.module:Factory:TARGET`` builds any backend by import path, and :func:`register_backend`
  gives one a name, so users plug in backends without editing mulligan.

Options are checked against the backend factory's signature (names and types): a misspelt or
ill-typed option is a one-line :class:`~mulligan.errors.ConfigError`. Secrets in a spec
(``api_key=``, ``token=``, a password in a URL) are never written to disk: :func:`redact`.

A bare name with a slash that is not an existing local path (``openai/gpt-4o``) goes to litellm;
an existing local folder goes to transformers. Option values that look like an int, a float or a
bool (``true``/``false``) are parsed as such; keyword overrides given to :func:`make_llm` win over
options in the string.
"""

from __future__ import annotations

import difflib
import inspect
import os
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Union
from urllib.parse import parse_qsl

from pydantic import ConfigDict, create_model

from mulligan.errors import ConfigError
from mulligan.llm.base import LLM
from mulligan.options import build_options
from mulligan.registry import import_ref, is_import_ref

BACKENDS: dict[str, str] = {
    "scripted": "mulligan.llm.scripted:ScriptedLLM.from_file",
    "litellm": "mulligan.llm.litellm_backend:LiteLLMBackend",
    "transformers": "mulligan.llm.transformers_backend:TransformersLLM",
    "vllm": "mulligan.llm.vllm_backend:VLLMBackend",
}
"""Backend name -> ``module:factory``; the factory takes the target and the options."""

Factory = Union[Callable[..., LLM], str]


def register_backend(name: str, factory: Factory) -> None:
    """Make specs ``NAME:TARGET?options`` build ``factory(TARGET, **options)``.

    Args:
        name: The backend word in specs; a plain word (no ``:``, ``/``, ``?`` or ``.``).
        factory: A callable taking the target and keyword options and returning an
            :class:`~mulligan.llm.base.LLM`, or a ``"module:factory"`` string naming one (imported
            when first used). Its keyword parameters are the backend's options, checked by name and
            type annotation.
    """
    if not name or any(c in name for c in ":/?."):
        raise ConfigError(f"backend name {name!r} must be a plain word (no ':', '/', '?' or '.')")
    BACKENDS[name.lower()] = factory  # type: ignore[assignment]

ALIASES: dict[str, str] = {"hf": "transformers"}

LOCAL_BACKENDS = ("transformers", "vllm")
"""Backends that load a checkpoint folder; a registered resolver name (``default``) is one too."""

Resolver = Union[Callable[[], Union[str, os.PathLike]], str]
RESOLVERS: dict[str, Resolver] = {"default": "mulligan.training.default_policy:resolve_default_policy"}
"""Spec name -> resolver returning a local checkpoint path (``default`` is the embedded policy,
built on first use by the training package).

A resolver is a callable or a ``"module:function"`` string imported only when the name is used,
so registering one costs nothing at import time.
"""


def register_resolver(resolver: Resolver, name: str = "default") -> None:
    """Make ``make_llm(name)`` run the checkpoint that ``resolver()`` returns on transformers.

    Args:
        resolver: A callable with no arguments returning a local checkpoint path, or a
            ``"module:function"`` string naming one (imported lazily).
        name: The spec name it answers; must not contain ``:``, ``/`` or ``?``.
    """
    if not name or any(c in name for c in ":/?"):
        raise ConfigError(f"resolver name {name!r} must be a plain word (no ':', '/' or '?')")
    RESOLVERS[name] = resolver


@dataclass(frozen=True)
class Spec:
    """A parsed spec string."""

    backend: str
    target: str
    options: dict[str, Any] = field(default_factory=dict)


def parse_value(text: str) -> Any:
    """Parse an option value: int, float or bool when it looks like one, else the string."""
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_options(query: str) -> dict[str, Any]:
    """Parse ``key=value&key=value`` into a dict of typed values."""
    options: dict[str, Any] = {}
    for key, value in parse_qsl(query, keep_blank_values=True, strict_parsing=False):
        if not key:
            raise ConfigError(f"empty option name in {query!r}")
        if key in options:
            raise ConfigError(f"option {key!r} given twice in {query!r}")
        options[key] = parse_value(value)
    return options


def _known_names() -> list[str]:
    return sorted({*BACKENDS, *ALIASES, *RESOLVERS, "default"})


def _unknown(word: str, spec: str) -> ConfigError:
    names = _known_names()
    close = difflib.get_close_matches(word, names, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return ConfigError(
        f"unknown model backend {word!r} in spec {spec!r}.{hint} Known: {', '.join(names)} "
        "(write BACKEND:TARGET, e.g. 'litellm:openai/gpt-4o-mini', or a provider/model name)."
    )


def parse_spec(spec: str) -> Spec:
    """Split a spec string into backend, target and options (no resolver is called).

    Raises:
        ConfigError: The backend is unknown (with a suggestion) or the target is empty.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"empty model spec {spec!r}; try 'default' or 'litellm:openai/gpt-4o-mini'")
    head, _, query = spec.strip().partition("?")
    options = parse_options(query)
    prefix, colon, rest = head.partition(":")
    # A colon after a slash belongs to the model name (``ollama/llama3:8b``), not a backend.
    if colon and "/" not in prefix and "\\" not in prefix and len(prefix) > 1:
        attr, second, target = rest.partition(":")
        named = prefix.lower() in BACKENDS or prefix.lower() in ALIASES
        if not named and ("." in prefix or second) and is_import_ref(f"{prefix}:{attr}"):
            return Spec(f"{prefix}:{attr}", target, options)
        backend = ALIASES.get(prefix.lower(), prefix.lower())
        if backend not in BACKENDS:
            raise _unknown(prefix, spec)
        if not rest:
            raise ConfigError(f"spec {spec!r} names backend {backend!r} but no target after ':'")
        return Spec(backend, rest, options)
    if head in RESOLVERS or head == "default":
        return Spec("default", head, options)
    if Path(head).expanduser().exists():
        return Spec("transformers", head, options)
    if "/" in head:
        return Spec("litellm", head, options)
    raise _unknown(head, spec)


def resolve(name: str) -> str:
    """Call the resolver registered for ``name`` and return the checkpoint path it gives."""
    resolver = RESOLVERS.get(name)
    if resolver is None:
        raise ConfigError(
            f"no resolver is registered for {name!r}: nothing provides the default model yet. "
            "Register one with mulligan.llm.register_resolver(fn, name), or name a model "
            "explicitly, e.g. 'transformers:/path/to/checkpoint' or 'litellm:openai/gpt-4o-mini'."
        )
    if isinstance(resolver, str):
        resolver = _import(resolver)
    path = resolver()
    if not path or not Path(path).exists():
        raise ConfigError(f"the resolver for {name!r} returned {path!r}, which is not an existing path")
    return str(path)


def _import(ref: str) -> Callable[..., Any]:
    return import_ref(ref, "model backend")


def _factory(backend: str) -> Callable[..., Any]:
    factory = BACKENDS.get(backend, backend)
    return _import(factory) if isinstance(factory, str) else factory


def check_options(factory: Callable[..., Any], backend: str, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` checked against ``factory``'s keyword parameters (names, then annotated types).

    A factory with ``**kwargs`` accepts other names too and checks them itself.

    Returns:
        The options, converted to the annotated types.

    Raises:
        ConfigError: An unknown option (with a close match) or a value of the wrong type.
    """
    params = list(inspect.signature(factory).parameters.values())[1:]  # the first is the target
    named = [p for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
    try:
        hints = typing.get_type_hints(factory.__init__ if isinstance(factory, type) else factory)
    except Exception:  # noqa: BLE001 - unresolvable annotations: check names only
        hints = {}
    fields: dict[str, Any] = {p.name: (hints.get(p.name, Any), ... if p.default is p.empty else p.default)
                              for p in named}
    model = create_model(f"{backend}-options", __config__=ConfigDict(arbitrary_types_allowed=True), **fields)
    open_ended = any(p.kind is p.VAR_KEYWORD for p in params)
    known = {k: v for k, v in options.items() if k in fields or not open_ended}
    checked = build_options(model, known, f"backend {backend!r}", base=None) if known else None
    return {**options, **{k: getattr(checked, k) for k in known}}


def takes_option(spec: str, option: str) -> bool:
    """Whether the backend ``spec`` names declares ``option`` and the spec does not set it already."""
    parsed = parse_spec(spec)
    if option in parsed.options:
        return False
    backend = "transformers" if parsed.backend == "default" else parsed.backend
    try:
        params = inspect.signature(_factory(backend)).parameters
    except (TypeError, ValueError):
        return False
    return option in params and params[option].kind in (inspect.Parameter.KEYWORD_ONLY,
                                                         inspect.Parameter.POSITIONAL_OR_KEYWORD)


def make_llm(spec: str, **overrides: Any) -> LLM:
    """Build the backend a spec string names.

    Args:
        spec: A spec string (see the module docstring for the grammar).
        **overrides: Options that win over those in the spec's query string.

    Returns:
        A ready backend implementing :class:`mulligan.llm.base.LLM`.

    Raises:
        ConfigError: Unknown backend or option, bad target, or no resolver for ``default``.
        DependencyNotInstalled: The backend's package (litellm, torch/transformers) is missing.
    """
    parsed = parse_spec(spec)
    options = {**parsed.options, **overrides}
    backend, target = parsed.backend, parsed.target
    if backend == "default":
        backend, target = "transformers", resolve(target)
    elif backend in LOCAL_BACKENDS and target in RESOLVERS:
        target = resolve(target)  # vllm:default, transformers:default
    factory = _factory(backend)
    return factory(target, **check_options(factory, backend, options))


_SECRET_WORDS = r"[a-z0-9_]*(?:key|token|secret|password|passwd|credentials?|auth|authorization)"
_SECRET_OPTION = re.compile(rf"(?i)((?:^|[?&;\s]){_SECRET_WORDS}=)([^&\s]+)")
_URL_PASSWORD = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^/\s:@]+:)([^/\s@]+)(@)")


def redact(value: Any) -> Any:
    """``value`` with secrets masked: option values whose name says key, token, secret, password
    or auth (``api_key=sk-...`` -> ``api_key=***``) and passwords in URLs. Walks dicts and lists."""
    if isinstance(value, str):
        masked = _SECRET_OPTION.sub(lambda m: m.group(1) + "***", value)
        return _URL_PASSWORD.sub(lambda m: m.group(1) + "***" + m.group(3), masked)
    if isinstance(value, dict):
        return {k: "***" if _secret_name(k) and isinstance(v, str) and v else redact(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact(v) for v in value)
    return value


def _secret_name(name: Any) -> bool:
    return isinstance(name, str) and re.fullmatch(f"(?i){_SECRET_WORDS}", name) is not None


def engine_spec(model: str | None, engine: str) -> str:
    """The spec ``mulligan serve --engine ENGINE --model MODEL`` serves.

    ``transformers`` leaves the model spec as given (None: ``default``); ``vllm`` runs a checkpoint
    folder or a resolver name (``default``) on the vLLM engine: ``vllm:PATH``.
    """
    if engine not in LOCAL_BACKENDS:
        raise ConfigError(f"unknown engine {engine!r}; use {' or '.join(LOCAL_BACKENDS)}")
    model = model or "default"
    if engine == "transformers":
        return model
    parsed = parse_spec(model)
    if parsed.backend == "vllm":
        return model
    if parsed.backend not in ("default", "transformers"):
        raise ConfigError(f"--engine vllm runs a local checkpoint or 'default', not {model!r}")
    query = model.partition("?")[2]
    return f"vllm:{parsed.target}" + (f"?{query}" if query else "")
