"""Wordle texts: the instruction and the observation sentences (our own wording).

Deviation from the original: AgentGym pasted LMRL-Gym's whole vocabulary into the first prompt
(thousands of words, far beyond a small model's context). We state the rules instead and say that
any valid 5-letter English word is accepted; an unknown word gets an invalid-action reply that
does not cost a guess.
"""

from __future__ import annotations

INSTRUCTION = """\
Let's play Wordle. A hidden English word of 5 letters has been chosen, and you have {guesses} \
guesses to find it.
Each guess must be a valid 5-letter English word. Write it as its letters separated by spaces, \
for example "c r a n e" ("crane" is accepted too). A reply that is not a known 5-letter word \
does not use up a guess, but it does use up one of your {max_rounds} turns.
After each guess you get one mark per letter, in order:
g = this letter is in the word at this position,
y = this letter is in the word but at another position,
b = this letter is not in the word (or the word has fewer copies of it than your guess).
You win when the feedback is "g g g g g".

Answer every time with one short thought and exactly one guess, in this form:
Thought: <your reasoning>
Action: <your guess>

Example:
Observation: Feedback for c r a n e: b y b b g (5 guesses left).
Thought: R is in the word but not second, and the word ends in E; C, A and N are not in it.
Action: r o u t e"""

START = "The game has started: guess the hidden 5-letter word. You have {guesses} guesses."


def instruction(guesses: int, max_rounds: int) -> str:
    return INSTRUCTION.format(guesses=guesses, max_rounds=max_rounds)


def start(guesses: int) -> str:
    return START.format(guesses=guesses)


def spaced(word: str) -> str:
    return " ".join(word)


def feedback(word: str, marks: str, left: int) -> str:
    plural = "guess" if left == 1 else "guesses"
    return f"Feedback for {spaced(word)}: {marks} ({left} {plural} left)."


def won(word: str, marks: str) -> str:
    return f"Feedback for {spaced(word)}: {marks}. You found the word {word.upper()}: you win!"


def lost(word: str, marks: str, answer: str) -> str:
    return f"Feedback for {spaced(word)}: {marks}. No guesses left: you lose. The word was {answer.upper()}."
