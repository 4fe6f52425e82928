"""Conformance checker for a running env server: ``agentgym check --server URL ENV [--original]``.

It is pure client code over HTTP, so it can be pointed at any implementation of the protocol:
ours, a re-implementation, or - with ``--original`` - the original AgentGym servers (whose users
have no other way to find out that two clients share one env, or that an unknown id answers 200).
The only import from the server package is the `FAMILIES` table of the original routes, which is
data (ids, reset fields, shapes) describing the *original* servers as much as ours.

What is checked, and why each matters to a client (DESIGN §4):

* **determinism** - the same task + seed played with the same actions twice gives the same
  observations, rewards and done flags: evaluation and AgentEvol compare runs across servers.
* **isolation** - ``--sessions`` (64) concurrent sessions replaying those action sequences see
  exactly what lone sessions saw: the originals shared envs past capacity (WebShop, SQLGym).
* **error codes** (v1 only) - every documented status, with a JSON ``detail`` in every error body:
  a client must be able to tell failure from success without parsing observation text.
* **close frees** / **no leak** - sessions are counted and freed; N episodes later the server is
  back at its baseline and not slower (the originals never freed envs).

Actions come from the env's ``available_actions`` where it offers them (sorted, then drawn with an
RNG seeded by env/task/seed/step, so the run is reproducible), else from a small per-env list,
else from the v1 ``random_action?seed=`` route. Checks assume no other client uses the same env on
the server meanwhile (the session counts of ``/v1/health`` would move).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from agentgym.server.compat import FAMILIES, Family

Status = Literal["pass", "fail", "skip"]
Progress = Callable[[str], None]

# Actions for envs that cannot list theirs (and for original servers without /available_actions).
# They only need to be deterministic, not good: an invalid action is an observation, not an error.
FAMILY_ACTIONS: dict[str, list[str]] = {
    "maze": ["move up", "move down", "move left", "move right"],
    "wordle": ["c r a n e", "s l a t e", "a u d i o", "p i o u s", "m o u n t"],
    "babyai": ["turn left", "turn right", "move forward", "check available actions"],
    "sciworld": ["look around", "inventory", "open door to kitchen", "go to kitchen", "focus on door"],
    "textcraft": ["inventory", "get 1 oak log", "craft 4 oak planks using 1 oak log", "get 2 stick"],
    "alfworld": ["look", "inventory", "go to cabinet 1", "open cabinet 1"],
    "webshop": ["search[shoes]", "click[back to search]", "click[< prev]", "search[red shirt]"],
    "bird": ["SELECT 1", "SELECT name FROM sqlite_master WHERE type = 'table'"],
    "weather": [
        'Action: get_latitude_longitude with Action Input: {"name": "Paris"}',
        "Action: get_user_current_date with Action Input: {}",
        "Action: get_user_current_location with Action Input: {}",
    ],
    "movie": [
        'Action: get_search_movie with Action Input: {"movie_name": "Titanic"}',
        'Action: get_movie_details with Action Input: {"movie_id": "597"}',
    ],
    "academia": [
        "Action: loadPaperNet with Action Input: {}",
        "Action: loadAuthorNet with Action Input: {}",
    ],
    "todo": [
        "Action: get_projects with Action Input: {}",
        'Action: get_tasks with Action Input: {"project_id": "1"}',
    ],
    "sheet": [
        'Action: open_sheet with Action Input: {"name": "Sheet1"}',
        "Action: get_all_values with Action Input: {}",
    ],
}
GENERIC_ACTIONS = ["look", "inventory", "help"]

NO_SUCH_ENV = "no-such-env-conformance"
BIG_BODY_BYTES = 2 * 1024 * 1024
LATENCY_FACTOR = 5.0  # fail only when the last episodes are this many times slower than the first
CAPACITY_PROBE_MAX = 128  # fill the env to capacity only when the bound is this small


@dataclass
class Check:
    """One line of the report: a check, its outcome and a one-line reason."""

    name: str
    status: Status
    reason: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Report:
    server: str
    env: str
    protocol: Literal["v1", "original"]
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.status != "fail" for c in self.checks)

    def counts(self) -> dict[str, int]:
        out = {"pass": 0, "fail": 0, "skip": 0}
        for c in self.checks:
            out[c.status] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "env": self.env,
            "protocol": self.protocol,
            "ok": self.ok,
            "counts": self.counts(),
            "checks": [asdict(c) for c in self.checks],
        }


@dataclass(frozen=True)
class Options:
    """Knobs of a run (the CLI exposes ``sessions``, ``episodes`` and ``tasks``)."""

    sessions: int = 64  # concurrent sessions of the isolation check
    episodes: int = 1000  # episodes of the leak check (v1)
    tasks: int = 3  # task ids played twice by the determinism check
    max_steps: int = 8  # steps per recorded episode (fewer when it ends first)
    concurrency: int = 16  # in-flight episodes of the leak check
    timeout_s: float = 120.0  # per request (a JVM-backed reset can take seconds on a loaded box)
    token: str | None = None  # bearer token, for servers started with --token


class ProtocolError(Exception):
    """The server answered something the protocol does not allow (the message says what)."""


# ---------------------------------------------------------------------------- episodes
@dataclass
class Step:
    action: str
    observation: Any  # the text (v1) or the whole response minus the id (original)
    reward: Any
    done: bool


@dataclass
class Episode:
    task: int
    seed: int
    first: Any  # the reset observation (v1) or response minus the id (original)
    steps: list[Step] = field(default_factory=list)

    @property
    def actions(self) -> list[str]:
        return [s.action for s in self.steps]


def _short(value: Any, n: int = 70) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 3] + "..."


def diff_episodes(a: Episode, b: Episode) -> str | None:
    """The first difference between two plays of one task, in words (None: identical)."""
    if a.first != b.first:
        return f"reset observation differs: {_short(a.first)!r} vs {_short(b.first)!r}"
    for i, (x, y) in enumerate(zip(a.steps, b.steps, strict=False), 1):
        if x.action != y.action:
            return f"step {i}: the action offered differs: {x.action!r} vs {y.action!r}"
        for what in ("observation", "reward", "done"):
            u, v = getattr(x, what), getattr(y, what)
            if u != v:
                return f"step {i} ({x.action!r}): {what} differs: {_short(u)!r} vs {_short(v)!r}"
    if len(a.steps) != len(b.steps):
        return f"episode lengths differ: {len(a.steps)} vs {len(b.steps)} steps"
    return None


def _status_text(r: httpx.Response) -> str:
    return f"{r.status_code} {_short(r.text, 120)}"


# ------------------------------------------------------------------------------ drivers
class Driver:
    """The session operations of one protocol; raises `ProtocolError` on an unexpected answer."""

    def __init__(self, client: httpx.AsyncClient, env: str) -> None:
        self.client = client
        self.env = env
        self.live: set[Any] = set()  # handles to close at the end whatever happens

    async def create(self) -> Any:
        raise NotImplementedError

    async def reset(self, h: Any, task: int, seed: int) -> Any:
        raise NotImplementedError

    async def step(self, h: Any, action: str) -> Step:
        raise NotImplementedError

    async def actions(self, h: Any) -> list[str] | None:
        return None

    async def random_action(self, h: Any, seed: int) -> str | None:
        return None

    async def close(self, h: Any) -> None:
        raise NotImplementedError

    async def close_all(self) -> None:
        for h in list(self.live):
            try:
                await self.close(h)
            except (ProtocolError, httpx.HTTPError):
                self.live.discard(h)


class V1Driver(Driver):
    """The unified v1 routes (``/v1/sessions/...``)."""

    async def create(self, kwargs: dict[str, Any] | None = None) -> str:
        body: dict[str, Any] = {"env": self.env}
        if kwargs is not None:
            body["kwargs"] = kwargs
        r = await self.client.post("/v1/sessions", json=body)
        if r.status_code != 201:
            raise ProtocolError(f"POST /v1/sessions answered {_status_text(r)} (expected 201)")
        sid = r.json()["session_id"]
        self.live.add(sid)
        return sid

    async def reset(self, h: str, task: int, seed: int) -> str:
        r = await self.client.post(f"/v1/sessions/{h}/reset", json={"task_id": task, "seed": seed})
        if r.status_code != 200:
            raise ProtocolError(f"reset to task {task} answered {_status_text(r)}")
        return r.json()["observation"]

    async def step(self, h: str, action: str) -> Step:
        r = await self.client.post(f"/v1/sessions/{h}/step", json={"action": action})
        if r.status_code != 200:
            raise ProtocolError(f"step {action!r} answered {_status_text(r)}")
        d = r.json()
        return Step(action, d["observation"], d["reward"], bool(d["done"]))

    async def actions(self, h: str) -> list[str] | None:
        r = await self.client.get(f"/v1/sessions/{h}/available_actions")
        acts = r.json().get("actions") if r.status_code == 200 else None
        return [str(a) for a in acts] if isinstance(acts, list) else None

    async def random_action(self, h: str, seed: int) -> str | None:
        r = await self.client.get(f"/v1/sessions/{h}/random_action", params={"seed": seed})
        return str(r.json()["action"]) if r.status_code == 200 else None

    async def close(self, h: str) -> None:
        self.live.discard(h)
        r = await self.client.delete(f"/v1/sessions/{h}")
        if r.status_code not in (200, 204):
            raise ProtocolError(f"DELETE /v1/sessions/{h} answered {_status_text(r)} (expected 204)")


class OriginalDriver(Driver):
    """The original AgentGym routes of one env family, relative to the base URL an old client gets."""

    def __init__(self, client: httpx.AsyncClient, env: str, fam: Family) -> None:
        super().__init__(client, env)
        self.fam = fam
        self.key = fam.id_key
        self.no_close = False  # set when the server turns out to have no /close route

    def _strip(self, value: Any) -> Any:
        """The response minus the session's own id (which differs between two plays)."""
        if isinstance(value, dict):
            return {k: v for k, v in value.items() if k != self.key}
        return value

    @staticmethod
    def _json(r: httpx.Response, what: str) -> Any:
        if r.status_code != 200:
            raise ProtocolError(f"{what} answered {_status_text(r)}")
        try:
            d = r.json()
        except ValueError:
            raise ProtocolError(f"{what} answered 200 with a non-JSON body: {_short(r.text)!r}") from None
        if isinstance(d, dict) and "error" in d:
            raise ProtocolError(f"{what} answered 200 with an error inside: {_short(d)}")
        return d

    async def create(self) -> int:
        if "id" in self.fam.create_in:  # tool envs: the dataset row to start on (the client sends 0)
            r = await self.client.post("create", json={"id": 0})
        elif self.fam.create_in:
            r = await self.client.post("create", json={})
        else:
            r = await self.client.post("create")
        d = self._json(r, "POST /create")
        num = d.get(self.key) if isinstance(d, dict) else d
        if not isinstance(num, int) or isinstance(num, bool):
            raise ProtocolError(f"POST /create answered {_short(d)}: no int {self.key!r} in it")
        self.live.add(num)
        return num

    async def reset(self, h: int, task: int, seed: int) -> Any:
        body: dict[str, Any] = {self.key: h, self.fam.reset_task: task}
        if self.fam.reset_seed:
            body[self.fam.reset_seed] = seed
        if "world_type" in self.fam.reset_ignore:
            body["world_type"] = "Text"  # what the original ALFWorld client sends
        d = self._json(await self.client.post("reset", json=body), f"POST /reset {body}")
        return self._strip(d)

    async def step(self, h: int, action: str) -> Step:
        d = self._json(
            await self.client.post("step", json={self.key: h, "action": action}), f"POST /step {action!r}"
        )
        if not isinstance(d, dict):
            raise ProtocolError(f"POST /step answered {_short(d)} (expected an object)")
        done = bool(d.get("done") or d.get("terminated") or d.get("truncated"))
        return Step(action, self._strip(d), d.get("reward"), done)

    async def actions(self, h: int) -> list[str] | None:
        if "available_actions" not in self.fam.gets:
            return None
        r = await self.client.get("available_actions", params={self.key: h})
        if r.status_code != 200:
            return None
        d = r.json()
        if isinstance(d, dict) and "clickables" in d:  # WebShop's shape
            acts = ["search[shoes]"] if d.get("has_search_bar") else []
            return acts + [f"click[{c}]" for c in d.get("clickables") or [] if c != "search"]
        return [str(a) for a in d] if isinstance(d, list) else None

    async def close(self, h: int) -> None:
        """Close ``h``; a server without a /close route (most originals) is noted, not an error
        here: the 'close_frees' check reports it, the other checks can still run."""
        self.live.discard(h)
        if self.no_close:
            return
        r = await self.client.post("close", json={self.key: h})
        if r.status_code in (404, 405) and _detail(r) in (None, "Not Found", "Method Not Allowed"):
            self.no_close = True
        elif r.status_code != 200:
            raise ProtocolError(f"POST /close answered {_status_text(r)}")


# ------------------------------------------------------------------------------ playing
async def choose_action(d: Driver, h: Any, task: int, seed: int, i: int) -> str:
    """A reproducible action: the RNG is seeded by (env, task, seed, step), never by the clock."""
    rng = random.Random(f"{d.env}/{task}/{seed}/{i}")
    acts = await d.actions(h)
    if acts:
        act = rng.choice(sorted(acts))  # sorted: the list's order is not part of the episode
        return act.replace("search[<keywords>]", "search[shoes]")
    if d.env in FAMILY_ACTIONS:
        return rng.choice(FAMILY_ACTIONS[d.env])
    drawn = await d.random_action(h, rng.randrange(2**31))
    return drawn if drawn is not None else rng.choice(GENERIC_ACTIONS)


async def play(
    d: Driver, task: int, seed: int, max_steps: int, actions: Sequence[str] | None = None
) -> Episode:
    """One episode in a fresh session (closed afterwards): ``actions`` replays a recorded play."""
    h = await d.create()
    try:
        ep = Episode(task, seed, await d.reset(h, task, seed))
        n = max_steps if actions is None else len(actions)
        for i in range(n):
            act = actions[i] if actions is not None else await choose_action(d, h, task, seed, i)
            s = await d.step(h, act)
            ep.steps.append(s)
            if s.done:
                break
    except BaseException:
        with contextlib.suppress(Exception):  # the first error is the one to report
            await d.close(h)
        raise
    await d.close(h)
    return ep


# ------------------------------------------------------------------------------- checker
class Checker:
    """Runs the checks of one protocol against one env; each check becomes one `Check`."""

    client: httpx.AsyncClient  # set by `run` for the duration of the checks

    def __init__(
        self,
        server: str,
        env: str,
        original: bool,
        opts: Options,
        progress: Progress | None = None,
    ) -> None:
        self.server = server.rstrip("/")
        self.env = env
        self.original = original
        self.opts = opts
        self.progress = progress or (lambda _: None)
        self.report = Report(server, env, "original" if original else "v1")
        self.traces: list[Episode] = []
        self.spec: dict[str, Any] | None = None
        self.error_bodies: list[tuple[str, httpx.Response]] = []

    # -------------------------------------------------------------- plumbing
    async def run(self) -> Report:
        headers = {"Authorization": f"Bearer {self.opts.token}"} if self.opts.token else {}
        limits = httpx.Limits(max_connections=max(self.opts.sessions, self.opts.concurrency) + 8)
        base = self.server + "/" if self.original else self.server
        async with httpx.AsyncClient(
            base_url=base, headers=headers, timeout=self.opts.timeout_s, limits=limits
        ) as client:
            self.client = client
            if self.original:
                await self._run_original(client)
            else:
                await self._run_v1(client)
        return self.report

    async def _guard(self, name: str, fn: Callable[[], Awaitable[Check | None]]) -> Check:
        """Run one check; an exception (refused connection, bad answer) fails it with the reason."""
        self.progress(name)
        try:
            res = await fn()
            check = res if res is not None else Check(name, "pass", "")
        except ProtocolError as e:
            check = Check(name, "fail", str(e))
        except httpx.HTTPError as e:
            check = Check(name, "fail", self._http_failure(e))
        except (KeyError, ValueError, TypeError) as e:
            check = Check(name, "fail", f"unexpected response shape: {type(e).__name__}: {e}")
        self.report.checks.append(check)
        return check

    def _http_failure(self, e: httpx.HTTPError) -> str:
        """A transport error in words; a timeout says what to try, it is not a wrong answer."""
        if isinstance(e, httpx.TimeoutException):
            return (
                f"{type(e).__name__}: no answer within {self.opts.timeout_s:g} s{_where(e)}; the server "
                "is too slow for this load (try a larger --timeout or fewer --sessions)"
            )
        return f"{type(e).__name__}: {e or 'no answer'}{_where(e)}"

    def _skip(self, names: Sequence[str], reason: str) -> None:
        self.report.checks.extend(Check(n, "skip", reason) for n in names)

    # ---------------------------------------------------------- shared checks
    async def determinism(self, d: Driver, tasks: Sequence[int]) -> Check:
        """Each task played twice (seed = its index): the two plays must match step for step."""
        first = [await play(d, t, i, self.opts.max_steps) for i, t in enumerate(tasks)]
        again = [await play(d, t, i, self.opts.max_steps) for i, t in enumerate(tasks)]
        self.traces = first
        steps = sum(len(e.steps) for e in first)
        for a, b in zip(first, again, strict=True):
            why = diff_episodes(a, b)
            if why:
                return Check("determinism", "fail", f"task {a.task} seed {a.seed}, second play: {why}")
        return Check(
            "determinism",
            "pass",
            f"{len(tasks)} tasks ({', '.join(map(str, tasks))}) played twice: identical, {steps} steps",
            {"tasks": list(tasks), "steps": steps},
        )

    async def isolation(self, d: Driver, room: int | None) -> Check:
        """``sessions`` concurrent sessions replay the recorded plays; each must see its lone play."""
        if not self.traces:
            return Check("isolation", "skip", "no recorded episodes (determinism did not run)")
        n = self.opts.sessions
        note = ""
        if room is not None and room < n:
            note = f" (capacity left room for {room} of --sessions {n})"
            n = room
        if n < 2:
            return Check("isolation", "skip", f"fewer than 2 sessions can run{note}")
        plan = [self.traces[i % len(self.traces)] for i in range(n)]
        handles = await asyncio.gather(*(d.create() for _ in plan), return_exceptions=True)
        try:
            bad = next((h for h in handles if isinstance(h, BaseException)), None)
            if bad is not None:
                raise bad
            # All sessions exist before any is reset, and all are reset before any steps: the
            # steps of different sessions then interleave on the server as much as they can.
            firsts = await asyncio.gather(
                *(d.reset(h, ep.task, ep.seed) for h, ep in zip(handles, plan, strict=True))
            )

            async def steps(h: Any, ep: Episode) -> list[Step]:
                out = []
                for act in ep.actions:
                    s = await d.step(h, act)
                    out.append(s)
                    if s.done:
                        break
                return out

            played = await asyncio.gather(*(steps(h, ep) for h, ep in zip(handles, plan, strict=True)))
        finally:
            await asyncio.gather(
                *(d.close(h) for h in handles if not isinstance(h, BaseException)), return_exceptions=True
            )
        wrong = []
        for k, (ep, first, st) in enumerate(zip(plan, firsts, played, strict=True)):
            why = diff_episodes(ep, Episode(ep.task, ep.seed, first, st))
            if why:
                wrong.append(f"session {k} (task {ep.task}): {why}")
        if wrong:
            return Check(
                "isolation",
                "fail",
                f"{len(wrong)}/{n} concurrent sessions differ from the lone play; first: {wrong[0]}",
                {"sessions": n, "differ": len(wrong)},
            )
        return Check(
            "isolation",
            "pass",
            f"{n} concurrent sessions over {len(self.traces)} tasks: each identical to the lone play{note}",
            {"sessions": n},
        )

    # ------------------------------------------------------------------- v1
    async def _health(self) -> dict[str, Any]:
        r = await self.client.get("/v1/health")
        if r.status_code != 200:
            raise ProtocolError(f"GET /v1/health answered {_status_text(r)}")
        return r.json()

    async def _env_load(self) -> tuple[int, int | None]:
        """(live sessions, capacity) of the env as /v1/health reports them."""
        env = (await self._health()).get("envs", {}).get(self.env)
        if not isinstance(env, dict) or not isinstance(env.get("sessions"), int):
            raise ProtocolError(f"/v1/health has no session count for {self.env!r}")
        cap = env.get("capacity")
        return env["sessions"], cap if isinstance(cap, int) else None

    async def _settled_count(self, want: int) -> int:
        """The env's session count, polled briefly: a server may finish closing after its 204."""
        count = (await self._env_load())[0]
        for _ in range(20):
            if count == want:
                break
            await asyncio.sleep(0.1)
            count = (await self._env_load())[0]
        return count

    def _error(self, label: str, r: httpx.Response, want: int) -> str | None:
        """Record an error response (for the body check); a mismatch in words, or None."""
        if r.status_code >= 400:
            self.error_bodies.append((label, r))
        if r.status_code != want:
            return f"{label}: got {_status_text(r)} (expected {want})"
        return None

    async def _run_v1(self, client: httpx.AsyncClient) -> None:
        d = V1Driver(client, self.env)
        spec_check = await self._guard("spec", self.check_spec)
        later = [
            "determinism", "isolation", "unknown_session", "unknown_env", "unknown_task",
            "malformed_json", "wrong_types", "bad_kwargs", "step_before_reset", "step_after_end",
            "body_limit", "capacity", "expert_route", "error_bodies", "close_frees", "no_leak",
        ]  # fmt: skip
        if spec_check.status != "pass":
            self._skip(later, "the server's spec/health routes did not answer (see 'spec')")
            return
        assert self.spec is not None
        splits = self.spec["splits"]
        test = splits.get("test") or next(iter(splits.values()))
        tasks = list(test[: self.opts.tasks])
        try:
            await self._guard("determinism", lambda: self.determinism(d, tasks))

            async def isolation() -> Check:
                live, cap = await self._env_load()
                return await self.isolation(d, None if cap is None else cap - live)

            await self._guard("isolation", isolation)
            for name, fn in (
                ("unknown_session", lambda: self.unknown_session(d)),
                ("unknown_env", self.unknown_env),
                ("unknown_task", lambda: self.unknown_task(d)),
                ("malformed_json", lambda: self.malformed_json(d, tasks[0])),
                ("wrong_types", lambda: self.wrong_types(d, tasks[0])),
                ("bad_kwargs", lambda: self.bad_kwargs(d)),
                ("step_before_reset", lambda: self.step_before_reset(d)),
                ("step_after_end", lambda: self.step_after_end(d, tasks[0])),
                ("body_limit", lambda: self.body_limit(d, tasks[0])),
                ("capacity", lambda: self.capacity(d)),
                ("expert_route", lambda: self.expert_route(d, tasks[0])),
                ("error_bodies", self.check_error_bodies),
                ("close_frees", lambda: self.close_frees(d, tasks[0])),
                ("no_leak", lambda: self.no_leak(d, tasks)),
            ):
                await self._guard(name, fn)
        finally:
            await d.close_all()

    async def check_spec(self) -> Check:
        await self._env_load()
        r = await self.client.get(f"/v1/envs/{self.env}")
        if r.status_code != 200:
            raise ProtocolError(f"GET /v1/envs/{self.env} answered {_status_text(r)}")
        spec = r.json()
        splits = spec.get("splits") if isinstance(spec, dict) else None
        if not isinstance(splits, dict) or not any(splits.values()):
            raise ProtocolError(f"GET /v1/envs/{self.env}: no task ids in 'splits': {_short(spec)}")
        self.spec = spec
        sizes = ", ".join(f"{k} {len(v)}" for k, v in splits.items())
        return Check("spec", "pass", f"{self.env} v{spec.get('version', '?')}: {sizes}")

    async def unknown_session(self, d: V1Driver) -> Check:
        sid = uuid.uuid4().hex
        problems = [
            self._error("GET /v1/sessions/{unknown}", await self.client.get(f"/v1/sessions/{sid}"), 404),
            self._error(
                "POST .../step",
                await self.client.post(f"/v1/sessions/{sid}/step", json={"action": "look"}),
                404,
            ),
            self._error("DELETE", await self.client.delete(f"/v1/sessions/{sid}"), 404),
        ]
        return _verdict("unknown_session", problems, "GET, step and DELETE of an unknown id: 404")

    async def unknown_env(self) -> Check:
        problems = [
            self._error(
                "POST /v1/sessions",
                await self.client.post("/v1/sessions", json={"env": NO_SUCH_ENV}),
                404,
            ),
            self._error("GET /v1/envs/{unknown}", await self.client.get(f"/v1/envs/{NO_SUCH_ENV}"), 404),
        ]
        return _verdict("unknown_env", problems, "create and spec of an unknown env: 404")

    async def unknown_task(self, d: V1Driver) -> Check:
        assert self.spec is not None
        known = {t for ids in self.spec["splits"].values() for t in ids}
        task = max(known) + 1_000_003
        sid = await d.create()
        try:
            r = await self.client.post(f"/v1/sessions/{sid}/reset", json={"task_id": task})
            problems = [self._error(f"reset to task {task}", r, 404)]
        finally:
            await d.close(sid)
        return _verdict("unknown_task", problems, f"reset to task {task} (in no split): 404")

    async def malformed_json(self, d: V1Driver, task: int) -> Check:
        """Truncated or invalid JSON, and NaN/Infinity (not JSON, though Python's parser takes them)."""
        sid = await d.create()
        env = json.dumps(self.env)
        bodies = [
            ("create", "/v1/sessions", b'{"env": '),
            ("reset", f"/v1/sessions/{sid}/reset", b"{task_id: 1}"),
            ("step", f"/v1/sessions/{sid}/step", b'{"action": "look",'),
            ("reset with NaN", f"/v1/sessions/{sid}/reset", b'{"task_id": NaN}'),
            ("reset with Infinity", f"/v1/sessions/{sid}/reset", b'{"task_id": 0, "seed": Infinity}'),
            (
                "create with NaN",
                "/v1/sessions",
                f'{{"env": {env}, "kwargs": {{"max_rounds": NaN}}}}'.encode(),
            ),
        ]
        problems = []
        try:
            await d.reset(sid, task, 0)
            for label, path, body in bodies:
                r = await self.client.post(path, content=body, headers={"content-type": "application/json"})
                if r.status_code == 201:  # a session was created after all: do not leave it behind
                    await d.close(r.json()["session_id"])
                problems.append(self._error(f"{label} {body.decode()!r}", r, 422))
        finally:
            await d.close(sid)
        return _verdict(
            "malformed_json", problems, "truncated/invalid JSON and NaN/Infinity on create, reset, step: 422"
        )

    async def wrong_types(self, d: V1Driver, task: int) -> Check:
        sid = await d.create()
        try:
            await d.reset(sid, task, 0)
            problems = [
                self._error("create {env: 5}", await self.client.post("/v1/sessions", json={"env": 5}), 422),
                self._error(
                    "reset {task_id: 'one'}",
                    await self.client.post(f"/v1/sessions/{sid}/reset", json={"task_id": "one"}),
                    422,
                ),
                self._error("reset {}", await self.client.post(f"/v1/sessions/{sid}/reset", json={}), 422),
                self._error(
                    "step {action: 7}",
                    await self.client.post(f"/v1/sessions/{sid}/step", json={"action": 7}),
                    422,
                ),
                self._error(
                    "step [..]",
                    await self.client.post(f"/v1/sessions/{sid}/step", json=["look"]),
                    422,
                ),
                self._error(
                    "random_action?seed=abc",
                    await self.client.get(f"/v1/sessions/{sid}/random_action", params={"seed": "abc"}),
                    422,
                ),
            ]
        finally:
            await d.close(sid)
        return _verdict("wrong_types", problems, "wrong types on create, reset, step, random_action: 422")

    async def bad_kwargs(self, d: V1Driver) -> Check:
        problems = []
        for kwargs in ({"no_such_option_conformance": 1}, {"max_rounds": "three"}, [1, 2]):
            r = await self.client.post("/v1/sessions", json={"env": self.env, "kwargs": kwargs})
            if r.status_code == 201:  # accepted: do not leave it behind
                await d.close(r.json()["session_id"])
            problems.append(self._error(f"kwargs {json.dumps(kwargs)}", r, 422))
        return _verdict("bad_kwargs", problems, "unknown key, wrong type, non-object kwargs: 422")

    async def step_before_reset(self, d: V1Driver) -> Check:
        sid = await d.create()
        try:
            r = await self.client.post(f"/v1/sessions/{sid}/step", json={"action": "look"})
            problems = [self._error("step on a new session", r, 409)]
        finally:
            await d.close(sid)
        return _verdict("step_before_reset", problems, "step before reset: 409")

    async def step_after_end(self, d: V1Driver, task: int) -> Check:
        """Ends an episode fast with ``max_rounds=1`` where the server takes it, else plays it out."""
        assert self.spec is not None
        try:
            sid = await d.create({"max_rounds": 1})
            how = "max_rounds=1"
        except ProtocolError:
            sid = await d.create()
            how = "played out"
        try:
            await d.reset(sid, task, 0)
            limit = int(self.spec.get("max_rounds") or 50) + 5
            for i in range(limit):
                s = await d.step(sid, await choose_action(d, sid, task, 0, i))
                if s.done:
                    break
            else:
                return Check("step_after_end", "skip", f"the episode did not end within {limit} steps")
            r = await self.client.post(f"/v1/sessions/{sid}/step", json={"action": "look"})
            problems = [self._error("step after done", r, 409)]
        finally:
            await d.close(sid)
        return _verdict("step_after_end", problems, f"step after the episode ended ({how}): 409")

    async def body_limit(self, d: V1Driver, task: int) -> Check:
        sid = await d.create()
        try:
            await d.reset(sid, task, 0)
            body = json.dumps({"action": "x" * BIG_BODY_BYTES}).encode()
            r = await self.client.post(
                f"/v1/sessions/{sid}/step", content=body, headers={"content-type": "application/json"}
            )
        finally:
            await d.close(sid)
        if r.status_code < 300:
            return Check(
                "body_limit", "skip", f"the server accepted a {len(body):,}-byte body ({r.status_code})"
            )
        why = self._error(f"step with a {len(body):,}-byte body", r, 413)
        return _verdict("body_limit", [why], f"a {len(body):,}-byte body: 413")

    async def capacity(self, d: V1Driver) -> Check:
        live, cap = await self._env_load()
        if cap is None:
            return Check("capacity", "skip", "/v1/health reports no capacity for the env")
        if cap > CAPACITY_PROBE_MAX:
            return Check("capacity", "skip", f"capacity {cap} > {CAPACITY_PROBE_MAX}: not filled")
        made: list[str] = []
        refused: httpx.Response | None = None
        try:
            for _ in range(cap - live + 2):
                r = await self.client.post("/v1/sessions", json={"env": self.env})
                if r.status_code == 201:
                    made.append(r.json()["session_id"])
                    d.live.add(made[-1])
                    continue
                refused = r
                break
        finally:
            await asyncio.gather(*(d.close(s) for s in made), return_exceptions=True)
        if refused is None:
            return Check(
                "capacity", "fail", f"{len(made)} creates past {live} live all succeeded (capacity {cap})"
            )
        problems = [self._error(f"create #{len(made) + 1}", refused, 503)]
        retry = refused.headers.get("retry-after")
        if refused.status_code == 503 and not retry:
            problems.append("the 503 has no Retry-After header")
        if refused.status_code == 503 and live + len(made) != cap:
            problems.append(f"refused at {live + len(made)} live sessions, not at capacity {cap}")
        return _verdict("capacity", problems, f"503 at capacity {cap}, Retry-After: {retry}")

    async def expert_route(self, d: V1Driver, task: int) -> Check:
        sid = await d.create()
        try:
            await d.reset(sid, task, 0)
            r = await self.client.get(f"/v1/sessions/{sid}/expert")
        finally:
            await d.close(sid)
        if r.status_code == 200:
            reply = r.json().get("reply")
            if not isinstance(reply, str):
                return Check("expert_route", "fail", f"200 without a 'reply' string: {_short(r.text)}")
            return Check("expert_route", "pass", "200: expert routes are ON on this server", {"status": 200})
        if r.status_code in (403, 501):
            self.error_bodies.append(("GET .../expert", r))
            what = "expert routes are OFF" if r.status_code == 403 else "the env has no expert"
            detail = _detail(r)
            if not detail:
                return Check("expert_route", "fail", f"{r.status_code} without a message: {_short(r.text)}")
            return Check(
                "expert_route",
                "pass",
                f"{r.status_code}: {what} ({_short(detail, 60)})",
                {"status": r.status_code},
            )
        return Check(
            "expert_route", "fail", f"GET .../expert answered {_status_text(r)} (expected 200 or 403)"
        )

    async def check_error_bodies(self) -> Check:
        bad = [
            f"{label} ({r.status_code}): {_short(r.text, 60)!r}"
            for label, r in self.error_bodies
            if not _detail(r)
        ]
        if bad:
            return Check(
                "error_bodies",
                "fail",
                f"{len(bad)}/{len(self.error_bodies)} error bodies lack a JSON 'detail' string; first: {bad[0]}",
            )
        return Check(
            "error_bodies", "pass", f"all {len(self.error_bodies)} error bodies are JSON with a 'detail'"
        )

    async def close_frees(self, d: V1Driver, task: int) -> Check:
        base = (await self._env_load())[0]
        n = 4
        sids = [await d.create() for _ in range(n)]
        for sid in sids:
            await d.reset(sid, task, 0)
        during = (await self._env_load())[0]
        for sid in sids:
            await d.close(sid)
        after = await self._settled_count(base)
        gone = sids[0]
        problems = [
            None
            if during == base + n
            else f"/v1/health counted {during} sessions with {n} open (baseline {base})",
            None if after == base else f"/v1/health counts {after} sessions after DELETE (baseline {base})",
            self._error("GET a deleted session", await self.client.get(f"/v1/sessions/{gone}"), 404),
            self._error(
                "step a deleted session",
                await self.client.post(f"/v1/sessions/{gone}/step", json={"action": "look"}),
                404,
            ),
        ]
        return _verdict(
            "close_frees", problems, f"{n} sessions: count {base} -> {during} -> {after}; deleted id: 404"
        )

    async def no_leak(self, d: V1Driver, tasks: Sequence[int]) -> Check:
        """``episodes`` full episodes (replaying the recorded actions), ``concurrency`` at a time."""
        n = self.opts.episodes
        if n < 2:
            return Check("no_leak", "skip", "--episodes must be at least 2")
        base = (await self._env_load())[0]
        traces = self.traces or [Episode(t, 0, None) for t in tasks]
        gate = asyncio.Semaphore(self.opts.concurrency)
        latency: list[float] = [0.0] * n
        errors: list[str] = []

        async def one(i: int) -> None:
            ep = traces[i % len(traces)]
            async with gate:
                t0 = time.perf_counter()
                try:
                    await play(d, ep.task, ep.seed, 0, ep.actions)
                except (ProtocolError, httpx.HTTPError) as e:
                    errors.append(
                        f"episode {i}: {self._http_failure(e) if isinstance(e, httpx.HTTPError) else e}"
                    )
                latency[i] = time.perf_counter() - t0

        await asyncio.gather(*(one(i) for i in range(n)))
        after = await self._settled_count(base)
        k = min(100, n // 2)
        first, last = statistics.median(latency[:k]), statistics.median(latency[-k:])
        ratio = last / first if first > 0 else 1.0
        data = {
            "episodes": n,
            "errors": len(errors),
            "baseline": base,
            "after": after,
            "first_ms": round(first * 1e3, 3),
            "last_ms": round(last * 1e3, 3),
            "ratio": round(ratio, 3),
        }
        timing = (
            f"median episode: first {k} {first * 1e3:.1f} ms, last {k} {last * 1e3:.1f} ms ({ratio:.2f}x)"
        )
        problems = []
        if errors:
            problems.append(f"{len(errors)}/{n} episodes failed; first: {errors[0]}")
        if after != base:
            problems.append(f"/v1/health counts {after} sessions after {n} episodes (baseline {base})")
        if ratio > LATENCY_FACTOR:
            problems.append(
                f"the last episodes are {ratio:.1f}x slower than the first (limit {LATENCY_FACTOR:g}x)"
            )
        if problems:
            return Check("no_leak", "fail", "; ".join(problems) + f"; {timing}", data)
        return Check("no_leak", "pass", f"{n} episodes, sessions back to {base}; {timing}", data)

    # -------------------------------------------------------------- original
    async def _root_count(self) -> int | None:
        """The env's live sessions when the server also speaks v1 (ours); None for other servers."""
        parts = urlsplit(self.server)
        try:
            r = await self.client.get(f"{parts.scheme}://{parts.netloc}/v1/health")
            env = r.json().get("envs", {}).get(self.env) if r.status_code == 200 else None
        except (httpx.HTTPError, ValueError, AttributeError):
            return None
        return env.get("sessions") if isinstance(env, dict) else None

    async def _run_original(self, client: httpx.AsyncClient) -> None:
        fam = FAMILIES[self.env]
        d = OriginalDriver(client, self.env, fam)
        tasks = list(range(self.opts.tasks))  # the original servers publish no splits: small ids
        try:
            proto = await self._guard("protocol", lambda: self.original_protocol(d, tasks[0]))
            if proto.status != "pass":
                self._skip(["determinism", "isolation"], "the basic routes failed (see 'protocol')")
            else:
                await self._guard("determinism", lambda: self.determinism(d, tasks))
                await self._guard("isolation", lambda: self.isolation(d, None))
            await self._guard("unknown_id", lambda: self.unknown_id(d))
            await self._guard("close_frees", lambda: self.original_close(d, tasks[0]))
        finally:
            await d.close_all()

    async def original_protocol(self, d: OriginalDriver, task: int) -> Check:
        key, fam = d.key, d.fam
        h = await d.create()
        first = await d.reset(h, task, 0)
        s = await d.step(h, (await d.actions(h) or FAMILY_ACTIONS.get(self.env) or GENERIC_ACTIONS)[0])
        problems = []
        if not isinstance(s.reward, (int, float)) or isinstance(s.reward, bool):
            problems.append(f"step has no numeric 'reward': {_short(s.observation)}")
        obs = s.observation.get("observation", s.observation.get("state"))
        if not isinstance(obs, str):
            problems.append(f"step has no 'observation'/'state' text: {_short(s.observation)}")
        r = await self.client.get("observation", params={key: h})
        if r.status_code != 200:
            problems.append(f"GET /observation?{key}= answered {_status_text(r)}")
        elif fam.gets.get("observation") == "observation" and isinstance(obs, str) and r.json() != obs:
            problems.append(
                f"GET /observation is not the last step's: {_short(r.json())!r} vs {_short(obs)!r}"
            )
        await d.close(h)
        if not isinstance(first, (str, list, dict)):
            problems.append(f"reset answered {_short(first)}")
        return _verdict(
            "protocol",
            problems,
            f"create/reset({fam.reset_task})/step/observation/close with {key!r}",
        )

    async def unknown_id(self, d: OriginalDriver) -> Check:
        num = 987_654_321
        key = d.key
        answers = [
            ("POST /step", await self.client.post("step", json={key: num, "action": "look"})),
            (f"GET /observation?{key}=", await self.client.get("observation", params={key: num})),
        ]
        ok200 = [f"{label} answered {_status_text(r)}" for label, r in answers if r.status_code == 200]
        if ok200:
            return Check(
                "unknown_id",
                "fail",
                f"unknown {key} {num}: {ok200[0]}. A 200 hides the failure: the original servers answer "
                "200 {'error': ...} here and their clients crash on a KeyError instead of seeing an error",
            )
        codes = ", ".join(f"{label}: {r.status_code}" for label, r in answers)
        return Check("unknown_id", "pass", f"unknown {key} refused ({codes})")

    async def original_close(self, d: OriginalDriver, task: int) -> Check:
        base = await self._root_count()
        h = await d.create()
        await d.reset(h, task, 0)
        d.live.discard(h)
        r = await self.client.post("close", json={d.key: h})
        if r.status_code in (404, 405) and _detail(r) in (None, "Not Found", "Method Not Allowed"):
            return Check(
                "close_frees",
                "fail",
                f"POST /close answered {r.status_code}: no close route, so envs are never freed "
                "(the original servers keep every env until they are restarted)",
            )
        problems = [None if r.status_code == 200 else f"POST /close answered {_status_text(r)}"]
        again = await self.client.post("step", json={d.key: h, "action": "look"})
        if again.status_code == 200:
            problems.append(f"the closed {d.key} {h} still answers /step with 200")
        after = await self._root_count()
        if base is not None and after != base:
            problems.append(f"/v1/health counts {after} sessions after /close (baseline {base})")
        counted = "" if base is None else f"; /v1/health back to {after}"
        return _verdict(
            "close_frees", problems, f"/close then /step on the closed id: {again.status_code}{counted}"
        )


def _where(e: httpx.HTTPError) -> str:
    try:
        return f" ({e.request.method} {e.request.url})"
    except RuntimeError:  # an error raised before any request was built
        return ""


def _detail(r: httpx.Response) -> str | None:
    """The error body's ``detail`` string, if the body is JSON with one."""
    try:
        body = r.json()
    except ValueError:
        return None
    detail = body.get("detail") if isinstance(body, dict) else None
    return detail if isinstance(detail, str) and detail.strip() else None


def _verdict(name: str, problems: Sequence[str | None], ok_reason: str) -> Check:
    found = [p for p in problems if p]
    if found:
        more = f" (+{len(found) - 1} more)" if len(found) > 1 else ""
        return Check(name, "fail", found[0] + more, {"problems": found})
    return Check(name, "pass", ok_reason)


# ----------------------------------------------------------------------------- entry
def check_server(
    server: str,
    env: str,
    *,
    original: bool = False,
    options: Options | None = None,
    progress: Progress | None = None,
) -> Report:
    """Run every check of the chosen protocol against ``server`` (the v1 root, or with ``original``
    the base URL an original client would get, e.g. ``http://host:port/maze``)."""
    if original and env not in FAMILIES:
        raise ValueError(f"no original route family for {env!r}; families: {', '.join(sorted(FAMILIES))}")
    checker = Checker(server, env, original, options or Options(), progress)
    return asyncio.run(checker.run())
