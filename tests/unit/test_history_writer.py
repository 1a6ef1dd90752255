"""The history writer's batching: what is awaited goes at once, the rest soon, together."""

import asyncio
import threading

import pytest

from calls import history


@pytest.fixture
async def writer(monkeypatch):
    batches, release = [], threading.Event()
    release.set()

    def write(self, batch):  # on the writer's thread
        release.wait(5)
        batches.append([job[1] for job in batch])
        return [None] * len(batch)

    monkeypatch.setattr(history.HistoryWriter, "_write", write)
    made = history.HistoryWriter(asyncio.get_running_loop())
    made.batches, made.release = batches, release
    return made


async def test_an_awaited_write_goes_at_once_and_takes_the_waiting_ones_along(writer):
    loop = asyncio.get_running_loop()
    started = loop.time()
    await writer.changes("a", [], awaited=True)
    assert loop.time() - started < history.CHANGE_DELAY / 2

    ringing = writer.changes("b", [])  # nobody waits for it: it waits for company
    await asyncio.sleep(history.CHANGE_DELAY / 4)
    assert writer.batches == [["a"]]
    await writer.changes("c", [], awaited=True)
    assert ringing.done()
    assert writer.batches == [["a"], ["b", "c"]]


async def test_a_write_nobody_waits_for_is_written_within_the_delay(writer):
    loop = asyncio.get_running_loop()
    started = loop.time()
    await writer.changes("a", [])
    assert history.CHANGE_DELAY <= loop.time() - started < history.CHANGE_DELAY * 5
    assert writer.batches == [["a"]]


async def test_a_busy_writer_lets_jobs_gather_between_batches(writer):
    writer.release.clear()
    first = writer.changes("a", [], awaited=True)
    await asyncio.sleep(0.01)  # "a" is being written
    second = writer.changes("b", [], awaited=True)  # queued meanwhile: the writer is busy
    writer.release.set()
    await first
    third = writer.changes("c", [], awaited=True)  # arrives while the writer lingers
    await asyncio.gather(second, third)
    assert writer.batches == [["a"], ["b", "c"]]


@pytest.mark.django_db(transaction=True)
async def test_jobs_queued_while_a_batch_is_written_join_it_before_its_commit(monkeypatch):
    applied, writing, release, writes = [], threading.Event(), threading.Event(), []

    def apply_all(batch, found):  # the real _write's statements, on the writer's thread
        applied.append([job[1] for job in batch])
        if len(applied) == 1:
            writing.set()
            release.wait(5)
        return [None] * len(batch)

    real_write = history.HistoryWriter._write

    def counted_write(self, batch):
        writes.append(len(batch))
        return real_write(self, batch)

    monkeypatch.setattr(history, "_apply_all", apply_all)
    monkeypatch.setattr(history.HistoryWriter, "_write", counted_write)
    writer = history.HistoryWriter(asyncio.get_running_loop())
    first = writer.changes("a", [], awaited=True)
    await asyncio.to_thread(writing.wait, 5)
    second = writer.changes("b", [], awaited=True)  # queued while "a" is written
    release.set()
    await asyncio.gather(first, second)
    assert applied == [["a"], ["b"]]
    assert writes == [1]  # one transaction carried both
