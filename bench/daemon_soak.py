#!/usr/bin/env python3
"""Soak test of `baocao daemon` (issue 5, "done when").

Runs the daemon on a synthetic workspace for DURATION seconds while a stream
of files lands in its inbox (a few per second: good returns, returns with
planted faults, unreadable junk, and duplicates re-sent under other names),
samples the daemon's memory (VmRSS) every few seconds, then stops it with
SIGTERM and compares its database with a one-shot `baocao ingest` of the
same files in a fresh workspace.

    python3 bench/daemon_soak.py [--duration 600] [--rate 3] [--bin target/release/baocao]

Prints the figures; exits 1 when a file is lost or doubled, the databases
disagree, or memory grows.
"""

import argparse
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def sh(*args, **kw):
    return subprocess.run([str(a) for a in args], check=True, capture_output=True, text=True, **kw)


def rss_kib(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def configure(ws: Path, extra: str = ""):
    path = ws / "baocao.toml"
    text = path.read_text()
    text = text.replace("stable_seconds = 5", "stable_seconds = 1").replace("poll_seconds = 60", "poll_seconds = 5")
    path.write_text(text + "\n" + extra + "\n")


def rows(db: Path):
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    subs = {
        sha: (status, unit, period, superseded is None)
        for sha, status, unit, period, superseded in conn.execute(
            "SELECT sha256, status, unit_code, period, superseded_by FROM submissions"
        )
    }
    values = {
        (sha, line): (value, ytd)
        for sha, line, value, ytd in conn.execute(
            "SELECT s.sha256, v.line_code, v.value, v.ytd FROM submission_values v JOIN submissions s ON s.id = v.submission_id"
        )
    }
    findings = {
        (sha, n)
        for sha, n in conn.execute(
            "SELECT s.sha256, COUNT(f.id) FROM submissions s LEFT JOIN findings f ON f.submission_id = s.id GROUP BY s.id"
        )
    }
    dup_receipts = conn.execute("SELECT COUNT(*) FROM receipts WHERE outcome = 'duplicate'").fetchone()[0]
    runs = conn.execute("SELECT trigger_name, command, COUNT(*) FROM runs GROUP BY 1, 2 ORDER BY 1, 2").fetchall()
    conn.close()
    return subs, values, findings, dup_receipts, runs


def main():
    here = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=float, default=600)
    ap.add_argument("--rate", type=float, default=3.0, help="files per second")
    ap.add_argument("--bin", default=str(here / "target/release/baocao"))
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args()
    rng = random.Random(5)
    tmp = Path(tempfile.mkdtemp(prefix="baocao-soak-"))
    total = int(args.duration * args.rate)

    # Corpus: enough distinct returns for the stream, with planted faults.
    corpus = tmp / "corpus"
    months = 36
    units = max(2, (total * 8 // 10) // months + 1)
    sh(args.bin, "synth", "--units", units, "--months", months, "--faults", units * 2, "--out", corpus)
    returns = sorted(corpus.joinpath("inbox").rglob("*.xlsx"), key=lambda p: (p.stat().st_mtime, str(p)))
    stream = []  # (relative name, source path or bytes)
    for p in returns:
        stream.append((str(p.relative_to(corpus / "inbox")), p))
    # Duplicates: about 1 in 10, re-sent under another name, later in the stream.
    for i in range(total // 10):
        src = rng.choice(returns)
        stream.insert(rng.randrange(len(stream) // 2, len(stream)), (f"gui-lai/{i:04d}_{src.name}", src))
    # Junk: about 1 in 50, unreadable bytes named .xlsx (unique content each).
    for i in range(total // 50):
        stream.insert(rng.randrange(len(stream)), (f"rac/hong_{i:04d}.xlsx", os.urandom(2048)))
    stream = stream[:total]

    def workspace(name):
        ws = tmp / name
        sh(args.bin, "init", ws)
        shutil.copy(corpus / "register.csv", ws / "register.csv")
        shutil.copy(corpus / "baocao.toml", ws / "baocao.toml")
        return ws

    ws = workspace("daemon")
    configure(
        ws,
        """
[[daemon.schedule]]
name = "ingest"
cron = "0 * * * * *"
action = "ingest"

[[daemon.schedule]]
name = "report"
cron = "30 */2 * * * *"
action = "report"
period = "latest"

[[daemon.schedule]]
name = "reminder"
cron = "45 */3 * * * *"
action = "remind"
period = "latest"
""",
    )
    log = open(tmp / "daemon.log", "w")
    daemon = subprocess.Popen([args.bin, "--workspace", ws, "daemon"], stdout=subprocess.DEVNULL, stderr=log)
    time.sleep(1.0)
    samples = []
    start = time.time()
    next_sample = start
    for i, (name, src) in enumerate(stream):
        target = ws / "inbox" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(src, bytes):
            target.write_bytes(src)
        else:
            shutil.copy(src, target)  # fresh mtime: the stability rule applies
        due = start + (i + 1) / args.rate
        while time.time() < due:
            if time.time() >= next_sample:
                samples.append((time.time() - start, rss_kib(daemon.pid)))
                next_sample += 5
            time.sleep(min(0.05, max(0.0, due - time.time())))
    # Let it finish: inbox empty (junk is filed to rejected/ too).
    deadline = time.time() + 120
    while time.time() < deadline and any(p.is_file() for p in (ws / "inbox").rglob("*")):
        time.sleep(0.5)
    time.sleep(3)
    samples.append((time.time() - start, rss_kib(daemon.pid)))
    daemon.send_signal(signal.SIGTERM)
    code = daemon.wait(timeout=60)
    log.close()
    left = [p for p in (ws / "inbox").rglob("*") if p.is_file()]

    # One-shot ingest of the same files in the same order.
    one = workspace("oneshot")
    configure(one)
    t0 = time.time()
    for i, (name, src) in enumerate(stream):
        target = one / "inbox" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(src, bytes):
            target.write_bytes(src)
        else:
            shutil.copy(src, target)
        # Same order of arrival: ingest takes files by modification time.
        os.utime(target, (t0 - 3600 + i, t0 - 3600 + i))
    r = subprocess.run([args.bin, "--workspace", one, "ingest"], capture_output=True, text=True)
    if r.returncode not in (0, 1):
        print(r.stderr)
        sys.exit(1)

    d_subs, d_values, d_findings, d_dups, d_runs = rows(ws / "baocao.db")
    o_subs, o_values, o_findings, o_dups, _ = rows(one / "baocao.db")
    unique_files = len({(src if isinstance(src, bytes) else src.read_bytes()) for _, src in stream})
    rss = [kib for _, kib in samples if kib]
    first_half = rss[: len(rss) // 2] or rss
    second_half = rss[len(rss) // 2 :] or rss
    print(f"stream: {len(stream)} files over {args.duration:.0f} s ({args.rate}/s), {unique_files} distinct contents")
    print(f"daemon exit code after SIGTERM: {code}; files left in the inbox: {len(left)}")
    print(f"daemon: {len(d_subs)} submissions, {d_dups} duplicate receipts; one-shot: {len(o_subs)} submissions, {o_dups} duplicate receipts")
    statuses = {}
    for status, *_ in d_subs.values():
        statuses[status] = statuses.get(status, 0) + 1
    print(f"daemon statuses: {statuses}")
    print(f"runs by trigger/command: {d_runs}")
    print(f"RSS KiB: min {min(rss)}, max {max(rss)}, first-half max {max(first_half)}, second-half max {max(second_half)}, last {rss[-1]}")
    print("RSS samples (s, KiB):", " ".join(f"{t:.0f}:{k}" for t, k in samples[:: max(1, len(samples) // 20)]))
    ok = True
    if code != 0 or left:
        ok = False
        print("FAIL: daemon did not stop cleanly or left files")
    if len(d_subs) != unique_files:
        ok = False
        print(f"FAIL: {unique_files} distinct files but {len(d_subs)} submissions")
    if d_subs != o_subs:
        ok = False
        diff = {k for k in set(d_subs) | set(o_subs) if d_subs.get(k) != o_subs.get(k)}
        print(f"FAIL: submissions differ from the one-shot ingest on {len(diff)} files")
    if d_values != o_values:
        ok = False
        print("FAIL: stored values differ from the one-shot ingest")
    if d_findings != o_findings:
        ok = False
        print("FAIL: finding counts differ from the one-shot ingest")
    if max(second_half) > max(first_half) * 1.5 + 20000:
        ok = False
        print("FAIL: memory grew")
    print("OK" if ok else "FAILED", f"(workspace {tmp})")
    if not args.keep and ok:
        shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
