"""Event subscriptions of one connection, pure: matching, body merging, layer groups."""

import functools
import hashlib
from types import MappingProxyType

WILDCARD = "*"
# The body of most subscriptions: one read-only mapping for all (a dict each was 64 bytes).
NO_BODY = MappingProxyType({})


# Cached for the live calls, whose events come again and again; each session's own
# keys come once or twice: with thousands of sessions a larger cache only held them.
@functools.lru_cache(maxsize=1024)  # every event of a call names the same groups
def group_name(cls, obj_id):
    """The channel-layer group for subscriptions keyed by (class, obj_id).

    Events are routed by class and object id only; subclass and type are filtered
    by each receiving connection. Hashed because ids may hold characters group
    names cannot.
    """
    digest = hashlib.blake2b(f"{cls}\x00{obj_id}".encode(), digest_size=12).hexdigest()
    return f"ev.{digest}"


def groups_for_event(keys):
    """Every group an event with these four keys must be sent to."""
    return _groups_of(keys[0], keys[3])


@functools.lru_cache(maxsize=1024)  # a call's events, and a user's, share them
def _groups_of(cls, obj_id):
    return frozenset(group_name(c, o) for c in (cls, WILDCARD) for o in (obj_id, WILDCARD))


def call_keys(call_id):
    """The keys of the subscription to one call's events (made by `start` and `answered`)."""
    return ("media", "call", WILDCARD, call_id)


def matches(sub_keys, event_keys):
    # Written out: every event is matched against each subscription of every member
    # of its groups, and all() over a generator cost several times more.
    c, s, t, o = sub_keys
    return ((c == WILDCARD or c == event_keys[0]) and (s == WILDCARD or s == event_keys[1])
            and (t == WILDCARD or t == event_keys[2]) and (o == WILDCARD or o == event_keys[3]))


def _stored(body):
    """A subscription's body as kept: a copy, never changed after (NO_BODY when empty)."""
    return dict(body) if body else NO_BODY


def _specificity(keys):
    return sum(1 for k in keys if k != WILDCARD)


class SubscriptionSet:
    """The subscriptions of one connection: four keys each, with a body.

    A subscription is *held* when the owner of a call sends us the call's events
    itself (the one `start` and `answered` make): it needs no channel-layer group.
    """

    def __init__(self):
        self._bodies = {}
        self._held = {}  # keys -> None: a set, in a quarter of an empty set's 216 bytes

    def __len__(self):
        return len(self._bodies)

    def add(self, keys, body, held=False):
        """Add or replace a subscription; return its group if we must join it now.

        A held one never replaces one of ours with the same keys: that one has its group.
        """
        keys = tuple(keys)
        if held:  # never a group to join: the owner sends it, or one of ours has its group
            if keys not in self._bodies:
                self._held[keys] = None
            self._bodies[keys] = _stored(body)
            return None
        group = group_name(keys[0], keys[3])
        joined = group in self.groups()  # before this one stops being held, if it was
        self._held.pop(keys, None)
        self._bodies[keys] = _stored(body)
        return None if joined else group

    def remove(self, keys):
        """Drop a subscription; return its group if no other subscription needs it."""
        keys = tuple(keys)
        if self._bodies.pop(keys, None) is None:
            return None
        if keys in self._held:
            del self._held[keys]
            return None
        group = group_name(keys[0], keys[3])
        return None if group in self.groups() else group

    def groups(self):
        """The groups we are in: those of the subscriptions that are not held."""
        return {group_name(k[0], k[3]) for k in self._bodies if k not in self._held}

    def match(self, event_keys, event_body):
        """The body this connection gets for an event, or None if no subscription matches."""
        found = [(keys, body) for keys, body in self._bodies.items() if matches(keys, event_keys)]
        if not found:
            return None
        if len(found) == 1 and not found[0][1]:
            return event_body
        merged = {}
        for _, body in sorted(found, key=lambda kb: _specificity(kb[0])):
            merged.update(body)
        merged.update(event_body)
        return merged

    def as_list(self):
        return [
            {"class": k[0], "subclass": k[1], "type": k[2], "obj_id": k[3], "body": dict(b)}
            for k, b in self._bodies.items()
        ]
