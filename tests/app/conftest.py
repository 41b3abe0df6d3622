"""Fixtures of the workbench tests: a workbench server on a free loopback port, Debian's Chromium for Playwright,
and where screenshots go (``$CARESIM_ARTIFACTS``, else ``test-artifacts/`` at the repository root)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("CARESIM_ARTIFACTS", REPO / "test-artifacts" / "screenshots"))
START_SECONDS = 60.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until_up(url: str, process: subprocess.Popen, log: Path, timeout: float = START_SECONDS) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"the workbench exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return time.perf_counter() - started
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    raise RuntimeError(f"the workbench did not answer at {url} within {timeout:.0f} s")


class Workbench:
    """A running ``caresim-app``: its URL, output root and user config folder."""

    def __init__(self, url: str, output_root: Path, config_dir: Path, process: subprocess.Popen, seconds: float):
        self.url, self.output_root, self.config_dir, self.process = url, output_root, config_dir, process
        self.start_seconds = seconds
        self.log = output_root.parent / "server.log"


def start_workbench(folder: Path, *extra: str) -> Workbench:
    """Start ``caresim-app`` on a free port in its own process group, with runs under ``folder/outputs``."""
    port = _free_port()
    output_root, config_dir = folder / "outputs", folder / "config"
    config_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CARESIM_CONFIG_DIR": str(config_dir), "PYTHONUNBUFFERED": "1"}
    command = [
        sys.executable,
        "-m",
        "caresim.app",
        "--port",
        str(port),
        "--no-browser",
        "--output-root",
        str(output_root),
    ]
    log = folder / "server.log"  # a file, not a pipe: an unread pipe fills with request lines and blocks the server
    with log.open("w") as output:
        process = subprocess.Popen(
            [*command, *extra], env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        query = f"?token={extra[extra.index('--token') + 1]}" if "--token" in extra else ""
        seconds = _wait_until_up(f"{url}/{query}", process, log)
    except BaseException:
        stop_workbench(process)
        raise
    return Workbench(url, output_root, config_dir, process, seconds)


def stop_workbench(process: subprocess.Popen) -> None:
    """Stop the server and every job process it started (its whole process group)."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


@pytest.fixture(scope="module")
def workbench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workbench]:
    """One workbench per test module."""
    running = start_workbench(tmp_path_factory.mktemp("workbench"))
    yield running
    stop_workbench(running.process)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    """Debian's Chromium: Playwright cannot download its own browsers here."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("Chromium is not installed: apt-get install -y chromium (.ci/run does it)")
    return {**browser_type_launch_args, "executable_path": chromium}


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot of ``page`` as a test artefact."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
