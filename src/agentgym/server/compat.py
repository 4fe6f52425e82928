"""The original AgentGym routes, so the original ``agentenv`` clients (and AgentGym-RL) work unchanged.

Each hosted env's original routes are mounted under ``/{env}`` (an old client gets the base URL
``http://host:port/{env}``, as LMRL-Gym's ``/maze`` and ``/wordle`` already were) and, when the
server hosts a single env, also at ``/``. The routes are generated from `FAMILIES`, a table of the
original request and response shapes per env family (reference §2), not written 13 times.

Differences from the original servers, on purpose: unknown ids get 404 and bad bodies 422 (the
original answered 200 ``{"error": ...}``); ids are never reused or shared past capacity (503);
every family has ``POST /close {id}``; nothing runs on the event loop for blocking envs.

Contract for env authors - where the family-specific response fields come from
-----------------------------------------------------------------------------
Fields common to all envs come from the `Env` API: ``observation``/``state`` (the observation
text), ``reward``, ``done``, ``terminated``, ``truncated``, ``available_actions`` (the env's
`available_actions()`), ``id``/``env_idx`` (the int id of the original protocol). Every other field
is looked up **by the same key name in the episode's info** - the reset ``Observation.info``,
updated with each step's ``StepResult.info`` - so an env provides it by setting that info key:

==============  ====================================================================================
env family      info keys read (fallback when missing)
==============  ====================================================================================
babyai          ``score`` (the step reward)
sciworld        ``score`` (reward), ``task_name``, ``var_num``, ``task_description``
                (`instruction()`), ``look`` (the reset observation, and GET /observation's until
                the first step; else the observation text), ``possible_objects`` and ``goals`` (None)
textcraft       ``commands``, ``goal`` (None)
alfworld        ``task_type`` (None)
webshop         ``has_search_bar`` + ``clickables`` (else derived from `available_actions()`:
                ``search[...]`` / ``click[x]``), ``instruction_text`` (`instruction()`), ``url``,
                ``html`` (None)
bird            ``ground_truth`` (the gold SQL; None), ``question`` (the reset observation)
wordle          a ``filtered_vocab()`` method (a short list, as the original), else the info key
                ``filtered_vocab``, else `available_actions()`
webarena        ``sites``, ``object``, ``observation_metadata`` (None)
==============  ====================================================================================

Shapes in the table: a str is a bare JSON value (``"env_idx"`` -> ``7``); a tuple is an object
(``("observation", "reward")``; ``"info=null"`` names the key ``info`` and fills it from the
resolver ``null``); a list is a JSON array (``["observation", "null"]`` -> ``["...", null]``).
"""

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, FastAPI, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, create_model

from agentgym.core.errors import BadEnvArgs
from agentgym.core.protocol import ERROR_RESPONSES, Text
from agentgym.core.types import JsonInt, json_int
from agentgym.server.responses import fast_json
from agentgym.server.sessions import EnvSession, SessionManager

Shape = str | tuple | list
Id = json_int(ge=0)
TaskNum = JsonInt


@dataclass(frozen=True)
class Family:
    """The original routes of one env family (reference §2)."""

    id_key: str  # "id" (id-style) or "env_idx" (env_idx-style)
    reset_task: str  # the /reset field that carries the task id
    reset_out: Shape
    step_out: Shape
    create_in: Mapping[str, Any] = field(default_factory=dict)  # optional /create body fields
    create_out: Shape = ("id",)
    create_reset: str | None = None  # "self": reset to its own id (textcraft); "id": to body.id (tools)
    reset_task_default: Any = ...  # ... = required; None = optional (null -> replay the current task)
    reset_seed: str | None = None  # /reset field carrying the episode seed (webarena)
    reset_ignore: tuple[str, ...] = ()  # accepted and ignored (alfworld's world_type)
    gets: Mapping[str, Shape] = field(default_factory=dict)  # GET /{name}?{id_key}=
    root: str | None = None  # GET / answer
    list_envs: bool = False  # GET /list_envs
    close_out: Shape = "true"
    static_actions: bool = False  # GET /available_actions works without an id (maze)


_LMRL = Family(
    id_key="id",
    reset_task="game",
    reset_out=("observation",),
    step_out=("observation", "reward", "done"),
    gets={"observation": "observation", "available_actions": "available_actions", "detail": "detail"},
    static_actions=True,
)
_BABYAI_STATE = ("observation", "reward", "score", "deleted", "done")
# The original /reset answered the look-around text alone; its client prepends the task description.
_SCI_RESET = (
    "task_name",
    "var_num",
    "task_description",
    "observation=look",
    "reward",
    "score",
    "deleted",
    "done",
)
_TOOL = Family(
    id_key="env_idx",
    reset_task="id",
    reset_task_default=None,
    reset_out="observation",
    step_out=("observation", "reward", "done"),
    create_in={"id": TaskNum | None},
    create_out="env_idx",
    create_reset="id",
    gets={"observation": "observation"},
    root="ok",
    list_envs=True,
)

FAMILIES: dict[str, Family] = {
    "maze": _LMRL,
    "wordle": dataclasses.replace(
        _LMRL,
        reset_task="seed",
        reset_out=("id", "observation"),
        gets={"observation": "observation", "filtered_vocab": "filtered_vocab", "detail": "detail"},
        static_actions=False,
    ),
    "babyai": Family(
        id_key="id",
        reset_task="data_idx",
        reset_out=_BABYAI_STATE,
        step_out=("observation", "reward", "score", "done"),
        gets={"observation": _BABYAI_STATE},
        root="This is environment BabyAI.",
    ),
    "sciworld": Family(
        id_key="id",
        reset_task="data_idx",
        reset_out=_SCI_RESET,
        step_out=("observation", "reward", "score", "done"),
        gets={
            "observation": "stored_observation",
            "action_hint": ("possible_actions", "possible_objects"),
            "task_description": "task_description",
            "goals": ("goals",),
            "detail": "detail",
        },
        root="This is environment ScienceWorld.",
    ),
    "textcraft": Family(
        id_key="id",
        reset_task="data_idx",
        reset_task_default=0,
        reset_out=("id", "observation", "done", "reward"),
        step_out=("observation", "reward", "done"),
        create_in={"commands": Text | None, "goal": Text | None},
        create_out=("id", "observation", "done", "reward"),
        create_reset="self",
        gets={"observation": "observation", "commands": "commands", "goal": "goal", "detail": "detail"},
        root="This is environment TextCraft.",
    ),
    "alfworld": Family(
        id_key="id",
        reset_task="game",
        reset_ignore=("world_type",),
        reset_out=("id", "observation", "available_actions", "task_type"),
        step_out=("observation", "reward", "available_actions", "done"),
        gets={"available_actions": "available_actions", "observation": "observation", "detail": "detail"},
        root="This is environment AlfWorld.",
    ),
    "webshop": Family(
        id_key="env_idx",
        reset_task="session_id",
        reset_task_default=None,
        reset_out=["observation", "null"],
        step_out=("state", "reward", "done", "info=null"),
        create_out="env_idx",
        gets={
            "available_actions": "webshop_actions",
            "instruction_text": "instruction_text",
            "observation": "observation",
            "state": ("url", "html", "instruction_text"),
        },
        root="ok",
        list_envs=True,
    ),
    "bird": Family(
        id_key="env_idx",
        reset_task="item_id",
        reset_out=["observation", "null"],
        step_out=("state", "reward", "done", "info=ground_truth_info"),
        create_out="env_idx",
        gets={"observation": "question"},
    ),
    "weather": _TOOL,
    "movie": _TOOL,
    "academia": _TOOL,
    "sheet": _TOOL,
    "todo": _TOOL,
    "webarena": Family(
        id_key="env_idx",
        reset_task="idx",
        reset_seed="seed",
        reset_out=("observation", "sites", "object"),
        step_out=("observation", "reward", "terminated", "truncated", "info"),
        create_out=("env_idx",),
        gets={"observation": "observation", "observation_metadata": "observation_metadata"},
        close_out=("closed=closed",),
    ),
    "searchqa": dataclasses.replace(
        _TOOL, step_out=("observation", "reward", "done", "info=null"), root=None
    ),
}
"""Env id -> its original route family. Hosted envs not listed here get no original routes
unless `create_app(compat_families={env: family_name})` maps them to one of these."""


# ------------------------------------------------------------------ field resolvers
class _Ctx:
    """What a response field can be computed from (inside the session lock)."""

    __slots__ = ("num", "s", "_text", "reward", "terminated", "truncated")

    def __init__(
        self,
        s: EnvSession,
        text: str | None = None,
        reward: float | None = None,
        terminated: bool = False,
        truncated: bool = False,
    ) -> None:
        self.num, self.s, self._text = s.num, s, text
        self.reward = s.reward if reward is None else reward
        self.terminated, self.truncated = terminated, truncated

    @property
    def text(self) -> str:
        return self.s.env.observation() if self._text is None else self._text  # NotReset -> 409

    @property
    def info(self) -> dict[str, Any]:
        return self.s.info


def _webshop_actions(c: _Ctx) -> dict[str, Any]:
    if "clickables" in c.info:
        return {
            "has_search_bar": bool(c.info.get("has_search_bar")),
            "clickables": list(c.info["clickables"]),
        }
    acts = c.s.env.available_actions() or []
    clicks = [a[6:-1] for a in acts if a.startswith("click[") and a.endswith("]")]
    return {"has_search_bar": any(a.startswith("search[") for a in acts), "clickables": clicks}


def _stored_observation(c: _Ctx) -> str:
    """What the original SciWorld server stored as the observation: its reset one (``look``, the
    look-around alone) until the first step, then the last step's."""
    if c.s.env.rounds == 0 and "look" in c.info:
        return c.info["look"]
    return c.text


def _filtered_vocab(c: _Ctx) -> Any:
    """A short word list, as the original returned (its client pastes it into the prompt)."""
    method = getattr(c.s.env, "filtered_vocab", None)
    if callable(method):
        return method()
    if "filtered_vocab" in c.info:
        return c.info["filtered_vocab"]
    return c.s.env.available_actions()


RESOLVERS: dict[str, Callable[[_Ctx], Any]] = {
    "id": lambda c: c.num,
    "env_idx": lambda c: c.num,
    "observation": lambda c: c.text,
    "state": lambda c: c.text,
    "look": lambda c: c.info.get("look", c.text),
    "stored_observation": _stored_observation,
    "reward": lambda c: c.reward,
    "score": lambda c: c.info.get("score", c.reward),
    "done": lambda c: bool(c.s.env.done),
    "terminated": lambda c: c.terminated,
    "truncated": lambda c: c.truncated,
    "deleted": lambda c: False,
    "null": lambda c: None,
    "true": lambda c: True,
    "closed": lambda c: "closed",
    "info": lambda c: c.info,
    "available_actions": lambda c: c.s.env.available_actions(),
    "possible_actions": lambda c: c.s.env.available_actions(),
    "webshop_actions": _webshop_actions,
    "filtered_vocab": _filtered_vocab,
    "instruction_text": lambda c: c.info.get("instruction_text") or c.s.env.instruction(),
    "task_description": lambda c: c.info.get("task_description") or c.s.env.instruction(),
    "question": lambda c: c.info.get("question") or c.text,
    "ground_truth_info": lambda c: {"ground_truth": c.info.get("ground_truth")},
    "detail": lambda c: {**c.s.describe(), "info": c.info},
}


def render(shape: Shape, c: _Ctx) -> Any:
    """Build a response of ``shape`` (see the module docstring) from ``c``."""
    if isinstance(shape, str):
        return _field(shape, c)
    if isinstance(shape, list):
        return [_field(name, c) for name in shape]
    out = {}
    for item in shape:
        key, _, source = item.partition("=")
        out[key] = _field(source or key, c)
    return out


def _field(name: str, c: _Ctx) -> Any:
    fn = RESOLVERS.get(name)
    return fn(c) if fn is not None else c.info.get(name)


# ------------------------------------------------------------------------ mounting
def mount_compat(app: FastAPI, mgr: SessionManager, families: Mapping[str, str] | None = None) -> list[str]:
    """Mount the original routes of every hosted env that has a family; returns those env ids."""
    chosen = {**{e: e for e in mgr.classes if e in FAMILIES}, **dict(families or {})}
    mounted = []
    for env_id, fam_name in chosen.items():
        if env_id not in mgr.classes:
            continue
        if fam_name not in FAMILIES:
            raise ValueError(
                f"unknown compat family {fam_name!r} for {env_id!r}; families: {sorted(FAMILIES)}"
            )
        router = build_router(env_id, FAMILIES[fam_name], mgr)
        app.include_router(router, prefix=f"/{env_id}", tags=[f"original routes: {env_id}"])
        if len(mgr.classes) == 1:
            app.include_router(router, include_in_schema=False)
        mounted.append(env_id)
    return mounted


def _model(name: str, fields: Mapping[str, tuple[Any, Any]]) -> type[BaseModel]:
    # extra="ignore": old clients send keys some servers never read. Ids and task numbers are
    # strict ints (``{"id": false}`` is not session 0, ``"3"`` is not 3): the originals' clients
    # always send JSON ints, and a lax read would act on a session the client never named.
    return create_model(name, __config__=ConfigDict(extra="ignore"), **fields)  # type: ignore[call-overload]


def build_router(env_id: str, fam: Family, mgr: SessionManager) -> APIRouter:  # noqa: C901 - a route table
    """The original routes of ``env_id`` as family ``fam`` describes them."""
    router = APIRouter()
    key = fam.id_key
    tag = env_id.capitalize()
    StepIn = _model(f"{tag}CompatStep", {key: (Id, ...), "action": (Text, ...)})
    CloseIn = _model(f"{tag}CompatClose", {key: (Id, ...)})
    task_type = TaskNum if fam.reset_task_default is ... else TaskNum | None
    reset_fields: dict[str, tuple[Any, Any]] = {
        key: (Id, ...),
        fam.reset_task: (task_type, fam.reset_task_default),
    }
    if fam.reset_seed:
        reset_fields[fam.reset_seed] = (TaskNum | None, None)
    for name in fam.reset_ignore:
        reset_fields[name] = (Any, None)
    ResetIn = _model(f"{tag}CompatReset", reset_fields)
    spec = mgr.classes[env_id].spec
    first_task = min(spec.splits.get("test") or next(iter(spec.splits.values())))

    def session(num: int) -> EnvSession:
        return mgr.get_num(num, env_id)

    def do_reset(s: EnvSession, task: int, seed: int | None) -> Any:
        obs = s.env.reset(task, seed)
        s.info, s.reward = dict(obs.info), 0.0
        return _Ctx(s, obs.text, 0.0)

    # ---- create
    # The request models are built at run time (per family): FastAPI reads them from the
    # annotations; a static checker cannot (hence the `valid-type` ignores on the handlers).
    create: Callable[..., Awaitable[Response]]
    if fam.create_in:
        CreateIn = _model(f"{tag}CompatCreate", {k: (t, None) for k, t in fam.create_in.items()})

        async def create_with_args(body: CreateIn | None = None) -> Response:  # type: ignore[valid-type]
            return await _create(body.model_dump() if body is not None else {})

        create = create_with_args
    else:

        async def create_plain() -> Response:
            return await _create({})

        create = create_plain

    async def _create(body: dict[str, Any]) -> Response:
        if fam.create_reset == "self" and any(body.get(k) is not None for k in fam.create_in):
            raise BadEnvArgs(
                f"{env_id}: custom {'/'.join(fam.create_in)} are not supported; reset with a task id"
            )
        s = await mgr.create(env_id)
        task = None
        if fam.create_reset == "self":
            task = s.num if s.env.is_valid_task(s.num) else first_task
        elif fam.create_reset == "id" and body.get("id") is not None and s.env.is_valid_task(body["id"]):
            task = body["id"]
        if task is not None:
            ctx = await mgr.call(s, do_reset, s, task, None)
            return fast_json(await mgr.call(s, render, fam.create_out, ctx))
        return fast_json(render(fam.create_out, _Ctx(s, "")))

    router.add_api_route(
        "/create",
        create,
        name="create",  # the operation id, whichever handler it is
        methods=["POST"],
        summary=f"{env_id}: create an env (original)",
        responses=ERROR_RESPONSES,
    )

    # ---- reset
    async def reset(body: ResetIn) -> Response:  # type: ignore[valid-type]
        # An old trainer keeps its env ids across long phases (and asserts status 200): a reset of an
        # id the reaper closed re-creates it under the same id. Deleted ids stay 404.
        s = await mgr.revive(getattr(body, key), env_id)
        task = getattr(body, fam.reset_task)
        if task is None:  # null task: replay the current one (or start the first test task)
            task = s.env.task_id if s.env.task_id is not None else first_task
        seed = getattr(body, fam.reset_seed) if fam.reset_seed else None

        def run() -> Any:
            return render(fam.reset_out, do_reset(s, task, seed))

        return fast_json(await mgr.call(s, run))

    router.add_api_route(
        "/reset",
        reset,
        methods=["POST"],
        summary=f"{env_id}: reset to a task (original)",
        responses=ERROR_RESPONSES,
    )

    # ---- step
    async def step(body: StepIn) -> Response:  # type: ignore[valid-type]
        s = session(getattr(body, key))

        def run() -> Any:
            res = s.env.step(body.action)  # type: ignore[attr-defined]  # StepIn has it (built above)
            s.info.update(res.info)
            s.reward = res.reward
            return render(fam.step_out, _Ctx(s, res.observation, res.reward, res.terminated, res.truncated))

        return fast_json(await mgr.call(s, run))

    router.add_api_route(
        "/step", step, methods=["POST"], summary=f"{env_id}: step (original)", responses=ERROR_RESPONSES
    )

    # ---- close (absent in most originals: sessions were never freed)
    async def close(body: CloseIn) -> Response:  # type: ignore[valid-type]
        s = session(getattr(body, key))
        out = render(fam.close_out, _Ctx(s, ""))
        await mgr.close(s.id, "closed by /close")
        return fast_json(out)

    router.add_api_route(
        "/close", close, methods=["POST"], summary=f"{env_id}: close an env", responses=ERROR_RESPONSES
    )

    # ---- GET routes ?id= / ?env_idx=
    probe_cache: dict[str, Any] = {}
    for name, shape in fam.gets.items():
        router.add_api_route(
            f"/{name}",
            _getter(env_id, name, shape, fam, mgr, probe_cache, first_task),
            methods=["GET"],
            responses=ERROR_RESPONSES,
        )
    if fam.root is not None:
        root_text = fam.root

        async def root() -> Response:
            return fast_json(root_text)

        router.add_api_route("/", root, methods=["GET"], summary=f"{env_id}: liveness (original)")
    if fam.list_envs:

        async def list_envs() -> Response:
            return fast_json(sorted(s.num for s in mgr.sessions(env_id)))

        router.add_api_route("/list_envs", list_envs, methods=["GET"], summary=f"{env_id}: live env ids")
    return router


def _getter(
    env_id: str,
    name: str,
    shape: Shape,
    fam: Family,
    mgr: SessionManager,
    cache: dict[str, Any],
    first_task: int,
) -> Callable[..., Any]:
    static = fam.static_actions and name == "available_actions"

    async def probe() -> Any:
        """Maze's original /available_actions takes no id: answer from a throwaway env."""
        if "actions" not in cache:
            cls = mgr.classes[env_id]

            def run() -> Any:
                env = cls()
                try:
                    env.reset(first_task)
                    return env.available_actions()
                finally:
                    env.close()

            cache["actions"] = await asyncio.to_thread(run) if cls.spec.blocking else run()
        return cache["actions"]

    async def answer(num: int) -> Response:
        s = mgr.get_num(num, env_id)
        return fast_json(await mgr.call(s, render, shape, _Ctx(s)))

    if static:

        async def get_static(num: int | None = Query(None, alias=fam.id_key)) -> Response:
            return fast_json(await probe()) if num is None else await answer(num)

        return get_static

    async def get(num: int = Query(..., alias=fam.id_key)) -> Response:
        return await answer(num)

    return get
