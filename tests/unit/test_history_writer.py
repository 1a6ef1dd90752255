"""The history writer's batching: at once when idle, gathered when busy."""

import asyncio
import threading

from calls import history


async def test_an_idle_writer_writes_at_once_and_a_busy_one_gathers_jobs(monkeypatch):
    batches, release = [], threading.Event()

    def write(self, batch):  # on the writer's thread
        release.wait(5)
        batches.append([job[1] for job in batch])
        return [None] * len(batch)

    monkeypatch.setattr(history.HistoryWriter, "_write", write)
    loop = asyncio.get_running_loop()
    writer = history.HistoryWriter(loop)

    release.set()
    started = loop.time()
    await writer.changes("a", [])  # idle: written at once
    assert loop.time() - started < history.BUSY_LINGER

    release.clear()
    first = writer.changes("b", [])
    await asyncio.sleep(0.01)  # "b" is being written
    second = writer.changes("c", [])  # queued meanwhile: the writer is busy
    release.set()
    await first
    third = writer.changes("d", [])  # arrives while the writer lingers: same batch as "c"
    await asyncio.gather(second, third)
    assert batches == [["a"], ["b"], ["c", "d"]]
