"""Helpers the benchmarks share: reading a child process's first line, and CPU time."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path


def read_line(process: subprocess.Popen[str], timeout: float, what: str) -> str:
    """The first line `process` prints (its URL, say); exits the bench if none comes."""
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(process.stdout.readline()))
    reader.daemon = True
    reader.start()
    reader.join(timeout)
    if not result or not result[0]:
        raise SystemExit(f"{what} did not start within {timeout:.0f} s")
    return result[0].strip()


def cpu_seconds(pids: list[int]) -> tuple[float, float]:
    """(CPU seconds the whole machine has been busy, CPU seconds of these processes)."""
    tick = os.sysconf("SC_CLK_TCK")
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    busy = sum(fields) - fields[3] - fields[4]  # all but idle and iowait
    mine = 0
    for pid in pids:
        stat = Path(f"/proc/{pid}/stat").read_text()
        mine += sum(int(x) for x in stat.rsplit(")", 1)[1].split()[11:13])  # utime, stime
    return busy / tick, mine / tick
