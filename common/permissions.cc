#include "common/permissions.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/errors.h"

namespace dfs {
namespace {

bool IsRoot(const Caller& caller) { return caller.uid() == 0; }

// The rwx bits (0-7) that apply to `caller` for `inode`.
uint32_t ClassBits(const Attr& inode, const Caller& caller) {
  if (caller.uid() == inode.uid()) return (inode.mode() >> 6) & 7;
  if (InGroup(caller, inode.gid())) return (inode.mode() >> 3) & 7;
  return inode.mode() & 7;
}

bool IsOwnerOrRoot(const Attr& inode, const Caller& caller) {
  return IsRoot(caller) || caller.uid() == inode.uid();
}

absl::Status NotPermitted(const std::string& what) {
  return FsError(EPERM, absl::StrCat(what, ": operation not permitted"));
}

}  // namespace

bool InGroup(const Caller& caller, uint32_t gid) {
  return caller.gid() == gid ||
         std::find(caller.groups().begin(), caller.groups().end(), gid) != caller.groups().end();
}

absl::Status CheckAccess(const Attr& inode, const Caller* caller, int want) {
  if (caller == nullptr || want == 0) return absl::OkStatus();
  bool allowed;
  if (IsRoot(*caller)) {
    // Root searches every directory, but executes a file only if someone may.
    allowed = !(want & kMayExec) || inode.type() != FILE_TYPE_REGULAR || (inode.mode() & 0111);
  } else {
    allowed = (ClassBits(inode, *caller) & want) == static_cast<uint32_t>(want);
  }
  if (allowed) return absl::OkStatus();
  return FsError(EACCES, absl::StrCat("permission denied (inode ", inode.inode(), ", uid ",
                                      caller->uid(), ")"));
}

absl::Status CheckRemoveEntry(const Attr& dir, const Attr& victim, const Caller* caller) {
  if (caller == nullptr) return absl::OkStatus();
  if (absl::Status s = CheckAccess(dir, caller, kMayWrite | kMayExec); !s.ok()) return s;
  if ((dir.mode() & kStickyBit) && !IsRoot(*caller) && caller->uid() != victim.uid() &&
      caller->uid() != dir.uid()) {
    return NotPermitted(absl::StrCat("sticky directory ", dir.inode(), ": only the owner of inode ",
                                     victim.inode(), " may remove or rename it"));
  }
  return absl::OkStatus();
}

absl::Status CheckSetAttr(const Attr& inode, const Caller* caller, SetAttrCmd* cmd) {
  if (caller == nullptr) return absl::OkStatus();
  const bool owner_or_root = IsOwnerOrRoot(inode, *caller);
  if (cmd->set_size()) {
    if (absl::Status s = CheckAccess(inode, caller, kMayWrite); !s.ok()) return s;
  }
  const bool changes_uid = cmd->set_uid() && cmd->uid() != inode.uid();
  const bool changes_gid = cmd->set_gid() && cmd->gid() != inode.gid();
  if (changes_uid && !IsRoot(*caller)) return NotPermitted("chown");
  if (changes_gid && !IsRoot(*caller) &&
      !(caller->uid() == inode.uid() && InGroup(*caller, cmd->gid()))) {
    return NotPermitted("chgrp");
  }
  if ((cmd->set_uid() || cmd->set_gid()) && !owner_or_root) return NotPermitted("chown");
  if (cmd->set_mode()) {
    if (!owner_or_root) return NotPermitted("chmod");
    const uint32_t group = cmd->set_gid() ? cmd->gid() : inode.gid();
    if (!IsRoot(*caller) && !InGroup(*caller, group)) cmd->set_mode(cmd->mode() & ~kSetGidBit);
  } else if ((changes_uid || changes_gid) && inode.type() != FILE_TYPE_DIRECTORY) {
    // Giving a file away must not hand out a setuid program; setgid without group execute is
    // mandatory locking's mark, which stays.
    uint32_t mode = inode.mode() & ~kSetUidBit;
    if (mode & 010) mode &= ~kSetGidBit;
    if (mode != inode.mode()) {
      cmd->set_set_mode(true);
      cmd->set_mode(mode);
    }
  }
  if (cmd->set_atime() || cmd->set_mtime()) {
    if (!owner_or_root) {
      if (!cmd->times_are_now()) return NotPermitted("setting times");
      if (absl::Status s = CheckAccess(inode, caller, kMayWrite); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

void SetNewOwner(const Attr& parent, const Caller* caller, uint32_t uid, uint32_t gid,
                 Attr* inode) {
  inode->set_uid(caller != nullptr ? caller->uid() : uid);
  inode->set_gid(caller != nullptr ? caller->gid() : gid);
  if (parent.mode() & kSetGidBit) {
    inode->set_gid(parent.gid());
    if (inode->type() == FILE_TYPE_DIRECTORY) inode->set_mode(inode->mode() | kSetGidBit);
  }
}

Caller SquashRoot(Caller caller) {
  if (caller.uid() != 0) return caller;
  caller.set_uid(kSquashedId);
  caller.set_gid(kSquashedId);
  caller.clear_groups();
  return caller;
}

}  // namespace dfs
