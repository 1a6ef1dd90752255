"""One timer for the pings of every connection of this process.

A connection pings its client every PING_INTERVAL seconds. A timer each would
cost a timer handle per idle connection (several hundred bytes on uvloop, which
adds a libuv handle); here connections wait in slots of TICK seconds instead,
and one timer, armed for the earliest slot, tells those due. A ping is late by
at most one tick.
"""

import math

from .runtime import per_event_loop

TICK = 0.1


class PingWheel:
    """The connections of one event loop, by the slot their next ping is due in."""

    def __init__(self, loop):
        self.loop = loop
        self.slots = {}  # slot number -> set of connections due then
        self.timer = None
        self.timer_slot = None

    def schedule(self, connection, delay):
        """Call `connection.ping_due_now()` in `delay` seconds; return the slot to cancel it."""
        slot = math.ceil((self.loop.time() + delay) / TICK)
        self.slots.setdefault(slot, set()).add(connection)
        if self.timer_slot is None or slot < self.timer_slot:
            if self.timer is not None:
                self.timer.cancel()
            self.timer_slot = slot
            self.timer = self.loop.call_at(slot * TICK, self._fire)
        return slot

    def cancel(self, connection, slot):
        members = self.slots.get(slot)
        if members is not None:
            members.discard(connection)
            if not members:
                del self.slots[slot]

    def _fire(self):
        self.timer = self.timer_slot = None
        now = self.loop.time() / TICK
        for slot in [s for s in self.slots if s <= now + 1e-6]:
            for connection in self.slots.pop(slot):
                connection.ping_due_now()
        if self.slots:
            self.timer_slot = min(self.slots)
            self.timer = self.loop.call_at(self.timer_slot * TICK, self._fire)


ping_wheel = per_event_loop(PingWheel)  # the ping wheel of the running event loop
