"""Real Prometheus and Alertmanager for the tests: started on 127.0.0.1 with free ports and temporary folders,
stopped after. Without the Debian binaries the tests that need them skip, saying so (CI installs them)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")

if os.environ.get("CI") and None in (PROMETHEUS, PROMTOOL, ALERTMANAGER):  # CI installs them: never skip there
    raise RuntimeError("CI: prometheus, promtool or alertmanager is missing (.ci/run installs them)")

needs_prometheus = pytest.mark.skipif(
    PROMETHEUS is None or PROMTOOL is None, reason="no prometheus/promtool (apt-get install prometheus)"
)
needs_alertmanager = pytest.mark.skipif(
    ALERTMANAGER is None, reason="no alertmanager (apt-get install prometheus-alertmanager)"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer in {timeout_s:.0f} s")
        time.sleep(0.2)


@contextmanager
def running(command: list[str], ready_url: str, log: Path):
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_for(ready_url)
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


@contextmanager
def prometheus(folder: Path, config: str, extra: list[str] | None = None, data: Path | None = None):
    """A Prometheus on a free port; yields its base URL."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "prometheus.yml").write_text(config)
    port = free_port()
    command = [
        PROMETHEUS,
        f"--config.file={folder / 'prometheus.yml'}",
        f"--storage.tsdb.path={data or folder / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        *(extra or []),
    ]
    url = f"http://127.0.0.1:{port}"
    with running(command, f"{url}/-/ready", folder / "prometheus.log"):
        yield url


@contextmanager
def alertmanager(folder: Path, config: str, port: int | None = None):
    """An Alertmanager on a free port (or the one given, to restart it where it was); yields its base URL."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "alertmanager.yml").write_text(config)
    port = port or free_port()
    command = [
        ALERTMANAGER,
        f"--config.file={folder / 'alertmanager.yml'}",
        f"--storage.path={folder / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",  # no gossip port: one instance
    ]
    url = f"http://127.0.0.1:{port}"
    with running(command, f"{url}/-/ready", folder / "alertmanager.log"):
        yield url
