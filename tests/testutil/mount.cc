#include "tests/testutil/mount.h"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace dfs::testing {
namespace {

// /proc/self/mountinfo writes space, tab, newline and backslash in paths as octal escapes.
std::string UnescapeMountPath(const std::string& field) {
  std::string out;
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size()) {
      int value = 0;
      bool octal = true;
      for (size_t k = 1; k <= 3; ++k) {
        if (i + k >= field.size() || field[i + k] < '0' || field[i + k] > '7') octal = false;
        else value = value * 8 + (field[i + k] - '0');
      }
      if (octal) {
        out.push_back(static_cast<char>(value));
        i += 3;
        continue;
      }
    }
    out.push_back(field[i]);
  }
  return out;
}

std::string ReadTail(const std::string& path, size_t bytes) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  return text.size() <= bytes ? text : text.substr(text.size() - bytes);
}

}  // namespace

bool IsFuseMounted(const std::string& path) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    // "36 35 0:40 / /mnt/x rw,... - fuse.dfs dfs:... rw,..."
    std::vector<std::string> fields = absl::StrSplit(line, ' ');
    if (fields.size() < 5 || UnescapeMountPath(fields[4]) != path) continue;
    size_t dash = line.find(" - ");
    if (dash != std::string::npos && line.compare(dash + 3, 4, "fuse") == 0) return true;
  }
  return false;
}

std::string FindProgram(const std::string& name) {
  std::vector<std::string> dirs;
  if (const char* env = std::getenv("PATH")) dirs = absl::StrSplit(env, ':', absl::SkipEmpty());
  for (const char* dir : {"/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"}) {
    dirs.push_back(dir);
  }
  for (const std::string& dir : dirs) {
    std::string candidate = absl::StrCat(dir, "/", name);
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

FuseMount::~FuseMount() { (void)Unmount(); }

absl::Status FuseMount::Mount(const std::string& masters,
                              const std::vector<std::string>& extra_flags) {
  if (process_.running()) return absl::FailedPreconditionError("already mounted");
  mountpoint_ = dir_.path() + "/mnt";
  log_path_ = dir_.path() + "/dfs-fuse.log";
  ::mkdir(mountpoint_.c_str(), 0755);
  std::vector<std::string> argv = {BinDir() + "/dfs-fuse", "-f", "--masters=" + masters};
  argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
  argv.push_back(mountpoint_);
  if (absl::Status status = process_.Start(argv, log_path_); !status.ok()) return status;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    if (IsFuseMounted(mountpoint_)) return absl::OkStatus();
    if (auto exited = process_.Wait(0); exited.ok()) {
      return absl::InternalError(
          absl::StrCat("dfs-fuse exited with ", *exited, " before mounting:\n", Log()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  (void)Unmount();
  return absl::DeadlineExceededError(absl::StrCat("dfs-fuse did not mount in 20 s:\n", Log()));
}

bool FuseMount::mounted() const { return !mountpoint_.empty() && IsFuseMounted(mountpoint_); }

absl::Status FuseMount::Unmount() {
  if (mountpoint_.empty()) return absl::OkStatus();
  const std::string fusermount = FindProgram("fusermount3");
  absl::Status result;
  if (mounted()) {
    CommandResult r = RunCommand({fusermount, "-u", mountpoint_}, 30000);
    if (r.exit_code != 0) {
      // Still in use (a test failed with files open): detach now, the kernel finishes later.
      result = absl::InternalError(absl::StrCat("fusermount3 -u failed: ", r.err));
      RunCommand({fusermount, "-u", "-z", mountpoint_}, 30000);
    }
  }
  if (process_.running()) {
    absl::StatusOr<int> code = process_.Wait(20000);
    if (!code.ok()) {
      process_.Kill();
      if (result.ok()) result = absl::InternalError("dfs-fuse did not exit after unmount; killed");
    } else if (*code != 0 && result.ok()) {
      result = absl::InternalError(absl::StrCat("dfs-fuse exited with ", *code, ":\n", Log()));
    }
  }
  // A killed dfs-fuse leaves a dead mount ("transport endpoint is not connected").
  if (mounted()) RunCommand({fusermount, "-u", "-z", mountpoint_}, 30000);
  return result;
}

std::string FuseMount::Log() const { return ReadTail(log_path_, 6000); }

}  // namespace dfs::testing
