#!/usr/bin/env python3
"""Per-phase FUSE operation counts and latencies of the small-file workload.

    tools/bench/fuse_phases.py MOUNTPOINT METRICS_PORT N

MOUNTPOINT is a dfs-fuse mount started with --http_listen=127.0.0.1:METRICS_PORT (for example
from tools/bench/lib.sh with fuse_mount_flags). Runs N creates (4 KiB, close), stats, reads,
renames, unlinks, mkdirs, rmdirs and fsync'd creates in MOUNTPOINT/p, and after each phase
prints its rate and, per FUSE operation and client write stage, how many there were per file
and their mean milliseconds (dfs_fuse_op_duration_seconds, dfs_client_write_stage_seconds).
"""
import os
import re
import sys
import time
import urllib.request

mount, port, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
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


def phase(name, op):
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
