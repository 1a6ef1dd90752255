"""The history writer of this process: every owned call's writes, in order, in batches.

Each call input used to cost a hop to the database thread and a transaction of
its own; under load most of a call's server CPU went there. Owners now queue
their writes here. One task takes whatever has queued up and writes it in one
transaction on a thread of its own, so concurrent calls share hops and commits,
and reads on Django's database thread are not held up behind writes. When busy,
it lets jobs gather a few milliseconds between batches. Writes nobody waits for
(a leg ringing, an answer) wait up to CHANGE_DELAY for the next batch, so that
a call costs two transactions, not five, and the writer's thread does not
compete with the event loop while a call is being set up.

A new call's destinations are looked up by the same job that writes it, so a
`start` costs one hop to a thread, not two; a batch's starts share one query.
They are handed back as soon as they are known, before the batch is written, so
that the destinations ring while the call is being written.
Jobs queued while a batch is written join it before its commit: under load a
start or an end queued just after a batch was taken used to wait for that batch's
commit and then for its own.
Order is kept (a call's row before its changes; FIFO across batches).
"""

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from django.db import close_old_connections, connection, transaction

from . import history_sql, services
from .destinations import resolve_many
from .runtime import per_event_loop

log = logging.getLogger(__name__)

_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="calls-history")

# When jobs queued up while a batch was written, the writer waits this long before
# the next: a transaction's commit costs several times a call's rows (about 60 µs
# on SQLite), and under load batches were one or two jobs. An idle writer (one
# pair calling) starts at once. (5 ms cost 4 % more CPU per call at 100 pairs
# than 2 ms, once a batch's statements took its rows as one JSON array.)
BUSY_LINGER = 0.002
# The longest a write that no one waits for stays queued (the history shows it then).
CHANGE_DELAY = 0.02


class HistoryWriter:
    def __init__(self, loop):
        self.loop = loop
        self.jobs = []  # (kind, call_id, payload, future)
        self.jobs_lock = threading.Lock()  # the writer's thread takes late jobs too
        self.flushing = False
        self.delayed = None  # the timer of a flush for writes no one waits for

    def start_call(self, call_id, lookup, fields):
        """Queue a new call: look up its destinations, write it with a leg for each.

        `lookup` is resolve_destinations's (callee, type, caller session id); the
        fields are services.record_call_starts's. Returns two futures: the
        destinations, as soon as they are known, and the destinations once the call
        is written (or the write's error; the first fails with it if it failed first).
        """
        found = self.loop.create_future()
        return found, self._queue("start", call_id, (lookup, fields, found), awaited=True)

    def changes(self, call_id, writes, awaited=False):
        """Queue what one input did to a call (see services.record_call_changes).

        With `awaited` (the caller waits for it) the batch goes now; else within CHANGE_DELAY.
        """
        return self._queue("changes", call_id, writes, awaited)

    def _queue(self, kind, call_id, payload, awaited):
        future = self.loop.create_future()
        with self.jobs_lock:
            self.jobs.append((kind, call_id, payload, future))
        if awaited:
            self._start_flush()
        elif self.delayed is None and not self.flushing:
            self.delayed = self.loop.call_later(CHANGE_DELAY, self._start_flush)
        return future

    def _start_flush(self):
        if self.delayed is not None:
            self.delayed.cancel()
            self.delayed = None
        if not self.flushing and self.jobs:
            self.flushing = True
            self.loop.create_task(self._flush())

    async def _flush(self):
        try:
            while self.jobs:
                batch = self._take_jobs()
                outcomes = await self.loop.run_in_executor(_executor, self._write, batch)
                for (kind, _, payload, future), outcome in zip(batch, outcomes):
                    if kind == "start":
                        _settle(payload[2], outcome)  # its destinations, if the batch failed before
                    _settle(future, outcome)
                if self.jobs:  # busy: let more gather first, so that one commit carries many
                    await asyncio.sleep(BUSY_LINGER)
        finally:
            self.flushing = False

    def _take_jobs(self):
        with self.jobs_lock:
            taken, self.jobs = self.jobs, []
        return taken

    def _write(self, batch):
        """On the writer thread: the batch in one transaction; job by job if that fails."""
        close_old_connections()
        try:
            with transaction.atomic():
                outcomes = _apply_all(batch, self._found)
                late = self._take_jobs()
                if late:  # grow the batch in place: the caller settles them, the fallback retries them
                    batch += late
                    outcomes += _apply_all(late, self._found)
                return outcomes
        except Exception:
            log.exception("history batch failed; writing its %d jobs one by one", len(batch))
        outcomes = []
        for job in batch:
            try:
                with transaction.atomic():
                    outcomes += _apply_all([job], self._found)
            except Exception as exc:
                log.exception("history write for call %s lost", job[1])
                outcomes.append(exc)
        return outcomes

    def _found(self, future, destinations):
        """From the writer's thread: a new call's destinations are known."""
        self.loop.call_soon_threadsafe(_settle, future, destinations)


def _settle(future, outcome):
    """Give a job's future its outcome (an exception or a result), unless it has one."""
    if future.done():
        return
    if isinstance(outcome, Exception):
        future.set_exception(outcome)
        future.exception()  # retrieved: a caller that did not wait is not warned
    else:
        future.set_result(outcome)


writer = per_event_loop(HistoryWriter)  # the history writer of the running event loop


def _apply_all(batch, found):
    """Write the jobs of a batch: the new calls first, then every change, in queue order.

    (A call's start is always queued before its first change.) `found(future,
    destinations)` is called for each new call once its destinations are known.
    Return each job's outcome.
    """
    outcomes = [None] * len(batch)
    new_calls = [(index, call_id, payload) for index, (kind, call_id, payload, _) in enumerate(batch)
                 if kind == "start"]
    starts = []
    if new_calls:  # their destinations, all in one lookup
        looked_up = resolve_many([lookup for _, _, (lookup, _, _) in new_calls])
        for (index, call_id, (_, fields, future)), destinations in zip(new_calls, looked_up):
            found(future, destinations)
            outcomes[index] = destinations
            starts.append((call_id, fields, destinations))
    changes = [(call_id, payload) for kind, call_id, payload, _ in batch if kind != "start"]
    with history_sql.pipelined(connection):
        if starts:
            services.record_call_starts(starts)
        if changes:
            services.record_call_changes(changes)
    return outcomes
