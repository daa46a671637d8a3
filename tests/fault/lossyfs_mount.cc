#include "tests/fault/lossyfs_mount.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/file_util.h"
#include "common/status.h"
#include "tests/testutil/mount.h"

namespace dfs::fault {

using testing::BinDir;
using testing::CommandResult;
using testing::IsFuseMounted;
using testing::RunCommand;

LossyMount::~LossyMount() { (void)Unmount(); }

absl::Status LossyMount::Mount(const std::string& backing, const std::string& mountpoint,
                               LossyNames names) {
  if (process_.running()) return absl::FailedPreconditionError("already mounted");
  DFS_RETURN_IF_ERROR(MakeDirs(mountpoint));
  mountpoint_ = mountpoint;
  log_path_ = backing + ".log";
  DFS_RETURN_IF_ERROR(process_.Start(
      {BinDir() + "/dfs-lossyfs",
       names == LossyNames::kStrict ? "--names=strict" : "--names=journal", backing, mountpoint},
      log_path_));
  absl::Status status =
      testing::WaitForFuseMount(mountpoint_, process_, "dfs-lossyfs", [this] { return Log(); });
  if (!status.ok()) (void)Unmount();
  return status;
}

bool LossyMount::mounted() const { return !mountpoint_.empty() && IsFuseMounted(mountpoint_); }

absl::StatusOr<std::string> LossyMount::Crash() {
  // Through a child process, so that a hung file system costs a bounded wait, not the test.
  CommandResult r = RunCommand(
      {"/bin/sh", "-c", absl::StrCat("echo crash > '", mountpoint_, "/.lossyfs'")}, 60000);
  if (r.exit_code != 0) {
    return absl::InternalError(absl::StrCat("lossyfs crash of ", mountpoint_, " failed (",
                                            r.exit_code, "): ", r.err, "\n", Log()));
  }
  return Stats();
}

absl::StatusOr<std::string> LossyMount::Stats() const {
  CommandResult r = RunCommand({"/bin/cat", mountpoint_ + "/.lossyfs"}, 20000);
  if (r.exit_code != 0) {
    return absl::InternalError(absl::StrCat("cannot read lossyfs counters: ", r.err));
  }
  return std::string(absl::StripAsciiWhitespace(r.out));
}

absl::Status LossyMount::Unmount() {
  if (mountpoint_.empty()) return absl::OkStatus();
  return testing::UnmountFuse(mountpoint_, process_, "dfs-lossyfs", [this] { return Log(); });
}

std::string LossyMount::Log() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  return text.size() <= 3000 ? text : text.substr(text.size() - 3000);
}

int64_t LossyStat(const std::string& stats, const std::string& key) {
  for (absl::string_view field : absl::StrSplit(stats, ' ', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(field, '=');
    int64_t value;
    if (kv.first == key && absl::SimpleAtoi(kv.second, &value)) return value;
  }
  return -1;
}

}  // namespace dfs::fault
