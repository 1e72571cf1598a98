"""The search tree of the tree-search collector: nodes, UCT selection, value backup, paths.

A node is the state after one reply: the env snapshot (never stepped again), the messages that
reply added to the transcript (the reply and the env's answer), and the MCTS statistics. The
root holds the prompt (system message and first observation). Selection follows Agent-R: an
unvisited child first, else the highest ``mean value + c * sqrt(ln N_parent / N_child)``;
terminal children are skipped, and a node whose children are all terminal becomes terminal too.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any, Iterator

from mulligan.records import Message, Step

UCT_C = 0.25
"""Agent-R's exploration constant."""


@dataclass(eq=False)
class Node:
    """One state of the search tree.

    Attributes:
        id: Number of the node in its tree (the root is 0).
        depth: Replies from the root to here.
        turn: The messages this node adds to its parent's transcript (the root: the prompt).
        env: The env (unwrapped) in this node's state; children step copies of it.
        step: The step that led here (None at the root).
        info: The env's ``info`` after that step.
        parent: The node this one was expanded from.
        children: The distinct replies sampled here, once expanded.
        expanded: Whether replies were sampled here already.
        terminal: No further search below: a leaf, or every child is terminal.
        end: Why a leaf ends the episode (``won``, ``step limit``, ``depth cap``, ``format errors``);
            None for inner nodes.
        format_errors: Consecutive unparseable replies up to here.
        visits: Backups through this node.
        value: Sum of the leaf values backed up through this node.
    """

    id: int
    depth: int
    turn: list[Message]
    env: Any = None
    step: Step | None = None
    info: dict[str, Any] = field(default_factory=dict)
    parent: "Node | None" = None
    children: list["Node"] = field(default_factory=list)
    expanded: bool = False
    terminal: bool = False
    end: str | None = None
    format_errors: int = 0
    visits: int = 0
    value: float = 0.0

    @property
    def won(self) -> bool:
        """Whether this leaf completed the task."""
        return self.end == "won"

    @property
    def mean(self) -> float:
        """The mean value of the leaves below (0 before any backup)."""
        return self.value / self.visits if self.visits else 0.0

    def path(self) -> list["Node"]:
        """The nodes from the root down to this one."""
        nodes: list[Node] = []
        node: Node | None = self
        while node is not None:
            nodes.append(node)
            node = node.parent
        return nodes[::-1]

    def transcript(self) -> list[Message]:
        """Every message from the prompt to this node's observation."""
        return [m for node in self.path() for m in node.turn]


def uct(child: Node, parent_visits: int, c: float = UCT_C) -> float:
    """The selection score of a visited child (unvisited children are chosen first)."""
    return child.mean + c * math.sqrt(math.log(max(parent_visits, 1)) / child.visits)


def best_child(node: Node, rng: random.Random, c: float = UCT_C) -> Node | None:
    """The child to descend to (ties broken at random); None when every child is terminal."""
    open_children = [ch for ch in node.children if not ch.terminal]
    if not open_children:
        return None
    scores = [math.inf if ch.visits == 0 else uct(ch, node.visits, c) for ch in open_children]
    top = max(scores)
    return rng.choice([ch for ch, s in zip(open_children, scores) if s == top])


def backup(leaf: Node, value: float) -> None:
    """Add a leaf's value to it and its ancestors; close ancestors whose children are all terminal."""
    node: Node | None = leaf
    while node is not None:
        node.visits += 1
        node.value += value
        if node.children and all(ch.terminal for ch in node.children):
            node.terminal = True
        node = node.parent


def walk(root: Node) -> Iterator[Node]:
    """Every node of the tree, depth first."""
    stack = [root]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(node.children))


def leaves(root: Node) -> list[Node]:
    """The nodes where an episode ended (won, step limit, depth cap, format errors)."""
    return [n for n in walk(root) if n.end is not None]


def shared_depth(a: Node, b: Node) -> int:
    """Depth of the deepest node on both root paths (their last common ancestor)."""
    ancestors = {id(n) for n in a.path()}
    node: Node | None = b
    while node is not None and id(node) not in ancestors:
        node = node.parent
    return node.depth if node is not None else -1
