"""Where independent tasks run: one after another in this process, on local worker processes, or on Ray.

A pool takes module-level functions of plain, picklable arguments and returns ``concurrent.futures.Future``
objects, so the caller can wait on them, in any order, whatever runs them. Tasks must be pure: the same
arguments give the same result anywhere, so a job's results do not depend on the pool or its number of
workers (every random draw in caresim comes from streams of the run's seed).

- ``sequential``: the task runs when it is submitted; its future is already done.
- ``local``: worker processes (joblib's loky), started for the pool and stopped with it.
- ``ray``: Ray tasks (optional extra ``caresim[ray]``), on the Ray instance this process is connected to,
  else on ``ray.init(address=...)``: ``None`` starts a local instance with ``n_workers`` CPUs, ``"auto"``
  joins the cluster this machine belongs to, ``"ray://host:10001"`` connects as a client. A Ray instance
  the pool started is stopped when the pool closes.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError, Future
from contextlib import contextmanager
from typing import Any, Literal

Kind = Literal["sequential", "local", "ray"]
KINDS: tuple[str, ...] = ("sequential", "local", "ray")
WORKER_FLAG = "CARESIM_LOCAL_WORKER"  # set in a LocalPool's workers
PARENT_CHECK_SECONDS = 0.5  # how often a local worker checks that the job that started it is still there


class ExecutorError(RuntimeError):
    """The pool asked for cannot be started here (Ray not installed, or its cluster not reachable)."""


def available_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class Pool:
    """Runs tasks one after another, in this process, as they are submitted."""

    kind: str = "sequential"
    n_workers: int = 1

    def submit(self, function: Callable[..., Any], *args: Any) -> Future:
        """Run ``function(*args)``; its result or its exception is in the returned future."""
        future: Future = Future()
        try:
            future.set_result(function(*args))
        except Exception as error:
            future.set_exception(error)
        return future

    def submit_when_idle(self, function: Callable[..., Any], *args: Any) -> Future:
        """Like ``submit``, for a task the job does not need yet: on several workers it starts only when one
        would otherwise be idle, so it never delays the tasks the job waits for."""
        return self.submit(function, *args)

    def close(self, cancel: bool = False) -> None:
        """Release the workers; with ``cancel``, stop what is still running or waiting."""


class _Workers(Pool):
    """Several workers: counts the tasks running or queued, and starts tasks submitted ``when idle`` (from a
    thread of its own) only while they are fewer than the workers. Subclasses give ``_start`` and ``_stop``."""

    def __init__(self, n_workers: int) -> None:
        self.n_workers = n_workers
        self._busy = 0
        self._waiting: deque[tuple[Future, Callable[..., Any], tuple]] = deque()
        self._running: set[Future] = set()  # unfinished only: a finished task's result is its caller's
        self._changed = threading.Condition()
        self._closed = False
        threading.Thread(target=self._dispatch, name="caresim-when-idle", daemon=True).start()

    def _start(self, function: Callable[..., Any], args: tuple) -> Future:
        raise NotImplementedError

    def _stop(self, cancel: bool) -> None:
        raise NotImplementedError

    def submit(self, function: Callable[..., Any], *args: Any) -> Future:
        with self._changed:
            self._busy += 1
        future = self._start(function, args)
        self._running.add(future)
        future.add_done_callback(self._one_less)
        return future

    def submit_when_idle(self, function: Callable[..., Any], *args: Any) -> Future:
        proxy: Future = Future()
        with self._changed:
            self._waiting.append((proxy, function, args))
            self._changed.notify()
        return proxy

    def _one_less(self, done: Future | None = None) -> None:
        with self._changed:
            self._busy -= 1
            self._running.discard(done)
            self._changed.notify()

    def _dispatch(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._closed or (self._waiting and self._busy < self.n_workers))
                if self._closed:
                    return
                proxy, function, args = self._waiting.popleft()
                self._busy += 1
            if not proxy.set_running_or_notify_cancel():
                self._one_less()
                continue
            try:
                inner = self._start(function, args)
            except BaseException as error:  # the pool is shutting down
                proxy.set_exception(error)
                self._one_less()
                continue
            with self._changed:
                self._running.add(inner)
            inner.add_done_callback(lambda done, proxy=proxy: self._relay(done, proxy))

    def _relay(self, done: Future, proxy: Future) -> None:
        if done.cancelled():
            proxy.set_exception(CancelledError())
        elif done.exception() is not None:
            proxy.set_exception(done.exception())
        else:
            proxy.set_result(done.result())
        self._one_less(done)

    def close(self, cancel: bool = False) -> None:
        with self._changed:
            self._closed = True
            waiting, self._waiting = list(self._waiting), deque()
            self._changed.notify()
        for proxy, _, _ in waiting:
            proxy.cancel()
        if cancel:  # an interrupted job: what was waiting never starts, and the workers stop now
            with self._changed:
                running = list(self._running)
            for future in running:
                future.cancel()
        self._stop(cancel)


GARBAGE_CHECK_SECONDS = 30.0  # how often a local worker runs a full garbage collection between tasks


def _prepare_worker(parent: int) -> None:
    """In a local worker, before its first task: end with the job (``_end_with_parent``), and collect garbage
    every ``GARBAGE_CHECK_SECONDS`` rather than after every task. Without psutil, loky runs a full
    ``gc.collect()`` after any task that ends more than a second after the last one; with caresim's modules
    loaded that costs 50-80 ms, about 8% of a default simulation run (measured 2026-12-05)."""
    _end_with_parent(parent)
    try:
        from joblib.externals.loky import process_executor
    except ImportError:
        return
    if hasattr(process_executor, "_MEMORY_LEAK_CHECK_DELAY"):
        process_executor._MEMORY_LEAK_CHECK_DELAY = GARBAGE_CHECK_SECONDS


def _end_with_parent(parent: int) -> None:
    """In a local worker: end as soon as ``parent`` is gone. A job killed outright (SIGKILL leaves it no time
    to stop its workers) must not leave them behind, busy or blocked writing a result nobody reads."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="caresim-parent-watch", daemon=True).start()


def _start_workers_deaf() -> None:
    """Have loky start this module's local workers with Ctrl-C (SIGINT) ignored. An ignored signal survives
    exec, and Python then never turns it into a KeyboardInterrupt: a terminal's Ctrl-C reaches the whole
    process group, but only the job acts on it (it stops its workers and ends in one line), and no worker
    prints a traceback of its own, even while it is still starting. The job ignores SIGINT only for the
    instant of the fork and exec, in its main thread, so a Ctrl-C is not lost while workers start."""
    try:
        from joblib.externals.loky.backend import fork_exec as module

        original = module.fork_exec
    except (ImportError, AttributeError):  # another loky: its workers then hear Ctrl-C (a tidiness, no more)
        return
    if getattr(original, "starts_deaf", False):
        return

    def fork_exec(cmd: list, keep_fds: tuple, env: dict | None = None) -> int:
        if not (env and env.get(WORKER_FLAG)) or threading.current_thread() is not threading.main_thread():
            return original(cmd, keep_fds, env=env)
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            return original(cmd, keep_fds, env=env)
        finally:
            signal.signal(signal.SIGINT, previous)

    fork_exec.starts_deaf = True  # type: ignore[attr-defined]
    module.fork_exec = fork_exec


class LocalPool(_Workers):
    """``n_workers`` local worker processes (joblib's loky), one BLAS/OpenMP thread each, started for this
    pool and stopped when it closes (apart from joblib's own reusable pool, which Hydra's launcher uses)."""

    kind = "local"

    def __init__(self, n_workers: int) -> None:
        from joblib.externals.loky import ProcessPoolExecutor

        _start_workers_deaf()
        env = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
        self._executor = ProcessPoolExecutor(
            max_workers=n_workers,
            env={**env, WORKER_FLAG: "1"},
            initializer=_prepare_worker,
            initargs=(os.getpid(),),
        )
        super().__init__(n_workers)

    def _start(self, function: Callable[..., Any], args: tuple) -> Future:
        return self._executor.submit(function, *args)  # workers start on the first task, deaf to Ctrl-C

    def _stop(self, cancel: bool) -> None:
        self._executor.shutdown(wait=not cancel, kill_workers=cancel)


class RayPool(_Workers):
    """Ray tasks of one CPU each, on the connected Ray instance or on one started for this pool."""

    kind = "ray"

    def __init__(self, n_workers: int, address: str | None) -> None:
        try:
            import ray
        except ImportError:
            raise ExecutorError("Ray is not installed: pip install 'caresim[ray]'") from None
        self._ray = ray
        self._owns_ray = False
        if not ray.is_initialized():
            _check_reachable(address)
            options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if address is None:
                options["num_cpus"] = n_workers
            try:
                ray.init(address=address, **options)
            except Exception as error:  # no cluster at that address, a version mismatch, ...
                reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                raise ExecutorError(f"Ray could not start at address {address!r}: {reason}") from None
            self._owns_ray = True
        self._remote: dict[Callable[..., Any], Any] = {}
        super().__init__(int(ray.cluster_resources().get("CPU", n_workers)))

    def _start(self, function: Callable[..., Any], args: tuple) -> Future:
        remote = self._remote.get(function)
        if remote is None:
            remote = self._remote[function] = self._ray.remote(num_cpus=1, max_retries=0)(function)
        return remote.remote(*args).future()

    def _stop(self, cancel: bool) -> None:
        if self._owns_ray:
            self._ray.shutdown()


def _check_reachable(address: str | None, timeout: float = 5.0) -> None:
    """Refuse an address ``host:port`` (or ``ray://host:port``) where nothing answers: Ray itself would wait
    for it without end. ``None`` and ``"auto"`` are Ray's to resolve, and fail quickly."""
    if address is None or address == "auto":
        return
    where = address.removeprefix("ray://")
    host, _, port = where.rpartition(":")
    if not host or not port.isdigit():
        raise ExecutorError(f"Ray address {address!r} is not host:port, ray://host:port or auto")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as error:
        raise ExecutorError(f"no Ray cluster answers at {address} ({error.strerror or error})") from None


def done_future(value: Any) -> Future:
    """A future that is already done, with ``value``."""
    future: Future = Future()
    future.set_result(value)
    return future


def when_done(future: Future, action: Callable[..., None] | None, with_result: bool = False) -> None:
    """Call ``action()`` (or ``action(result)``) when ``future`` succeeds, in whichever thread completes it."""
    if action is None:
        return

    def call(done: Future) -> None:
        if not done.cancelled() and done.exception() is None:
            action(done.result()) if with_result else action()

    future.add_done_callback(call)


def inside_a_worker() -> bool:
    """Whether this process is already a worker: a ``LocalPool``'s, one of joblib's running a parallel call (a
    sweep point on Hydra's joblib launcher), or a Ray worker. Its own local pools then run one task after another, so
    that nested pools never start more processes than there are cores."""
    if os.environ.get(WORKER_FLAG):
        return True
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized() and ray.get_runtime_context().worker.mode == ray.WORKER_MODE:
        return True  # a Ray task (a Hydra Ray launcher's sweep point, a planner's run): it has its CPU
    from joblib.parallel import get_active_backend

    return (getattr(get_active_backend()[0], "nesting_level", 0) or 0) > 0


def open_pool(kind: str, n_workers: int | None = None, address: str | None = None) -> Pool:
    """A pool of ``kind`` (``KINDS``) with ``n_workers`` workers (None: every core here; Ray: its CPUs).
    A local pool inside a local worker runs its tasks one after another (``inside_a_worker``)."""
    workers = n_workers or available_cores()
    if kind == "sequential":
        return Pool()
    if kind == "local":
        return Pool() if inside_a_worker() else LocalPool(workers)
    if kind == "ray":
        return RayPool(workers, address)
    raise ValueError(f"executor: {kind!r}; allowed: {', '.join(KINDS)}")


@contextmanager
def pool_of(kind: str, n_workers: int | None = None, address: str | None = None) -> Iterator[Pool]:
    """``open_pool`` as a context: closed at the end, and on an error or an interrupt with its tasks stopped."""
    pool = open_pool(kind, n_workers, address)
    try:
        yield pool
    except BaseException:
        pool.close(cancel=True)
        raise
    pool.close()
