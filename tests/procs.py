"""Real processes for the load and fault tests, always bounded in time and never left behind.

- `spawned(target, args_list)`: one fresh interpreter ("spawn") per args, joined with a
  deadline when the block ends, killed if still alive, whatever happened in the block;
- `collect(results, count, procs)`: read `count` results from a queue, failing at once
  when a worker died and after the time limit otherwise;
- `Command`: the installed `arshjul` in a subprocess (output to files, so a chatty process
  never blocks on a full pipe), stopped with SIGTERM and killed when it does not stop.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import queue
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from tests.cli.conftest import arshjul_command, clean_env

SPAWN = multiprocessing.get_context("spawn")


@contextlib.contextmanager
def spawned(target, args_list: list[tuple], limit: float) -> Iterator[list]:
    """Start one spawned process per args; when the block ends each is joined within `limit` s, or killed."""
    procs = [SPAWN.Process(target=target, args=args, daemon=True) for args in args_list]
    for proc in procs:
        proc.start()
    try:
        yield procs
        deadline = time.monotonic() + limit
        for proc in procs:
            proc.join(max(0.1, deadline - time.monotonic()))
        hung = [p.pid for p in procs if p.is_alive()]
        assert not hung, f"worker processes {hung} did not finish within {limit} s"
        failed = {p.pid: p.exitcode for p in procs if p.exitcode != 0}
        assert not failed, f"worker processes exited with {failed}"
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.kill()
            proc.join(5)


def collect(results, count: int, procs: list, limit: float, what: str) -> list:
    """`count` results; a worker reports a crash as ("crash", who, traceback)."""
    got, deadline = [], time.monotonic() + limit
    while len(got) < count:
        try:
            message = results.get(timeout=0.2)
        except queue.Empty:
            dead = {p.pid: p.exitcode for p in procs if p.exitcode not in (None, 0)}
            assert not dead, f"waiting for {what}: worker processes died: {dead}"
            assert time.monotonic() < deadline, f"waiting for {what}: got {len(got)} of {count} in {limit} s"
            continue
        assert message[0] != "crash", f"a worker crashed:\n{message[-1]}"
        got.append(message)
    return got


def wait_for(check, limit: float, what: str, every: float = 0.05):
    """Poll `check()` until it returns something true; fail after `limit` seconds."""
    deadline = time.monotonic() + limit
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"waited {limit} s for {what}"
        time.sleep(every)


class Command:
    """The installed `arshjul` running in the background, its output in files under `folder`."""

    def __init__(self, args: list[str], folder: Path, name: str, env: dict[str, str] | None = None):
        self.name, self.out = name, folder / f"{name}.out"
        self._file = self.out.open("wb")
        self.proc = subprocess.Popen(
            [*arshjul_command(), *args], stdout=self._file, stderr=subprocess.STDOUT, cwd=folder,
            env=clean_env(**(env or {})),
        )  # fmt: skip

    @property
    def pid(self) -> int:
        return self.proc.pid

    def kill(self) -> None:
        """SIGKILL: no handler, no cleanup, as when a machine loses power."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, limit: float = 15) -> int:
        """SIGTERM, as systemd stops a service; killed if it does not stop within `limit`."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(limit)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._file.close()
        return self.proc.returncode

    def output(self) -> str:
        return self.out.read_text(encoding="utf-8", errors="replace")


@contextlib.contextmanager
def commands(*started: Command) -> Iterator[list[Command]]:
    """However the block ends, every command in the list (which the block may extend) is stopped."""
    running = list(started)
    try:
        yield running
    finally:
        for command in running:
            command.stop()
