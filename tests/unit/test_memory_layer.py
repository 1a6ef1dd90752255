"""The in-memory layer's groups: names checked as channels' own layer does, attached channels excepted."""

import pytest

from calls.consumer import Inbox
from calls.layers import InMemoryChannelLayer


async def test_group_members_come_and_go_and_an_empty_group_goes():
    layer = InMemoryChannelLayer()
    attached, plain = await layer.new_channel(), "specific.plain!1"
    layer.attach(attached, Inbox())
    await layer.group_add("g", attached)
    await layer.group_add("g", plain)
    assert set(layer.groups["g"]) == {attached, plain}
    await layer.group_discard("g", attached)
    await layer.group_discard("g", "specific.never-added!2")
    assert set(layer.groups["g"]) == {plain}
    await layer.group_discard("g", plain)
    assert "g" not in layer.groups


async def test_bad_names_are_refused():
    layer = InMemoryChannelLayer()
    with pytest.raises(TypeError):
        await layer.group_add("bad group name", "specific.x!1")
    with pytest.raises(TypeError):
        await layer.group_add("g", "bad channel name")
    with pytest.raises(TypeError):
        await layer.group_discard("g", "bad channel name")
    assert layer.groups == {}
