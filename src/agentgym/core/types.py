"""Every data type agentgym passes around, in one place.

Two families live here:

* **Hot-path types** (`Observation`, `StepResult`) are frozen dataclasses: they are built on every
  env step, in-process and on the server, so they stay cheap.
* **On-disk / on-wire types** (`EnvSpec`, `Turn`, `Trajectory`, ...) are pydantic models: they are
  validated when read from a file or an HTTP body and documented by their JSON shape.

On-disk formats
---------------
A run's ``trajectories.jsonl`` holds one `Trajectory` per line (``Trajectory.model_dump_json()``).
An AgentTraj file (the original AgentGym format) is a JSON list of ``{"item_id", "conversations"}``
objects; `Trajectory` is a superset of that, so an AgentTraj record loads as a `Trajectory` with
defaults for the extra fields (see `agentgym.data.agenttraj`). Both are read and written by
`agentgym.data.trajfile` only.

An eval run's ``results.json`` is an `EvalResults`; an AgentEvol run's ``lineage.json`` is a
`Lineage`, and each of its ``iter{m}/eval/results.json`` a `HeldoutScores`. These report models
validate the keys they document and keep any others (``extra="allow"``): a file written by a later
version still loads, and nothing a writer adds is silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from annotated_types import Interval
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, RootModel, Strict

Metric = Literal["success", "score", "reward"]
"""How AgentEval reports an env (paper §8): ``success`` = success rate; ``score`` = mean final
reward on the env's own scale (SciWorld 0-100); ``reward`` = mean final reward x 100 (BabyAI)."""

ActionFormat = Literal["react_first", "react_last", "react_line", "sql_block", "raw"]
"""How the action is cut out of a model reply (see `agentgym.core.react`):

* ``react_first`` - text after the first ``Action:`` (Maze, Wordle)
* ``react_last`` - text after the last ``Action:`` (WebShop, ALFWorld, SciWorld)
* ``react_line`` - the single line after ``Action:``; more than one ``Action:`` is an error, and
  characters outside ``[A-Za-z0-9, ]`` are dropped (BabyAI, TextCraft)
* ``sql_block`` - the body of the last fenced sql code block (BIRD)
* ``raw`` - the whole reply goes to the env, which parses it itself (tool envs)
"""

DEFAULT_STOP = ("\nObservation:",)
"""Every env's observations are shown as "Observation: ..." in its instruction's examples, so a
model that keeps writing after its action invents one: the reply is cut there (`EnvSpec.stop`)."""

StopReason = Literal["done", "max_rounds", "context", "error"]
"""Why an episode ended: the env said done; the round limit; the prompt outgrew the model's
context; an exception (env server down, env crash, model backend failure)."""


def _integral(value: Any) -> Any:
    """3.0 -> 3 (JSON Schema's integers include it); everything else goes on to the strict check."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


SAFE_INT = 2**53 - 1
"""Bound of every integer on the wire: exact in a JSON double, so a schema's ``maximum`` is exact too."""


def json_int(ge: int = -SAFE_INT, le: int = SAFE_INT) -> Any:
    """An integer type as JSON Schema defines one - ``3`` and ``3.0``, never ``"3"``, ``true``, ``3.5``
    or NaN - within [ge, le] (the bounds show in the OpenAPI schema as minimum/maximum)."""
    return Annotated[int, Strict(), Interval(ge=ge, le=le), BeforeValidator(_integral)]


JsonInt = json_int()
"""Any wire integer (see `json_int`)."""


@dataclass(frozen=True, slots=True)
class Observation:
    """What `Env.reset` returns: the first observation text and free-form info."""

    text: str
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StepResult:
    """What `Env.step` returns (gymnasium's five fields, text observation).

    ``terminated`` - the episode reached a terminal state (goal reached, game lost, answer given).
    ``truncated`` - the episode was cut by the round limit.
    ``info`` - always carries ``invalid_action`` (bool) and ``success`` (bool).
    """

    observation: str
    reward: float
    terminated: bool
    truncated: bool
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        """The episode is over (terminated or truncated): the next step is `EpisodeOver`."""
        return self.terminated or self.truncated


class _SplitsSummary:
    """``{train: 4520 ids 100..4999, test: 25 ids 0-24}``: a split's size and span, not its ids
    (``0-24`` when the ids are exactly that range, ``100..4999`` when there are gaps)."""

    def __init__(self, splits: dict[str, list[int]]) -> None:
        self.splits = splits

    def __repr__(self) -> str:
        parts = []
        for name, ids in self.splits.items():
            if not ids:
                parts.append(f"{name}: 0 ids")
                continue
            lo, hi = min(ids), max(ids)
            span = f"{lo}-{hi}" if hi - lo + 1 == len(ids) == len(set(ids)) else f"{lo}..{hi}"
            parts.append(f"{name}: {len(ids)} ids {span}")
        return "{" + ", ".join(parts) + "}"


class EnvSpec(BaseModel):
    """Static description of an environment: served at ``GET /v1/envs/{env}`` and shown by
    ``agentgym envs``. Everything a remote runner needs to drive the env without importing it."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="Registry id, e.g. 'maze'.")
    version: str = Field(description="Bumped whenever episodes for the same task+seed change.")
    max_rounds: int = Field(description="Agent turns per episode before truncation (original values).")
    metric: Metric = Field(description="How AgentEval aggregates the final reward.")
    success_threshold: float = Field(
        1.0, description="Final reward at or above which an episode is a success (AgentEvol filter)."
    )
    action_format: ActionFormat = Field(description="How to cut the action out of a reply.")
    ack: str = Field(
        "OK. I'll follow your instructions and try my best to solve the task.",
        description="The gpt turn that acknowledges the instruction (original per-env text).",
    )
    splits: dict[str, list[int]] = Field(description="Split name -> global task ids ('train', 'test').")
    description: str = ""
    blocking: bool = Field(
        False, description="Steps are slow or hold a lock (JVM, TextWorld): run them in worker threads."
    )
    stop: list[str] = Field(
        default_factory=lambda: list(DEFAULT_STOP),
        description="Stop strings every model backend sends with each request of this env: generation ends "
        "before the first of them (a reply is one turn; a chat model that goes on to invent the next "
        "'Observation:' would otherwise bury its action under made-up turns).",
    )
    max_action_chars: int = Field(
        4096,
        description="Longest action the env parses; a longer one is an invalid action, refused before any "
        "parser runs (a model reply is never this long, a hostile client's may be).",
    )

    def split(self, name: str) -> list[int]:
        """The task ids of split ``name``; a KeyError naming the splits there are."""
        try:
            return self.splits[name]
        except KeyError:
            raise KeyError(f"{self.id} has no split {name!r}; splits: {sorted(self.splits)}") from None

    def __repr_args__(self) -> Any:
        """What ``repr``, ``str`` and rich show: every field, but each split as a count and a range.

        The splits hold thousands of task ids (``repr(spec)`` was ~4,500 numbers); the full lists
        stay in ``spec.splits`` and in ``model_dump()``."""
        for name, value in super().__repr_args__():
            yield name, (_SplitsSummary(value) if name == "splits" else value)


class EnvOptions(BaseModel):
    """The constructor kwargs a remote client may set when it opens a session.

    ``POST /v1/sessions {"env": ..., "kwargs": {...}}`` validates ``kwargs`` against the env class's
    ``options`` model (a subclass of this one) before any env code runs: unknown keys, wrong types
    (strict: ``"5"`` is not an int, ``1.5`` is not an int, ``NaN`` is nothing) and values out of
    bounds are a 422 that names the allowed keys. Paths, cache folders and resource limits are
    **server settings** (CLI flags, environment variables), never options: a client must not make
    the server read or write where it likes, or lift a limit meant to protect everyone else.
    """

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    max_rounds: int | None = Field(
        None, ge=1, le=1000, description="Agent turns before truncation (default: the env's spec)."
    )


class Turn(BaseModel):
    """One conversation turn in the AgentGym format.

    ``from`` is ``human`` (instruction / observation) or ``gpt`` (the agent). ``loss`` is ``None``
    on human turns, ``False`` on the ack turn, ``True`` on model replies that are trained on.
    """

    model_config = ConfigDict(populate_by_name=True)

    from_: Literal["human", "gpt"] = Field(alias="from")
    value: str
    loss: bool | None = None

    def dump(self) -> dict[str, Any]:
        """The AgentTraj turn (``from``/``value``, plus ``loss``), as written to JSONL."""
        return {"from": self.from_, "value": self.value, "loss": self.loss}


class Timing(BaseModel):
    """Seconds an episode spent in env calls and in model calls (where the time went)."""

    env_s: float = 0.0
    model_s: float = 0.0


class Trajectory(BaseModel):
    """One episode: one line of ``trajectories.jsonl``; a superset of an AgentTraj record."""

    model_config = ConfigDict(populate_by_name=True)

    item_id: str = Field(description="'<env>_<task_id>' as the original item ids.")
    env: str = ""
    task_id: int = -1
    split: str = ""
    seed: int = 0
    sample: int = Field(0, description="Sample index when an item is run k times (pass@k).")
    conversations: list[Turn] = Field(default_factory=list)
    reward: float = 0.0
    success: bool = False
    rounds: int = 0
    invalid_actions: int = 0
    stop: StopReason | None = None
    error: str | None = None
    agent: dict[str, Any] = Field(default_factory=dict)
    env_version: str = ""
    timing: Timing = Field(default_factory=Timing)

    @property
    def key(self) -> str:
        """Identity of a run item: the same item sampled twice has two keys."""
        return f"{self.item_id}#{self.sample}"

    def dump(self) -> dict[str, Any]:
        """The JSON record of one ``trajectories.jsonl`` line (AgentTraj keys, by alias)."""
        d = self.model_dump(mode="json", by_alias=True)
        d["conversations"] = [t.dump() for t in self.conversations]
        return d


@dataclass(frozen=True)
class EpisodeItem:
    """One episode to play: env, global task id, split name, env seed and sample index (pass@k).

    Lives here, not in `agentgym.rollout`, because the data files name items too (an AgentEval id
    file is a list of them): `agentgym.data` needs the type without importing the runner."""

    env: str
    task_id: int
    split: str = "test"
    seed: int = 0
    sample: int = 0

    @property
    def item_id(self) -> str:
        """The original AgentGym item id ('maze_3')."""
        return item_id(self.env, self.task_id)

    @property
    def key(self) -> str:
        """Same identity as `Trajectory.key`, so stored episodes are recognised."""
        return f"{self.item_id}#{self.sample}"


def item_id(env: str, task_id: int) -> str:
    """The original AgentGym item id ('maze_3')."""
    return f"{env}_{task_id}"


def parse_item_id(item: str) -> tuple[str, int]:
    """Inverse of `item_id`; env names may contain underscores ('tool_weather_3')."""
    env, _, num = item.rpartition("_")
    if not env or not num.lstrip("-").isdigit():
        raise ValueError(f"not an item id of the form '<env>_<int>': {item!r}")
    return env, int(num)


# ------------------------------------------------------------------------------- run reports
CI95 = Annotated[list[float], Field(min_length=2, max_length=2)]
"""A 95 % interval ``[low, high]`` (a list, as JSON has it, so a report dumps back unchanged)."""


class _Report(BaseModel):
    """A report file's model: its documented keys are validated, other keys kept (module doc)."""

    model_config = ConfigDict(extra="allow")

    def dump(self) -> dict[str, Any]:
        """The file's JSON object. Optional keys a file did not have stay absent, and floats stay
        Python floats (``json.dumps`` writes them as the writers always did)."""
        return self.model_dump(exclude_unset=True)


class EnvResult(_Report):
    """One env's AgentEval numbers (`agentgym.eval.metrics.env_metrics`): rates in 0-1, ``score``
    and ``score_ci`` on the 0-100 scale of ``metric``, 95 % intervals as ``[low, high]``."""

    metric: Metric
    episodes: int
    items: int
    successes: int
    success_rate: float
    success_ci: CI95
    score: float
    score_ci: CI95
    mean_reward: float
    invalid_action_rate: float = Field(description="Invalid actions per round.")
    invalid_actions: int
    mean_rounds: float
    stops: dict[str, int] = Field(description="Episodes per stop reason ('unknown' when unrecorded).")
    errors: int = Field(description="Episodes that ended with stop 'error' (counted as failures).")
    env_s: float
    model_s: float
    pass_at_k: dict[str, float] | None = Field(
        None, description="k -> unbiased pass@k, for k up to the samples per item; absent with one sample."
    )


class OverallResult(_Report):
    """The macro average over envs (each env weighs the same); the means are absent with no env."""

    envs: int
    episodes: int
    mean_score: float | None = None
    mean_success_rate: float | None = None


class EvalResults(_Report):
    """An eval run's ``results.json`` (written by ``agentgym eval``, read by ``agentgym compare``):
    ``{"envs": {env: EnvResult}, "overall": OverallResult, "run": {...}}`` where ``run`` holds the
    run's config (agent, envs, split, limit, samples, seed, servers, max_rounds, command, started)."""

    envs: dict[str, EnvResult]
    overall: OverallResult
    run: dict[str, Any] = Field(
        default_factory=dict, description="The run's config (as in its config.json) and command line."
    )


class HeldoutScore(_Report):
    """One env's held-out score in AgentEvol (`agentgym.train.evol.score`): success over every
    held-out episode (with its Wilson 95 % interval) and over the test split alone."""

    episodes: int
    success_rate: float
    success_ci: CI95
    test_episodes: int
    test_success_rate: float | None = Field(description="None when no held-out id is from the test split.")
    invalid_action_rate: float
    mean_rounds: float
    errors: int


class HeldoutScores(RootModel[dict[str, HeldoutScore]]):
    """An AgentEvol eval folder's ``results.json`` (``RUN/iter{m}/eval/``): env -> `HeldoutScore`.

    Named like an eval run's file but not an `EvalResults`: no ``envs``/``overall`` level, and no
    metric (AgentEvol scores success)."""

    def dump(self) -> dict[str, Any]:
        """The ``results.json`` document: env -> its scores."""
        return {env: s.dump() for env, s in self.root.items()}


class PairedDelta(_Report):
    """Paired success delta of two evals on their shared held-out items (`agentgym compare`):
    points of success rate, B - A, with its paired-bootstrap 95 % interval."""

    items: int
    delta: float
    ci: CI95
    significant: bool = Field(description="The interval excludes 0.")
    better: int = Field(description="Items where B did better than A.")
    worse: int = Field(description="Items where B did worse than A.")


class TrainSummary(_Report):
    """What one AgentEvol training stage made: the checkpoint, from which init, on which data."""

    model: str
    init: str
    data: str
    examples: int
    steps: int
    train_loss: float | None
    seconds: float


class ExploreSummary(_Report):
    """One AgentEvol exploration stage: episodes played, kept (per env), and the data set written."""

    episodes: int
    kept: int
    kept_per_env: dict[str, int]
    explore_success_rate: dict[str, float]
    records: int = Field(description="Records of D_m: the kept episodes plus D_{m-1}.")
    file: str


class ControlRun(_Report):
    """The same-compute control of an iteration: as many steps with the same settings on D_0 alone."""

    checkpoint: str
    init: str
    data: str
    records: int
    train: TrainSummary
    eval: dict[str, HeldoutScore]
    vs_bc: dict[str, PairedDelta]


class LineageIteration(_Report):
    """One AgentEvol iteration (0 = BC): the data it trained on, the checkpoint and its scores."""

    iteration: int
    label: str = Field(description="'BC' for iteration 0, 'evol <m>' after.")
    records: int = Field(description="Records of the training data D_m.")
    kept: int | None = Field(description="Explored episodes kept into D_m; None for BC.")
    explored_with: str | None = Field(None, description="The checkpoint that explored (m >= 1).")
    explore: ExploreSummary | None = None
    data: str
    init: str
    checkpoint: str
    train: TrainSummary
    eval: dict[str, HeldoutScore]
    vs_bc: dict[str, PairedDelta] | None = Field(None, description="Paired delta vs BC (m >= 1).")
    control: ControlRun | None = Field(None, description="With ``control: true`` (m >= 1).")
    vs_control: dict[str, PairedDelta] | None = Field(None, description="Paired delta vs the control.")


class Lineage(_Report):
    """An AgentEvol run's ``lineage.json``: which data made which checkpoint, from what, and its
    scores; rewritten (atomically) after each iteration. ``random`` is the random agent's held-out
    score (None when ``random_baseline`` is off)."""

    run_dir: str
    envs: list[str]
    base_model: str
    retrain_from: Literal["base", "last"]
    random: dict[str, HeldoutScore] | None
    iterations: list[LineageIteration]
