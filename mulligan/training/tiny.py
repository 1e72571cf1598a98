"""The tiny default policy: a locally trained byte-level BPE tokenizer and a small random Llama.

Nothing here downloads anything. The tokenizer is lossless (byte-level, no normalization, no
clean-up of spaces on decode), so an action decoded from generated ids is exactly the text the
model produced. Its chat template renders::

    <|begin|><|system|>\\n{content}<|end|>\\n<|user|>\\n{content}<|end|>\\n<|assistant|>\\n{content}<|end|>\\n

and ``<|end|>`` is the EOS token, the one the model learns to emit at the end of its turns.
"""

from __future__ import annotations

from typing import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

BOS = "<|begin|>"
EOS = "<|end|>"
PAD = "<|pad|>"
ROLE_TOKENS = {role: f"<|{role}|>" for role in ("system", "user", "assistant", "tool")}
SPECIAL_TOKENS = [PAD, BOS, EOS, *ROLE_TOKENS.values()]

CHAT_TEMPLATE = (
    "{{- bos_token -}}"
    "{%- for message in messages -%}"
    "{%- if message['role'] not in ['system', 'user', 'assistant', 'tool'] -%}"
    "{{- raise_exception('unknown role: ' + message['role']) -}}"
    "{%- endif -%}"
    "{{- '<|' + message['role'] + '|>\\n' + (message['content'] if message['content'] else '') + '<|end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|assistant|>\\n' -}}{%- endif -%}"
)
"""Jinja chat template. Every rendered prefix of a conversation is a string prefix of the whole,
which :mod:`mulligan.training.masking` relies on."""


def build_tokenizer(corpus: Iterable[str], vocab_size: int = 2048) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE tokenizer on ``corpus`` and wrap it with the chat template.

    Args:
        corpus: Texts to learn merges from (for the default policy: rendered expert dialogues).
        vocab_size: Target vocabulary size, special tokens and the 256 byte symbols included.

    Returns:
        A fast tokenizer with ``bos_token`` ``<|begin|>``, ``eos_token`` ``<|end|>``, ``pad_token``
        ``<|pad|>``, the role markers as special tokens and :data:`CHAT_TEMPLATE`. Save it with
        ``save_pretrained`` and load it with ``AutoTokenizer.from_pretrained``.
    """
    tok = Tokenizer(models.BPE())
    # Newlines are isolated before the GPT-2 regex so that no merge ever spans a newline: the
    # template puts one right after each role header, and merges across it would make the tokens
    # of a rendered prefix differ from the same text inside the whole conversation.
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split("\n", behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        extra_special_tokens=list(ROLE_TOKENS.values()),
        clean_up_tokenization_spaces=False,
        model_max_length=4096,
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_tiny_model(
    tokenizer: PreTrainedTokenizerFast,
    *,
    hidden_size: int = 192,
    num_layers: int = 2,
    num_heads: int = 3,
    intermediate_size: int | None = None,
    max_position_embeddings: int = 4096,
    seed: int = 0,
) -> LlamaForCausalLM:
    """A randomly initialised Llama sized for CPU training, matching ``tokenizer``.

    RoPE positions let it run past the lengths it was trained on; input and output embeddings
    are tied, which matters at this size (the embedding is a large share of the weights).

    Args:
        tokenizer: The tokenizer whose vocabulary and special tokens the model uses.
        hidden_size: Width of the residual stream.
        num_layers: Number of decoder layers.
        num_heads: Attention heads (``hidden_size`` must be divisible by it).
        intermediate_size: MLP width; defaults to ``int(8 / 3 * hidden_size)`` rounded up to 32.
        max_position_embeddings: Nominal context length written to the config.
        seed: Seed of the random initialisation.

    Returns:
        A ``LlamaForCausalLM`` that ``save_pretrained`` writes and ``AutoModelForCausalLM`` loads.
    """
    import torch

    if intermediate_size is None:
        intermediate_size = -(-int(8 * hidden_size / 3) // 32) * 32
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_heads,
        max_position_embeddings=max_position_embeddings,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    return model
