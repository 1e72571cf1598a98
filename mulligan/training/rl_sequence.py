"""An episode as one token sequence for RL: what the policy was shown, what it said, and which tokens to train.

A multi-turn episode is trained as its first prompt followed by one long completion: the policy's
replies and, between them, the env's observations and the chat template's glue. Only the policy's own
tokens carry loss (the env mask). Nothing is re-tokenized: the sequence is the last turn's prompt ids
and generated ids, exactly as the backend ran them, and a turn is trained only where its generated ids
sit verbatim in that sequence, after a prompt every later prompt extended. A turn that the admissible
constraint replaced, whose reply a stop string cut, or that an agent rewrote is context, not training.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Turn:
    """One generation of an episode, as the backend reported it.

    Attributes:
        prompt_len: Tokens of the prompt it ran.
        token_ids: The ids it generated.
        logprobs: Their log-probabilities when sampled.
        extends: Whether its prompt started with the previous turn's prompt (True for the first turn).
        policy: Whether the policy's reply stood (False where the admissible constraint replaced it).
        step: The index of the trajectory step it produced (-1: none).
    """

    prompt_len: int
    token_ids: list[int]
    logprobs: list[float]
    extends: bool = True
    policy: bool = True
    step: int = -1


@dataclass
class EpisodeSequence:
    """The training sequence of one episode.

    Attributes:
        prompt_ids: The first prompt's ids.
        completion_ids: Everything after it, up to the end of the last trained reply.
        env_mask: 1 on the tokens the policy generated and that are trained, 0 elsewhere.
        logprobs: The sampling log-probability of each completion token (0.0 where ``env_mask`` is 0).
        step_of_token: For each trained completion token, the step its turn produced (-1 elsewhere).
        trained_turns: The indices of the turns whose tokens are trained.
    """

    prompt_ids: list[int]
    completion_ids: list[int]
    env_mask: list[int]
    logprobs: list[float]
    step_of_token: list[int]
    trained_turns: list[int] = field(default_factory=list)


def episode_sequence(turns: list[Turn], last_prompt: list[int], end_id: int) -> EpisodeSequence:
    """Lay the turns of an episode out as one sequence with its env mask.

    Args:
        turns: The episode's generations in order (see :class:`Turn`).
        last_prompt: The prompt ids of the last turn; the sequence is these plus its generated ids.
        end_id: The id used as a one-token completion when nothing was generated (masked out).

    Returns:
        The sequence; an episode without turns is ``[end_id]`` as prompt and as completion, with mask 0,
        and one without a trained turn keeps its first prompt and ``[end_id]`` as completion, mask 0.
    """
    if not turns:
        return EpisodeSequence([end_id], [end_id], [0], [0.0], [-1])
    ids = list(last_prompt) + list(turns[-1].token_ids)
    start = turns[0].prompt_len
    n = len(ids) - start
    mask, logprobs, owner = [0] * n, [0.0] * n, [-1] * n
    trained = []
    for t, turn in enumerate(turns):
        # Every later prompt extended this one, so the final sequence starts with it.
        stands = all(later.extends for later in turns[t + 1 :])
        at, end = turn.prompt_len, turn.prompt_len + len(turn.token_ids)
        if not (turn.policy and stands and turn.token_ids and at >= start and ids[at:end] == list(turn.token_ids)):
            continue
        trained.append(t)
        for k in range(at - start, end - start):
            mask[k], owner[k] = 1, turn.step
        for k, logprob in enumerate(turn.logprobs[: len(turn.token_ids)]):
            logprobs[at - start + k] = float(logprob)
    if not trained:
        return EpisodeSequence(ids[:start], [end_id], [0], [0.0], [-1], trained)
    # Nothing after the last trained token changes its loss (the model is causal): the sequence ends there.
    cut = max(k for k in range(n) if mask[k]) + 1
    return EpisodeSequence(ids[:start], ids[start : start + cut], mask[:cut], logprobs[:cut], owner[:cut], trained)
