"""The ping wheel: one timer tells every connection whose ping is due."""

import asyncio

from calls.pings import TICK, ping_wheel


class Connection:
    def __init__(self, name, log):
        self.name, self.log = name, log

    def ping_due_now(self):
        self.log.append((self.name, asyncio.get_running_loop().time()))


async def test_each_connection_is_told_once_in_order_of_its_delay():
    log, loop = [], asyncio.get_running_loop()
    wheel = ping_wheel()
    start = loop.time()
    wheel.schedule(Connection("late", log), 0.5)
    wheel.schedule(Connection("early", log), 0.2)
    wheel.schedule(Connection("also early", log), 0.2)
    await asyncio.sleep(0.8)
    assert [name for name, _ in log][2] == "late"
    assert {name for name, _ in log[:2]} == {"early", "also early"}
    for name, at in log:
        delay = 0.5 if name == "late" else 0.2
        assert delay - 0.01 <= at - start <= delay + TICK + 0.1
    assert wheel.slots == {} and wheel.timer is None


async def test_a_cancelled_connection_is_not_told():
    log = []
    wheel = ping_wheel()
    gone, stays = Connection("gone", log), Connection("stays", log)
    slot = wheel.schedule(gone, 0.2)
    wheel.schedule(stays, 0.2)
    wheel.cancel(gone, slot)
    await asyncio.sleep(0.45)
    assert [name for name, _ in log] == ["stays"]


async def test_an_earlier_connection_rearms_the_timer():
    log = []
    wheel = ping_wheel()
    wheel.schedule(Connection("later", log), 5)
    wheel.schedule(Connection("sooner", log), 0.1)
    await asyncio.sleep(0.4)
    assert [name for name, _ in log] == ["sooner"]
    assert len(wheel.slots) == 1 and wheel.timer is not None  # "later" still waits
    wheel.timer.cancel()

