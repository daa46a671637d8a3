// POSIX permission rules of the namespace, in one place: the state machine's Apply (mutations,
// deterministic on every replica) and the service's read handlers both call these, and dfs-fuse
// the owner rule for a directory it creates before the master applied the mkdir.
//
// The rules are Linux's: uid 0 passes every read/write/search check (but may execute a regular
// file only if some x bit is set); otherwise the owner's, the group's (primary or supplementary)
// or the others' bits decide. Refusals are PermissionDenied with EACCES (mode bits) or EPERM
// (ownership rules: sticky directories, chmod, chown, explicit times), as Linux answers.
//
// A null caller means "not checked": old clients and the master's own maintenance commands.
// Pure functions, callable from any thread.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "proto/command.pb.h"
#include "proto/common.pb.h"

namespace dfs {

// What a check asks for, as access(2)'s R_OK, W_OK and X_OK (search, for a directory).
inline constexpr int kMayRead = 4;
inline constexpr int kMayWrite = 2;
inline constexpr int kMayExec = 1;

inline constexpr uint32_t kSetUidBit = 04000;
inline constexpr uint32_t kSetGidBit = 02000;
inline constexpr uint32_t kStickyBit = 01000;

// The identity a squashed root gets (nobody/nogroup).
inline constexpr uint32_t kSquashedId = 65534;

bool InGroup(const Caller& caller, uint32_t gid);

// EACCES unless `caller` may do `want` (a mask of kMay*) to `inode`.
absl::Status CheckAccess(const Attr& inode, const Caller* caller, int want);

// For unlink, rmdir and rename: write and search on `dir`, and if `dir` is sticky, the caller
// must own `victim` or `dir` (EPERM otherwise) or be root.
absl::Status CheckRemoveEntry(const Attr& dir, const Attr& victim, const Caller* caller);

// The rules of chmod, chown, truncate and utimes for the changes in `cmd` to `inode`. May adjust
// `cmd` as Linux does: a chmod by a non-root caller outside the file's group drops the setgid
// bit; a chown of a non-directory drops setuid (and setgid when group-executable).
absl::Status CheckSetAttr(const Attr& inode, const Caller* caller, SetAttrCmd* cmd);

// Sets the owner and group of a new inode in `parent`: the caller's (else `uid`/`gid`, what an
// old client asked for), the group being the parent's when the parent is setgid (a new
// directory then inherits the setgid bit too).
void SetNewOwner(const Attr& parent, const Caller* caller, uint32_t uid, uint32_t gid,
                 Attr* inode);

// Root squash: uid 0 becomes nobody/nogroup with no supplementary groups.
Caller SquashRoot(Caller caller);

}  // namespace dfs
