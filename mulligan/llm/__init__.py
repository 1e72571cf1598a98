"""LLM backends behind one batch-first protocol, chosen by a spec string.

``make_llm("litellm:openai/gpt-4o-mini")``, ``make_llm("transformers:/ckpt?device=cuda")``,
``make_llm("scripted:replies.json")``, ``make_llm("default")``. Importing this package stays light:
litellm, torch and transformers load only when a backend that needs them is built.
"""

from mulligan.llm.base import LLM, ChatRequest, Completion, GenerationParams, Scorer, ScoreRequest, can_score, complete
from mulligan.llm.batching import BatchingLLM
from mulligan.llm.retry import RetryPolicy, is_transient, retry_async
from mulligan.llm.scripted import ScriptedLLM
from mulligan.llm.serve import ServerHandle, serve, start_server
from mulligan.llm.spec import RESOLVERS, Spec, make_llm, parse_spec, redact, register_backend, register_resolver

__all__ = [
    "LLM",
    "RESOLVERS",
    "BatchingLLM",
    "ChatRequest",
    "Completion",
    "GenerationParams",
    "RetryPolicy",
    "ScoreRequest",
    "Scorer",
    "ScriptedLLM",
    "ServerHandle",
    "Spec",
    "can_score",
    "complete",
    "is_transient",
    "make_llm",
    "parse_spec",
    "redact",
    "register_backend",
    "register_resolver",
    "retry_async",
    "serve",
    "start_server",
]
