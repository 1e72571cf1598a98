"""The scripted backend: per-episode replay, exhaustion, bad files."""

from __future__ import annotations

import asyncio
import json

import pytest
from llm_test_helpers import chat

from mulligan.errors import ConfigError
from mulligan.llm import ScriptedLLM, complete, make_llm


def ask(llm, episode_id, text="go"):
    return asyncio.run(complete(llm, chat(text, episode_id=episode_id)))


def test_every_episode_replays_from_the_start():
    llm = ScriptedLLM(["a", "b"])
    assert [ask(llm, "e1").text, ask(llm, "e2").text, ask(llm, "e1").text, ask(llm, "e2").text] == ["a", "a", "b", "b"]


def test_exhaustion_is_marked_not_raised():
    llm = ScriptedLLM(["only"])
    assert ask(llm, "e").text == "only"
    out = ask(llm, "e")
    assert out.exhausted and out.finish_reason == "script_exhausted" and out.text == "" and out.error is None
    assert ask(llm, "other").text == "only"
    llm.reset("e")
    assert ask(llm, "e").text == "only"


def test_requests_without_episode_share_one_cursor():
    llm = ScriptedLLM(["a", "b", "c"])
    outs = asyncio.run(llm.generate([chat("x"), chat("y", episode_id="e"), chat("z")]))
    assert [o.text for o in outs] == ["a", "a", "b"]
    assert ask(llm, None).text == "c"


def test_usage_counts_words():
    out = ask(ScriptedLLM(["two words"]), "e", text="three little words")
    assert (out.usage.prompt_tokens, out.usage.completion_tokens) == (3, 2)


@pytest.mark.parametrize(
    "content, fragment",
    [
        (None, "does not exist"),
        ("not json [", "not readable JSON"),
        (json.dumps({"a": "b"}), "must hold a JSON list of strings"),
        (json.dumps(["ok", 3]), "must hold a JSON list of strings"),
    ],
)
def test_bad_files_name_the_file(tmp_path, content, fragment):
    path = tmp_path / "replies.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError) as info:
        make_llm(f"scripted:{path}")
    assert fragment in str(info.value) and str(path) in str(info.value)
