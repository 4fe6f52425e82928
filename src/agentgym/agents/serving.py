"""The machinery behind ``agentgym serve-model`` that is not HTTP: resumable jobs, admission, tokens.

`Jobs` - each generation request runs as a job (an asyncio task) that outlives the HTTP request
that started it by a grace period. Why: on a slow (CPU) server a client's timeout fires while its
reply is half generated; the server used to stop the work when the client hung up, the client
re-sent the same request, and every attempt ended the same way - SmolLM2 on 2 cores finished not
one episode in 40 minutes. Now a retry of the same request attaches to the job still running (or
gets its result, kept for the grace period once done), so the work is done once.

"The same request" is, in this order:

* the same ``Idempotency-Key`` header and the same body: what OpenAI's SDKs and our `OpenAIAgent`
  send on every retry of one request. The body is part of the key, so a key reused for another
  request is another job.
* without the header, the same body - but only for requests whose answer is determined by the
  body (greedy, or sampled with a ``seed``): two clients asking for the same greedy reply share one
  generation and get what each would have got alone. A sampled request without a seed is never
  shared: two of them must get two independent samples.

A job no request waits for any more is cancelled after the grace period (its batch row stops), so
clients that give up for good do not leave work running.

`Admission` - the server admits only what it can serve in time. Requests wait for a batch; a batch
runs until its longest row is done. A request admitted behind a long queue would wait past its
client's timeout and be retried into the same queue. So a request is answered 503 with
``Retry-After`` when the rows waiting for a batch would exceed ``max_queue`` or its estimated wait
(what is left of the running batch, plus one average batch per ``max_batch`` rows ahead of it)
exceeds ``max_wait`` seconds. A request is always admitted when nothing waits (never refused
forever), and a retry that attaches to a job is never refused (it adds no work).

`IncrementalDetokenizer` and `TokenText` - text deltas of a stream and the token strings/bytes of
log-probabilities.
"""

from __future__ import annotations

import asyncio
import collections
import json
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


# ----------------------------------------------------------------------------------------- jobs
@dataclass(eq=False)
class Job:
    """One generation (all choices of one request) running for whoever waits for it."""

    key: str | None
    task: asyncio.Task[Any]
    rows: int
    waiters: int = 0
    reaper: asyncio.TimerHandle | None = None
    done_at: float | None = None
    size: int = 0


class ClientGone(Exception):
    """The HTTP client hung up while it waited for a job."""


class Jobs:
    """Resumable generation jobs (see the module docstring).

    ``grace_s``: how long a job nobody waits for keeps running, and how long a finished job's
    result is kept for a late retry. ``max_kept_bytes``: a bound on the kept results (their JSON
    size; the oldest go first).
    """

    def __init__(self, grace_s: float = 60.0, max_kept_bytes: int = 64 << 20) -> None:
        if grace_s < 0:
            raise ValueError(f"grace_s must be >= 0, got {grace_s}")
        self.grace_s = grace_s
        self.max_kept_bytes = max_kept_bytes
        self._live: dict[str, Job] = {}
        self._kept: collections.OrderedDict[str, Job] = collections.OrderedDict()
        self._kept_bytes = 0
        self.rows_in_flight = 0
        """Rows (choices x prompts) of the jobs not finished yet, abandoned ones included."""
        self.stats = {"jobs": 0, "resumed": 0, "abandoned": 0}
        """``jobs`` started; requests ``resumed`` (answered by a job another request started);
        jobs ``abandoned`` (cancelled: nobody waited for them past the grace period)."""

    def find(self, key: str | None) -> Job | None:
        """The running or recently finished job of ``key``."""
        if key is None:
            return None
        self._expire()
        job = self._live.get(key) or self._kept.get(key)
        if job is not None and job.task.cancelling():  # being abandoned this very moment
            job = None
        if job is not None:
            self.stats["resumed"] += 1
        return job

    def start(self, key: str | None, work: Awaitable[Any], rows: int) -> Job:
        """Run ``work`` as a job (of ``key``: later requests with that key find it)."""
        self._expire()
        job = Job(key, asyncio.ensure_future(work), rows)
        self.rows_in_flight += rows
        self.stats["jobs"] += 1
        if key is not None:
            self._live[key] = job
        job.task.add_done_callback(lambda _: self._finished(job))
        return job

    def _finished(self, job: Job) -> None:
        self.rows_in_flight -= job.rows
        if job.reaper is not None:
            job.reaper.cancel()
        ok = not job.task.cancelled() and job.task.exception() is None  # also marks it retrieved
        if job.key is None or self._live.get(job.key) is not job:
            return
        del self._live[job.key]
        if not ok or self.grace_s == 0:
            return
        job.done_at = time.monotonic()
        try:
            job.size = len(json.dumps(job.task.result(), default=str))
        except (TypeError, ValueError):
            job.size = 0
        self._kept[job.key] = job
        self._kept_bytes += job.size
        while self._kept_bytes > self.max_kept_bytes and self._kept:
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        _, old = self._kept.popitem(last=False)
        self._kept_bytes -= old.size

    def _expire(self) -> None:
        now = time.monotonic()
        while self._kept:
            first = next(iter(self._kept.values()))
            if first.done_at is not None and now - first.done_at <= self.grace_s:
                break
            self._drop_oldest()

    async def wait(self, job: Job, is_disconnected: Callable[[], Awaitable[bool]], poll: float = 0.5) -> Any:
        """The job's result (or its exception), checking every ``poll`` seconds whether the client
        left; then `ClientGone` - and the job, if nobody else waits for it, runs on for the grace
        period (a keyed job) or is cancelled at once (a job no retry could find)."""
        job.waiters += 1
        if job.reaper is not None:
            job.reaper.cancel()
            job.reaper = None
        try:
            while True:
                done, _ = await asyncio.wait({job.task}, timeout=poll)
                if done:
                    return job.task.result()
                if await is_disconnected():
                    raise ClientGone
        finally:
            job.waiters -= 1
            if job.waiters == 0 and not job.task.done():
                if job.key is None or self.grace_s == 0:
                    self._abandon(job)
                else:
                    job.reaper = asyncio.get_running_loop().call_later(self.grace_s, self._abandon, job)

    def _abandon(self, job: Job) -> None:
        job.reaper = None
        if job.waiters == 0 and not job.task.done():
            self.stats["abandoned"] += 1
            if job.key is not None and self._live.get(job.key) is job:
                del self._live[job.key]  # a retry from now on starts afresh
            job.task.cancel()

    def snapshot(self) -> dict[str, Any]:
        self._expire()
        waiting = sum(1 for j in self._live.values() if j.waiters == 0)
        return {
            **self.stats,
            "running": len(self._live),
            "orphaned": waiting,
            "kept": len(self._kept),
            "grace_s": self.grace_s,
        }


# ------------------------------------------------------------------------------------ admission
class AtCapacity(Exception):
    """A 503: the request would not be served in time; come back after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: float):
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class Admission:
    """Decides whether a new request of ``rows`` rows is admitted (see the module docstring).

    ``batcher`` tells what runs now and how long a batch takes (`Batcher.running`,
    ``running_since``, ``batch_seconds``); ``in_flight()`` gives the rows admitted and not
    finished (waiting for a batch, being tokenised, or running).
    """

    def __init__(
        self,
        batcher: Any,
        in_flight: Callable[[], int],
        *,
        max_queue: int | None = None,
        max_wait: float | None = 60.0,
    ) -> None:
        if max_queue is not None and max_queue < 1:
            raise ValueError(f"max_queue must be >= 1, got {max_queue}")
        if max_wait is not None and max_wait <= 0:
            raise ValueError(f"max_wait must be > 0, got {max_wait}")
        self.batcher = batcher
        self.in_flight = in_flight
        self.max_queue = max_queue if max_queue is not None else 4 * batcher.max_batch
        self.max_wait = max_wait
        self.rejected = 0

    def estimate(self) -> tuple[int, float, float | None]:
        """(rows waiting, seconds left of the running batch, estimated wait of a new row or None)."""
        b = self.batcher
        queued = max(0, self.in_flight() - b.running)
        per_batch = b.batch_seconds
        if per_batch is None:
            return queued, 0.0, None
        left = 0.0
        if b.running and b.running_since is not None:
            left = max(0.0, per_batch - (time.monotonic() - b.running_since))
        return queued, left, left + (queued // b.max_batch) * per_batch

    def check(self, rows: int) -> None:
        """Raise `AtCapacity` if a request of ``rows`` rows should come back later."""
        queued, left, wait = self.estimate()
        if queued == 0 and not self.batcher.running:
            return  # idle: always admitted, whatever it asks for
        if queued and queued + rows > self.max_queue:
            self.rejected += 1
            raise AtCapacity(
                f"The server is at capacity: {queued} requests wait for a batch already "
                f"(--max-queue {self.max_queue}).",
                max(1.0, left),
            )
        if wait is not None and self.max_wait is not None and wait > self.max_wait:
            self.rejected += 1
            raise AtCapacity(
                f"The server is at capacity: a new request would wait ~{wait:.0f} s for a batch "
                f"(--max-wait {self.max_wait:g} s).",
                max(1.0, wait - self.max_wait),
            )

    def snapshot(self) -> dict[str, Any]:
        queued, left, wait = self.estimate()
        b = self.batcher
        return {
            "queued": queued,
            "running": b.running,
            "batch_seconds": None if b.batch_seconds is None else round(b.batch_seconds, 3),
            "estimated_wait_s": None if wait is None else round(wait, 3),
            "max_queue": self.max_queue,
            "max_wait_s": self.max_wait,
            "rejected": self.rejected,
        }


def retry_after_header(seconds: float) -> str:
    """``Retry-After`` in whole seconds (HTTP allows no fractions), at least 1."""
    return str(max(1, math.ceil(seconds)))


# ---------------------------------------------------------------------------------------- tokens
def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte <-> printable character table, which byte-level BPE vocabularies are spelled in."""
    bs = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs), strict=True))


_BYTE_OF = {c: b for b, c in _bytes_to_unicode().items()}


class TokenText:
    """A token id's text and UTF-8 bytes, as OpenAI's logprobs give them (cached per id).

    For byte-level BPE vocabularies (GPT-2, Llama 3, SmolLM2, Qwen) the bytes are the token's own
    bytes, which may be part of a character; such a token's text is ``bytes:\\xe2\\x80`` as vLLM
    writes it. For other vocabularies it is the token decoded alone."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self._cache: dict[int, tuple[str, list[int]]] = {}

    def __call__(self, token_id: int) -> tuple[str, list[int]]:
        hit = self._cache.get(token_id)
        if hit is not None:
            return hit
        piece = self.tokenizer.convert_ids_to_tokens(token_id)
        if isinstance(piece, str) and piece and all(c in _BYTE_OF for c in piece):
            raw = bytes(_BYTE_OF[c] for c in piece)
        else:
            raw = self.tokenizer.decode([token_id]).encode("utf-8")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = "bytes:" + "".join(f"\\x{b:02x}" for b in raw)
        out = (text, list(raw))
        if len(self._cache) < 1 << 18:
            self._cache[token_id] = out
        return out


class IncrementalDetokenizer:
    """The text of a stream of token ids, released as deltas that never need taking back.

    Each token is decoded with a few tokens before it (vLLM's prefix/read offsets), so a word split
    over tokens, or a character split over byte tokens, comes out whole. Text that might be the
    start of a stop string is held back until it is known not to be one, and nothing after a stop
    string is released. `finish` reconciles with the final text the generator returns."""

    def __init__(self, tokenizer: Any, stop: Sequence[str] = ()) -> None:
        self.tokenizer = tokenizer
        self.stop = [s for s in stop if s]
        self.hold = max((len(s) for s in self.stop), default=1) - 1
        self.ids: list[int] = []
        self.prefix = self.read = 0
        self.text = ""
        self.sent = 0
        self.stopped = False

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def add(self, token_id: int) -> str:
        """The text to release after ``token_id`` ("" if none yet)."""
        self.ids.append(token_id)
        before = self._decode(self.ids[self.prefix : self.read])
        now = self._decode(self.ids[self.prefix :])
        if len(now) > len(before) and not now.endswith("\ufffd"):
            self.text += now[len(before) :]
            self.prefix, self.read = self.read, len(self.ids)
        if self.stopped:
            return ""
        limit = len(self.text) - self.hold
        start = max(0, self.sent - self.hold)
        hits = [i for i in (self.text.find(s, start) for s in self.stop) if i >= 0]
        if hits:
            self.stopped = True
            limit = min(hits)
        if limit <= self.sent:
            return ""
        delta = self.text[self.sent : limit]
        self.sent = limit
        return delta

    def finish(self, final: str) -> str:
        """The rest of ``final`` (the generator's reply text) not released yet."""
        sent = self.text[: self.sent]
        if not final.startswith(sent):  # a tokenizer whose text changes as it grows: cannot un-send
            return ""
        self.sent = len(final)
        self.text = final
        return final[len(sent) :]
