"""A local Prefect server kept running between commands, so a manual ingest starts in seconds.

Without PREFECT_API_URL, Prefect starts a temporary server for every command and stops it at
the end: 15-45 s before one article is read. Instead, the first `newswatch ingest` starts
`prefect server start` in the background on a free port of 127.0.0.1 (its database in
PREFECT_HOME, so flow runs stay visible in its UI) and records it in
`PREFECT_HOME/newswatch-server.json`; later commands find it there and use it. `newswatch
server stop` ends it. NEWSWATCH_PREFECT_SERVER=temporary keeps Prefect's own behaviour.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from newswatch.pipeline.errors import NewswatchError

STATE_FILE = "newswatch-server.json"
LOG_FILE = "newswatch-server.log"
STARTUP_SECONDS = 180


@dataclass(frozen=True)
class LocalServer:
    pid: int
    port: int

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    @property
    def ui(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def prefect_home() -> Path:
    """PREFECT_HOME as Prefect reads it (default ~/.prefect)."""
    from prefect.settings import PREFECT_HOME

    return Path(str(PREFECT_HOME.value())).expanduser()


def _state_path(home: Path) -> Path:
    return home / STATE_FILE


def _healthy(server: LocalServer, timeout: float = 2.0) -> bool:
    try:
        return httpx.get(f"{server.api}/health", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_server(home: Path | None = None) -> LocalServer | None:
    """The recorded background server, if its process still runs (it may still be starting)."""
    path = _state_path(home or prefect_home())
    try:
        data = json.loads(path.read_text())
        server = LocalServer(pid=int(data["pid"]), port=int(data["port"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return server if _alive(server.pid) else None


@contextlib.contextmanager
def _locked(home: Path) -> Iterator[None]:
    """One command at a time decides whether to start the server (two ingests at once)."""
    home.mkdir(parents=True, exist_ok=True)
    with open(home / (STATE_FILE + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ensure_server(home: Path | None = None) -> tuple[LocalServer, bool]:
    """Return the running background server, starting one if there is none; and whether it
    was started now."""
    home = home or prefect_home()
    with _locked(home):
        running = read_server(home)
        if running is not None and _wait_healthy(running, 30):
            return running, False
        port = _free_port()
        log = open(home / LOG_FILE, "ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            env={**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_HOME": str(home)},
        )
        log.close()
        server = LocalServer(pid=process.pid, port=port)
        _state_path(home).write_text(json.dumps({"pid": server.pid, "port": server.port}))
        if not _wait_healthy(server, STARTUP_SECONDS, process):
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            _state_path(home).unlink(missing_ok=True)
            raise NewswatchError(
                f"the local Prefect server did not start within {STARTUP_SECONDS} s; see "
                f"{home / LOG_FILE}, or set PREFECT_API_URL to a running server"
            )
        return server, True


def _wait_healthy(server: LocalServer, seconds: float, process: subprocess.Popen[bytes] | None = None) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            return False
        if process is None and not _alive(server.pid):
            return False
        if _healthy(server):
            return True
        time.sleep(0.3)
    return False


def stop_server(home: Path | None = None, timeout: float = 30) -> LocalServer | None:
    """Stop the background server; return it, or None when none was running."""
    home = home or prefect_home()
    with _locked(home):
        server = read_server(home)
        _state_path(home).unlink(missing_ok=True)
        if server is None:
            return None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)  # the server and its workers: one session
        deadline = time.monotonic() + timeout
        while _alive(server.pid) and time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(server.pid, os.WNOHANG)
            time.sleep(0.2)
        if _alive(server.pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)
        return server
