// A child process started by a test: stdout and stderr go to a log file; it is killed (SIGKILL)
// when the test process dies (PR_SET_PDEATHSIG) or when the Process object goes away. Processes
// are always stopped by their PID, never by name.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace dfs::testing {

class Process {
 public:
  Process() = default;
  ~Process() { Kill(); }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  absl::Status Start(const std::vector<std::string>& argv, const std::string& log_path);
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  // Sends `signal`; for SIGKILL/SIGTERM also waits for the process to exit and returns its exit
  // code (128+signal if a signal ended it; -1 if it had to be killed, or for other signals).
  int Signal(int signal);
  void Kill() { Signal(9); }
  // Waits up to `timeout_ms` for exit; returns the exit code (or 128+signal).
  absl::StatusOr<int> Wait(int timeout_ms);

 private:
  pid_t pid_ = -1;
};

// The directory holding the dfs binaries (DFS_BIN_DIR, else this test binary's directory).
std::string BinDir();

// Runs a command to completion (bounded by `timeout_ms`), capturing stdout and stderr.
struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};
CommandResult RunCommand(const std::vector<std::string>& argv, int timeout_ms,
                         const std::string& stdin_path = "");

}  // namespace dfs::testing
