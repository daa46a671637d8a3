#include "client/trash.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "client/path.h"
#include "common/errors.h"
#include "common/status.h"

namespace dfs {
namespace {

// Names tried in one checkpoint before giving up on a free one.
constexpr int kMaxSuffix = 1000;

// Whose trash this is: the uid requests carry (none: unchecked, as root).
uint32_t TrashOwner(const Client& client) {
  const std::optional<Caller>& caller = client.options().caller;
  return caller ? caller->uid() : 0;
}

std::string CheckpointPath(absl::string_view checkpoint) {
  return absl::StrCat(kTrashRoot, "/", checkpoint);
}

// The entry of `entries` holding `original` (itself or an ancestor directory), newest first;
// sets *inner to the rest of the path below the entry.
const TrashEntry* FindHolder(const std::vector<TrashEntry>& entries, const std::string& original,
                             std::string* inner) {
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
    const std::string& path = it->original_path;
    if (path == original) {
      inner->clear();
      return &*it;
    }
    if (it->attr.type() == FILE_TYPE_DIRECTORY && absl::StartsWith(original, path + "/")) {
      *inner = original.substr(path.size());
      return &*it;
    }
  }
  return nullptr;
}

}  // namespace

std::string EncodeTrashName(absl::string_view canonical_path) {
  absl::string_view path = canonical_path;
  if (absl::StartsWith(path, "/")) path.remove_prefix(1);
  std::string out;
  for (char c : path) {
    if (c == '%') {
      out += "%25";
    } else if (c == '/') {
      out += "%2F";
    } else {
      out += c;
    }
  }
  return out;
}

absl::StatusOr<std::string> DecodeTrashName(absl::string_view name) {
  if (size_t suffix = name.rfind("%~"); suffix != absl::string_view::npos) {
    int n;
    if (!absl::SimpleAtoi(name.substr(suffix + 2), &n)) {
      return absl::InvalidArgumentError(absl::StrCat("not a trash entry name: ", name));
    }
    name = name.substr(0, suffix);
  }
  std::string out = "/";
  for (size_t i = 0; i < name.size(); ++i) {
    if (name[i] != '%') {
      out += name[i];
      continue;
    }
    absl::string_view code = name.substr(i + 1, 2);
    if (code == "25") {
      out += '%';
    } else if (code == "2F") {
      out += '/';
    } else {
      return absl::InvalidArgumentError(absl::StrCat("not a trash entry name: ", name));
    }
    i += 2;
  }
  if (out == "/") return absl::InvalidArgumentError("empty trash entry name");
  return out;
}

std::string TrashCheckpointName(int64_t unix_ns, uint32_t uid) {
  std::string name =
      absl::FormatTime("%Y%m%dT%H%M%SZ", absl::FromUnixNanos(unix_ns), absl::UTCTimeZone());
  if (uid != 0) absl::StrAppend(&name, "-", uid);
  return name;
}

bool IsInTrash(absl::string_view canonical_path) {
  return canonical_path == kTrashRoot || absl::StartsWith(canonical_path, absl::StrCat(kTrashRoot, "/"));
}

absl::StatusOr<std::string> MoveToTrash(Client& client, absl::string_view path, int64_t now_ns) {
  DFS_ASSIGN_OR_RETURN(std::string canonical, NormalizePath(path));
  if (canonical == "/") return absl::InvalidArgumentError("refusing to remove the root directory");
  if (IsInTrash(canonical)) return absl::InvalidArgumentError("already in the trash");
  DFS_ASSIGN_OR_RETURN(ResolvedParent source, client.ResolveParent(canonical));
  // Fails with ENOENT before anything is created when there is nothing to remove.
  DFS_RETURN_IF_ERROR(client.Lookup(source.dir.inode(), source.name).status());
  DFS_RETURN_IF_ERROR(client.MkdirAll(kTrashRoot, kTrashRootMode).status());
  const std::string checkpoint =
      CheckpointPath(TrashCheckpointName(now_ns, TrashOwner(client)));
  DFS_ASSIGN_OR_RETURN(Attr dir, client.MkdirAll(checkpoint, 0700));
  const std::string base = EncodeTrashName(canonical);
  if (base.size() > kMaxNameBytes) {
    return FsError(ENAMETOOLONG, "path too long to keep in the trash (use --skip-trash)");
  }
  for (int n = 0; n < kMaxSuffix; ++n) {
    std::string name = n == 0 ? base : absl::StrCat(base, "%~", n);
    if (name.size() > kMaxNameBytes) break;
    absl::Status status = client.Rename(source.dir.inode(), source.name, dir.inode(), name,
                                        /*noreplace=*/true);
    if (status.ok()) return JoinPath(checkpoint, name);
    if (!absl::IsAlreadyExists(status)) return status;
  }
  return FsError(EEXIST, "no free name in the trash checkpoint");
}

absl::StatusOr<std::vector<TrashEntry>> ListTrash(Client& client) {
  std::vector<TrashEntry> entries;
  absl::StatusOr<Attr> root = client.LookupPath(kTrashRoot);
  if (absl::IsNotFound(root.status())) return entries;
  if (!root.ok()) return root.status();
  DFS_ASSIGN_OR_RETURN(std::vector<DirEntry> checkpoints, client.ReadDir(root->inode()));
  // Checkpoint names sort by time.
  for (const DirEntry& checkpoint : checkpoints) {
    if (checkpoint.attr().type() != FILE_TYPE_DIRECTORY) continue;
    absl::Status listed = client.ForEachDirEntry(
        checkpoint.attr().inode(), [&](const DirEntry& entry) -> absl::Status {
          absl::StatusOr<std::string> original = DecodeTrashName(entry.name());
          if (!original.ok()) return absl::OkStatus();  // not ours: leave it alone
          TrashEntry out;
          out.checkpoint = checkpoint.name();
          out.trash_path = JoinPath(CheckpointPath(checkpoint.name()), entry.name());
          out.original_path = *original;
          out.attr = entry.attr();
          entries.push_back(std::move(out));
          return absl::OkStatus();
        });
    // Another user's checkpoint is closed to us: it is not our trash.
    if (!listed.ok() && !absl::IsPermissionDenied(listed)) return listed;
  }
  return entries;
}

absl::StatusOr<std::string> RestoreFromTrash(Client& client, absl::string_view path) {
  DFS_ASSIGN_OR_RETURN(std::string canonical, NormalizePath(path));
  std::string from, to;
  if (IsInTrash(canonical)) {
    // /.Trash/<checkpoint>/<entry>[/inner...]
    DFS_ASSIGN_OR_RETURN(std::vector<std::string> parts, SplitPath(canonical));
    if (parts.size() < 3) {
      return absl::InvalidArgumentError("name an entry of a trash checkpoint, not the checkpoint");
    }
    DFS_ASSIGN_OR_RETURN(std::string original, DecodeTrashName(parts[2]));
    from = canonical;
    to = original;
    for (size_t i = 3; i < parts.size(); ++i) to = JoinPath(to, parts[i]);
  } else {
    DFS_ASSIGN_OR_RETURN(std::vector<TrashEntry> entries, ListTrash(client));
    std::string inner;
    const TrashEntry* holder = FindHolder(entries, canonical, &inner);
    if (holder == nullptr) return FsError(ENOENT, "not in the trash");
    from = holder->trash_path + inner;
    to = canonical;
  }
  DFS_ASSIGN_OR_RETURN(ResolvedParent source, client.ResolveParent(from));
  DFS_RETURN_IF_ERROR(client.Lookup(source.dir.inode(), source.name).status());
  auto [parent, name] = SplitParent(to);
  DFS_ASSIGN_OR_RETURN(Attr dir, client.MkdirAll(parent));
  absl::Status status =
      client.Rename(source.dir.inode(), source.name, dir.inode(), name, /*noreplace=*/true);
  if (absl::IsAlreadyExists(status)) {
    return FsError(EEXIST, absl::StrCat(to, " exists; move it away first"));
  }
  DFS_RETURN_IF_ERROR(status);
  return to;
}

absl::Status PurgeTrash(Client& client, const std::vector<std::string>& paths) {
  if (paths.empty()) {
    // Every checkpoint of the caller's (root: everyone's).
    absl::StatusOr<Attr> root = client.LookupPath(kTrashRoot);
    if (absl::IsNotFound(root.status())) return absl::OkStatus();
    if (!root.ok()) return root.status();
    DFS_ASSIGN_OR_RETURN(std::vector<DirEntry> checkpoints, client.ReadDir(root->inode()));
    const uint32_t uid = TrashOwner(client);
    for (const DirEntry& checkpoint : checkpoints) {
      if (uid != 0 && checkpoint.attr().uid() != uid) continue;
      absl::Status status = client.Remove(CheckpointPath(checkpoint.name()), /*recursive=*/true);
      if (!status.ok() && !absl::IsNotFound(status)) return status;
    }
    return absl::OkStatus();
  }
  for (const std::string& path : paths) {
    DFS_ASSIGN_OR_RETURN(std::string canonical, NormalizePath(path));
    if (!IsInTrash(canonical)) {
      // A checkpoint name alone.
      canonical = JoinPath(kTrashRoot, absl::StripPrefix(path, "/"));
    }
    DFS_RETURN_IF_ERROR(client.Remove(canonical, /*recursive=*/true));
  }
  return absl::OkStatus();
}

}  // namespace dfs
