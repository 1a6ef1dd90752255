"""Run last in the end-to-end suite: every call started has one record, ended, with a code."""

import asyncio

from calls.models import Call


async def test_every_started_call_has_one_ended_record(server, history):
    def unfinished():
        return list(Call.objects.exclude(state="ended", hangup_code__isnull=False)
                    .values_list("call_id", "state"))

    for _ in range(40):  # calls of the last test may still be closing
        if not await history(unfinished):
            break
        await asyncio.sleep(0.1)
    assert await history(unfinished) == []
    counts = await history(lambda: (Call.objects.count(), Call.objects.values("call_id").distinct().count()))
    assert counts[0] > 0 and counts[0] == counts[1]
