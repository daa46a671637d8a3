// The commands of `dfs` (put, get, ls, cat, mkdir, rm, trash, mv, stat, du), run against a
// Client.
// Results go to `out_fd`, one line per error to `err_fd` ("dfs: <cmd>: <path>: <message>").
// Not thread-safe (it installs process-wide signal handling for get's temp files).
#pragma once

#include <sys/types.h>

#include "client/client.h"
#include "tools/cli/args.h"

namespace dfs::cli {

struct CommandEnv {
  int out_fd = 1;
  int err_fd = 2;
  bool stderr_is_tty = false;  // progress bars only on a terminal
  mode_t umask = 022;          // applied to the modes of new files and directories
  // rm moves into the trash (client/trash.h) unless --skip-trash. The dfs binary turns it on;
  // off by default so that embedders and tests delete at once unless they ask.
  bool use_trash = false;
  int64_t now_ns = 0;  // the time trash checkpoints are named after; 0: the clock's
};

// Runs a parsed command (not "help"). Returns the exit status: 0 on success, 1 if any operation
// failed. Commands with several operands carry on after a failure, like coreutils.
int RunCommand(const Invocation& invocation, Client& client, const CommandEnv& env);

// Makes SIGINT, SIGTERM and SIGHUP remove the temp file of a get in progress before the process
// dies, so an interrupted get leaves nothing behind. Call once from main().
void InstallSignalCleanup();

}  // namespace dfs::cli
