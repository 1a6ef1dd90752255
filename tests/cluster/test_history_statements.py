"""The history writer's statements on PostgreSQL (see tests/unit/test_history_statements.py)."""

import pytest

from ..unit.test_history_statements import assert_recorded, write_and_read_back

pytestmark = [pytest.mark.cluster, pytest.mark.django_db(databases=["default", "cluster"])]


@pytest.mark.parametrize("keep_sdp", [False, True])
def test_one_json_array_per_statement_on_postgresql(cluster_db, monkeypatch, keep_sdp):
    assert_recorded(*write_and_read_back("cluster", monkeypatch, keep_sdp), keep_sdp)
