#include "tests/testutil/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"

namespace dfs::testing {
namespace {

pid_t Spawn(const std::vector<std::string>& argv, const std::string& stdin_path,
            const std::string& out_path, const std::string& err_path) {
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid != 0) return pid;
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(127);
  int in = ::open(stdin_path.empty() ? "/dev/null" : stdin_path.c_str(), O_RDONLY);
  int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (in < 0 || out < 0 || err < 0) ::_exit(127);
  ::dup2(in, 0);
  ::dup2(out, 1);
  ::dup2(err, 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  ::execv(args[0], args.data());
  ::_exit(127);
}

int DecodeWaitStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

absl::Status Process::Start(const std::vector<std::string>& argv, const std::string& log_path) {
  if (running()) return absl::FailedPreconditionError("already running");
  pid_ = Spawn(argv, "", log_path, log_path);
  if (pid_ < 0) return absl::InternalError("fork failed");
  return absl::OkStatus();
}

int Process::Signal(int signal) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, signal);
  if (signal != SIGKILL && signal != SIGTERM) return -1;
  auto code = Wait(signal == SIGKILL ? 10000 : 20000);
  if (code.ok()) return *code;
  ::kill(pid_, SIGKILL);
  int status;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return -1;
}

absl::StatusOr<int> Process::Wait(int timeout_ms) {
  if (pid_ <= 0) return absl::FailedPreconditionError("not running");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      return DecodeWaitStatus(status);
    }
    if (std::chrono::steady_clock::now() > deadline) return absl::DeadlineExceededError("still running");
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::string BinDir() {
  if (const char* dir = std::getenv("DFS_BIN_DIR")) return dir;
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return ".";
  std::string self(buf, n);
  return self.substr(0, self.rfind('/'));
}

CommandResult RunCommand(const std::vector<std::string>& argv, int timeout_ms,
                         const std::string& stdin_path) {
  static int counter = 0;
  std::string base = absl::StrCat("/tmp/dfs-cmd-", ::getpid(), "-", counter++);
  CommandResult result;
  pid_t pid = Spawn(argv, stdin_path, base + ".out", base + ".err");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      result.exit_code = DecodeWaitStatus(status);
      break;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      result.exit_code = -1;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  result.out = Slurp(base + ".out");
  result.err = Slurp(base + ".err");
  ::unlink((base + ".out").c_str());
  ::unlink((base + ".err").c_str());
  return result;
}

}  // namespace dfs::testing
