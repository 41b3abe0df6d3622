"""Peak memory of caresim's heaviest commands, and where it went.

Targets (issue 12): ``caresim mode=calibrate calibration=telco`` with the shipped table <= 1.5 GB, and the
default plan (``caresim mode=plan``) <= 1.2 GB. Each command runs in a fresh subprocess, as a user runs it:

* the peak is the kernel's own figure for that process (``ru_maxrss`` from ``wait4``), not a sample;
* where it went: the process's resident memory is sampled every 0.2 s and each sample is labelled with
  the phase the command was in, read from its progress bar (the plan's pilot, optimise and verify, final
  comparison, frontier; the calibration's fit) and from its output (writing tables and the report);
* the floor: ``import caresim.cli`` alone (Python, Hydra, pydantic; each mode loads its own layer when it runs).

Memory is not time: the figures are stable from run to run on a shared machine.

    .venv/bin/python benchmarks/bench_memory.py                 # both, about 25 minutes on 2 cores
    .venv/bin/python benchmarks/bench_memory.py --only calibrate # about a minute
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GB = 10**9  # decimal, stricter than GiB
TABLE = ROOT / "data" / "telco" / "Telco-Customer-Churn.csv"
COMMANDS = {
    "calibrate": (["mode=calibrate", "calibration=telco", f"calibration.table={TABLE}"], 1.5 * GB),
    "plan": (["mode=plan"], 1.2 * GB),
}
# a tqdm line: "planning:  12%|█▏ | 7/57 [01:55<14:42, 17.64s/run, pilot]" -> description and bracket
BAR = re.compile(r"(\w[\w ]*):\s+\d+%[^\[\r\n]*\[([^\]\r\n]*)\]")


@dataclass
class Measured:
    """Peak resident memory of one command and the peak within each of its phases, in order."""

    name: str
    peak_bytes: int
    seconds: float
    returncode: int
    phases: dict[str, int] = field(default_factory=dict)


def _resident_bytes(pid: int) -> int | None:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"VmRSS:\s+(\d+) kB", text)
    return int(match.group(1)) * 1024 if match else None


def _phase_of(chunk: str) -> str | None:
    """The phase a progress-bar update names (its postfix, else its description)."""
    match = BAR.search(chunk)
    if match is None:
        return None
    description, bracket = match.groups()
    if description == "calibrating":
        return "fit (one simulation per evaluation)"
    postfix = ", ".join(bracket.split(", ")[2:])  # after the elapsed<remaining time and the rate
    return f"{description}: {postfix}" if postfix else description


def measure(name: str, arguments: list[str], output_dir: Path) -> Measured:
    """Run ``python -m caresim`` (the ``caresim`` command) with ``arguments`` and label its memory by phase."""
    command = [sys.executable, "-m", "caresim", *arguments, f"run.output_dir={output_dir}", "run.progress=true"]
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    phase = ["start-up: imports, config, inputs (calibrate: the start point's simulation)"]
    phases: dict[str, int] = {}

    def read_progress() -> None:
        assert process.stderr is not None
        buffer = ""
        while piece := process.stderr.read(256):
            buffer = (buffer + piece)[-2000:]
            for chunk in re.split(r"[\r\n]", buffer)[:-1]:
                found = _phase_of(chunk)
                if found is not None:
                    phase[0] = found

    def read_output() -> None:
        assert process.stdout is not None
        for _ in process.stdout:
            phase[0] = "summary, tables and report"

    readers = [threading.Thread(target=read_progress, daemon=True), threading.Thread(target=read_output, daemon=True)]
    for reader in readers:
        reader.start()
    while process.poll() is None:
        resident = _resident_bytes(process.pid)
        if resident is not None:
            phases[phase[0]] = max(phases.get(phase[0], 0), resident)
        time.sleep(0.2)
    for reader in readers:
        reader.join(timeout=5)
    seconds = time.perf_counter() - started
    # the kernel's peak for the child: RUSAGE_CHILDREN covers every child waited for so far, so each command
    # is run from its own short-lived parent below
    peak = _child_peak()
    return Measured(name, peak, seconds, process.returncode, phases)


def _child_peak() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024


def _floor() -> int:
    code = "import resource, caresim.cli; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)"
    return int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def _run_alone(name: str) -> None:
    """The child side of ``--alone``: measure one command and print its figures as lines of key=value."""
    arguments, _ = COMMANDS[name]
    with tempfile.TemporaryDirectory(prefix="caresim-bench-memory-") as folder:
        measured = measure(name, arguments, Path(folder))
    print(f"peak={measured.peak_bytes} seconds={measured.seconds:.1f} returncode={measured.returncode}")
    for phase, resident in measured.phases.items():
        print(f"phase={resident} {phase}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=sorted(COMMANDS), help="measure one command")
    parser.add_argument("--alone", choices=sorted(COMMANDS), help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.alone:
        _run_alone(options.alone)
        return
    floor = _floor()
    print(f"floor: import caresim.cli alone peaks at {floor / GB:.2f} GB")
    failed = False
    for name in [options.only] if options.only else list(COMMANDS):
        arguments, target = COMMANDS[name]
        print(f"\ncaresim {' '.join(arguments)}".replace(str(ROOT) + os.sep, ""), flush=True)
        done = subprocess.run(
            [sys.executable, __file__, "--alone", name], capture_output=True, text=True, cwd=ROOT, check=True
        )
        lines = done.stdout.splitlines()
        head = dict(part.split("=") for part in lines[0].split())
        peak = int(head["peak"])
        verdict = "within" if peak <= target else "OVER"
        print(
            f"  peak {peak / GB:.2f} GB ({verdict} the target of {target / GB:.1f} GB), {float(head['seconds']):.0f} s,"
            f" exit {head['returncode']}"
        )
        print("  peak resident memory by phase (sampled every 0.2 s):")
        for line in lines[1:]:
            resident, phase = line.removeprefix("phase=").split(" ", 1)
            print(f"    {int(resident) / GB:5.2f} GB  {phase}")
        failed |= peak > target or head["returncode"] != "0"
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
