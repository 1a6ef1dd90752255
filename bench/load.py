"""The load generator: a separate process that drives the servers over real sockets.

    python -m bench.load '<json spec>'

prints one JSON object (the results) on stdout. Modes (spec["mode"]):

- ``echo``: `conns` connections to the echo consumer, each looping send → echo
  received with a `payload_bytes` frame.
- ``calls``: `pairs` caller/callee pairs, each looping a complete call:
  start (with an SDP offer) → invite answered → ringing → answered (with an SDP
  answer) → `answer` event received by the caller → hangup → `hangup` event
  received (by both).
- ``idle``: logged-in sessions (or bare echo connections) that do nothing; the
  server's RSS at each step, then a ping on every one of them.

Server CPU (user+sys) and RSS are read from /proc for the pids in
spec["server_pids"] at the edges of the measured window. Every loop is bounded
in count and time.
"""

import asyncio
import json
import random
import string
import sys
import time

try:
    from uvloop import run as run_loop
except ImportError:  # no uvloop on this platform
    run_loop = asyncio.run

from .prepare import PASSWORD, callee_name, caller_name, idle_name
from .procstat import cpu_by_name, cpu_seconds, cpu_split, main_thread_cpu_seconds, rss_bytes
from .servers import raise_fd_limit
from .wsclient import BenchClient, ClientError, EchoConnection

STEP_TIMEOUT = 10  # seconds any one step of a loop may take before the pair counts as failed


def percentile(samples, q):
    if not samples:
        return None
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def latency_summary(samples):
    """Milliseconds: count, p50, p90, p99, max."""
    ms = [s * 1000 for s in samples]
    return {
        "count": len(ms),
        "p50_ms": percentile(ms, 50),
        "p90_ms": percentile(ms, 90),
        "p99_ms": percentile(ms, 99),
        "max_ms": max(ms) if ms else None,
    }


def fake_sdp(size, kind):
    """An SDP-like text of about `size` bytes (what a browser offer weighs)."""
    lines = ["v=0", f"o=- {random.randrange(10**15)} 2 IN IP4 127.0.0.1", "s=-", "t=0 0",
             "a=group:BUNDLE 0 1", "a=msid-semantic: WMS bench"]
    rnd = random.Random(size)
    while sum(len(line) + 2 for line in lines) < size:
        token = "".join(rnd.choices(string.ascii_letters + string.digits, k=40))
        lines.append(f"a=candidate:{rnd.randrange(10**9)} 1 udp 2122260223 127.0.0.1 "
                     f"{rnd.randrange(1024, 65535)} typ host generation 0 ufrag {token[:4]}")
        lines.append(f"a=fingerprint:sha-256 {token}")
    text = "\r\n".join(lines) + "\r\n"
    return {"sdp": text[:size], "sdp_type": "webrtc", "type": kind}


class Window:
    """The measured window: CPU of the servers (and extras) at its edges, and its times."""

    def __init__(self, pids, extra_names):
        self.pids, self.extra_names = pids, extra_names
        self.start = self.end = None
        self.cpu0 = self.cpu1 = None
        self.extra0 = self.extra1 = None
        self.slices = []  # (t, {pid: cpu}) every slice seconds, for the trend

    def read(self):
        cpu = {pid: cpu_seconds(pid) for pid in self.pids}
        extra = cpu_by_name(self.extra_names) if self.extra_names else None
        return time.perf_counter(), cpu, extra

    def open(self):
        self.start, self.cpu0, self.extra0 = self.read()
        self.split0 = {pid: cpu_split(pid) for pid in self.pids}
        self.main0 = {pid: main_thread_cpu_seconds(pid) for pid in self.pids}
        self.slices.append((self.start, self.cpu0))

    def close(self):
        self.end, self.cpu1, self.extra1 = self.read()
        self.split1 = {pid: cpu_split(pid) for pid in self.pids}
        self.main1 = {pid: main_thread_cpu_seconds(pid) for pid in self.pids}
        self.slices.append((self.end, self.cpu1))

    def summary(self):
        seconds = self.end - self.start
        per_pid = {str(pid): self.cpu1[pid] - self.cpu0[pid] for pid in self.pids}
        out = {
            "window_s": seconds,
            "server_cpu_s": sum(per_pid.values()),
            "server_cpu_s_by_pid": per_pid,
            "server_cpu_util": sum(per_pid.values()) / seconds if seconds else None,
            "server_user_s": sum(self.split1[p][0] - self.split0[p][0] for p in self.pids),
            "server_sys_s": sum(self.split1[p][1] - self.split0[p][1] for p in self.pids),
            # The event loop's share; the rest is the history writer and the database thread.
            "server_main_thread_s": sum(self.main1[p] - self.main0[p] for p in self.pids),
        }
        if self.extra_names:
            out["extra_cpu_s"] = self.extra1 - self.extra0
            out["extra_cpu_names"] = list(self.extra_names)
        return out


async def sampler(window, warmup, duration, slice_s, done):
    """Open the window after `warmup`, close it after `duration` (or when `done` is set)."""
    await asyncio.sleep(warmup)
    window.open()
    end = window.start + duration
    while True:
        now = time.perf_counter()
        if now >= end or done.is_set():
            break
        try:
            await asyncio.wait_for(done.wait(), min(slice_s, end - now))
        except asyncio.TimeoutError:
            window.slices.append(window.read()[:2])
    window.close()


def slice_rates(window, stamps):
    """Server CPU per completed item in each slice of the window (to see a trend)."""
    out = []
    for (t0, c0), (t1, c1) in zip(window.slices, window.slices[1:]):
        n = sum(1 for t in stamps if t0 <= t < t1)
        cpu = sum(c1[p] - c0[p] for p in c0)
        out.append({"t_s": round(t1 - window.start, 2), "items": n,
                    "cpu_us_per_item": cpu / n * 1e6 if n else None})
    return out


# ------------------------------------------------------------------ echo


async def run_echo(spec):
    payload = json.dumps({"class": "core", "subclass": "core", "cmd": "event", "tid": 1,
                          "data": {"pad": "x" * max(0, spec["payload_bytes"] - 80)}}).encode()
    conns = [await EchoConnection.open(spec["url"]) for _ in range(spec["conns"])]
    window = Window(spec["server_pids"], spec.get("extra_cpu_names"))
    done = asyncio.Event()
    stop_at = time.perf_counter() + spec["warmup"] + spec["duration"]
    stamps, rtts, errors = [], [], []
    sent = 0

    async def loop(conn):
        nonlocal sent
        try:
            while time.perf_counter() < stop_at:
                t0 = time.perf_counter()
                echoed = conn.send(payload)
                sent += 1
                await asyncio.wait_for(echoed, STEP_TIMEOUT)
                t1 = time.perf_counter()
                stamps.append(t1)
                if window.start is not None and t0 >= window.start and window.end is None:
                    rtts.append(t1 - t0)
        except Exception as exc:  # noqa: BLE001 - any failure is reported, not raised
            errors.append(repr(exc))

    sampling = asyncio.ensure_future(sampler(window, spec["warmup"], spec["duration"], 2.0, done))
    await asyncio.gather(*(loop(conn) for conn in conns))
    done.set()
    await sampling
    for conn in conns:
        await conn.close()
    in_window = sum(1 for t in stamps if window.start <= t <= window.end)
    out = window.summary()
    out.update({
        "conns": spec["conns"], "messages_sent": sent, "messages_in_window": in_window,
        "messages_per_s": in_window / out["window_s"],
        "server_cpu_us_per_message": out["server_cpu_s"] / in_window * 1e6 if in_window else None,
        "rtt": latency_summary(rtts), "errors": errors[:20], "error_count": len(errors),
    })
    return out


# ------------------------------------------------------------------ calls


def call_keys(call_id):
    return {"class": "media", "subclass": "call", "type": "*", "obj_id": call_id}


async def login(url, user, timeout=STEP_TIMEOUT, **fields):
    client = await BenchClient.connect(url)
    try:
        data = await client.request("core", "user", "login",
                                    {"user": user, "password": PASSWORD, **fields}, timeout=timeout)
    except BaseException:
        await client.close()
        raise
    client.session_id = data["session_id"]
    return client


async def run_calls(spec):
    offer = fake_sdp(spec["sdp_bytes"], "offer")
    answer = fake_sdp(spec["sdp_bytes"], "answer")
    pairs = spec["pairs"]
    per_pair_calls = spec.get("calls_per_pair")  # None: run for the duration
    # Each party drops its subscription to the call once it ended (a workaround for
    # subscriptions the server keeps after the call; costs one request per party).
    unsubscribe = spec.get("unsubscribe_after_call", False)
    callers, callees = [], []
    for start in range(0, pairs, 25):  # connect in batches: the listen backlog is small
        batch = range(start, min(pairs, start + 25))
        callers += await asyncio.gather(*(login(spec["caller_url"], caller_name(i)) for i in batch))
        callees += await asyncio.gather(*(login(spec["callee_url"], callee_name(i)) for i in batch))

    window = Window(spec["server_pids"], spec.get("extra_cpu_names"))
    done = asyncio.Event()
    warmup = 0.0 if per_pair_calls else spec["warmup"]
    duration = spec.get("time_cap", 600) if per_pair_calls else spec["duration"]
    stop_at = time.perf_counter() + warmup + duration
    stamps, setup, errors = [], [], []
    # Where setup time goes: start -> its `ok` (the call written), `ok` -> the answer
    # event (invite, ringing, answered), and the answer event -> the hangup event.
    steps = {"start_to_ok": [], "ok_to_answer": [], "answer_to_hangup": []}
    counts = {"started": 0, "completed": 0, "start_errors": 0, "callee_completed": 0}
    call_ids = set()

    async def caller_loop(i, client, pair_done):
        n = 0
        try:
            while time.perf_counter() < stop_at and (per_pair_calls is None or n < per_pair_calls):
                n += 1
                t0 = time.perf_counter()
                try:
                    reply = await client.request("media", "call", "start", {
                        "callee": callee_name(i), "type": "user", "offer": offer, "ring_time": 30,
                    }, timeout=STEP_TIMEOUT)
                except ClientError as exc:
                    counts["start_errors"] += 1
                    errors.append(f"start: {exc}")
                    continue
                call_id = reply["call_id"]
                t_ok = time.perf_counter()
                counts["started"] += 1
                call_ids.add(call_id)
                event = await client.next_event("answer", timeout=STEP_TIMEOUT)
                t1 = time.perf_counter()
                if event["obj_id"] != call_id:
                    raise RuntimeError(f"answer event of {event['obj_id']}, expected {call_id}")
                await client.request("media", "call", "hangup", {"call_id": call_id},
                                     timeout=STEP_TIMEOUT)
                event = await client.next_event("hangup", timeout=STEP_TIMEOUT)
                if event["obj_id"] != call_id:
                    raise RuntimeError(f"hangup event of {event['obj_id']}, expected {call_id}")
                if unsubscribe:
                    await client.request("core", "event", "unsubscribe", call_keys(call_id),
                                         timeout=STEP_TIMEOUT)
                t2 = time.perf_counter()
                counts["completed"] += 1
                stamps.append(t2)
                if window.start is not None and window.end is None and t0 >= window.start:
                    setup.append(t1 - t0)
                    for step, seconds in zip(steps.values(), (t_ok - t0, t1 - t_ok, t2 - t1)):
                        step.append(seconds)
        except Exception as exc:  # noqa: BLE001
            errors.append(f"caller {i}: {exc!r}")
        finally:
            pair_done.set()

    async def callee_loop(i, client, pair_done):
        try:
            while True:
                try:
                    invite = await client.next_invite(timeout=0.25)
                except asyncio.TimeoutError:
                    if pair_done.is_set():
                        return
                    continue
                call_id = invite["data"]["call_id"]
                await client.request("media", "call", "ringing", {"call_id": call_id},
                                     timeout=STEP_TIMEOUT)
                await client.request("media", "call", "answered",
                                     {"call_id": call_id, "answer": answer}, timeout=STEP_TIMEOUT)
                event = await client.next_event("hangup", timeout=STEP_TIMEOUT)
                if event["obj_id"] != call_id:
                    raise RuntimeError(f"callee hangup of {event['obj_id']}, expected {call_id}")
                if unsubscribe:
                    await client.request("core", "event", "unsubscribe", call_keys(call_id),
                                         timeout=STEP_TIMEOUT)
                counts["callee_completed"] += 1
        except Exception as exc:  # noqa: BLE001
            errors.append(f"callee {i}: {exc!r}")

    sampling = asyncio.ensure_future(sampler(window, warmup, duration, 2.0, done))
    tasks = []
    for i in range(pairs):
        pair_done = asyncio.Event()
        tasks.append(caller_loop(i, callers[i], pair_done))
        tasks.append(callee_loop(i, callees[i], pair_done))
    await asyncio.gather(*tasks)
    done.set()
    await sampling
    for client in callers + callees:
        try:
            await client.close()
        except Exception:  # noqa: BLE001
            pass
    in_window = sum(1 for t in stamps if window.start <= t <= window.end)
    out = window.summary()
    out.update({
        "pairs": pairs, "calls_started": counts["started"], "calls_completed": counts["completed"],
        "callee_side_completed": counts["callee_completed"], "start_errors": counts["start_errors"],
        "distinct_call_ids": len(call_ids), "calls_in_window": in_window,
        "calls_per_s": in_window / out["window_s"],
        "server_cpu_us_per_call": out["server_cpu_s"] / in_window * 1e6 if in_window else None,
        "setup_latency": latency_summary(setup),
        "setup_steps": {name: latency_summary(samples) for name, samples in steps.items()},
        "trend": slice_rates(window, stamps),
        "errors": errors[:20], "error_count": len(errors),
    })
    if "extra_cpu_s" in out and in_window:
        out["extra_cpu_us_per_call"] = out["extra_cpu_s"] / in_window * 1e6
    return out


# ------------------------------------------------------------------ idle sessions


async def run_idle(spec):
    pid, url, echo = spec["server_pids"][0], spec["url"], spec["kind"] == "echo"
    idle_users = spec["idle_users"]
    counter = iter(range(10**9))

    async def open_one():
        n = next(counter)
        if echo:
            return await EchoConnection.open(url)
        return await login(url, idle_name(n % idle_users), timeout=spec.get("login_timeout", 60),
                           session_id=f"idle-{n}")

    first = [await open_one()]  # imports, database connection, heartbeat: not per session
    await asyncio.sleep(1.0)
    base = rss_bytes(pid)
    clients = list(first)
    steps = []
    errors = []
    deadline = time.perf_counter() + spec.get("time_cap", 600)
    for target in spec["steps"]:
        t_step, cpu_step = time.perf_counter(), cpu_seconds(pid)
        opened_before = len(clients)
        while len(clients) < target and time.perf_counter() < deadline:
            batch = min(50, target - len(clients))
            results = await asyncio.gather(*(open_one() for _ in range(batch)), return_exceptions=True)
            for r in results:
                if isinstance(r, BaseException):
                    errors.append(repr(r))
                else:
                    clients.append(r)
            if len(errors) > 20:
                break
        open_s, open_cpu = time.perf_counter() - t_step, cpu_seconds(pid) - cpu_step
        opened = len(clients) - opened_before
        await asyncio.sleep(spec.get("settle", 2.0))
        rss = rss_bytes(pid)
        steps.append({"target": target, "sessions": len(clients), "rss_bytes": rss,
                      "open_s": open_s,
                      "opened_per_s": opened / open_s if open_s else None,
                      # what a session costs the server to open: connect (and log in)
                      "server_cpu_us_per_open": open_cpu / opened * 1e6 if opened else None,
                      "rss_per_session_bytes": (rss - base) / max(1, len(clients) - 1)})
    # Idle cost: server CPU while nothing happens but heartbeats.
    c0, t0 = cpu_seconds(pid), time.perf_counter()
    await asyncio.sleep(spec.get("idle_cpu_window", 5.0))
    idle_util = (cpu_seconds(pid) - c0) / (time.perf_counter() - t0)
    # Every session still answers a ping.
    t0 = time.perf_counter()
    if echo:
        async def ping(conn):
            await asyncio.wait_for(conn.send(b"ping"), 30)
    else:
        async def ping(client):
            await client.request("core", "core", "ping", {}, timeout=30)
    results = []
    for start in range(0, len(clients), 1000):
        results += await asyncio.gather(*(ping(c) for c in clients[start:start + 1000]),
                                        return_exceptions=True)
    ping_ok = sum(1 for r in results if not isinstance(r, BaseException))
    ping_s = time.perf_counter() - t0
    for start in range(0, len(clients), 500):
        await asyncio.gather(*(c.close() for c in clients[start:start + 500]), return_exceptions=True)
    return {
        "kind": spec["kind"], "rss_base_bytes": base, "steps": steps,
        "idle_server_cpu_util": idle_util, "sessions_open": len(clients),
        "ping_ok": ping_ok, "ping_failed": len(results) - ping_ok, "ping_all_s": ping_s,
        "errors": errors[:20], "error_count": len(errors),
    }


MODES = {"echo": run_echo, "calls": run_calls, "idle": run_idle}


def main():
    spec = json.loads(sys.argv[1])
    raise_fd_limit()
    cpu0 = time.process_time()
    # On uvloop, as the server: on asyncio's own loop the load generator's overhead
    # (it runs up to 200 connections on one core) added ~8 ms to the 100-pair setup p50.
    result = run_loop(MODES[spec["mode"]](spec))
    result["loadgen_cpu_s"] = time.process_time() - cpu0
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
