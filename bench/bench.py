"""Runs the benchmark of bench/run.sh and writes its results (Markdown).

Contenders, run interleaved (each round runs every contender once, in a
rotating order) on the same synthetic corpus:

- floor-Nt   examples/floor.rs on N threads: inflate and XML-tokenise the
             sheets a reader needs, extract nothing;
- baocao-Nt  `baocao ingest` into a fresh copy of the synth workspace with
             `[ingest] threads = N`, then `baocao report` for the period;
- baocao-1core  as baocao-Nt with the largest N, confined to one core
             (`taskset -c 0`): `threads` sizes each stage's pool, so
             `threads = 1` still keeps more than one core busy, and the
             speed-up from one core to two is this row against baocao-Nt;
- polars     bench/baseline_polars.py (polars + fastexcel);
- pandas     bench/baseline_pandas.py (pandas + openpyxl).

Before any timing is reported, the consolidated province figures of every
round must agree (bench/compare.py); if they do not, this stops and says so.
Each command runs under /usr/bin/time -v for its peak memory; wall time is
measured around it. Copying the workspace is not timed; Python's start-up
and imports are.

Only the standard library: it runs with the venv's Python but imports none
of the baselines' packages.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

# Seconds a freed inode stays out of reach on an ext4 file system without a
# journal (this machine's): a new file or folder skips, one lookup at a
# time, every inode freed less than a minute ago, and less than six minutes
# ago when the block of the inode table that holds it is dirty. Written
# back or not before the run, that block is dirtied again by the run itself
# as soon as it puts a new file's inode next to the freed ones, so six
# minutes it is. Runs within that time of deleting thousands of files time
# that skipping (8,460 new archive folders took 0.4 to 1.1 s of the
# kernel's CPU instead of 0.03 s on tmpfs), a cost of the benchmark's
# cleaning, not of ingest. The workspaces of the runs are therefore deleted
# only once every scale is measured.
INODE_AGE_S = 365


def let_inodes_age(deleted: int) -> None:
    """After deleting `deleted` files and folders: when they were many,
    write their inodes back and wait out ext4's minute before timing runs
    that create files (see `INODE_AGE_S`)."""
    if deleted > 1000:
        print(f"  letting the inodes of {deleted} deleted files age ({INODE_AGE_S} s)")
        os.sync()
        time.sleep(INODE_AGE_S)

TIME = "/usr/bin/time"

# One core to confine a run to, when the machine has a second one to compare.
ONE_CORE = shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2


@dataclass
class Run:
    wall: float  # seconds, end to end
    rss_mb: float  # peak resident set of the largest process
    cpu: float  # user + system seconds
    ingest_wall: float | None = None  # baocao only: the ingest step alone
    ingest_cpu: float | None = None
    sys: float = 0.0  # the system (kernel) part of cpu
    ingest_sys: float | None = None
    # While the run ran: CPU seconds the rest of the machine was busy (the
    # kernel's writeback and interrupts, other processes: every CPU's busy
    # time in /proc/stat less the run's own), and seconds the hypervisor
    # took from this machine's CPUs (steal). Both 0 without /proc/stat.
    elsewhere: float = 0.0
    stolen: float = 0.0


def machine_cpu() -> tuple[float, float]:
    """Seconds every CPU of the machine has been busy since boot, and
    seconds the hypervisor has taken from them (/proc/stat, in the kernel's
    ticks: a hundredth of a second); (0, 0) where there is no /proc/stat."""
    try:
        fields = Path("/proc/stat").read_text(encoding="ascii").splitlines()[0].split()[1:]
    except (OSError, IndexError):
        return 0.0, 0.0
    ticks = [int(x) for x in fields[:8]] + [0] * max(0, 8 - len(fields))
    user, nice, system, _idle, _iowait, irq, softirq, steal = ticks[:8]
    hz = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq) / hz, steal / hz


@dataclass
class Scale:
    name: str
    corpus: Path  # a synth workspace
    reps: int
    slow_reps: int  # for pandas and polars
    corpus_args: str = ""  # how the corpus was made, for the report
    returns: int = 0
    runs: dict[str, list[Run]] = field(default_factory=dict)
    loads: list[float] = field(default_factory=list)  # 1-minute load average at each round's start
    summaries: dict[str, str] = field(default_factory=dict)


class BenchError(Exception):
    pass


def timed(cmd: list[str], log: Path, cwd: Path | None = None, ok_codes: tuple[int, ...] = (0,)) -> tuple[Run, str]:
    """Runs `cmd` under /usr/bin/time -v; returns the run and its stdout."""
    time_file = log.with_suffix(".time")
    # CPU time from the kernel's own account of the finished children, to the
    # microsecond: /usr/bin/time prints it to the hundredth of a second, too
    # coarse for runs of a few hundredths (the province scale's floor used
    # 3 of them).
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy_before, stolen_before = machine_cpu()
    started = time.perf_counter()
    proc = subprocess.run(
        [TIME, "-v", "-o", str(time_file), *cmd],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    busy_after, stolen_after = machine_cpu()
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    log.write_text(f"$ {' '.join(cmd)}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}", encoding="utf-8")
    if proc.returncode not in ok_codes:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise BenchError(f"{' '.join(cmd)} exited {proc.returncode} (log: {log})\n{tail}")
    report = time_file.read_text(encoding="utf-8")
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", report)[1])
    sys = children_after.ru_stime - children_before.ru_stime
    cpu = (children_after.ru_utime - children_before.ru_utime) + sys
    # The run's own CPU is measured to the microsecond, the machine's to the
    # tick: a difference below zero is rounding.
    elsewhere = max(0.0, busy_after - busy_before - cpu)
    run = Run(wall=wall, rss_mb=rss_kb / 1024, cpu=cpu, sys=sys, elsewhere=elsewhere, stolen=stolen_after - stolen_before)
    return run, proc.stdout


def set_config(path: Path, section: str, values: dict[str, str]) -> None:
    """Sets keys of one [section] of a TOML file, keeping everything else."""
    lines = path.read_text(encoding="utf-8").splitlines()
    out, current, pending = [], None, dict(values)
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("[") and not stripped.startswith("[["):
            if current == section and pending:
                out.extend(f"{k} = {v}" for k, v in pending.items())
                pending.clear()
            current = stripped.strip("[]").strip()
        key = stripped.split("=", 1)[0].strip() if "=" in stripped and not stripped.startswith("#") else None
        if current == section and key in pending:
            out.append(f"{key} = {pending.pop(key)}")
            continue
        out.append(line)
    if pending:
        if current != section:
            out.append(f"[{section}]")
        out.extend(f"{k} = {v}" for k, v in pending.items())
    path.write_text("\n".join(out) + "\n", encoding="utf-8")


def baocao_capability(baocao: Path) -> str | None:
    """Which baocao command gives its consolidated figures: "report", "export" or None."""
    for command in ("report", "export"):
        probe = subprocess.run([str(baocao), command, "--help"], capture_output=True, text=True, check=False)
        if probe.returncode == 0:
            return command
    return None


class Bench:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.root: Path = args.root
        self.work: Path = args.work
        self.capability = baocao_capability(args.baocao)
        # Workspaces of finished runs, deleted between scales (see `retire`).
        self.retired: list[Path] = []
        self.runs_made = 0

    # -- contenders ---------------------------------------------------------

    def contenders(self) -> list[str]:
        names = [f"floor-{t}t" for t in self.args.threads]
        names += [f"baocao-{t}t" for t in self.args.threads]
        if ONE_CORE and len(self.args.threads) >= 2:
            names.append("baocao-1core")
        # Like for like with the baselines: reading and every rule, nothing
        # stored, no feedback, no filing (`baocao check`).
        names.append(f"check-{self.args.threads[-1]}t")
        return names + ["polars", "pandas"]

    def out_dir(self, scale: Scale) -> Path:
        path = self.work / "out" / scale.name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def output_of(self, scale: Scale, name: str) -> Path | None:
        """The file holding a contender's consolidated figures, if it has one."""
        if name.startswith("floor") or name.startswith("check"):
            return None
        if name.startswith("baocao"):
            if self.capability is None:
                return None
            return self.out_dir(scale) / (f"{name}.xlsx" if self.capability == "report" else f"{name}.csv")
        return self.out_dir(scale) / f"{name}.xlsx"

    def run(self, scale: Scale, name: str) -> tuple[Run, str]:
        logs = self.work / "logs" / scale.name
        logs.mkdir(parents=True, exist_ok=True)
        log = logs / f"{name}.log"
        inbox = scale.corpus / "inbox"
        if name.startswith("floor"):
            threads = name.removeprefix("floor-").removesuffix("t")
            return timed([str(self.args.floor), "--threads", threads, str(inbox)], log)
        if name.startswith("baocao"):
            return self.run_baocao(scale, name, log)
        if name.startswith("check"):
            return self.run_check(scale, name, log)
        script = self.root / "bench" / f"baseline_{name}.py"
        cmd = [
            sys.executable,
            str(script),
            "--form",
            str(self.args.form),
            "--period",
            self.args.period,
            "--out",
            str(self.output_of(scale, name)),
            str(inbox),
        ]
        return timed(cmd, log)

    def fresh_workspace(self, scale: Scale, name: str) -> Path:
        """A copy of the scale's corpus for one run (the copy is not timed),
        its `[ingest] threads` set from the contender's name (`…-2t`)."""
        threads = name.rsplit("-", 1)[-1].removesuffix("t")
        if name.endswith("-1core"):
            threads = str(self.args.threads[-1])
        self.runs_made += 1
        workspace = self.work / "ws" / f"{scale.name}-{name}-{self.runs_made}"
        if workspace.exists():
            shutil.rmtree(workspace)
        shutil.copytree(scale.corpus, workspace)
        set_config(workspace / "baocao.toml", "ingest", {"stable_seconds": "0", "threads": threads})
        os.sync()  # the copy's dirty pages must not be written back during the timed run
        return workspace

    def run_baocao(self, scale: Scale, name: str, log: Path) -> tuple[Run, str]:
        workspace = self.fresh_workspace(scale, name)
        baocao = str(self.args.baocao)
        confine = ["taskset", "-c", "0"] if name.endswith("-1core") else []
        try:
            ingest, stdout = timed(
                [*confine, baocao, "--workspace", str(workspace), "ingest"],
                log.with_name(f"{name}.ingest.log"),
                ok_codes=(0, 1),
            )
            summary = stdout.strip().splitlines()[-1] if stdout.strip() else ""
            total = Run(
                wall=ingest.wall,
                rss_mb=ingest.rss_mb,
                cpu=ingest.cpu,
                ingest_wall=ingest.wall,
                ingest_cpu=ingest.cpu,
                sys=ingest.sys,
                ingest_sys=ingest.sys,
                elsewhere=ingest.elsewhere,
                stolen=ingest.stolen,
            )
            if self.capability is not None:
                out = self.output_of(scale, name)
                if self.capability == "report":
                    cmd = [
                        baocao,
                        "--workspace",
                        str(workspace),
                        "report",
                        "--period",
                        self.args.period,
                        "--out",
                        str(out),
                    ]
                else:
                    cmd = [baocao, "--workspace", str(workspace), "export", "--period", self.args.period]
                    cmd += ["--format", "csv", "--out", str(out)]
                step, _ = timed([*confine, *cmd], log.with_name(f"{name}.{self.capability}.log"))
                total.wall += step.wall
                total.cpu += step.cpu
                total.elsewhere += step.elsewhere
                total.stolen += step.stolen
                total.rss_mb = max(total.rss_mb, step.rss_mb)
            return total, summary
        finally:
            self.retire(workspace)

    def run_check(self, scale: Scale, name: str, log: Path) -> tuple[Run, str]:
        """`baocao check` on every file of the inbox (one process, its threads)."""
        workspace = self.fresh_workspace(scale, name)
        inbox = workspace / "inbox"
        files = sorted(str(p.relative_to(inbox)) for p in inbox.rglob("*.xlsx"))
        try:
            cmd = [str(self.args.baocao), "--workspace", str(workspace), "check", *files]
            run, stdout = timed(cmd, log, cwd=inbox, ok_codes=(0, 1))
            checked = sum(1 for line in stdout.splitlines() if line and not line.startswith(" "))
            return run, f"{checked} files checked"
        finally:
            self.retire(workspace)

    def retire(self, workspace: Path) -> None:
        """Keeps a run's workspace until every scale is measured. Deleting
        thousands of files less than six minutes before another run would
        slow the file creations of that run (see `INODE_AGE_S`): a cost of
        the benchmark's cleaning, not of ingest."""
        self.retired.append(workspace)

    def clear_retired(self) -> int:
        """Deletes the retired workspaces; returns how many there were."""
        count = len(self.retired)
        for workspace in self.retired:
            shutil.rmtree(workspace, ignore_errors=True)
        self.retired.clear()
        return count

    def compare(self, scale: Scale, names: list[str]) -> None:
        outputs = [(n, self.output_of(scale, n)) for n in names]
        outputs = [(n, p) for n, p in outputs if p is not None]
        # pandas first: the reference, since it is the plainest code.
        outputs.sort(key=lambda item: item[0] != "pandas")
        if len(outputs) < 2:
            return
        cmd = [sys.executable, str(self.root / "bench" / "compare.py"), "--form", str(self.args.form)]
        cmd += ["--period", self.args.period, *(f"{n}={p}" for n, p in outputs)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise BenchError(
                f"the contenders do not agree on the consolidated figures of {self.args.period} "
                f"at {scale.name} scale; no timing counts.\n{proc.stderr.strip()}"
            )
        print(f"  {proc.stdout.strip()}")

    # -- the benchmark ------------------------------------------------------

    def measure(self, scale: Scale) -> None:
        scale.returns = sum(1 for _ in (scale.corpus / "inbox").rglob("*.xlsx"))
        names = self.contenders()
        rounds = max(scale.reps, scale.slow_reps)
        print(f"== {scale.name}: {scale.returns} returns, {rounds} round(s)")
        for r in range(rounds):
            order = names[r % len(names) :] + names[: r % len(names)]
            scale.loads.append(os.getloadavg()[0])
            ran = []
            for name in order:
                reps = scale.slow_reps if name in ("pandas", "polars") else scale.reps
                if r >= reps:
                    continue
                run, summary = self.run(scale, name)
                scale.runs.setdefault(name, []).append(run)
                scale.summaries.setdefault(name, summary.strip().splitlines()[-1] if summary.strip() else "")
                ran.append(name)
                print(f"  round {r + 1} {name:10} {run.wall:8.3f} s  {run.rss_mb:7.1f} MB")
            self.compare(scale, ran)


# -- the report --------------------------------------------------------------


def command_output(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return ""


def machine() -> list[tuple[str, str]]:
    model = next(
        (l.split(":", 1)[1].strip() for l in command_output(["lscpu"]).splitlines() if l.startswith("Model name")),
        platform.processor() or "?",
    )
    meminfo = Path("/proc/meminfo").read_text(encoding="utf-8") if Path("/proc/meminfo").exists() else ""
    mem = re.search(r"MemTotal:\s+(\d+) kB", meminfo)
    os_name = "?"
    if Path("/etc/os-release").exists():
        m = re.search(r'PRETTY_NAME="([^"]+)"', Path("/etc/os-release").read_text(encoding="utf-8"))
        os_name = m[1] if m else "?"
    return [
        ("cores (`nproc`)", command_output(["nproc"])),
        ("CPU (`lscpu`)", model),
        ("memory", f"{int(mem[1]) / 1024 / 1024:.1f} GiB" if mem else "?"),
        ("system", f"{os_name}, Linux {platform.release()}"),
    ]


def versions(args: argparse.Namespace) -> list[tuple[str, str]]:
    from importlib import metadata

    rows = [
        ("baocao", command_output([str(args.baocao), "--version"])),
        ("baocao binary sha256", command_output(["sha256sum", str(args.baocao)]).split(" ")[0][:16]),
        ("commit", command_output(["git", "-C", str(args.root), "describe", "--always", "--dirty"])),
        ("rustc", command_output(["rustc", "--version"])),
        ("Python", platform.python_version()),
    ]
    for package in ("pandas", "openpyxl", "polars", "fastexcel", "xlsxwriter", "numpy"):
        try:
            rows.append((package, metadata.version(package)))
        except metadata.PackageNotFoundError:
            rows.append((package, "not installed"))
    return rows


def fmt(seconds: float) -> str:
    return f"{seconds:.3f}" if seconds < 10 else f"{seconds:.1f}"


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.1f}×" if a and b else "–"


def faster(other: float | None, ours: float | None) -> str:
    """How much faster `ours` is than `other` (or slower, when it is)."""
    if not other or not ours:
        return "–"
    return f"{other / ours:.1f}× faster" if other >= ours else f"{ours / other:.1f}× slower"


def write_results(path: Path, bench: Bench, scales: list[Scale], started: dt.datetime, elapsed: float) -> None:
    args = bench.args
    threads = args.threads
    lines = [
        "# Benchmark results",
        "",
        (
            f"Generated by `bench/run.sh` on {started:%Y-%m-%d %H:%M} UTC in {elapsed / 60:.1f} min of runs; "
            "do not edit by hand — run the script again."
        ),
        "",
        (
            "The job: read every district return of a year (form 01/PCMD-H, synthetic corpus from `baocao synth`), "
            "check it, and write the consolidated provincial workbook (01/PCMD-T) for the year "
            f"`{args.period}`. Contenders run interleaved on the same files (warm page cache); wall time is end to "
            "end (baocao: `ingest` into a fresh copy of the synth workspace, then "
            f"`{bench.capability or 'nothing'}`; Python: the whole script, start-up and imports included). "
            "Peak memory is the largest resident set of the contender's processes (`/usr/bin/time -v`). "
            "The floor only inflates and XML-tokenises the parts a reader needs (workbook, relationships, "
            "shared strings, sheets `Bieu01` and `Xa`) and extracts nothing."
        ),
        "",
    ]
    if bench.capability is None:
        lines += [
            (
                "**baocao has neither `report` nor `export` in this build**: its figures could not be checked "
                "against the baselines, so its rows time `ingest` alone and no end-to-end ratio is given."
            ),
            "",
        ]
    elif bench.capability == "export":
        lines += [
            (
                "baocao has no `report` command in this build: its figures come from `export --format csv`, "
                "and its end-to-end time is `ingest` + `export`."
            ),
            "",
        ]
    lines += ["## Machine", "", "| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in machine()]
    lines += ["", "## Versions", "", "| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in versions(args)]

    for scale in scales:
        lines += [
            "",
            f"## {scale.name.capitalize()} scale: {scale.returns} returns",
            "",
            f"Corpus: `baocao synth {scale.corpus_args}`. "
            f"Repetitions: {scale.reps} (floor, baocao), {scale.slow_reps} (pandas, polars). "
            "The consolidated province figures of every round agreed between "
            + ", ".join(n for n in bench.contenders() if bench.output_of(scale, n) is not None)
            + " (`bench/compare.py`).",
            "",
            (
                f"Load average (1 min) at the start of the rounds: {min(scale.loads):.2f}–{max(scale.loads):.2f} "
                "(anything well above 0 means other work shared the machine's cores)."
            ),
            "",
            "| contender | runs | median s | min–max s | CPU s (median) | peak MB | returns/s |",
            "|---|---|---|---|---|---|---|",
        ]
        med: dict[str, float] = {}
        ingest_med: dict[str, float] = {}
        peak: dict[str, float] = {}
        for name in bench.contenders():
            runs = scale.runs.get(name, [])
            if not runs:
                continue
            walls = [r.wall for r in runs]
            med[name] = statistics.median(walls)
            peak[name] = max(r.rss_mb for r in runs)
            if runs[0].ingest_wall is not None:
                ingest_med[name] = statistics.median(r.ingest_wall for r in runs)
            label = name if not name.startswith("baocao") or bench.capability else f"{name} (ingest only)"
            lines.append(
                f"| {label} | {len(runs)} | {fmt(med[name])} | {fmt(min(walls))}–{fmt(max(walls))} | "
                f"{fmt(statistics.median(r.cpu for r in runs))} | {peak[name]:.0f} | "
                f"{scale.returns / med[name]:,.0f} |"
            )
        for name in bench.contenders():
            if name in ingest_med and bench.capability:
                lines.append(
                    f"| ↳ {name} ingest alone | {len(scale.runs[name])} | {fmt(ingest_med[name])} | | | | "
                    f"{scale.returns / ingest_med[name]:,.0f} |"
                )
        lines += ["", "What each contender said (first round):", ""]
        lines += [f"- {name}: `{text}`" for name, text in scale.summaries.items() if text]

        lines += [
            "",
            "Ratios (medians; \"× faster\" = the other's time ÷ baocao's):",
            "",
            "| threads | baocao vs pandas | baocao vs polars | baocao ingest ÷ floor |",
            "|---|---|---|---|",
        ]
        for t in threads:
            b, f = f"baocao-{t}t", f"floor-{t}t"
            end_to_end = bench.capability is not None
            lines.append(
                f"| {t} | {faster(med.get('pandas'), med.get(b)) if end_to_end else '–'} | "
                f"{faster(med.get('polars'), med.get(b)) if end_to_end else '–'} | "
                f"{ratio(ingest_med.get(b), med.get(f))} |"
            )
        cpu = {n: statistics.median(r.cpu for r in runs) for n, runs in scale.runs.items() if runs}
        ingest_cpu = {
            n: statistics.median(r.ingest_cpu for r in runs)
            for n, runs in scale.runs.items()
            if runs and runs[0].ingest_cpu is not None
        }
        b1, f1 = f"baocao-{threads[0]}t", f"floor-{threads[0]}t"
        if bench.capability and b1 in cpu:
            lines += [
                "",
                (
                    f"By CPU time (user + system, median; less sensitive to other work on the machine), {b1} is "
                    f"{faster(cpu.get('pandas'), cpu.get(b1))} than pandas and {faster(cpu.get('polars'), cpu.get(b1))} "
                    f"than polars; its ingest takes {ratio(ingest_cpu.get(b1), cpu.get(f1))} the floor's CPU time."
                ),
            ]
        if len(threads) >= 2:
            lo, hi = threads[0], threads[-1]
            lines.append("")
            lines.append(
                f"Scaling {lo}→{hi} threads: baocao {ratio(med.get(f'baocao-{lo}t'), med.get(f'baocao-{hi}t'))}, "
                f"baocao ingest {ratio(ingest_med.get(f'baocao-{lo}t'), ingest_med.get(f'baocao-{hi}t'))}, "
                f"floor {ratio(med.get(f'floor-{lo}t'), med.get(f'floor-{hi}t'))}."
            )
            if "baocao-1core" in med:
                lines.append(
                    f"Scaling 1→{hi} cores (baocao on `threads = {hi}`, confined to one core, then free): "
                    f"{ratio(med.get('baocao-1core'), med.get(f'baocao-{hi}t'))}, "
                    f"ingest {ratio(ingest_med.get('baocao-1core'), ingest_med.get(f'baocao-{hi}t'))}."
                )
                lines.append(elsewhere_line(scale, ["baocao-1core", f"baocao-{hi}t"]))
        cpu_of = dict(cpu)
        cpu_of.update({("ingest", n): v for n, v in ingest_cpu.items()})
        # The kernel's part of the ingest's CPU (files written, folders made,
        # renames, page faults): work the floor, which writes nothing, has not.
        cpu_of.update(
            {
                ("ingest user", n): statistics.median(r.ingest_cpu - r.ingest_sys for r in runs)
                for n, runs in scale.runs.items()
                if runs and runs[0].ingest_sys is not None
            }
        )
        lines += targets(scale, bench, med, ingest_med, peak, cpu_of)
    lines += profile_section(args.root)
    lines += [
        "",
        "## How to run",
        "",
        (
            "`bash bench/run.sh` (national, mid and province scale; `--tiny` for a 36-return check of the script, "
            "`--help` for the options). Logs of every command: `bench/work/logs/`; outputs: `bench/work/out/`."
        ),
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")


def profile_section(root: Path) -> list[str]:
    """Where the time goes: `bench/PROFILE.md`, written by hand from a
    profile (it names its date and build), quoted as it stands."""
    path = root / "bench" / "PROFILE.md"
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8").strip()
    return ["", "## Where the time goes (`bench/PROFILE.md`, written by hand from a profile)", "", text]


def targets(scale: Scale, bench: Bench, med: dict, ingest_med: dict, peak: dict, cpu: dict) -> list[str]:
    """Issue 12's targets, checked on this scale's figures (2 threads)."""
    t_lo, t_hi = bench.args.threads[0], bench.args.threads[-1]
    b, f = f"baocao-{t_hi}t", f"floor-{t_hi}t"
    if bench.capability is None or b not in med or scale.name == "tiny":
        return []

    def row(what: str, value: float | None, target: str, ok: bool | None) -> str:
        shown = "–" if value is None else f"{value:.2f}"
        verdict = "–" if ok is None else ("met" if ok else "**not met**")
        return f"| {what} | {shown} | {target} | {verdict} |"

    def ratio_of(a: float | None, b_: float | None) -> float | None:
        return a / b_ if a and b_ else None

    vs_polars = ratio_of(med.get("polars"), med.get(b))
    check = f"check-{t_hi}t"
    check_vs_polars = ratio_of(med.get("polars"), med.get(check))
    b_lo = f"baocao-{t_lo}t"
    ingest_cpu_to_floor = ratio_of(cpu.get(("ingest", b_lo)), cpu.get(f"floor-{t_lo}t"))
    scaling = ratio_of(med.get(b_lo), med.get(b))
    core_scaling = ratio_of(med.get("baocao-1core"), med.get(b))
    # The issue sets the pace against polars at every scale, and the rest
    # ("national year under 6 s …; ingest CPU within 3× the floor's; 1 → 2
    # threads at least 1.8×; peak memory under 500 MB") for the national
    # year: elsewhere those rows are figures, not verdicts.
    national = scale.name == "national"

    def national_target(target: str) -> str:
        return target if national else f"– ({target} for the national year)"

    out = [
        "",
        f"Targets of issue 12 at this scale (baocao on {t_hi} threads):",
        "",
        "| what | measured | target | |",
        "|---|---|---|---|",
        row(
            "× faster than polars + fastexcel (ingest + report)",
            vs_polars,
            "≥ 2",
            None if vs_polars is None else vs_polars >= 2,
        ),
        row("× faster than polars + fastexcel (`check`, like for like)", check_vs_polars, "–", None),
        row(
            f"ingest CPU ÷ floor CPU ({t_lo} thread)",
            ingest_cpu_to_floor,
            national_target("≤ 3"),
            None if ingest_cpu_to_floor is None or not national else ingest_cpu_to_floor <= 3,
        ),
        row(
            f"↳ its user-space part alone ÷ floor CPU ({t_lo} thread; the rest is the kernel's work on the files it writes)",
            ratio_of(cpu.get(("ingest user", b_lo)), cpu.get(f"floor-{t_lo}t")),
            "–",
            None,
        ),
        row(
            f"speed-up `threads = {t_lo}` → `{t_hi}` (each stage's pool; {t_lo} already uses more than one core)",
            scaling,
            "–",
            None,
        ),
        row(
            f"speed-up 1 → {t_hi} cores (`threads = {t_hi}`, confined to one core by `taskset`, then free)",
            core_scaling,
            national_target("≥ 1.8"),
            None if core_scaling is None or not national else core_scaling >= 1.8,
        ),
    ]
    if national:
        out += [
            row("wall time, s (ingest + report)", med[b], "< 6", med[b] < 6),
            row("peak memory, MB", peak[b], "< 500", peak[b] < 500),
        ]
    return out


def elsewhere_line(scale: Scale, names: list[str]) -> str:
    """What the rest of the machine did while `names` ran (medians): the
    kernel's writeback, interrupts and other processes share the cores
    with a free run, while a run confined to one core leaves them the
    other; and what the hypervisor took."""
    parts = []
    for name in names:
        runs = scale.runs.get(name) or []
        if runs:
            busy = statistics.median(r.elsewhere for r in runs)
            stolen = statistics.median(r.stolen for r in runs)
            parts.append(f"{name} {busy:.2f} s busy elsewhere, {stolen:.2f} s stolen")
    return (
        "While they ran, the rest of the machine (the kernel's writeback and interrupts, other processes; "
        "/proc/stat less the run's own CPU) and the hypervisor (steal), medians: " + "; ".join(parts) + "."
    )


def parse_scale(text: str) -> Scale:
    """NAME:CORPUS_DIR:REPS[:SLOW_REPS[:SYNTH ARGS]]"""
    parts = text.split(":", 4)
    if len(parts) < 3:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME:CORPUS_DIR:REPS[:SLOW_REPS[:SYNTH_ARGS]]")
    reps = int(parts[2])
    slow = int(parts[3]) if len(parts) > 3 and parts[3] else reps
    return Scale(
        name=parts[0], corpus=Path(parts[1]), reps=reps, slow_reps=slow, corpus_args=parts[4] if len(parts) > 4 else ""
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True, help="the repository")
    parser.add_argument("--baocao", type=Path, required=True)
    parser.add_argument("--floor", type=Path, required=True)
    parser.add_argument("--form", type=Path, required=True)
    parser.add_argument("--period", default="2015")
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--results", type=Path, required=True)
    parser.add_argument("--threads", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2])
    parser.add_argument("--scale", type=parse_scale, action="append", required=True)
    parser.add_argument(
        "--deleted-before", type=int, default=0, help="files and folders run.sh deleted just before (earlier corpora)"
    )
    args = parser.parse_args()
    if not Path(TIME).exists():
        print(f"bench: {TIME} is missing (bash bench/setup.sh installs it)", file=sys.stderr)
        return 2

    bench = Bench(args)
    if bench.capability is None:
        print(
            "bench: this baocao build has neither `report` nor `export`: baocao's figures cannot be checked; "
            "its rows will time `ingest` alone and be left out of the agreement check",
            file=sys.stderr,
        )
    elif bench.capability == "export":
        print("bench: this baocao build has no `report`: using `export --format csv` for its figures", file=sys.stderr)
    let_inodes_age(args.deleted_before)
    started = dt.datetime.now(dt.UTC)
    clock = time.perf_counter()
    try:
        for scale in args.scale:
            bench.measure(scale)
    except BenchError as e:
        print(f"bench: STOPPED: {e}", file=sys.stderr)
        return 1
    finally:
        bench.clear_retired()
    write_results(args.results, bench, args.scale, started, time.perf_counter() - clock)
    (args.work / "results.json").write_text(
        json.dumps(
            {s.name: {n: [r.__dict__ for r in runs] for n, runs in s.runs.items()} for s in args.scale}, indent=1
        ),
        encoding="utf-8",
    )
    print(f"bench: wrote {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
