// The namespace operations of the state machine, one function per command. Each validates against
// the current state (through the Txn) and either mutates it or returns a semantic error (with a
// POSIX errno payload, common/errors.h) having mutated nothing the caller will keep: on error the
// caller discards the Txn's mutations.
//
// Called only from the apply thread, with `now_ns` the command's (monotonic) timestamp and
// `caller` the command's caller (null: not checked), against whom permissions are checked
// (common/permissions.h) before anything changes.
#pragma once

#include <cstdint>
#include <map>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "master/meta_store.h"
#include "proto/command.pb.h"
#include "proto/common.pb.h"

namespace dfs {

inline constexpr size_t kMaxNameBytes = 255;
inline constexpr size_t kMaxSymlinkBytes = 4095;

// EINVAL for "", ".", ".." or a name with '/' or NUL; ENAMETOOLONG past 255 bytes.
absl::Status ValidateName(absl::string_view name);
// ENOENT for an empty target (as symlink(2)), ENAMETOOLONG past 4095 bytes, EINVAL with a NUL.
absl::Status ValidateSymlinkTarget(absl::string_view target);
// EFBIG unless [offset, offset + length) ends at or before kMaxFileBytes (common/validation.h).
absl::Status CheckFileRange(uint64_t offset, uint64_t length);

absl::StatusOr<Attr> ApplyMkdir(Txn& txn, const MkdirCmd& cmd, int64_t now_ns,
                                  const Caller* caller);
absl::StatusOr<Attr> ApplyCreate(Txn& txn, const CreateCmd& cmd, int64_t now_ns,
                                  const Caller* caller);
absl::StatusOr<Attr> ApplySymlink(Txn& txn, const SymlinkCmd& cmd, int64_t now_ns,
                                  const Caller* caller);
absl::StatusOr<Attr> ApplyLink(Txn& txn, const LinkCmd& cmd, int64_t now_ns,
                                  const Caller* caller);
absl::Status ApplyUnlink(Txn& txn, const UnlinkCmd& cmd, int64_t now_ns,
                                  const Caller* caller);
absl::Status ApplyRmdir(Txn& txn, const RmdirCmd& cmd, int64_t now_ns,
                                  const Caller* caller);
absl::Status ApplyRename(Txn& txn, const RenameCmd& cmd, int64_t now_ns,
                                  const Caller* caller);
absl::StatusOr<Attr> ApplySetAttr(Txn& txn, const SetAttrCmd& cmd, int64_t now_ns,
                                  const Caller* caller);
// Returns the file's new attributes and sets *write_offset to where the data landed.
absl::StatusOr<Attr> ApplyCommitWrite(Txn& txn, const CommitWriteCmd& cmd, int64_t now_ns,
                                      const Caller* caller, uint64_t* write_offset);
absl::Status ApplyDropReplica(Txn& txn, const DropReplicaCmd& cmd);
absl::Status ApplyReleaseOrphan(Txn& txn, const ReleaseOrphanCmd& cmd, int64_t now_ns);

// ---- helpers shared by the operations (file_ops.cc) ----

// Loads an inode; ENOENT if it does not exist.
absl::StatusOr<Attr> LoadInode(Txn& txn, uint64_t inode);
// Loads `inode` and checks that it is a directory (ENOTDIR otherwise).
absl::StatusOr<Attr> LoadDir(Txn& txn, uint64_t inode);
void StoreInode(Txn& txn, const Attr& attr);

// Checks that extent `e` lies inside its chunk: one of `new_chunk_lengths` (id -> length) or a
// chunk in the chunk map. InvalidArgument otherwise.
absl::Status CheckExtentInChunk(Txn& txn, const Extent& e,
                                const std::map<uint64_t, uint64_t>& new_chunk_lengths);
// Checks new chunks and extents of a write of `length` bytes (extent offsets relative to the
// write), then records the new chunks. InvalidArgument on any inconsistency.
absl::Status AddNewChunks(Txn& txn, const google::protobuf::RepeatedPtrField<ChunkInfo>& new_chunks,
                          const google::protobuf::RepeatedPtrField<Extent>& extents, uint64_t length);
// Replaces file range [base, base + length) of `inode` by `extents` (offsets relative to base);
// gaps become holes. Chunk reference counts follow.
void WriteExtents(Txn& txn, uint64_t inode, uint64_t base, uint64_t length,
                  const google::protobuf::RepeatedPtrField<Extent>& extents, int64_t now_ns);
// Removes file range [start, end) from `inode`'s extents.
void PunchExtents(Txn& txn, uint64_t inode, uint64_t start, uint64_t end, int64_t now_ns);
// Drops one link to `attr`; at zero links the inode and its extents go, unless `keep_orphan`
// (a regular file still open somewhere), which keeps it as an orphan until ReleaseOrphan.
void DropLink(Txn& txn, Attr attr, int64_t now_ns, bool keep_orphan = false);

}  // namespace dfs
