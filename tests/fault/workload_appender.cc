// dfs-fault-appender: one client of the append workload (tests/fault/workload.h), as a process of
// its own: it appends records (checker_files.h's AppendRecord) to files in a dfs-fuse mount, each
// with one write(2) on an O_APPEND descriptor and then fsync, recording every attempt in a
// history, until --stop_file exists; then it closes everything and saves the history.
//
//   dfs-fault-appender --mount=MOUNT --dir=/fault/appends --files=2 --process=P --seed=S
//                      --stop_file=PATH --history=OUT [--max_think_ms=20]
//
// Files are MOUNT/DIR/a0.. ; the history names them by their path in dfs, DIR/a0..
//
// A process rather than threads of the test: a test that forks (iptables, nsenter, restarts)
// while it holds descriptors of a FUSE file makes every child's exec close them, and each close
// is a FUSE flush, which commits buffered data and blocks for as long as the cluster does not
// answer. The history's times come from the same monotonic clock as the test's.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/random.h"
#include "tests/fault/checker_files.h"
#include "tests/fault/history.h"

namespace {

bool Flag(const char* arg, const char* name, std::string* value) {
  std::string prefix = absl::StrCat("--", name, "=");
  if (std::strncmp(arg, prefix.c_str(), prefix.size()) != 0) return false;
  *value = arg + prefix.size();
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mount, dir, files_text, process_text, seed_text, stop_file, history_path,
      think_text = "20";
  for (int i = 1; i < argc; ++i) {
    if (!Flag(argv[i], "mount", &mount) && !Flag(argv[i], "dir", &dir) &&
        !Flag(argv[i], "files", &files_text) && !Flag(argv[i], "process", &process_text) &&
        !Flag(argv[i], "seed", &seed_text) && !Flag(argv[i], "stop_file", &stop_file) &&
        !Flag(argv[i], "history", &history_path) && !Flag(argv[i], "max_think_ms", &think_text)) {
      std::fprintf(stderr, "dfs-fault-appender: unknown argument %s\n", argv[i]);
      return 2;
    }
  }
  int files = 0, process = 0, think_ms = 0;
  uint64_t seed = 0;
  if (mount.empty() || dir.empty() || stop_file.empty() || history_path.empty() ||
      !absl::SimpleAtoi(files_text, &files) || files < 1 ||
      !absl::SimpleAtoi(process_text, &process) || !absl::SimpleAtoi(seed_text, &seed) ||
      !absl::SimpleAtoi(think_text, &think_ms)) {
    std::fprintf(
        stderr,
        "usage: dfs-fault-appender --mount=M --dir=D --files=N --process=P --seed=S --stop_file=F "
        "--history=OUT [--max_think_ms=MS]\n");
    return 2;
  }
  dfs::Random random(seed);
  dfs::fault::History history;
  std::vector<int> fds(files, -1);
  int64_t seq = 0;
  struct stat st;
  while (::stat(stop_file.c_str(), &st) != 0) {
    const int file = static_cast<int>(random.Uniform(files));
    const std::string key = absl::StrCat(dir, "/a", file);
    const std::string record = dfs::fault::AppendRecord(process, seq++, random.Range(64, 4096));
    size_t op = history.Invoke(process, "append", key, record);
    int& fd = fds[file];
    if (fd < 0) fd = ::open((mount + key).c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0) {
      // Nothing was written through this call.
      history.Complete(op, dfs::fault::Outcome::kFail,
                       absl::StrCat("open: ", std::strerror(errno)));
    } else {
      ssize_t n = ::write(fd, record.data(), record.size());
      if (n == static_cast<ssize_t>(record.size()) && ::fsync(fd) == 0) {
        history.Complete(op, dfs::fault::Outcome::kOk);
      } else {
        // The record may be committed already, or still in the mount's buffer (close commits it).
        const int err = errno;
        history.Complete(op, dfs::fault::Outcome::kUnknown,
                         absl::StrCat(n < 0 ? "write: " : "fsync: ", std::strerror(err)));
        ::close(fd);
        fd = -1;
      }
    }
    if (think_ms > 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(random.Uniform(think_ms + 1)));
  }
  for (int fd : fds) {
    if (fd >= 0) ::close(fd);
  }
  absl::Status saved = dfs::fault::SaveHistory(history_path, history.Operations(),
                                               {absl::StrCat("appender ", process)});
  if (!saved.ok()) {
    std::fprintf(stderr, "dfs-fault-appender: %s\n", saved.ToString().c_str());
    return 1;
  }
  return 0;
}
