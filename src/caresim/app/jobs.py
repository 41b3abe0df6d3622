"""The workbench's long work: simulations and plans, each in a child process of its own, off the server's threads.

A job lives in a folder of its own, ``<output root>/.app/<session>/jobs/<job id>/``: ``spec.json`` (what to
run) and ``status.json`` (state, progress, message, the run folder it wrote), both written whole. The server
keeps no state a reload or a restart could lose: the pages read the job folders, and a job's results are an
ordinary run folder under the output root, written as the CLI writes them.

Sessions keep their jobs apart: a session sees only its own folder, and every job writes a fresh run folder.
A cancelled plan resumes from the planner's run cache (``<output root>/.cache/planner``) when run again.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import signal
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from caresim.files import write_file_atomic

Kind = Literal["simulate", "plan"]
State = Literal["running", "done", "failed", "cancelled", "interrupted"]
SESSION_PATTERN = re.compile(r"^[0-9a-f]{32}$")
JOB_PATTERN = re.compile(r"^[0-9]{8}-[0-9]{6}-[0-9a-f]{8}$")
APP_FOLDER = ".app"
PROGRESS_EVERY_SECONDS = 0.2  # a child writes status.json at most this often while it works
CANCEL_SECONDS = 10.0  # how long a cancelled job has to stop before it is killed


@dataclass(frozen=True)
class JobSpec:
    """What a job runs: a simulation (with an optional care mix) or a plan, of a scenario with overrides."""

    kind: Kind
    scenario: str | None = None
    overrides: tuple[str, ...] = ()
    policy: Mapping[str, Any] | None = None  # simulate: {programme: share or {segment: share}}; None: the config's
    label: str = ""

    def to_json(self) -> str:
        data = asdict(self)
        data["overrides"] = list(self.overrides)
        return json.dumps(data, indent=2, default=dict)

    @classmethod
    def from_json(cls, text: str) -> JobSpec:
        data = json.loads(text)
        data["overrides"] = tuple(data.get("overrides", ()))
        return cls(**data)


@dataclass
class JobStatus:
    """Where a job is: its state, runs or months done of the total, a one-line message and its run folder."""

    state: State = "running"
    done: int = 0
    total: int = 0
    message: str = ""
    folder: str | None = None  # the run folder, relative to the output root, once written
    pid: int | None = None
    pid_started: int | None = None  # the process's start time (clock ticks since boot): a reused pid is not it
    started: float = field(default_factory=time.time)
    ended: float | None = None

    @property
    def finished(self) -> bool:
        return self.state != "running"

    @property
    def fraction(self) -> float:
        return min(self.done / self.total, 1.0) if self.total else 0.0


def new_session() -> str:
    """A fresh, unguessable session id."""
    return uuid.uuid4().hex


def valid_session(session: object) -> bool:
    return isinstance(session, str) and bool(SESSION_PATTERN.match(session))


def _write_status(job_folder: Path, status: JobStatus) -> None:
    write_file_atomic(job_folder / "status.json", json.dumps(asdict(status)).encode())


def read_status(job_folder: Path) -> JobStatus:
    """The job's status; a job marked running whose process is gone (a killed server) reads as interrupted."""
    try:
        status = JobStatus(**json.loads((job_folder / "status.json").read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return JobStatus(state="failed", message="status.json cannot be read")
    if status.state == "running" and status.pid is not None and not _alive(status.pid, status.pid_started):
        status.state, status.message = "interrupted", "the job's process ended before it finished"
    return status


def _stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (state first), or None off Linux or when gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_started(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot), to tell it from a later process given the same pid."""
    fields = _stat(pid)
    return int(fields[19]) if fields and len(fields) > 19 else None


def _alive(pid: int, started: int | None = None) -> bool:
    """Whether the job's process still runs: it exists, is not a zombie, and (when known) started when it did."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    fields = _stat(pid)
    if fields is None:
        return True  # no /proc: trust kill(0)
    return fields[0] != "Z" and (started is None or process_started(pid) == started)


class Jobs:
    """Starts, lists and cancels the jobs of the sessions under ``output_root``."""

    def __init__(self, output_root: str | Path) -> None:
        self.output_root = Path(output_root).resolve()
        self._processes: dict[str, multiprocessing.process.BaseProcess] = {}
        self._context = multiprocessing.get_context("spawn")  # the server has threads: never fork it

    def folder(self, session: str, job: str | None = None) -> Path:
        """The session's jobs folder, or one job's; ids are checked so that no path leaves the output root."""
        if not valid_session(session):
            raise ValueError("not a session id")
        base = self.output_root / APP_FOLDER / session / "jobs"
        if job is None:
            return base
        if not JOB_PATTERN.match(job):
            raise ValueError("not a job id")
        return base / job

    def start(self, session: str, spec: JobSpec) -> str:
        """Start ``spec`` in a child process; returns the job id at once."""
        job = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:8]
        folder = self.folder(session, job)
        folder.mkdir(parents=True)
        write_file_atomic(folder / "spec.json", spec.to_json().encode())
        _write_status(folder, JobStatus(message="starting"))
        process = self._context.Process(
            target=run_job, args=(spec, str(folder), str(self.output_root)), name=f"caresim-job-{job}", daemon=False
        )
        process.start()  # from here on only the child writes status.json
        self._processes[job] = process
        return job

    def status(self, session: str, job: str) -> JobStatus:
        self._reap()
        return read_status(self.folder(session, job))

    def spec(self, session: str, job: str) -> JobSpec:
        return JobSpec.from_json((self.folder(session, job) / "spec.json").read_text(encoding="utf-8"))

    def list(self, session: str) -> list[tuple[str, JobSpec, JobStatus]]:
        """The session's jobs, newest first."""
        self._reap()
        base = self.folder(session)
        if not base.is_dir():
            return []
        jobs = []
        for entry in sorted(base.iterdir(), reverse=True):
            if JOB_PATTERN.match(entry.name) and (entry / "spec.json").is_file():
                try:
                    jobs.append((entry.name, self.spec(session, entry.name), read_status(entry)))
                except (OSError, ValueError, TypeError):
                    continue
        return jobs

    def cancel(self, session: str, job: str) -> JobStatus:
        """Stop a running job (its process and the planner's workers); what it finished stays in the run cache."""
        folder = self.folder(session, job)
        status = read_status(folder)
        if status.finished:
            return status
        process = self._processes.get(job)
        if process is not None:  # started by this server
            if process.is_alive():
                process.terminate()
                process.join(timeout=CANCEL_SECONDS)
                if process.is_alive():  # stuck: stop it outright, then say so
                    process.kill()
                    process.join(timeout=CANCEL_SECONDS)
        elif status.pid is not None and _alive(status.pid, status.pid_started):  # by an earlier server
            os.kill(status.pid, signal.SIGTERM)
            deadline = time.monotonic() + CANCEL_SECONDS
            while _alive(status.pid, status.pid_started) and time.monotonic() < deadline:
                time.sleep(0.1)
        status = read_status(folder)
        if not status.finished or status.state == "interrupted":
            status.state, status.message, status.ended = "cancelled", "cancelled", time.time()
            _write_status(folder, status)
        return status

    def close(self) -> None:
        """Stop every job still running (the server is stopping)."""
        for job, process in list(self._processes.items()):
            if process.is_alive():
                process.terminate()
                process.join(timeout=10)
            self._processes.pop(job, None)

    def _reap(self) -> None:
        for job, process in list(self._processes.items()):
            if not process.is_alive():
                process.join(timeout=0)
                self._processes.pop(job, None)


# ------------------------------------------------------------------ in the child process
class _Progress:
    """Writes the job's status as work advances, at most every ``PROGRESS_EVERY_SECONDS``."""

    def __init__(self, folder: Path, status: JobStatus) -> None:
        self.folder, self.status, self._last = folder, status, 0.0

    def __call__(self, done: int, total: int, message: str | None = None, force: bool = False) -> None:
        self.status.done, self.status.total = done, total
        if message is not None:
            self.status.message = message
        now = time.monotonic()
        if force or now - self._last >= PROGRESS_EVERY_SECONDS or done >= total:
            self._last = now
            _write_status(self.folder, self.status)


def run_job(spec: JobSpec, job_folder: str, output_root: str) -> None:
    """The child process: run ``spec`` and write its run folder under ``output_root``, keeping status.json."""
    folder = Path(job_folder)
    status = JobStatus(pid=os.getpid(), pid_started=process_started(os.getpid()), message="loading the scenario")
    progress = _Progress(folder, status)
    progress(0, 0, force=True)

    def stop(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        written = _run(spec, Path(output_root), progress)
    except KeyboardInterrupt:
        status.state, status.message = "cancelled", "cancelled"
    except Exception as error:  # every failure becomes the job's one-line message
        status.state, status.message = "failed", one_line(error)
        (folder / "traceback.txt").write_text(traceback.format_exc(), encoding="utf-8")
    else:
        status.state, status.folder = "done", str(written.relative_to(output_root))
        status.message = "finished"
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the outcome is decided: a late cancel must not lose it
    status.ended = time.time()
    _write_status(folder, status)


def one_line(error: BaseException) -> str:
    """An error as the CLI prints it: its own message for bad input, else its type and first line."""
    from caresim.config.errors import ConfigError

    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return text if isinstance(error, ConfigError) and text else f"{type(error).__name__}: {text}".rstrip(": ")


def job_overrides(spec: JobSpec, output_root: Path) -> list[str]:
    """The overrides a job runs with: the spec's, its runs written under the output root, no console bar."""
    return [*spec.overrides, f"run.output_dir={output_root}", "run.progress=false"]


def _write_fresh(write: Callable[[Path], Path], config: Any, suffix: str) -> Path:
    """``write`` into a fresh run folder; another job that took the same name in the same second moves this
    one to the next free name (as the CLI does)."""
    from caresim.results.run import run_folder

    for _ in range(100):
        try:
            return write(run_folder(config.run.output_dir, config.scenario, config.run.seed, suffix))
        except FileExistsError:
            continue
    raise FileExistsError("no free run folder name")


def _run(spec: JobSpec, output_root: Path, progress: _Progress) -> Path:
    import caresim
    from caresim.report import report

    config = caresim.load_config(spec.scenario, job_overrides(spec, output_root))
    overrides = list(spec.overrides)
    if spec.kind == "plan":
        progress(0, 1, "planning: pilot runs", force=True)
        result = caresim.plan(config, progress=False, on_run=lambda done, total: progress(done, total, "planning"))
        progress(progress.status.total, progress.status.total, "writing the plan", force=True)
        folder = _write_fresh(lambda target: result.write(target, overrides), config, "-plan")
    else:
        months = config.run.n_months
        progress(0, months, "simulating", force=True)
        results = caresim.simulate(
            config, spec.policy, progress=False, on_month=lambda month: progress(month + 1, months, "simulating")
        )
        progress(months, months, "writing the run", force=True)
        folder = _write_fresh(lambda target: results.write(target, config.run.formats, overrides), config, "")
    if config.run.report:
        progress(progress.status.done, progress.status.total, "writing the report", force=True)
        report(folder)
    return folder
