"""Profile a running server with py-spy and sum its samples into hot spots."""

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

_LINE = re.compile(r":\d+\)$")
_STDLIB = re.compile(r"^.*/lib/python3\.\d+/")
ROOT = Path(__file__).resolve().parent.parent


def py_spy():
    """The py-spy executable beside this Python, or on PATH, or None."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def start_recording(pid, seconds, out_path, fmt="raw", rate=200):
    """Start py-spy on `pid`; returns the process, or None when py-spy is missing.

    `fmt` "raw" writes collapsed stacks (for `analyze`), "flamegraph" an SVG.
    """
    exe = py_spy()
    if exe is None:
        return None
    return subprocess.Popen(
        [exe, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", str(rate),
         "--format", fmt, "--output", str(out_path), "--nonblocking", "--full-filenames"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )


def short(frame):
    """A frame with its path cut to the package part, for printing."""
    head, _, tail = frame.partition("(")
    for marker in ("site-packages/", f"{ROOT}/"):
        if marker in tail:
            return f"{head}({tail.split(marker, 1)[1]}"
    return f"{head}({_STDLIB.sub('', tail)}"


# Leaf frames where a thread waits rather than works (py-spy's own idle detection
# misses them in --nonblocking mode): the event loop's poll, an idle pool worker.
IDLE_LEAVES = (
    "select (selectors.py)",
    "_worker (concurrent/futures/thread.py)",
    "wait (threading.py)",
    "_wait_for_tstate_lock (threading.py)",
    "wait (psycopg/connection.py)",  # blocked on PostgreSQL's answer
)


def _is_idle_path(leaf):
    name, _, where = leaf.partition(" (")
    func = name.split(".")[-1]
    path = where.rstrip(")")
    return any(func == t.split(" ")[0] and path.endswith(t.split("(")[1].rstrip(")"))
               for t in IDLE_LEAVES)


def _frame_key(frame):
    """'func (path/file.py:12)' -> 'func (path/file.py)'."""
    return _LINE.sub(")", frame.strip())


def _package(frame):
    inside = frame[frame.rfind("(") + 1:-1]
    path = inside.replace("\\", "/")
    if "site-packages/" in path:
        parts = path.split("site-packages/", 1)[1].split("/")
        if parts[0] == "django" and len(parts) > 2:
            return f"django.{parts[1]}"
        return parts[0].removesuffix(".py")
    if "/calls/" in path or path.startswith("calls/"):
        return "calls (project)"
    if "/registrations/" in path or path.startswith("registrations/"):
        return "registrations (project)"
    if "/bench/" in path:
        return "bench"
    parts = path.split("/")
    # The standard library: python3.X/<module>
    for i, part in enumerate(parts):
        if part.startswith("python3"):
            rest = parts[i + 1:]
            if rest:
                return f"stdlib {rest[0].removesuffix('.py')}"
    return path


def analyze(raw_path, top=15):
    """Self and inclusive shares per function, and self share per package, from collapsed stacks.

    Shares are of the busy samples: stacks that end in a wait (IDLE_LEAVES) are dropped.
    """
    self_counts, incl_counts, pkg_counts = Counter(), Counter(), Counter()
    total = idle = 0
    for line in Path(raw_path).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_frame_key(f) for f in stack.split(";") if f.strip()]
        # py-spy may put "process"/"thread" pseudo-frames first; keep only code frames.
        frames = [f for f in frames if f.endswith(")") and "(" in f]
        if not frames:
            continue
        if _is_idle_path(frames[-1]):
            idle += n
            continue
        total += n
        self_counts[frames[-1]] += n
        pkg_counts[_package(frames[-1])] += n
        for f in set(frames):
            incl_counts[f] += n

    def share(counter):
        return [{"function": k, "samples": v, "share": v / total} for k, v in counter.most_common(top)]

    return {
        "samples": total,
        "idle_samples_dropped": idle,
        "self": share(self_counts),
        "inclusive": share(incl_counts),
        "by_package": share(pkg_counts),
    }
