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

absl::Status WaitForFuseMount(const std::string& mountpoint, Process& daemon,
                              const std::string& name, const std::function<std::string()>& log) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    if (IsFuseMounted(mountpoint)) return absl::OkStatus();
    if (auto exited = daemon.Wait(0); exited.ok()) {
      return absl::InternalError(
          absl::StrCat(name, " exited with ", *exited, " before mounting:\n", log()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return absl::DeadlineExceededError(absl::StrCat(name, " did not mount in 20 s:\n", log()));
}

absl::Status UnmountFuse(const std::string& mountpoint, Process& daemon, const std::string& name,
                         const std::function<std::string()>& log) {
  const std::string fusermount = FindProgram("fusermount3");
  absl::Status result;
  if (IsFuseMounted(mountpoint)) {
    CommandResult r = RunCommand({fusermount, "-u", mountpoint}, 30000);
    if (r.exit_code != 0) {
      // Still in use (a test failed with files open): detach now, the kernel finishes later.
      result = absl::InternalError(absl::StrCat("fusermount3 -u failed: ", r.err));
      RunCommand({fusermount, "-u", "-z", mountpoint}, 30000);
    }
  }
  if (daemon.running()) {
    absl::StatusOr<int> code = daemon.Wait(20000);
    if (!code.ok()) {
      daemon.Kill();
      if (result.ok()) result = absl::InternalError(name + " did not exit after unmount; killed");
    } else if (*code != 0 && result.ok()) {
      result = absl::InternalError(absl::StrCat(name, " exited with ", *code, ":\n", log()));
    }
  }
  // A killed daemon leaves a dead mount ("transport endpoint is not connected").
  if (IsFuseMounted(mountpoint)) RunCommand({fusermount, "-u", "-z", mountpoint}, 30000);
  return result;
}

FuseMount::~FuseMount() { (void)Unmount(); }

absl::Status FuseMount::Mount(const std::string& masters,
                              const std::vector<std::string>& extra_flags,
                              const std::vector<std::string>& exec_prefix) {
  if (process_.running()) return absl::FailedPreconditionError("already mounted");
  mountpoint_ = dir_.path() + "/mnt";
  log_path_ = dir_.path() + "/dfs-fuse.log";
  ::mkdir(mountpoint_.c_str(), 0755);
  std::vector<std::string> argv = exec_prefix;
  argv.insert(argv.end(), {BinDir() + "/dfs-fuse", "-f", "--masters=" + masters,
                           "--http_listen=127.0.0.1:0", "--http_port_file=" + HttpPortFile()});
  argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
  argv.push_back(mountpoint_);
  if (absl::Status status = process_.Start(argv, log_path_); !status.ok()) return status;
  absl::Status status = WaitForFuseMount(mountpoint_, process_, "dfs-fuse", [this] { return Log(); });
  if (!status.ok()) (void)Unmount();
  return status;
}

bool FuseMount::mounted() const { return !mountpoint_.empty() && IsFuseMounted(mountpoint_); }

absl::Status FuseMount::Unmount() {
  if (mountpoint_.empty()) return absl::OkStatus();
  return UnmountFuse(mountpoint_, process_, "dfs-fuse", [this] { return Log(); });
}

std::string FuseMount::Log() const { return ReadTail(log_path_, 6000); }

std::string FuseMount::HttpPortFile() const { return dir_.path() + "/dfs-fuse.http"; }

std::string FuseMount::http_address() const {
  std::ifstream in(HttpPortFile());
  std::string address;
  std::getline(in, address);
  return address;
}

}  // namespace dfs::testing
