from calls.subscriptions import SubscriptionSet, group_name, groups_for_event


def test_match_and_merge_more_specific_wins():
    subs = SubscriptionSet()
    subs.add(("media", "*", "*", "*"), {"a": "wide", "b": "wide"})
    subs.add(("media", "call", "*", "c1"), {"b": "narrow"})
    subs.add(("other", "*", "*", "*"), {"x": 1})
    body = subs.match(("media", "call", "hangup", "c1"), {"code": 0, "a": "event"})
    assert body == {"a": "event", "b": "narrow", "code": 0}
    assert subs.match(("media", "call", "hangup", "c2"), {}) == {"a": "wide", "b": "wide"}
    assert subs.match(("core", "user_event", "*", "u"), {}) is None


def test_same_keys_replace_the_body_and_groups_follow():
    subs = SubscriptionSet()
    assert subs.add(("x", "*", "*", "o"), {"v": 1}) == group_name("x", "o")
    assert subs.add(("x", "s", "*", "o"), {}) is None  # same group already joined
    assert subs.add(("x", "*", "*", "o"), {"v": 2}) is None
    assert len(subs) == 2
    assert subs.match(("x", "q", "t", "o"), {}) == {"v": 2}
    assert subs.remove(("x", "*", "*", "o")) is None  # ("x","s","*","o") still needs it
    assert subs.remove(("x", "s", "*", "o")) == group_name("x", "o")
    assert subs.remove(("x", "s", "*", "o")) is None
    assert subs.as_list() == []


def test_event_groups_cover_every_wildcard_pattern():
    groups = groups_for_event(("media", "call", "answer", "c1"))
    assert groups == {group_name("media", "c1"), group_name("media", "*"),
                      group_name("*", "c1"), group_name("*", "*")}
    assert all(len(g) < 100 and g.isascii() for g in groups)


def test_a_held_subscription_needs_no_group_and_leaves_a_subscription_of_ours_alone():
    subs, call = SubscriptionSet(), ("media", "call", "*", "c1")
    group = group_name("media", "c1")
    assert subs.add(call, {}, held=True) is None  # the call's owner sends us its events
    assert subs.groups() == set() and len(subs) == 1
    assert subs.match(("media", "call", "answer", "c1"), {"x": 1}) == {"x": 1}
    assert subs.add(("media", "call", "hangup", "c1"), {}) == group  # one of ours: its group
    assert subs.remove(call) is None and subs.groups() == {group}
    assert subs.add(call, {}) is None  # ours now, in the group already joined
    assert subs.add(call, {"b": 1}, held=True) is None  # stays ours
    assert subs.remove(("media", "call", "hangup", "c1")) is None  # the call's keys still need it
    assert subs.remove(call) == group


def test_subscribing_again_to_a_held_subscription_joins_its_group():
    subs, call = SubscriptionSet(), ("media", "call", "*", "c1")
    subs.add(call, {}, held=True)
    assert subs.add(call, {"a": 1}) == group_name("media", "c1")
    assert subs.remove(call) == group_name("media", "c1")


def test_subscriptions_without_a_body_match_and_list_as_empty_bodies():
    subs = SubscriptionSet()
    subs.add(("core", "user_event", "*", "alice"), {})
    subs.add(("media", "call", "*", "c1"), {}, held=True)
    subs.add(("media", "call", "hangup", "c1"), {"x": 1})

    assert subs.match(("core", "user_event", "login", "alice"), {"a": 1}) == {"a": 1}
    assert subs.match(("media", "call", "hangup", "c1"), {"a": 1}) == {"x": 1, "a": 1}
    assert [s["body"] for s in subs.as_list()] == [{}, {}, {"x": 1}]
    assert all(type(s["body"]) is dict for s in subs.as_list())  # what the API returns stays a dict
    assert subs.remove(("media", "call", "*", "c1")) is None and len(subs) == 2
