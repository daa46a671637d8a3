// The libfuse edge of dfs-fuse: mounts, serves the kernel's requests through libfuse's
// low-level (inode) API with a multi-threaded session loop, and unmounts.
//
// Each request handler unpacks the kernel's arguments, calls fuse/filesystem.h, and answers
// with attributes and timeouts or with the errno of the failed status (common/errors.h
// ErrnoOf) — the only place statuses become errno values. dfs inode numbers are the kernel's
// node ids (the root is 1 = FUSE_ROOT_ID).
//
// Kernel settings chosen here: no writeback cache (the kernel would decide O_APPEND offsets and
// delay writes past close), max_write 1 MiB, atomic O_TRUNC, cached symlinks, readdirplus,
// parallel directory operations and asynchronous reads; attribute and entry timeouts from the
// options. Invalidations this mount needs while serving a request are sent from a separate
// thread, because notifying the kernel about an inode whose request is in flight can deadlock.
//
// Unmounting (fusermount3 -u) ends the loop even while requests wait for an unreachable
// cluster: the kernel aborts the connection and the workers' answers are dropped.
#pragma once

#include "fuse/options.h"

namespace dfs::fuse {

// Runs dfs-fuse to completion: validates the cluster configuration, mounts, goes to the
// background unless options.foreground, serves until unmounted or signalled (SIGINT, SIGTERM,
// SIGHUP unmount). Returns the process exit code: 0 after a clean unmount, 1 on a runtime
// error, 2 on a configuration error (as the CLI does). Call once per process, from main().
int RunFuse(const FuseOptions& options);

}  // namespace dfs::fuse
