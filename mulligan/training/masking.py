"""Exact per-token loss masks for chat conversations, for any tokenizer with a chat template.

A conversation is rendered with the tokenizer's own chat template on growing prefixes, so the text
of each message (and of the assistant header the template puts before it) is known exactly. Each
piece is tokenized on its own, and the concatenation must equal the tokenization of the whole
rendered conversation; when it does not, the boundaries would be guesses, so :class:`ChatTemplateError`
is raised instead of producing a wrong mask.

The mask is 1 on the tokens an assistant message with ``train`` set contributes after its header:
its content and the end-of-turn token, but not what the template adds after that token (the
newline after ``<|im_end|>`` in Qwen-style templates, for example), which the model never generates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from mulligan.errors import ConfigError
from mulligan.records import Message

# Fields of mulligan messages that are not part of the chat format and stay out of the template.
_PRIVATE_FIELDS = ("train", "kind")


class ChatTemplateError(ConfigError):
    """The chat template or tokenizer cannot give exact per-message token boundaries."""


@dataclass(frozen=True)
class TokenizedConversation:
    """A rendered and tokenized conversation with its loss mask.

    Attributes:
        input_ids: Token ids of the whole rendered conversation.
        mask: 1 where the token is trained on, 0 elsewhere; same length as ``input_ids``.
        spans: For each message, the ``(start, end)`` token range of its text (header excluded
            for assistant messages).
    """

    input_ids: list[int]
    mask: list[int]
    spans: list[tuple[int, int]]

    def to_row(self) -> dict[str, list[int]]:
        """The pre-tokenized row TRL's ``SFTTrainer`` accepts (``input_ids`` + ``assistant_masks``)."""
        return {"input_ids": list(self.input_ids), "assistant_masks": list(self.mask)}


def _as_dict(message: Message | Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """The template-facing dict of a message, and whether it carries loss."""
    if isinstance(message, Message):
        train = message.train
        data = message.to_openai()
    else:
        train = message.get("train")
        data = {k: v for k, v in message.items() if k not in _PRIVATE_FIELDS}
    role = data.get("role")
    if train is None:
        train = role == "assistant"
    # Only assistant turns have a well-defined "what the model generates" span.
    return data, bool(train) and role == "assistant"


def _render(tokenizer: Any, messages: list[dict[str, Any]], generation: bool, kwargs: dict[str, Any]) -> str:
    try:
        return tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=generation, **kwargs
        )
    except Exception as e:  # noqa: BLE001 - re-raised with the place it failed
        raise ChatTemplateError(
            f"the chat template failed on the first {len(messages)} message(s) "
            f"(add_generation_prompt={generation}): {type(e).__name__}: {e}"
        ) from e


def _encode(tokenizer: Any, text: str) -> list[int]:
    if not text:
        return []
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def tokenize_conversation(
    messages: Sequence[Message | Mapping[str, Any]],
    tokenizer: Any,
    *,
    end_token_ids: Iterable[int] | None = None,
    chat_template_kwargs: Mapping[str, Any] | None = None,
) -> TokenizedConversation:
    """Tokenize a conversation with its chat template and build the exact loss mask.

    Args:
        messages: :class:`~mulligan.records.Message` objects or dicts with ``role``, ``content``
            and optionally ``train``. ``train=None`` means True for assistant messages and False
            for the others; ``train`` on a non-assistant message is ignored.
        tokenizer: A Hugging Face tokenizer with a chat template.
        end_token_ids: Ids that close an assistant turn; the mask stops after the last of them
            inside a turn. Defaults to ``tokenizer.eos_token_id``. When none occurs in a turn, the
            whole turn after its header is trained.
        chat_template_kwargs: Extra keyword arguments for ``apply_chat_template`` (``tools``, ...).

    Returns:
        The token ids, mask and per-message spans.

    Raises:
        ChatTemplateError: The template is not prefix-stable (a rendered prefix of the
            conversation is not a prefix of the whole rendering) or the tokenizer merges tokens
            across message boundaries, so exact masks cannot be computed.
    """
    kwargs = dict(chat_template_kwargs or {})
    if end_token_ids is None:
        end_token_ids = [] if tokenizer.eos_token_id is None else [tokenizer.eos_token_id]
    ends = set(end_token_ids)
    dicts: list[dict[str, Any]] = []
    trains: list[bool] = []
    for m in messages:
        d, t = _as_dict(m)
        dicts.append(d)
        trains.append(t)

    # (text, message index or None for template glue, trained)
    pieces: list[tuple[str, int | None, bool]] = []
    rendered = ""

    def advance(text: str, index: int | None, trained: bool, what: str) -> None:
        nonlocal rendered
        if not text.startswith(rendered):
            raise ChatTemplateError(
                f"the chat template is not prefix-stable: rendering {what} does not start with the rendering "
                "of the messages before it, so per-message token spans are undefined "
                f"(expected prefix ...{rendered[-60:]!r}, got ...{text[max(0, len(rendered) - 60):len(rendered)]!r})"
            )
        pieces.append((text[len(rendered):], index, trained))
        rendered = text

    for i, (d, t) in enumerate(zip(dicts, trains)):
        if d.get("role") == "assistant":
            header = _render(tokenizer, dicts[:i], True, kwargs)
            advance(header, None, False, f"the generation prompt before message {i}")
        advance(_render(tokenizer, dicts[: i + 1], False, kwargs), i, t, f"message {i}")

    input_ids: list[int] = []
    mask: list[int] = []
    spans: list[tuple[int, int]] = [(0, 0)] * len(dicts)
    for text, index, trained in pieces:
        ids = _encode(tokenizer, text)
        if index is not None:
            spans[index] = (len(input_ids), len(input_ids) + len(ids))
        bits = [0] * len(ids)
        if trained:
            last_end = max((k for k, tok in enumerate(ids) if tok in ends), default=len(ids) - 1)
            bits[: last_end + 1] = [1] * (last_end + 1)
        input_ids.extend(ids)
        mask.extend(bits)

    whole = _encode(tokenizer, rendered)
    if whole != input_ids:
        at = next((k for k, (a, b) in enumerate(zip(whole, input_ids)) if a != b), min(len(whole), len(input_ids)))
        raise ChatTemplateError(
            "the tokenizer merges tokens across message boundaries: tokenizing the rendered messages one by one "
            f"differs from tokenizing the whole conversation at token {at} "
            f"(around {tokenizer.decode(whole[max(0, at - 3):at + 3])!r}); exact masks are impossible with it"
        )
    return TokenizedConversation(input_ids=input_ids, mask=mask, spans=spans)
