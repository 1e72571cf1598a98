"""Training throughput of candidate tiny-policy sizes through ``train_sft`` on this machine.

Synthetic household-style conversations of roughly 400-800 tokens, batch 8. Prints a table of
tokens per second (all non-padding tokens the model processes) and the projected time of the
default-policy build. Usage: ``python benchmarks/tiny_train_speed.py [--convs 96] [--sizes 128x2,192x2]``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import tempfile
import time

import torch

from mulligan.records import Message
from mulligan.training.masking import tokenize_conversation
from mulligan.training.sft import train_sft
from mulligan.training.tiny import build_tiny_model, build_tokenizer

ROOMS = ["cabinet", "countertop", "drawer", "fridge", "microwave", "shelf", "sinkbasin", "stoveburner", "garbagecan"]
OBJECTS = ["apple", "mug", "knife", "plate", "egg", "tomato", "potato", "spatula", "cup", "bread", "lettuce"]


def _conversation(rng: random.Random) -> list[Message]:
    obj, dest = rng.choice(OBJECTS), rng.choice(ROOMS)
    places = [f"{r} {rng.randint(1, 6)}" for r in rng.sample(ROOMS, 6)]
    msgs = [
        Message(role="system", content="You are a household agent. Reply with one action per turn: "
                "think: ..., go to X, take O from X, put O in/on X, open X, close X, heat O with X."),
        Message(role="user", content=f"You are in the middle of a room. Looking around you, you see "
                f"{', '.join('a ' + p for p in places)}.\nYour task is to: put a {obj} in {dest} 1."),
    ]
    for _ in range(rng.randint(7, 13)):
        place = rng.choice(places)
        action = rng.choice([f"go to {place}", f"open {place}", f"take {obj} {rng.randint(1, 3)} from {place}",
                             f"think: the {obj} may be in the {place}, I will check there next."])
        seen = ", ".join(f"a {o} {rng.randint(1, 3)}" for o in rng.sample(OBJECTS, 3))
        msgs.append(Message(role="assistant", content=action, kind="action"))
        msgs.append(Message(role="user", content=f"You arrive at {place}. On the {place}, you see {seen}."))
    msgs.append(Message(role="assistant", content=f"put {obj} 1 in/on {dest} 1"))
    return msgs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--convs", type=int, default=96)
    ap.add_argument("--bf16", choices=["auto", "on", "off", "both"], default="both")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--vocabs", default="1024,2048")
    ap.add_argument("--sizes", default="128x2,192x2,192x3,256x2")
    args = ap.parse_args()
    rng = random.Random(0)
    convs = [_conversation(rng) for _ in range(args.convs)]
    corpus = [m.content for c in convs for m in c]
    # Filler words bring the vocabulary to its full size, as the real expert corpus does.
    letters = "abcdefghijklmnopqrstuvwxyz"
    filler = ["".join(rng.choice(letters) for _ in range(rng.randint(3, 8))) for _ in range(3000)]
    corpus += [" ".join(filler[i : i + 20]) for i in range(0, len(filler), 20)] * 2
    toks = {int(v): build_tokenizer(corpus, vocab_size=int(v)) for v in args.vocabs.split(",")}
    lengths = {v: [len(tokenize_conversation(c, t).input_ids) for c in convs] for v, t in toks.items()}
    for v, ls in lengths.items():
        print(f"vocab {v}: {len(convs)} conversations, {min(ls)}-{max(ls)} tokens (mean {sum(ls) / len(ls):.0f}, "
              f"{sum(ls)} in all), torch threads {torch.get_num_threads()}")
    precisions = {"auto": [None], "on": [True], "off": [False], "both": [False, True]}[args.bf16]
    best: dict[tuple[str, int, bool | None], float] = {}
    params: dict[tuple[str, int], float] = {}
    # Sweeps are repeated and the best run kept: the machine is shared, and interference only slows a run down.
    for _ in range(args.repeats):
        for spec, vocab, bf16 in itertools.product(args.sizes.split(","), toks, precisions):
            tok, n_tokens = toks[vocab], sum(lengths[vocab])
            hidden, layers = (int(x) for x in spec.split("x"))
            model = build_tiny_model(tok, hidden_size=hidden, num_layers=layers, num_heads=max(2, hidden // 64))
            params[spec, vocab] = sum(p.numel() for p in model.parameters()) / 1e6
            with tempfile.TemporaryDirectory() as d:
                out = train_sft(convs, model, tok, d, epochs=1, batch_size=8, max_length=1024, progress=False,
                                logging_steps=1, bf16=bf16)
                log = json.loads((out / "train_log.json").read_text())
            runtime = next(e["train_runtime"] for e in log if "train_runtime" in e)
            best[spec, vocab, bf16] = max(best.get((spec, vocab, bf16), 0.0), n_tokens / runtime)
            print(f"  {spec} vocab={vocab} bf16={bf16}: {n_tokens / runtime:,.0f} tokens/s", flush=True)
    print("| hidden x layers | heads | vocab | params | bf16 | tokens/s | minutes for 1M tokens x 3 epochs |")
    print("|---|---|---|---|---|---|---|")
    for (spec, vocab, bf16), tps in best.items():
        hidden = int(spec.split("x")[0])
        print(f"| {spec.replace('x', ' x ')} | {max(2, hidden // 64)} | {vocab} | {params[spec, vocab]:.2f}M | {bf16} "
              f"| {tps:,.0f} | {3e6 / tps / 60:.1f} |")


if __name__ == "__main__":
    main()
