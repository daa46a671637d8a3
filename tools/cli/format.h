// How `dfs` shows things: error messages, ls -l lines, stat output, sizes. Pure functions of
// their arguments (times are shown in the local time zone), thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/human_bytes.h"
#include "proto/master.pb.h"

namespace dfs::cli {

// The text after "dfs: <cmd>: <path>: " for a failed operation: the POSIX wording for
// file-system errors ("No such file or directory", "Is a directory", ...), the "cluster
// unreachable (masters: ...)" message for an unreachable cluster, the status message otherwise.
std::string ErrorText(const absl::Status& status);

// "drwxr-xr-x", "-rw-r--r--", "lrwxrwxrwx" (with s/S/t/T for the special bits).
std::string ModeString(const Attr& attr);

// "2024-05-01 12:34" in local time.
std::string ShortTime(int64_t ns);
// "2024-05-01 12:34:56.123456789 +0200" in local time.
std::string FullTime(int64_t ns);

// ls -l lines for entries (name, attr), columns aligned; each line ends with '\n'.
struct ListedEntry {
  std::string name;
  Attr attr;
};
std::string FormatLong(const std::vector<ListedEntry>& entries);

// `dfs stat` output for `path`.
std::string FormatStat(const std::string& path, const Attr& attr);

// 1536 -> "1.5 kB" (common/human_bytes.h).
using ::dfs::HumanBytes;

}  // namespace dfs::cli
