// The trash of `dfs rm`, kept client-side as HDFS does: a removed file or directory is renamed
// (one metadata operation, whatever its size) into a checkpoint directory named after the time of
// the removal and, for users other than root, their uid,
//
//   /.Trash/<YYYYmmddTHHMMSSZ>[-<uid>]/<original path, '/' written as %2F and '%' as %25>
//
// /.Trash is sticky and open to everyone, like /tmp; each checkpoint is its owner's alone (0700),
// so users see, restore and purge their own trash only (root: everyone's).
//
// e.g. `dfs rm /data/logs` at 12:30:05 UTC gives /.Trash/20240501T123005Z/data%2Flogs. The
// flat, escaped name keeps the original path, so `trash restore` can put it back exactly; a name
// already taken in the checkpoint gets a suffix "%~N" (which no escaped path contains). The
// leader deletes checkpoints whose last change is older than its --trash_retention_ms
// (master/maintenance/trash_expirer.h). Removing something already in the trash deletes it.
//
// Thread-safe as far as Client is; the functions keep no state.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/client.h"

namespace dfs {

inline constexpr char kTrashRoot[] = "/.Trash";
inline constexpr uint32_t kTrashRootMode = 01777;

// "data%2Flogs" for "/data/logs" (a canonical path); and back. DecodeTrashName drops a "%~N"
// suffix and fails (InvalidArgument) on a name the trash did not make.
std::string EncodeTrashName(absl::string_view canonical_path);
absl::StatusOr<std::string> DecodeTrashName(absl::string_view name);
// The checkpoint directory name for a removal at `unix_ns` (UTC) by `uid`.
std::string TrashCheckpointName(int64_t unix_ns, uint32_t uid);
// True for /.Trash and everything below it (canonical paths).
bool IsInTrash(absl::string_view canonical_path);

// Moves `path` (not followed if a symlink) into the trash checkpoint for `now_ns`; returns where
// it went. A directory moves whole. The root and the trash itself cannot be trashed.
absl::StatusOr<std::string> MoveToTrash(Client& client, absl::string_view path, int64_t now_ns);

struct TrashEntry {
  std::string checkpoint;     // 20240501T123005Z
  std::string trash_path;     // /.Trash/20240501T123005Z/data%2Flogs
  std::string original_path;  // /data/logs
  Attr attr;
};
// Every entry, oldest checkpoint first.
absl::StatusOr<std::vector<TrashEntry>> ListTrash(Client& client);

// Puts an entry back where it came from and returns that path. `path` is a path in the trash
// (an entry or something inside one) or an original path: then the newest entry holding it
// (itself, or a directory above it) is used. Missing parent directories are created; an
// existing file at the original path is never replaced (EEXIST).
absl::StatusOr<std::string> RestoreFromTrash(Client& client, absl::string_view path);

// Deletes trash for good: everything, or the given checkpoints or entries (trash paths).
absl::Status PurgeTrash(Client& client, const std::vector<std::string>& paths);

}  // namespace dfs
