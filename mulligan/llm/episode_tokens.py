"""Token-in, token-out across an episode's turns: the ids a model generated are the ids it is shown again.

A chat backend renders each turn's prompt as text and tokenizes it. Tokenizing a reply the model
generated does not always give back the ids it generated (a byte-level BPE may spell a word as one
token or as two), so the next turn would show the model something it never said, and RL would train
on tokens nobody sampled. :class:`EpisodeTokens` remembers, per episode, the text and ids of the last
prompt and of that prompt followed by the generated reply. A new prompt that starts with one of those
texts reuses its ids verbatim and tokenizes only the rest; where the transcript changed the reply (an
agent rewrote it, a stop string cut it), only the prompt's ids are reused and the changed text is
tokenized, so the ids always spell exactly the rendered prompt.

Both local engines keep one (the transformers backend, and the vLLM engine, which loads this file as a
plain module in vLLM's own environment): it imports only the standard library.
"""

from __future__ import annotations

from array import array
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable


@dataclass
class _Turn:
    text: str
    ids: array  # int64: a long episode's ids stay compact
    prompt_chars: int
    prompt_tokens: int


class EpisodeTokens:
    """The last turn of recent episodes, looked up by episode id.

    Args:
        encode: Text -> token ids, without special tokens added (the backend's tokenizer).
        capacity: Episodes remembered; the least recently used is forgotten first (its next turn is
            tokenized from text, so nothing breaks, it just stops being verbatim).
    """

    def __init__(self, encode: Callable[[str], list[int]], capacity: int = 256):
        self.encode = encode
        self.capacity = max(0, int(capacity))
        self._turns: OrderedDict[str, _Turn] = OrderedDict()
        self.verbatim = 0
        """Prompts that reused the previous turn's generated ids."""
        self.rewritten = 0
        """Prompts of a remembered episode whose previous reply was not in the transcript as generated."""

    def __len__(self) -> int:
        return len(self._turns)

    def prompt_ids(self, episode: str | None, text: str) -> list[int]:
        """The ids of the rendered prompt ``text``, reusing the episode's earlier ids where it extends them."""
        turn = self._turns.get(episode) if episode is not None else None
        if turn is None:
            return self.encode(text)
        self._turns.move_to_end(episode)
        if text.startswith(turn.text):
            self.verbatim += 1
            return turn.ids.tolist() + self.encode(text[len(turn.text):])
        self.rewritten += 1
        if text.startswith(turn.text[: turn.prompt_chars]):
            return turn.ids[: turn.prompt_tokens].tolist() + self.encode(text[turn.prompt_chars:])
        return self.encode(text)

    def remember(self, episode: str | None, prompt: str, prompt_ids: list[int], reply: str,
                 reply_ids: list[int]) -> None:
        """Keep a turn: its rendered prompt and ids, and the reply as generated (text and ids)."""
        if episode is None or self.capacity == 0:
            return
        ids = array("q", prompt_ids)
        ids.extend(reply_ids)
        self._turns[episode] = _Turn(prompt + reply, ids, len(prompt), len(prompt_ids))
        self._turns.move_to_end(episode)
        while len(self._turns) > self.capacity:
            self._turns.popitem(last=False)

    def clear(self) -> None:
        self._turns.clear()
