"""What the kernel accounts for a process: CPU (user+sys) and resident memory."""

import os

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """user+sys CPU seconds of the whole process (all its threads), from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def cpu_split(pid):
    """(user, sys) CPU seconds of the whole process."""
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[11]) / TICKS, int(fields[12]) / TICKS


def main_thread_cpu_seconds(pid):
    """user+sys CPU seconds of the process's main thread (daphne's event loop) alone."""
    return cpu_seconds(f"{pid}/task/{pid}")


def rss_bytes(pid):
    """VmRSS of the process, in bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_by_name(names):
    """Summed user+sys CPU seconds of every live process whose name is in `names`.

    Used to show what PostgreSQL and Redis spent beside the daphne processes
    (their work is not in the servers' own accounting). Processes that exit
    between two readings drop out, so treat the difference as an estimate.
    """
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                text = f.read()
        except OSError:
            continue
        name = text[text.index("(") + 1:text.rindex(")")]
        if name in names:
            fields = text[text.rindex(")") + 2:].split()
            total += (int(fields[11]) + int(fields[12])) / TICKS
    return total
