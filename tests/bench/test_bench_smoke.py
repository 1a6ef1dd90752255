"""The benchmark runs end to end (`python -m bench --quick --skip-cluster`).

A smoke test only: it checks that every phase completes and that every call the
benchmark made is in the history. It asserts no speed: timings on a shared CI
machine are not a test.
"""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_benchmark_completes_and_history_counts_every_call(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--skip-cluster", "--output", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=110,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(out.read_text())

    history = report["history"]
    assert history["calls_made"] > 0
    assert history["calls_made"] == history["calls_in_history"]
    assert history["calls_ended_normally"] == history["calls_in_history"]

    single = report["single"]
    for phase in ("calls_1", "calls_n"):
        assert single[phase]["error_count"] == 0, single[phase]["errors"]
        assert single[phase]["calls_in_window"] > 0
        assert single[phase]["setup_latency"]["count"] > 0
        steps = single[phase]["setup_steps"]
        assert {step["count"] for step in steps.values()} == {single[phase]["setup_latency"]["count"]}
        assert single[phase]["server_cpu_s"] >= 0
    assert single["echo_n"]["messages_in_window"] > 0

    idle = report["idle"]["signaling"]
    assert idle["sessions_open"] == report["options"]["session_steps"][-1]
    assert idle["ping_ok"] == idle["sessions_open"]
    assert all(step["server_cpu_us_per_open"] >= 0 for step in idle["steps"])

    assert "server CPU per call" in proc.stdout
    assert "calls made = calls in history" in proc.stdout
    assert "server CPU per session opened" in proc.stdout
