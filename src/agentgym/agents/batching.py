"""Coalesce concurrent requests into batches run by one worker thread.

Local model backends (HF ``generate``, vLLM's offline engine) are much faster per token on a batch
than on single prompts, and the runner plays many episodes at once. `Batcher.submit` enqueues one
request and awaits its future; a background task waits a short window (or until ``max_batch``
requests are pending), then runs the whole batch in a dedicated worker thread - so the event loop
keeps serving env steps and HTTP requests while the model computes - and resolves the futures.

One worker thread only: a model is not safe to call from two threads at once, and on a GPU or a
few CPU cores two concurrent batches would not be faster than one bigger batch anyway. Requests
that arrive while a batch runs are taken together as the next batch without waiting again.

When ``run_batch`` raises, every request of the batch gets the error - unless the batcher was made
with ``isolate_failures=True``: then the batch is run again one request at a time, so a request
that breaks a batch (a value the model code chokes on, a prompt that runs out of memory) fails
alone and the others still get their answers. It costs a second run of the batch, on a rare path.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import threading
import time
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

Req = TypeVar("Req")
Res = TypeVar("Res")

BatchFn = Callable[[Sequence[Req]], Sequence["Res | BaseException"]]
"""Runs a batch in the worker thread; returns one result (or an exception) per request, in order."""


class Batcher(Generic[Req, Res]):
    """Runs ``run_batch`` on batches of submitted requests (see the module docstring)."""

    def __init__(
        self,
        run_batch: BatchFn,
        *,
        max_batch: int = 16,
        window: float = 0.02,
        name: str = "batcher",
        isolate_failures: bool = False,
    ):
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        if window < 0:
            raise ValueError(f"window must be >= 0, got {window}")
        self._run_batch = run_batch
        self.max_batch = max_batch
        self.window = window
        self.isolate_failures = isolate_failures
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: collections.deque[tuple[Req, asyncio.Future[Res]]] = collections.deque()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._lock = threading.Lock()
        self.batches = 0
        """Number of batches run (for tests and stats)."""
        self.batch_sizes: list[int] = []
        """Size of each batch run, most recent last (capped at the last 1000)."""
        self.isolated = 0
        """Number of failed batches re-run one request at a time (``isolate_failures``)."""
        self.running = 0
        """Requests in the batch being run now (0 between batches)."""
        self.running_since: float | None = None
        """``time.monotonic()`` when the running batch started."""
        self.batch_seconds: float | None = None
        """Moving average of a batch's duration (None before the first): with ``running`` and the
        queue, what a server needs to estimate how long a new request would wait."""

    async def submit(self, request: Req) -> Res:
        """Enqueue ``request`` and wait for its result (re-raises the request's exception)."""
        if self._closed:
            raise RuntimeError("the batcher is closed")
        self._ensure_started()
        future: asyncio.Future[Res] = asyncio.get_running_loop().create_future()
        self._pending.append((request, future))
        self._wakeup.set()
        return await future

    @property
    def queued(self) -> int:
        """Requests waiting for a batch (their callers have not given up)."""
        return sum(1 for _, fut in self._pending if not fut.done())

    def _ensure_started(self) -> None:
        """Start the background task in the running loop (again if the caller moved to a new loop,
        e.g. a second ``asyncio.run``: events and tasks belong to one loop)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._loop is not loop:  # futures of another (finished) loop cannot be resolved here
                self._pending = collections.deque()
            if self._loop is not loop or self._task is None or self._task.done():
                self._loop = loop
                self._wakeup = asyncio.Event()
                self._task = loop.create_task(self._serve())

    async def _next_batch(self) -> list[tuple[Req, asyncio.Future[Res]]]:
        """Wait for a request, then up to ``window`` seconds (or until ``max_batch``) for more."""
        loop = asyncio.get_running_loop()
        while not self._pending:
            self._wakeup.clear()
            await self._wakeup.wait()
        deadline = loop.time() + self.window
        while len(self._pending) < self.max_batch:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), remaining)
            except asyncio.TimeoutError:
                break
        n = min(self.max_batch, len(self._pending))
        return [self._pending.popleft() for _ in range(n)]

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._next_batch()
            live = [(req, fut) for req, fut in batch if not fut.done()]  # skip cancelled callers
            if not live:
                continue
            self.batches += 1
            self.batch_sizes = [*self.batch_sizes[-999:], len(live)]
            self.running, self.running_since = len(live), time.monotonic()
            try:
                results = await self._run(loop, live)
            except asyncio.CancelledError:
                for _, fut in live:
                    if not fut.done():
                        fut.cancel()
                raise
            finally:
                took = time.monotonic() - self.running_since
                self.running, self.running_since = 0, None
                last = self.batch_seconds
                self.batch_seconds = took if last is None else 0.7 * last + 0.3 * took
            for (_, fut), res in zip(live, results, strict=True):
                if fut.done():
                    continue
                if isinstance(res, BaseException):
                    fut.set_exception(res)
                else:
                    fut.set_result(res)

    async def _call(self, loop: asyncio.AbstractEventLoop, reqs: list[Req]) -> Sequence[Res | BaseException]:
        results = await loop.run_in_executor(self._executor, self._run_batch, reqs)
        if len(results) != len(reqs):
            raise RuntimeError(f"run_batch returned {len(results)} results for {len(reqs)} requests")
        return results

    async def _run(
        self, loop: asyncio.AbstractEventLoop, live: list[tuple[Req, asyncio.Future[Res]]]
    ) -> list[Res | BaseException]:
        """One result or exception per request of ``live`` (see the module docstring)."""
        try:
            return list(await self._call(loop, [r for r, _ in live]))
        except Exception as e:
            if not self.isolate_failures or len(live) == 1:
                return [e] * len(live)  # the whole batch failed: every caller gets the error
            batch_error = e
        self.isolated += 1
        results: list[Res | BaseException] = []
        for req, fut in live:
            if fut.done():  # its caller gave up meanwhile
                results.append(batch_error)
                continue
            try:
                results.append((await self._call(loop, [req]))[0])
            except Exception as e:
                results.append(e)
        return results

    async def aclose(self) -> None:
        """Stop the background task and the worker thread; pending callers get CancelledError."""
        self._closed = True
        task, self._task = self._task, None
        if task is not None and not task.done():
            if task.get_loop() is asyncio.get_running_loop():
                task.cancel()
                try:
                    await task
                except (asyncio.CancelledError, Exception):
                    pass
        while self._pending:
            _, fut = self._pending.popleft()
            if not fut.done():
                fut.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)
