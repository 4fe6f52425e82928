"""Wordle: word lists, feedback rules, LMRL-Gym's re-drawn hidden word, invalid guesses, limits,
determinism and the solver."""

from __future__ import annotations

import random

import numpy as np
import pytest

import agentgym
from agentgym.core.checker import run_expert_episode
from agentgym.core.errors import EpisodeOver
from agentgym.envs.wordle import expert
from agentgym.envs.wordle.env import WordleEnv, parse_guess
from agentgym.envs.wordle.feedback import ALL_GREEN, decode, pattern, patterns, patterns_one
from agentgym.envs.wordle.words import encode, word_lists


@pytest.fixture()
def env() -> WordleEnv:
    return agentgym.make("wordle")


def _never_answers(n: int) -> list[str]:
    """Allowed guesses that are not answers: they can never win."""
    wl = word_lists()
    return list(wl.guesses[len(wl.answers) : len(wl.answers) + n])


def test_word_lists() -> None:
    wl = word_lists()
    assert len(wl.answers) == 2315 and len(wl.guesses) == 12972
    assert set(wl.answers) <= set(wl.guesses)
    assert wl.guesses[: len(wl.answers)] == wl.answers
    assert all(len(w) == 5 and w.isalpha() and w.islower() for w in wl.guesses)
    assert {"crane", "frown", "aback"} <= set(wl.answers) and "aahed" in wl.guess_index


@pytest.mark.parametrize(
    ("guess", "answer", "marks"),
    [
        ("crane", "crane", "g g g g g"),
        ("speed", "abide", "b b y b y"),  # the second E has no copy left
        ("speed", "erase", "y b y y b"),
        ("eerie", "there", "y b y b g"),  # green E claims a copy before the yellows
        ("lolly", "hello", "b y g g b"),
        ("crane", "mound", "b b b g b"),
    ],
)
def test_feedback_rules(guess: str, answer: str, marks: str) -> None:
    assert decode(pattern(guess, answer)) == marks
    assert decode(patterns(encode([guess]), encode([answer]))[0, 0]) == marks


def test_vectorised_feedback_matches_reference() -> None:
    wl = word_lists()
    rng = random.Random(0)
    guesses = [rng.choice(wl.guesses) for _ in range(60)] + ["eerie", "mamma", "geese", "lolly"]
    table = patterns(encode(guesses), wl.answer_codes)
    for i, g in enumerate(guesses):
        one = patterns_one(encode([g])[0], wl.answer_columns, wl.letter_counts)
        assert (one == table[i]).all(), g
        subset = np.array(sorted(rng.sample(range(len(wl.answers)), 50)))
        part = patterns_one(encode([g])[0], wl.answer_columns, wl.letter_counts, subset)
        assert (part == table[i, subset]).all(), g
        for j in rng.sample(range(len(wl.answers)), 40):
            assert table[i, j] == pattern(g, wl.answers[j])


def test_parse_guess() -> None:
    assert parse_guess("f r o w n") == "frown"
    assert parse_guess(" Frown. ") == "frown"
    assert parse_guess('"C R A N E"') == "crane"


def test_reset_and_feedback_observation(env: WordleEnv) -> None:
    obs = env.reset(0)
    assert "5-letter" in obs.text and "6 guesses" in obs.text
    assert env.hidden in word_lists().answers
    res = env.step("c r a n e")
    assert res.observation.startswith("Feedback for c r a n e: ")
    assert res.info["feedback"] == res.observation.split(": ")[1][:9]
    assert "(5 guesses left)" in res.observation and res.info["guesses_left"] == 5
    assert not res.info["invalid_action"]


def test_hidden_word_is_redrawn_among_consistent_words() -> None:
    """After every guess the hidden word is re-drawn; all consistent words share the feedback."""
    wl = word_lists()
    changed = 0
    for task in range(6):
        env = WordleEnv()
        env.reset(task)
        for guess in ("slate", "round"):
            before = env.hidden
            res = env.step(guess)
            if res.done:
                break
            code = pattern(guess, before)
            assert res.info["feedback"] == decode(code)
            assert env.hidden in {wl.answers[i] for i in env.consistent}
            assert all(pattern(guess, wl.answers[i]) == code for i in env.consistent)
            changed += env.hidden != before
    assert changed > 0


def test_invalid_guesses_do_not_use_a_guess(env: WordleEnv) -> None:
    env.reset(1)
    cases = {
        "abc": "exactly 5 letters, not 3",
        "s t a r e s": "exactly 5 letters, not 6",
        "qzxvj": "not in the word list",
        "cr4ne": "only contain the letters",
        "": "empty",
    }
    for action, why in cases.items():
        res = env.step(action)
        assert res.info["invalid_action"] and why in res.observation, (action, res.observation)
        assert res.reward == 0 and not res.done
        assert env.guesses_left == 6 and "did not use one" in res.observation


def test_round_limit_counts_invalid_replies(env: WordleEnv) -> None:
    env.reset(2)
    results = [env.step("xxxxx") for _ in range(8)]
    assert [r.truncated for r in results] == [False] * 7 + [True]
    assert env.guesses_left == 6
    with pytest.raises(EpisodeOver):
        env.step("crane")


def test_six_wrong_guesses_lose(env: WordleEnv) -> None:
    env.reset(3)
    results = [env.step(w) for w in _never_answers(6)]
    assert [r.terminated for r in results] == [False] * 5 + [True]
    last = results[-1]
    assert last.reward == 0 and not last.truncated and not last.info["success"]
    assert "you lose" in last.observation and env.hidden.upper() in last.observation


def test_winning_guess(env: WordleEnv) -> None:
    env.reset(4)
    while True:  # guess a consistent word until won (the expert's fallback rule, by hand)
        res = env.step(word_lists().answers[int(env.consistent[0])])
        if res.done:
            break
    assert res.info["feedback"] == decode(ALL_GREEN) == "g g g g g"
    assert res.reward == 1.0 and res.terminated and res.info["success"] and "you win" in res.observation


def test_determinism_and_seeds() -> None:
    def episode(task: int, seed: int) -> list[str]:
        env = WordleEnv()
        seen = [env.reset(task, seed).text]
        hidden = [env.hidden]
        for w in ("slate", "irony", "chump"):
            res = env.step(w)
            seen.append(res.observation)
            hidden.append(env.hidden)
            if res.done:
                break
        return seen + hidden

    assert episode(5, 0) == episode(5, 0)
    assert episode(1500, 9) == episode(1500, 9)
    runs = {tuple(episode(5, seed)) for seed in range(8)}
    assert len(runs) > 4  # different seeds draw different hidden words


def test_random_action_uses_the_callers_rng(env: WordleEnv) -> None:
    env.reset(0)
    hidden = env.hidden
    a = [env.random_action(random.Random(1)) for _ in range(2)]
    assert a[0] == a[1] and parse_guess(a[0]) in word_lists().guess_index
    assert env.available_actions() is None and env.hidden == hidden


def test_expert_wins_every_answer_within_six() -> None:
    """The plain game for all 2,315 answers (what the re-drawn game reduces to) in <= 6 guesses."""
    wl = word_lists()
    table = expert.feedback_table()
    assert table.shape == (len(wl.answers), len(wl.guesses))
    n_answers = len(wl.answers)
    worst = 0
    for answer in range(n_answers):
        consistent = np.arange(n_answers)
        for n in range(1, 7):
            g = expert.choose(consistent, 7 - n)
            code = table[answer, g]
            if code == ALL_GREEN:
                break
            consistent = consistent[table[consistent, g] == code]
        assert code == ALL_GREEN, wl.answers[answer]
        worst = max(worst, n)
    assert worst <= 6


def test_expert_on_train_tasks_and_reply_format(env: WordleEnv) -> None:
    env.reset(1000)
    reply = env.expert_reply()
    assert reply.startswith("Thought: 2315 words fit") and "\nAction: " in reply
    guess = reply.split("Action: ")[1]
    assert len(guess) == 9 and guess[1::2] == "    "
    for task in range(1000, 1200):
        reward, success, seen = run_expert_episode(env, task)
        assert success and reward == 1.0 and len(seen) - 1 <= 6
