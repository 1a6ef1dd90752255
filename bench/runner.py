"""``python -m bench``: run every phase of the benchmark and report it.

Phases, each against fresh daphne processes on bench.settings:

1. single process (fresh SQLite file, in-memory channel layer):
   echo baseline at 1 and 2N connections, then the call loop at 1 and N pairs;
2. idle capacity: logged-in idle sessions (and, as baseline, idle echo
   connections) on a fresh server, RSS at each step, then a ping on each;
3. across processes (unless --skip-cluster): callers on one daphne, callees on
   another, over Redis + PostgreSQL (a database created for the run and
   dropped after it); in each round beside one daphne on the same PostgreSQL +
   Redis and one on the SQLite file of phase 1, as references;
4. history: every call the load generator started is counted in the database.

Results: a table on stdout and a JSON file in bench-results/.
"""

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from . import profile as profiling
from .procstat import rss_bytes
from .servers import ROOT, BenchServer, django_env, raise_fd_limit

TARGETS = {
    "cpu_per_call_us": 1000,
    "setup_p50_1_ms": 2,
    "setup_p99_n_ms": 50,
    "idle_rss_per_session_kb": 32,
    "cluster_ratio": 1.5,
    "kamailio_cpu_per_call_us": 320,
}


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark the call-signaling server (real daphne, real sockets).",
    )
    parser.add_argument("--pairs", type=int, default=100, help="caller/callee pairs (default 100)")
    parser.add_argument("--duration", type=float, default=20.0,
                        help="measured seconds of each N-pair/N-connection phase (default 20)")
    parser.add_argument("--calls", type=int, default=None,
                        help="instead of --duration: this many calls at N pairs (whole run measured)")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds before each window")
    parser.add_argument("--sessions", default="1000,5000",
                        help="idle-session steps, comma separated (default 1000,5000)")
    parser.add_argument("--sdp-bytes", type=int, default=2048, help="size of offers and answers")
    parser.add_argument("--echo-bytes", type=int, default=200, help="size of an echoed frame")
    parser.add_argument("--skip-cluster", action="store_true",
                        help="skip the two-process run on Redis + PostgreSQL")
    parser.add_argument("--skip-idle", action="store_true", help="skip the idle-session capacity run")
    parser.add_argument("--cluster-rounds", type=int, default=5,
                        help="rounds of the one- and two-process runs on Redis + PostgreSQL "
                             "(default 5: one round's ratio moves by ±20 %%)")
    parser.add_argument("--idle-time-cap", type=float, default=600.0,
                        help="most seconds spent opening idle sessions (default 600)")
    parser.add_argument("--profile", type=float, default=0.0, metavar="SECONDS",
                        help="also profile the single server under the N-pair call loop with py-spy")
    parser.add_argument("--unsubscribe-after-call", action="store_true",
                        help="each party unsubscribes from a call after its hangup (one more request)")
    parser.add_argument("--database-url", default=os.environ.get(
        "BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
        help="PostgreSQL server for the cluster run (a fresh database is made on it)")
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/7"),
                        help="Redis db for the cluster run (flushed before and after)")
    parser.add_argument("--output", default=None, help="JSON result path (default bench-results/bench-<time>.json)")
    parser.add_argument("--quick", action="store_true",
                        help="a fast smoke run: few pairs, short windows, few idle sessions")
    args = parser.parse_args(argv)
    if args.quick:
        args.pairs = min(args.pairs, 4)
        args.duration = min(args.duration, 2.0)
        args.warmup = min(args.warmup, 0.5)
        if args.sessions == "1000,5000":
            args.sessions = "50,150"
        if args.calls is not None:
            args.calls = min(args.calls, 40)
        args.cluster_rounds = 1
    args.session_steps = sorted({int(s) for s in args.sessions.split(",") if s.strip()})
    return args


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ subprocesses


def run_load(spec, timeout):
    """Run the load generator in its own process; return its JSON result."""
    proc = subprocess.run(
        [sys.executable, "-m", "bench.load", json.dumps(spec)], cwd=ROOT, capture_output=True,
        text=True, timeout=timeout, env={**os.environ, "PYTHONPATH": str(ROOT)},
        preexec_fn=raise_fd_limit,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed ({spec['mode']}): {proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def prepare(database_url, action, redis_url="", **options):
    argv = [sys.executable, "-m", "bench.prepare", action]
    for key, value in options.items():
        argv += [f"--{key.replace('_', '-')}", str(value)]
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env=django_env(database_url, redis_url))
    if proc.returncode != 0:
        raise RuntimeError(f"bench.prepare {action} failed: {proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ phases


def echo_phase(server, conns, duration, args):
    log(f"echo baseline: {conns} connection(s), {duration:g} s")
    return run_load({
        "mode": "echo", "url": server.echo_url, "conns": conns, "duration": duration,
        "warmup": args.warmup, "payload_bytes": args.echo_bytes, "server_pids": [server.pid],
    }, timeout=duration + args.warmup + 120)


def calls_phase(caller_server, callee_server, pairs, duration, args, calls=None, extra_names=None,
                pids=None):
    what = f"{calls} calls" if calls else f"{duration:g} s"
    log(f"call loop: {pairs} pair(s), {what}")
    spec = {
        "mode": "calls", "caller_url": caller_server.url, "callee_url": callee_server.url,
        "pairs": pairs, "duration": duration, "warmup": args.warmup, "sdp_bytes": args.sdp_bytes,
        "server_pids": pids or sorted({caller_server.pid, callee_server.pid}),
        "extra_cpu_names": extra_names, "unsubscribe_after_call": args.unsubscribe_after_call,
    }
    if calls:
        spec["calls_per_pair"] = math.ceil(calls / pairs)
        spec["time_cap"] = 600
    result = run_load(spec, timeout=(600 if calls else duration) + args.warmup + 180)
    if result["error_count"]:
        log(f"  {result['error_count']} error(s): {result['errors'][:3]}")
    return result


def idle_phase(database_url, kind, args, log_dir, redis_url=""):
    where = " on PostgreSQL + Redis" if redis_url else ""
    log(f"idle capacity ({kind}{where}): steps {args.session_steps}")
    with BenchServer(database_url, redis_url, log_dir=log_dir, name=f"idle-{kind}") as server:
        return run_load({
            "mode": "idle", "kind": kind, "url": server.url if kind == "signaling" else server.echo_url,
            "steps": args.session_steps, "idle_users": 100, "server_pids": [server.pid],
            "settle": 1.0 if args.quick else 3.0, "idle_cpu_window": 1.0 if args.quick else 5.0,
            "time_cap": args.idle_time_cap, "login_timeout": 60,
        }, timeout=args.idle_time_cap + 300)


def profile_phase(server, args, results_dir, stamp):
    """The N-pair call loop again, with py-spy attached for `args.profile` seconds."""
    if profiling.py_spy() is None:
        log("py-spy not found: no profile")
        return None
    seconds = args.profile
    raw = results_dir / f"profile-{stamp}.txt"
    svg = results_dir / f"profile-{stamp}.svg"
    log(f"profiling the server under {args.pairs} pairs for {seconds:g} s (py-spy)")
    import threading

    recorders = []

    def start_later():
        time.sleep(args.warmup + 1.0)
        recorders.append(profiling.start_recording(server.pid, seconds, raw, "raw"))
        recorders.append(profiling.start_recording(server.pid, seconds, svg, "flamegraph"))

    starter = threading.Thread(target=start_later)
    starter.start()
    load = calls_phase(server, server, args.pairs, seconds + 2.0, args)
    starter.join()
    for rec in recorders:
        if rec is not None:
            try:
                rec.wait(30)
            except subprocess.TimeoutExpired:
                rec.kill()
    if not raw.exists():
        log("py-spy wrote no profile: " + " ".join((r.stderr.read() if r and r.stderr else "") for r in recorders))
        return {"load": load}
    analysis = profiling.analyze(raw)
    analysis.update({"raw": str(raw), "svg": str(svg) if svg.exists() else None, "load": load})
    return analysis


# ------------------------------------------------------------------ cluster


def _pg_admin(url):
    import dj_database_url
    import psycopg

    cfg = dj_database_url.parse(url)
    conn = psycopg.connect(host=cfg["HOST"] or "127.0.0.1", port=cfg["PORT"] or 5432,
                           user=cfg["USER"] or None, password=cfg["PASSWORD"] or None,
                           dbname=cfg["NAME"] or "postgres", autocommit=True, connect_timeout=5)
    return conn, cfg


def create_pg_database(admin_url):
    conn, cfg = _pg_admin(admin_url)
    name = f"bench_{uuid.uuid4().hex[:10]}"
    with conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    user = cfg["USER"] or ""
    password = f":{cfg['PASSWORD']}" if cfg["PASSWORD"] else ""
    return name, f"postgres://{user}{password}@{cfg['HOST'] or '127.0.0.1'}:{cfg['PORT'] or 5432}/{name}"


def drop_pg_database(admin_url, name):
    conn, _ = _pg_admin(admin_url)
    with conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def flush_redis(url):
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        client.flushdb()
    finally:
        client.close()


def cluster_phase(args, log_dir, sqlite_url):
    log("cross-process: PostgreSQL + Redis")
    name, db_url = create_pg_database(args.database_url)
    out = {"database": name, "redis": args.redis_url, "rounds": []}
    try:
        flush_redis(args.redis_url)
        prepare(db_url, "setup", pairs=args.pairs, idle_users=0 if args.skip_idle else 100)
        extra = ["postgres", "redis-server"]
        # One SQLite process, one process and two on PostgreSQL + Redis in turns: CPU per
        # call moves with the machine's moment (by 1.5-3× over minutes to hours) and the
        # two processes' with PostgreSQL's latency, so each round puts the three side by
        # side, and the round of median ratio (two against one SQLite process) is shown.
        for n in range(args.cluster_rounds):
            with BenchServer(sqlite_url, log_dir=log_dir, name=f"sqlite-{n}") as beside:
                sqlite = calls_phase(beside, beside, args.pairs, args.duration, args, args.calls)
            with BenchServer(db_url, args.redis_url, log_dir, f"one-{n}") as one:
                single = calls_phase(one, one, args.pairs, args.duration, args, args.calls,
                                     extra_names=extra)
            flush_redis(args.redis_url)
            with BenchServer(db_url, args.redis_url, log_dir, f"a-{n}") as a, \
                    BenchServer(db_url, args.redis_url, log_dir, f"b-{n}") as b:
                two = calls_phase(a, b, args.pairs, args.duration, args, args.calls,
                                  extra_names=extra, pids=[a.pid, b.pid])
                two["rss_bytes_by_server"] = {"callers": rss_bytes(a.pid), "callees": rss_bytes(b.pid)}
            flush_redis(args.redis_url)
            out["rounds"].append({"sqlite": sqlite, "single": single, "two": two})
        by_ratio = sorted(out["rounds"], key=lambda r: _ratio(r["two"]["server_cpu_us_per_call"],
                                                              r["sqlite"]["server_cpu_us_per_call"]) or 0)
        median = by_ratio[len(by_ratio) // 2]
        out["sqlite"], out["single"], out["two"] = median["sqlite"], median["single"], median["two"]
        out["sqlite_calls_made"] = sum(r["sqlite"]["calls_started"] for r in out["rounds"])
        if not args.skip_idle:
            flush_redis(args.redis_url)
            out["idle"] = idle_phase(db_url, "signaling", args, log_dir, args.redis_url)
        out["history"] = prepare(db_url, "count")
        made = sum(r["single"]["calls_started"] + r["two"]["calls_started"] for r in out["rounds"])
        out["calls_made"] = made
    finally:
        try:
            drop_pg_database(args.database_url, name)
        except Exception as exc:  # noqa: BLE001
            log(f"could not drop {name}: {exc}")
        try:
            flush_redis(args.redis_url)
        except Exception:  # noqa: BLE001
            pass
    return out


# ------------------------------------------------------------------ the run


def run(args):
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    results_dir = ROOT / "bench-results"
    results_dir.mkdir(exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="calls-bench-"))
    short = min(args.duration, 8.0)
    report = {
        "started_at": stamp, "argv": sys.argv[1:],
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "options": {k: getattr(args, k) for k in ("pairs", "duration", "calls", "warmup",
                                                  "session_steps", "sdp_bytes", "echo_bytes", "quick")},
        "targets": TARGETS,
    }
    try:
        sqlite_url = f"sqlite:///{tmp}/bench.sqlite3"
        log(f"preparing {sqlite_url}")
        prepare(sqlite_url, "setup", pairs=args.pairs, idle_users=100)
        single = report["single"] = {}
        with BenchServer(sqlite_url, log_dir=tmp, name="single") as server:
            single["echo_1"] = echo_phase(server, 1, short, args)
            single["echo_n"] = echo_phase(server, 2 * args.pairs, args.duration, args)
            single["calls_1"] = calls_phase(server, server, 1, short, args)
            single["calls_n"] = calls_phase(server, server, args.pairs, args.duration, args, args.calls)
            single["rss_after_calls_bytes"] = rss_bytes(server.pid)
            if args.profile:
                report["profile"] = profile_phase(server, args, results_dir, stamp)
            if not server.alive():
                raise RuntimeError("the server died: " + server.log_tail())
        made = sum(single[k]["calls_started"] for k in ("calls_1", "calls_n"))
        if report.get("profile"):
            made += report["profile"]["load"]["calls_started"]
        if not args.skip_idle:
            report["idle"] = {
                "signaling": idle_phase(sqlite_url, "signaling", args, tmp),
                "echo": idle_phase(sqlite_url, "echo", args, tmp),
            }
        if not args.skip_cluster:
            cluster = report["cluster"] = cluster_phase(args, tmp, sqlite_url)
            made += cluster["sqlite_calls_made"]
            report["cluster_history"] = {
                "calls_made": cluster["calls_made"], "calls_in_history": cluster["history"]["calls"],
                "match": cluster["calls_made"] == cluster["history"]["calls"],
            }
        history = prepare(sqlite_url, "count")
        report["history"] = {"calls_made": made, "calls_in_history": history["calls"],
                             "match": made == history["calls"], **history}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report["summary"] = summarize(report)
    out_path = Path(args.output) if args.output else results_dir / f"bench-{stamp}.json"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(report, indent=2, default=str))
    report["output"] = str(out_path)
    return report


# ------------------------------------------------------------------ summary and table


def _ratio(a, b):
    return a / b if a is not None and b else None


def summarize(r):
    """The headline figures, targets and ratios to the echo baseline."""
    s = r["single"]
    echo_cpu = s["echo_n"]["server_cpu_us_per_message"]
    echo_rate = s["echo_n"]["messages_per_s"]
    echo1, echon = s["echo_1"]["rtt"], s["echo_n"]["rtt"]
    c1, cn = s["calls_1"], s["calls_n"]
    rows = []

    def row(name, value, unit, baseline=None, target=None, lower_is_better=True):
        entry = {"figure": name, "value": value, "unit": unit,
                 "ratio_to_echo": _ratio(value, baseline), "target": target}
        if target is not None and value is not None:
            entry["met"] = value <= target if lower_is_better else value >= target
        rows.append(entry)

    row("echo: server CPU per message", echo_cpu, "µs", echo_cpu)
    row("echo: messages per second", echo_rate, "/s", echo_rate)
    row("echo: round trip p50, 1 conn", echo1["p50_ms"], "ms", echo1["p50_ms"])
    row(f"echo: round trip p50, {s['echo_n']['conns']} conns", echon["p50_ms"], "ms", echon["p50_ms"])
    row("calls: complete calls per second", cn["calls_per_s"], "/s", echo_rate, lower_is_better=False)
    row("calls: server CPU per call (single process)", cn["server_cpu_us_per_call"], "µs", echo_cpu,
        TARGETS["cpu_per_call_us"])
    row("calls: setup latency p50, 1 pair", c1["setup_latency"]["p50_ms"], "ms", echo1["p50_ms"],
        TARGETS["setup_p50_1_ms"])
    row("calls: setup latency p99, 1 pair", c1["setup_latency"]["p99_ms"], "ms", echo1["p99_ms"])
    row(f"calls: setup latency p50, {cn['pairs']} pairs", cn["setup_latency"]["p50_ms"], "ms",
        echon["p50_ms"])
    row(f"calls: setup latency p99, {cn['pairs']} pairs", cn["setup_latency"]["p99_ms"], "ms",
        echon["p99_ms"], TARGETS["setup_p99_n_ms"])
    idle = r.get("idle")
    if idle:
        echo_steps = {st["target"]: st for st in idle["echo"]["steps"]}
        for st in idle["signaling"]["steps"]:
            base = echo_steps.get(st["target"])
            target = TARGETS["idle_rss_per_session_kb"] if st is idle["signaling"]["steps"][-1] else None
            row(f"idle: RSS per session at {st['sessions']} (of {st['target']})",
                st["rss_per_session_bytes"] / 1024, "KB",
                base["rss_per_session_bytes"] / 1024 if base else None, target)
        sig = idle["signaling"]
        wanted = sig["steps"][-1]["target"]
        rows.append({"figure": "idle: sessions logged in and answering a ping", "value": sig["ping_ok"],
                     "unit": f"of {wanted}", "ratio_to_echo": None, "target": wanted,
                     "met": sig["ping_ok"] == wanted})
        for st in sig["steps"]:
            rows.append({"figure": f"idle: logins per second up to {st['target']}",
                         "value": st["opened_per_s"], "unit": "/s", "ratio_to_echo": None,
                         "target": None})
        for st in sig["steps"]:
            if st.get("server_cpu_us_per_open") is not None:
                base = echo_steps.get(st["target"])
                row(f"idle: server CPU per session opened (connect, log in) up to {st['target']}",
                    st["server_cpu_us_per_open"], "µs", base and base.get("server_cpu_us_per_open"))
        row(f"idle: server CPU at {sig['sessions_open']} idle sessions", sig["idle_server_cpu_util"] * 100,
            "% of a core", idle["echo"]["idle_server_cpu_util"] * 100 or None)
    cl = r.get("cluster")
    if cl:
        one, two = cl["single"], cl["two"]
        row("PG+Redis, 1 process: server CPU per call", one["server_cpu_us_per_call"], "µs", echo_cpu)
        row("PG+Redis, 2 processes: server CPU per call (summed)", two["server_cpu_us_per_call"], "µs",
            echo_cpu)
        ratio = _ratio(two["server_cpu_us_per_call"], cl["sqlite"]["server_cpu_us_per_call"])
        rows.append({"figure": "2 processes / single process (SQLite, same round) CPU per call",
                     "value": ratio, "unit": "×", "ratio_to_echo": None,
                     "target": TARGETS["cluster_ratio"],
                     "met": ratio is not None and ratio <= TARGETS["cluster_ratio"]})
        rows.append({"figure": "2 processes / the single-process figure above CPU per call",
                     "value": _ratio(two["server_cpu_us_per_call"], cn["server_cpu_us_per_call"]),
                     "unit": "×", "ratio_to_echo": None, "target": None})
        rows.append({"figure": "2 processes / 1 process on PG+Redis CPU per call",
                     "value": _ratio(two["server_cpu_us_per_call"], one["server_cpu_us_per_call"]),
                     "unit": "×", "ratio_to_echo": None, "target": None})
        row("PG+Redis, 2 processes: PostgreSQL+Redis CPU per call (not in the above)",
            two.get("extra_cpu_us_per_call"), "µs", echo_cpu)
        row("PG+Redis, 2 processes: calls per second", two["calls_per_s"], "/s", echo_rate,
            lower_is_better=False)
        row(f"PG+Redis, 2 processes: setup latency p99, {two['pairs']} pairs",
            two["setup_latency"]["p99_ms"], "ms", echon["p99_ms"])
        if cl.get("idle"):
            echo_steps = {st["target"]: st for st in idle["echo"]["steps"]} if idle else {}
            for st in cl["idle"]["steps"]:
                base = echo_steps.get(st["target"])
                row(f"PG+Redis idle: RSS per session at {st['sessions']} (of {st['target']})",
                    st["rss_per_session_bytes"] / 1024, "KB",
                    base["rss_per_session_bytes"] / 1024 if base else None)
            ci = cl["idle"]
            rows.append({"figure": "PG+Redis idle: sessions logged in and answering a ping",
                         "value": ci["ping_ok"], "unit": f"of {ci['steps'][-1]['target']}",
                         "ratio_to_echo": None, "target": None})
    h = r["history"]
    rows.append({"figure": "history: calls made = calls in history (single process)",
                 "value": h["calls_in_history"], "unit": f"of {h['calls_made']} made",
                 "ratio_to_echo": None, "target": h["calls_made"], "met": h["match"]})
    if r.get("cluster_history"):
        ch = r["cluster_history"]
        rows.append({"figure": "history: calls made = calls in history (PG+Redis)",
                     "value": ch["calls_in_history"], "unit": f"of {ch['calls_made']} made",
                     "ratio_to_echo": None, "target": ch["calls_made"], "met": ch["match"]})
    kamailio = _ratio(cn["server_cpu_us_per_call"], TARGETS["kamailio_cpu_per_call_us"])
    return {"rows": rows, "kamailio_ratio": kamailio}


def _fmt(value):
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def print_table(report, out=sys.stdout):
    rows = report["summary"]["rows"]
    header = ("figure", "value", "unit", "× echo", "target", "")
    lines = [header]
    for r in rows:
        met = "" if "met" not in r else ("met" if r["met"] else "MISSED")
        target = r.get("target")
        lines.append((r["figure"], _fmt(r["value"]), r["unit"], _fmt(r["ratio_to_echo"]),
                      "" if target is None else f"≤ {_fmt(target)}" if r["unit"] not in ("/s",)
                      and not r["unit"].startswith("of") else _fmt(target), met))
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    print(file=out)
    for n, line in enumerate(lines):
        print("  ".join(str(c).ljust(w) if i in (0, 2, 5) else str(c).rjust(w)
                        for i, (c, w) in enumerate(zip(line, widths))).rstrip(), file=out)
        if n == 0:
            print("  ".join("-" * w for w in widths), file=out)
    s = report["single"]
    cn = s["calls_n"]
    print(file=out)
    print(f"frames: echo {s['echo_n']['conns']} conns; calls {cn['pairs']} pairs, "
          f"{cn['calls_in_window']} calls in a {cn['window_s']:.1f} s window, "
          f"server at {cn['server_cpu_util'] * 100:.0f}% of a core "
          f"({cn['server_sys_s'] / max(cn['server_cpu_s'], 1e-9) * 100:.0f}% of it in the kernel, "
          f"{cn['server_main_thread_s'] / max(cn['server_cpu_s'], 1e-9) * 100:.0f}% on the event loop's "
          "thread, the rest on the history writer's and Django's database thread); "
          f"the load generator used {cn['loadgen_cpu_s']:.1f} s CPU in all", file=out)
    steps = cn.get("setup_steps")
    if steps and steps["start_to_ok"]["count"]:
        labels = {"start_to_ok": "start -> ok (the call written)", "ok_to_answer": "ok -> answer event",
                  "answer_to_hangup": "answer event -> hangup event"}
        print(f"at {cn['pairs']} pairs, p50 / p99 (ms): " + "; ".join(
            f"{label} {steps[k]['p50_ms']:.1f} / {steps[k]['p99_ms']:.1f}" for k, label in labels.items()
        ), file=out)
    trend = [t["cpu_us_per_item"] for t in cn.get("trend", []) if t["cpu_us_per_item"]]
    if trend:
        print("server CPU per call over the window (µs, per 2 s slice): "
              + ", ".join(f"{t:.0f}" for t in trend), file=out)
    rounds = report.get("cluster", {}).get("rounds", [])
    if len(rounds) > 1:
        print("rounds, server CPU per call, 1 SQLite process / 1 and 2 processes on PG+Redis (µs): "
              + ", ".join(
                  f"{r['sqlite']['server_cpu_us_per_call']:.0f} / {r['single']['server_cpu_us_per_call']:.0f}"
                  f" / {r['two']['server_cpu_us_per_call']:.0f}"
                  f" = {_ratio(r['two']['server_cpu_us_per_call'], r['sqlite']['server_cpu_us_per_call']):.2f}"
                  f" / {_ratio(r['two']['server_cpu_us_per_call'], r['single']['server_cpu_us_per_call']):.2f}×"
                  for r in rounds), file=out)
    k = report["summary"].get("kamailio_ratio")
    if k:
        print(f"Kamailio parity (≤ {TARGETS['kamailio_cpu_per_call_us']} µs per call): "
              f"{k:.1f}× away", file=out)
    prof = report.get("profile")
    if prof and prof.get("self"):
        print(f"\nprofile: {prof['samples']} samples; flame graph {prof.get('svg')}", file=out)
        print("top functions by own time:", file=out)
        for entry in prof["self"][:10]:
            print(f"  {entry['share'] * 100:5.1f}%  {profiling.short(entry['function'])}", file=out)
        print("own time by package:", file=out)
        for entry in prof["by_package"][:10]:
            print(f"  {entry['share'] * 100:5.1f}%  {entry['function']}", file=out)
    print(f"\nJSON: {report['output']}", file=out)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    raise_fd_limit()
    report = run(args)
    print_table(report)
    ok = report["history"]["match"] and (
        not report.get("cluster_history") or report["cluster_history"]["match"])
    return 0 if ok else 1
