"""Decoding with Hugging Face's concatenating cache vs mulligan's in-place buffer (``kv_buffer.py``).

The default policy, greedy, the same random prompts both ways; prints one table of
seconds per ``generate`` call (prefill of the prompt, then ``--new`` tokens) and the ratio.

    python benchmarks/kv_buffer.py                 # batches 1, 16, 32 x prompts of 500 and 1,500 tokens
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import torch
from rich.console import Console
from rich.table import Table

from mulligan.llm.kv_buffer import reserved_cache
from mulligan.training.default_policy import ensure_default_policy

console = Console(width=120)


def timed_generate(model, ids, new: int, buffer: bool) -> float:
    kwargs = {}
    if buffer:
        kwargs["past_key_values"] = reserved_cache(model.config.num_hidden_layers, reserve=ids.shape[1] + new)
    start = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new, min_new_tokens=new,
                             do_sample=False, pad_token_id=0, **kwargs)
    assert out.shape[1] == ids.shape[1] + new
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", default="1,16,32")
    parser.add_argument("--lengths", default="500,1500")
    parser.add_argument("--new", type=int, default=16,
                        help="Tokens generated per call (the policy's replies are ~13).")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(ensure_default_policy(), dtype=torch.float32).eval()
    vocab = model.config.vocab_size
    console.print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
                  f"torch {torch.__version__}")
    table = Table(title=f"generate: prompt + {args.new} tokens, default policy, CPU "
                        f"(best of {args.repeats}, interleaved)")
    for col in ("batch", "prompt tokens", "HF DynamicCache s", "in-place buffer s", "ratio"):
        table.add_column(col, justify="right")
    torch.manual_seed(0)
    for batch in (int(b) for b in args.batches.split(",")):
        for length in (int(n) for n in args.lengths.split(",")):
            ids = torch.randint(4, vocab, (batch, length))
            best = {False: float("inf"), True: float("inf")}
            for _ in range(args.repeats):
                for buffer in (False, True):
                    best[buffer] = min(best[buffer], timed_generate(model, ids, args.new, buffer))
            table.add_row(str(batch), str(length), f"{best[False]:.3f}", f"{best[True]:.3f}",
                          f"{best[False] / best[True]:.2f}")
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
