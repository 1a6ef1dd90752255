"""Pieces the consumer's handlers share."""

import contextvars

import pytest

from calls.runtime import db

mark = contextvars.ContextVar("mark", default="unset")


def set_mark():
    mark.set("set in the database thread")
    return "done"


@pytest.mark.django_db
async def test_a_database_call_returns_its_result_and_leaves_the_callers_context_as_it_was():
    before = len(contextvars.copy_context())
    assert await db(set_mark)() == "done"
    # asgiref copies what the thread set into the caller's context; db() runs it in a copy.
    assert mark.get() == "unset" and len(contextvars.copy_context()) == before
