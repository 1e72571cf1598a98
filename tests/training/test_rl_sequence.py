"""Episodes as one RL sequence: the env mask is on the policy's verbatim tokens and nowhere else."""

from __future__ import annotations

from mulligan.training.rl_sequence import Turn, episode_sequence

END = 2


def test_verbatim_turns_are_trained_and_everything_between_them_is_not():
    # prompt [10 11 | gen 20 21 2 | obs 30 31 | gen 22 2]
    turns = [Turn(2, [20, 21, END], [-0.1, -0.2, -0.3], step=0), Turn(7, [22, END], [-0.4, -0.5], step=1)]
    seq = episode_sequence(turns, [10, 11, 20, 21, END, 30, 31], END)
    assert seq.prompt_ids == [10, 11]
    assert seq.completion_ids == [20, 21, END, 30, 31, 22, END]
    assert seq.env_mask == [1, 1, 1, 0, 0, 1, 1]
    assert seq.logprobs == [-0.1, -0.2, -0.3, 0.0, 0.0, -0.4, -0.5]
    assert seq.step_of_token == [0, 0, 0, -1, -1, 1, 1]
    assert seq.trained_turns == [0, 1]


def test_a_replaced_turn_stays_as_context_without_loss():
    # The constraint rewrote turn 0: the prompt of turn 1 holds the rewritten reply (40 41), not the generated ids.
    turns = [Turn(2, [20, 21, END], [-0.1] * 3, policy=False, step=0), Turn(7, [22, END], [-0.4, -0.5], step=1)]
    seq = episode_sequence(turns, [10, 11, 40, 41, END, 30, 31], END)
    assert seq.env_mask == [0, 0, 0, 0, 0, 1, 1] and seq.trained_turns == [1]


def test_the_sequence_ends_with_the_last_trained_reply():
    # Turn 1 was replaced: what the policy generated there (22) is not what the transcript went on with.
    turns = [Turn(2, [20, END], [-0.1] * 2, step=0), Turn(6, [22, END], [-0.4] * 2, policy=False, step=1)]
    seq = episode_sequence(turns, [10, 11, 20, END, 30, 31], END)
    assert seq.completion_ids == [20, END] and seq.env_mask == [1, 1] and seq.trained_turns == [0]
    nothing = episode_sequence(turns[1:], [10, 11, 20, END, 30, 31], END)
    assert (nothing.prompt_ids, nothing.completion_ids, nothing.env_mask) == ([10, 11, 20, END, 30, 31], [END], [0])


def test_generated_ids_missing_from_the_sequence_are_not_trained_even_if_unflagged():
    turns = [Turn(2, [20, 21, END], [-0.1] * 3, step=0), Turn(7, [22, END], [-0.4, -0.5], step=1)]
    seq = episode_sequence(turns, [10, 11, 20, 99, END, 30, 31], END)
    assert seq.env_mask == [0, 0, 0, 0, 0, 1, 1]


def test_a_prompt_that_did_not_extend_the_previous_one_cuts_the_turns_before_it():
    turns = [Turn(2, [20, END], [-0.1] * 2, step=0), Turn(4, [21, END], [-0.2] * 2, extends=False, step=1)]
    seq = episode_sequence(turns, [10, 11, 20, END], END)
    assert seq.trained_turns == [1] and seq.env_mask == [0, 0, 1, 1]


def test_an_episode_without_generations_is_one_masked_token():
    seq = episode_sequence([], [], END)
    assert (seq.prompt_ids, seq.completion_ids, seq.env_mask) == ([END], [END], [0])
