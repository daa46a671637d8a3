#!/usr/bin/env python3
"""Per-phase FUSE operation counts and latencies of the small-file workload.

    tools/bench/fuse_phases.py MOUNTPOINT METRICS_PORT N [NAME=PID ...]

MOUNTPOINT is a dfs-fuse mount started with --http_listen=127.0.0.1:METRICS_PORT (for example
from tools/bench/lib.sh with fuse_mount_flags). Runs N creates (4 KiB, close), stats, reads,
renames, unlinks, mkdirs, rmdirs and fsync'd creates in MOUNTPOINT/p, and after each phase
prints its rate and, per FUSE operation and client write stage, how many there were per file
and their mean milliseconds (dfs_fuse_op_duration_seconds, dfs_client_write_stage_seconds).

Each NAME=PID (e.g. the mount, masters and datanodes of `tools/dfs-cluster up`, whose PIDs are
in DIR/*.pid) adds a line per phase: that process's CPU time (user + system) and context
switches per file, from /proc. On a busy 2-core machine these vary far less from run to run
than the rates do.
"""
import os
import re
import sys
import time
import urllib.request

mount, port, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
watched = [arg.split("=", 1) for arg in sys.argv[4:]]
TICK = os.sysconf("SC_CLK_TCK")
PATTERN = re.compile(
    r'dfs_(?:fuse_op_duration|client_write_stage)_seconds_(sum|count)\{(?:op|stage)="([^"]+)"\} (\S+)')


def metrics():
    values = {}
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
    for line in text.splitlines():
        m = PATTERN.match(line)
        if m:
            values[(m.group(2), m.group(1))] = float(m.group(3))
    return values


def usage():
    """(CPU seconds, context switches) of each watched process, all its threads."""
    values = {}
    for label, pid in watched:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        switches = 0  # per thread only: the living threads' sum
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{task}/status") as f:
                    for line in f:
                        if line.startswith(("voluntary_ctxt", "nonvoluntary_ctxt")):
                            switches += int(line.split()[1])
            except FileNotFoundError:  # the thread ended meanwhile
                pass
        values[label] = ((int(fields[11]) + int(fields[12])) / TICK, switches)
    return values


def phase(name, op):
    used = usage()
    before = metrics()
    start = time.time()
    for i in range(n):
        op(i)
    elapsed = time.time() - start
    after = metrics()
    parts = []
    for key in sorted({k[0] for k in after}):
        count = after.get((key, "count"), 0) - before.get((key, "count"), 0)
        total = after.get((key, "sum"), 0) - before.get((key, "sum"), 0)
        if count:
            parts.append(f"{key} {count / n:.2f}x{1000 * total / count:.2f}ms")
    print(f"{name:11s} {n / elapsed:8.1f}/s  " + "  ".join(parts), flush=True)
    if watched:
        now = usage()
        print(" " * 22 + "  ".join(
            f"{label} {1e6 * (now[label][0] - used[label][0]) / n:.0f}us"
            f"/{(now[label][1] - used[label][1]) / n:.1f}cs" for label, _ in watched), flush=True)


d = mount + "/p"
os.mkdir(d)
data = b"x" * 4096


def create(i, prefix="f", sync=False):
    fd = os.open(f"{d}/{prefix}{i}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    os.write(fd, data)
    if sync:
        os.fsync(fd)
    os.close(fd)


def read(i):
    fd = os.open(f"{d}/f{i}", os.O_RDONLY)
    assert os.read(fd, 8192) == data
    os.close(fd)


phase("create", create)
phase("stat", lambda i: os.stat(f"{d}/f{i}"))
phase("read", read)
phase("rename", lambda i: os.rename(f"{d}/f{i}", f"{d}/r{i}"))
phase("unlink", lambda i: os.unlink(f"{d}/r{i}"))
phase("mkdir", lambda i: os.mkdir(f"{d}/d{i}"))
phase("rmdir", lambda i: os.rmdir(f"{d}/d{i}"))
phase("fsynccreate", lambda i: create(i, "s", True))
