"""What an open console costs one app process under gunicorn's threaded worker (gthread):
resident memory (RSS) and threads, with 0 to N real Socket.IO clients connected.

    .venv/bin/python bench/consoles.py [--levels 100,250,500] [--port 5199]

The server is one gunicorn process as scripts/cluster.sh starts it (`-w 1 -k gthread`,
`--threads` = the largest level + 100), running `create_app()` on a fresh, migrated SQLite
database; no Redis (the message queue adds a listener thread, not a per-console cost).
The clients are `socketio.AsyncClient`s on one asyncio loop in this process, all logged in
as one agent (several tabs of one console: the server keeps one socket and one thread
each, as for distinct agents), websocket transport. At each level the worker's RSS and
thread count are read from /proc once the connections have settled for 3 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
import socketio

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def proc_status(pid: int) -> tuple[float, int]:
    """(RSS in MiB, threads) of a process."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["Threads"])


def worker_pid(master: int) -> int:
    for _ in range(100):
        children = subprocess.run(
            ["pgrep", "-P", str(master)], capture_output=True, text=True, check=False
        ).stdout.split()
        if children:
            return int(children[0])
        time.sleep(0.1)
    raise SystemExit("gunicorn started no worker")


async def connect_all(url: str, cookie: str, count: int) -> list[socketio.AsyncClient]:
    clients = [socketio.AsyncClient(reconnection=False) for _ in range(count)]

    async def one(client: socketio.AsyncClient) -> None:
        await client.connect(
            url, namespaces=["/agent"], headers={"Cookie": cookie}, transports=["websocket"],
            wait_timeout=30,
        )  # fmt: skip

    for start in range(0, count, 25):  # in batches: the listen backlog stays small
        await asyncio.gather(*(one(client) for client in clients[start : start + 25]))
    return clients


async def run(url: str, cookie: str, levels: list[int], pid: int) -> list[tuple[int, float, int]]:
    rows = [(0, *proc_status(pid))]
    clients: list[socketio.AsyncClient] = []
    for level in levels:
        clients += await connect_all(url, cookie, level - len(clients))
        await asyncio.sleep(3)
        rows.append((level, *proc_status(pid)))
    await asyncio.gather(*(client.disconnect() for client in clients))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="100,250,500")
    parser.add_argument("--port", type=int, default=5199)
    args = parser.parse_args()
    levels = sorted(int(level) for level in args.levels.split(","))
    url = f"http://127.0.0.1:{args.port}"
    with tempfile.TemporaryDirectory(prefix="bench-consoles-") as tmp:
        env = {
            **os.environ,
            "CALLCENTER_DATABASE_URL": f"sqlite:///{tmp}/bench.db",
            "CALLCENTER_PUBLIC_URL": url,
            "CALLCENTER_SECRET_KEY": secrets.token_hex(16),
        }
        env.pop("CALLCENTER_REDIS_URL", None)
        subprocess.run([BIN / "callcenter", "db", "upgrade"], env=env, check=True,
                       capture_output=True)  # fmt: skip
        password = secrets.token_urlsafe(12)
        subprocess.run(
            [BIN / "callcenter", "agents", "add", "bench", "--name", "Bench", "--number",
             "1099", "--skills", "support", "--password-stdin"],
            env=env, input=password, text=True, check=True, capture_output=True,
        )  # fmt: skip
        threads = max(levels) + 100
        server = subprocess.Popen(
            [BIN / "gunicorn", "-w", "1", "-k", "gthread", "--threads", str(threads),
             "--worker-connections", str(threads * 2), "-b", f"127.0.0.1:{args.port}",
             "--log-level", "warning", "--chdir", str(ROOT), "callcenter.app:create_app()"],
            env=env,
        )  # fmt: skip
        try:
            for _ in range(300):
                try:
                    if requests.get(url + "/healthz", timeout=1).ok:
                        break
                except requests.RequestException:
                    pass
                time.sleep(0.1)
            with requests.Session() as http:
                login = http.post(url + "/api/login",
                                  json={"username": "bench", "password": password})  # fmt: skip
                login.raise_for_status()
                cookie = "; ".join(f"{c.name}={c.value}" for c in http.cookies)
            pid = worker_pid(server.pid)
            rows = asyncio.run(run(url, cookie, levels, pid))
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(30)
    base_rss, base_threads = rows[0][1], rows[0][2]
    print("| consoles | RSS (MiB) | threads | RSS per console (KiB) | threads per console |")
    print("|---|---|---|---|---|")
    for level, rss, count in rows:
        per_rss = f"{(rss - base_rss) * 1024 / level:.0f}" if level else "-"
        per_thread = f"{(count - base_threads) / level:.2f}" if level else "-"
        print(f"| {level} | {rss:.1f} | {count} | {per_rss} | {per_thread} |")


if __name__ == "__main__":
    main()
