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
