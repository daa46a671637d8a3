// Path syntax for dfs paths: normalisation and splitting. Pure functions, thread-safe.
//
// Rules (what a user of `dfs` types):
//   - "/" separates components; repeated and trailing slashes are ignored ("/a//b/" is "/a/b").
//   - A relative path is taken relative to the root: there is no working directory ("a/b" is
//     "/a/b").
//   - "." components are dropped.
//   - ".." is REJECTED (InvalidArgument, errno EINVAL) in user paths. Resolving it lexically would
//     disagree with POSIX when a symlink precedes it, and resolving it properly costs a lookup per
//     component; refusing is the honest choice (HDFS refuses it too).
//   - Symlink targets, which are stored text rather than user input, may contain ".."; they are
//     resolved against the symlink's own directory, which is a real (symlink-free) path at that
//     point, so lexical resolution is correct there (see ResolveSymlinkTarget).
//   - A component is at most 255 bytes (ENAMETOOLONG) and contains no NUL byte.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace dfs {

inline constexpr size_t kMaxNameBytes = 255;

// The components of `path` under the rules above; empty for the root.
absl::StatusOr<std::vector<std::string>> SplitPath(absl::string_view path);

// The canonical absolute form of `path`: "/" or "/a/b".
absl::StatusOr<std::string> NormalizePath(absl::string_view path);

// Joins canonical components into "/a/b" ("/" for none).
std::string JoinComponents(const std::vector<std::string>& components);

// "/a/b" + "c" -> "/a/b/c"; "/" + "c" -> "/c". `dir` must be canonical.
std::string JoinPath(absl::string_view dir, absl::string_view name);

// Splits a canonical path into its parent directory and last component: "/a/b" -> ("/a", "b"),
// "/a" -> ("/", "a"), "/" -> ("/", "").
std::pair<std::string, std::string> SplitParent(absl::string_view canonical);

// The last component of any path, local or remote, ignoring trailing slashes: "x/y/" -> "y".
// Empty for "/" or "".
std::string Basename(absl::string_view path);

// The canonical path that symlink `target` names when it lives in directory `dir` (canonical):
// absolute targets stand alone, relative ones are relative to `dir`; "." and ".." are resolved
// lexically (".." of "/" is "/").
absl::StatusOr<std::string> ResolveSymlinkTarget(absl::string_view dir, absl::string_view target);

// Validates one directory entry name (not "", ".", "..", no '/', no NUL, at most 255 bytes).
absl::Status ValidateName(absl::string_view name);

}  // namespace dfs
