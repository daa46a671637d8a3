// Directory-level operations: mkdir, create, symlink, link, unlink, rmdir, rename.
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/keycoding.h"
#include "common/status.h"
#include "master/keys.h"
#include "master/ops.h"
#include "common/permissions.h"

namespace dfs {
namespace {

std::optional<uint64_t> LookupEntry(Txn& txn, uint64_t parent, absl::string_view name) {
  auto value = txn.Get(keys::Dirent(parent, name));
  if (!value || value->size() != 8) return std::nullopt;
  return DecodeFixed64BE(*value);
}

// A directory's entry count (K<dir>) changes by `delta`, where one is kept.
void CountEntries(Txn& txn, uint64_t dir, int delta) {
  const std::string key = keys::EntryCount(dir);
  std::optional<std::string> count = txn.Get(key);
  if (!count || count->size() != 8) return;
  txn.PutCounter(key, DecodeFixed64BE(*count) + delta);
}

// Adds the entry `name` (new in `parent`).
void PutEntry(Txn& txn, uint64_t parent, absl::string_view name, uint64_t inode) {
  std::string value;
  PutFixed64BE(&value, inode);
  txn.Put(keys::Dirent(parent, name), std::move(value));
  CountEntries(txn, parent, +1);
}

void DeleteEntry(Txn& txn, uint64_t parent, absl::string_view name) {
  txn.Delete(keys::Dirent(parent, name));
  CountEntries(txn, parent, -1);
}

// By the count where one is kept: a scan of an empty directory's entries would walk every
// deletion LevelDB still holds past them (the extents of files deleted lately, say) until a live
// key, which made rmdir cost as much as the deletes before it.
bool DirIsEmpty(Txn& txn, uint64_t dir) {
  if (std::optional<std::string> count = txn.Get(keys::EntryCount(dir));
      count && count->size() == 8) {
    return DecodeFixed64BE(*count) == 0;
  }
  std::string prefix = keys::DirPrefix(dir);
  return txn.Scan(prefix, PrefixEnd(prefix), 1).empty();
}

void Touch(Attr& dir, int64_t now_ns) {
  dir.set_mtime_ns(now_ns);
  dir.set_ctime_ns(now_ns);
}

// Checks that `inode` is a fresh id reserved by the leader and builds its attributes, owned as
// SetNewOwner decides.
absl::StatusOr<Attr> NewInode(Txn& txn, uint64_t inode, FileType type, uint32_t mode,
                              const Attr& parent, const Caller* caller, uint32_t uid,
                              uint32_t gid, int64_t now_ns) {
  if (inode <= keys::kRootInode || inode >= txn.GetCounter(keys::kNextInode) ||
      txn.Get(keys::Inode(inode))) {
    return FsError(EINVAL, absl::StrCat("inode id ", inode, " was not reserved or is in use"));
  }
  Attr attr;
  attr.set_inode(inode);
  attr.set_type(type);
  attr.set_mode(mode & 07777);
  SetNewOwner(parent, caller, uid, gid, &attr);
  attr.set_nlink(type == FILE_TYPE_DIRECTORY ? 2 : 1);
  attr.set_atime_ns(now_ns);
  attr.set_mtime_ns(now_ns);
  attr.set_ctime_ns(now_ns);
  txn.PutCounter(keys::kInodeCount, txn.GetCounter(keys::kInodeCount) + 1);
  return attr;
}

// Loads a directory the caller looks names up in (search permission).
absl::StatusOr<Attr> LoadSearchableDir(Txn& txn, uint64_t inode, const Caller* caller) {
  DFS_ASSIGN_OR_RETURN(Attr dir, LoadDir(txn, inode));
  DFS_RETURN_IF_ERROR(CheckAccess(dir, caller, kMayExec));
  return dir;
}

// Loads the parent directory and checks that `name` is a valid new name in it that the caller
// may create. As Linux, an existing name is EEXIST before a missing write permission.
absl::StatusOr<Attr> PrepareNewEntry(Txn& txn, uint64_t parent, absl::string_view name,
                                     const Caller* caller) {
  DFS_RETURN_IF_ERROR(ValidateName(name));
  DFS_ASSIGN_OR_RETURN(Attr dir, LoadSearchableDir(txn, parent, caller));
  if (LookupEntry(txn, parent, name)) {
    return FsError(EEXIST, absl::StrCat("'", name, "' already exists"));
  }
  DFS_RETURN_IF_ERROR(CheckAccess(dir, caller, kMayWrite | kMayExec));
  return dir;
}

// Loads the inode `name` names in `dir` for removal (unlink, rmdir, rename's source) and checks
// that the caller may remove it.
absl::StatusOr<Attr> LoadRemovable(Txn& txn, const Attr& dir, absl::string_view name,
                                   const Caller* caller) {
  auto child = LookupEntry(txn, dir.inode(), name);
  if (!child) return FsError(ENOENT, absl::StrCat("'", name, "' does not exist"));
  DFS_ASSIGN_OR_RETURN(Attr attr, LoadInode(txn, *child));
  DFS_RETURN_IF_ERROR(CheckRemoveEntry(dir, attr, caller));
  return attr;
}

// True if directory `dir` is `ancestor` or lies below it.
bool IsInSubtree(Txn& txn, uint64_t dir, uint64_t ancestor) {
  for (;;) {
    if (dir == ancestor) return true;
    if (dir == keys::kRootInode) return false;
    Attr attr;
    if (!txn.GetProto(keys::Inode(dir), &attr)) return false;
    dir = attr.parent();
  }
}

}  // namespace

absl::Status ValidateName(absl::string_view name) {
  if (name.empty() || name == "." || name == "..") {
    return FsError(EINVAL, absl::StrCat("invalid name '", name, "'"));
  }
  if (name.find('/') != absl::string_view::npos || name.find('\0') != absl::string_view::npos) {
    return FsError(EINVAL, "a name may not contain '/' or NUL");
  }
  if (name.size() > kMaxNameBytes) return FsError(ENAMETOOLONG, "name longer than 255 bytes");
  return absl::OkStatus();
}

absl::Status ValidateSymlinkTarget(absl::string_view target) {
  if (target.empty()) return FsError(ENOENT, "empty symlink target");
  if (target.size() > kMaxSymlinkBytes) return FsError(ENAMETOOLONG, "symlink target too long");
  if (target.find('\0') != absl::string_view::npos) {
    return FsError(EINVAL, "a symlink target may not contain NUL");
  }
  return absl::OkStatus();
}

absl::StatusOr<Attr> ApplyMkdir(Txn& txn, const MkdirCmd& cmd, int64_t now_ns,
                                const Caller* caller) {
  DFS_ASSIGN_OR_RETURN(Attr dir, PrepareNewEntry(txn, cmd.parent(), cmd.name(), caller));
  DFS_ASSIGN_OR_RETURN(Attr attr, NewInode(txn, cmd.inode(), FILE_TYPE_DIRECTORY, cmd.mode(),
                                           dir, caller, cmd.uid(), cmd.gid(), now_ns));
  attr.set_parent(dir.inode());
  StoreInode(txn, attr);
  txn.PutCounter(keys::EntryCount(attr.inode()), 0);
  PutEntry(txn, dir.inode(), cmd.name(), attr.inode());
  dir.set_nlink(dir.nlink() + 1);
  Touch(dir, now_ns);
  StoreInode(txn, dir);
  return attr;
}

absl::StatusOr<Attr> ApplyCreate(Txn& txn, const CreateCmd& cmd, int64_t now_ns,
                                 const Caller* caller) {
  DFS_RETURN_IF_ERROR(ValidateName(cmd.name()));
  DFS_ASSIGN_OR_RETURN(Attr dir, LoadSearchableDir(txn, cmd.parent(), caller));
  const bool has_content = cmd.size() > 0 || !cmd.extents().empty();
  if (auto existing_id = LookupEntry(txn, dir.inode(), cmd.name())) {
    DFS_ASSIGN_OR_RETURN(Attr existing, LoadInode(txn, *existing_id));
    if (cmd.exclusive()) return FsError(EEXIST, absl::StrCat("'", cmd.name(), "' already exists"));
    if (existing.type() == FILE_TYPE_DIRECTORY) {
      return FsError(EISDIR, absl::StrCat("'", cmd.name(), "' is a directory"));
    }
    if (!cmd.replace()) {
      if (has_content) return FsError(EEXIST, absl::StrCat("'", cmd.name(), "' already exists"));
      return existing;  // open(O_CREAT) of an existing file opens it (the opener checks access)
    }
    DFS_RETURN_IF_ERROR(CheckRemoveEntry(dir, existing, caller));
    DropLink(txn, existing, now_ns);
    DeleteEntry(txn, dir.inode(), cmd.name());
  } else {
    DFS_RETURN_IF_ERROR(CheckAccess(dir, caller, kMayWrite | kMayExec));
  }
  DFS_ASSIGN_OR_RETURN(Attr attr, NewInode(txn, cmd.inode(), FILE_TYPE_REGULAR, cmd.mode(), dir,
                                           caller, cmd.uid(), cmd.gid(), now_ns));
  if (has_content) {
    DFS_RETURN_IF_ERROR(CheckFileRange(0, cmd.size()));
    DFS_RETURN_IF_ERROR(AddNewChunks(txn, cmd.new_chunks(), cmd.extents(), cmd.size()));
    WriteExtents(txn, attr.inode(), 0, cmd.size(), cmd.extents(), now_ns);
    attr.set_size(cmd.size());
  }
  StoreInode(txn, attr);
  PutEntry(txn, dir.inode(), cmd.name(), attr.inode());
  Touch(dir, now_ns);
  StoreInode(txn, dir);
  return attr;
}

absl::StatusOr<Attr> ApplySymlink(Txn& txn, const SymlinkCmd& cmd, int64_t now_ns,
                                  const Caller* caller) {
  DFS_RETURN_IF_ERROR(ValidateSymlinkTarget(cmd.target()));
  DFS_ASSIGN_OR_RETURN(Attr dir, PrepareNewEntry(txn, cmd.parent(), cmd.name(), caller));
  DFS_ASSIGN_OR_RETURN(Attr attr, NewInode(txn, cmd.inode(), FILE_TYPE_SYMLINK, 0777, dir,
                                           caller, cmd.uid(), cmd.gid(), now_ns));
  attr.set_symlink_target(cmd.target());
  attr.set_size(cmd.target().size());
  StoreInode(txn, attr);
  PutEntry(txn, dir.inode(), cmd.name(), attr.inode());
  Touch(dir, now_ns);
  StoreInode(txn, dir);
  return attr;
}

absl::StatusOr<Attr> ApplyLink(Txn& txn, const LinkCmd& cmd, int64_t now_ns,
                               const Caller* caller) {
  DFS_ASSIGN_OR_RETURN(Attr attr, LoadInode(txn, cmd.inode()));
  if (attr.type() == FILE_TYPE_DIRECTORY) return FsError(EPERM, "cannot hard-link a directory");
  DFS_ASSIGN_OR_RETURN(Attr dir,
                       PrepareNewEntry(txn, cmd.new_parent(), cmd.new_name(), caller));
  attr.set_nlink(attr.nlink() + 1);
  attr.set_ctime_ns(now_ns);
  StoreInode(txn, attr);
  PutEntry(txn, dir.inode(), cmd.new_name(), attr.inode());
  Touch(dir, now_ns);
  StoreInode(txn, dir);
  return attr;
}

absl::Status ApplyUnlink(Txn& txn, const UnlinkCmd& cmd, int64_t now_ns,
                         const Caller* caller) {
  DFS_RETURN_IF_ERROR(ValidateName(cmd.name()));
  DFS_ASSIGN_OR_RETURN(Attr dir, LoadSearchableDir(txn, cmd.parent(), caller));
  DFS_ASSIGN_OR_RETURN(Attr attr, LoadRemovable(txn, dir, cmd.name(), caller));
  if (attr.type() == FILE_TYPE_DIRECTORY) {
    return FsError(EISDIR, absl::StrCat("'", cmd.name(), "' is a directory"));
  }
  DeleteEntry(txn, dir.inode(), cmd.name());
  DropLink(txn, attr, now_ns, cmd.keep_orphan());
  Touch(dir, now_ns);
  StoreInode(txn, dir);
  return absl::OkStatus();
}

absl::Status ApplyRmdir(Txn& txn, const RmdirCmd& cmd, int64_t now_ns, const Caller* caller) {
  DFS_RETURN_IF_ERROR(ValidateName(cmd.name()));
  DFS_ASSIGN_OR_RETURN(Attr dir, LoadSearchableDir(txn, cmd.parent(), caller));
  DFS_ASSIGN_OR_RETURN(Attr attr, LoadRemovable(txn, dir, cmd.name(), caller));
  if (attr.type() != FILE_TYPE_DIRECTORY) {
    return FsError(ENOTDIR, absl::StrCat("'", cmd.name(), "' is not a directory"));
  }
  if (!DirIsEmpty(txn, attr.inode())) {
    return FsError(ENOTEMPTY, absl::StrCat("'", cmd.name(), "' is not empty"));
  }
  DeleteEntry(txn, dir.inode(), cmd.name());
  DropLink(txn, attr, now_ns);
  dir.set_nlink(dir.nlink() - 1);
  Touch(dir, now_ns);
  StoreInode(txn, dir);
  return absl::OkStatus();
}

absl::Status ApplyRename(Txn& txn, const RenameCmd& cmd, int64_t now_ns,
                         const Caller* caller) {
  DFS_RETURN_IF_ERROR(ValidateName(cmd.name()));
  DFS_RETURN_IF_ERROR(ValidateName(cmd.new_name()));
  DFS_ASSIGN_OR_RETURN(Attr src_dir, LoadSearchableDir(txn, cmd.parent(), caller));
  DFS_ASSIGN_OR_RETURN(Attr dst_dir, LoadSearchableDir(txn, cmd.new_parent(), caller));
  DFS_ASSIGN_OR_RETURN(Attr attr, LoadRemovable(txn, src_dir, cmd.name(), caller));
  DFS_RETURN_IF_ERROR(CheckAccess(dst_dir, caller, kMayWrite | kMayExec));
  const bool is_dir = attr.type() == FILE_TYPE_DIRECTORY;
  if (is_dir && src_dir.inode() != dst_dir.inode()) {
    // Its ".." changes: Linux asks for write permission on the directory moved.
    DFS_RETURN_IF_ERROR(CheckAccess(attr, caller, kMayWrite));
  }
  if (is_dir && IsInSubtree(txn, dst_dir.inode(), attr.inode())) {
    return FsError(EINVAL, "cannot move a directory into itself");
  }
  if (auto target_id = LookupEntry(txn, dst_dir.inode(), cmd.new_name())) {
    if (cmd.noreplace()) return FsError(EEXIST, absl::StrCat("'", cmd.new_name(), "' exists"));
    if (*target_id == attr.inode()) return absl::OkStatus();  // same file: POSIX does nothing
    DFS_ASSIGN_OR_RETURN(Attr target, LoadInode(txn, *target_id));
    DFS_RETURN_IF_ERROR(CheckRemoveEntry(dst_dir, target, caller));
    const bool target_is_dir = target.type() == FILE_TYPE_DIRECTORY;
    if (is_dir && !target_is_dir) {
      return FsError(ENOTDIR, absl::StrCat("'", cmd.new_name(), "' is not a directory"));
    }
    if (!is_dir && target_is_dir) {
      return FsError(EISDIR, absl::StrCat("'", cmd.new_name(), "' is a directory"));
    }
    if (target_is_dir) {
      if (!DirIsEmpty(txn, target.inode())) {
        return FsError(ENOTEMPTY, absl::StrCat("'", cmd.new_name(), "' is not empty"));
      }
      dst_dir.set_nlink(dst_dir.nlink() - 1);
    }
    DropLink(txn, target, now_ns, cmd.keep_orphan());
    DeleteEntry(txn, dst_dir.inode(), cmd.new_name());  // PutEntry below names the new one
  }
  DeleteEntry(txn, src_dir.inode(), cmd.name());
  PutEntry(txn, dst_dir.inode(), cmd.new_name(), attr.inode());
  attr.set_ctime_ns(now_ns);
  if (is_dir && src_dir.inode() != dst_dir.inode()) {
    attr.set_parent(dst_dir.inode());
    src_dir.set_nlink(src_dir.nlink() - 1);
    dst_dir.set_nlink(dst_dir.nlink() + 1);
  }
  StoreInode(txn, attr);
  Touch(src_dir, now_ns);
  Touch(dst_dir, now_ns);
  if (src_dir.inode() == dst_dir.inode()) {
    StoreInode(txn, dst_dir);  // one directory: dst_dir holds every change
  } else {
    StoreInode(txn, src_dir);
    StoreInode(txn, dst_dir);
  }
  return absl::OkStatus();
}

}  // namespace dfs
