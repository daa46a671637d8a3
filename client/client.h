// Client: the dfs client library's entry point, used by the dfs CLI, dfs-fuse, dfsadmin and tests.
//
// Three layers:
//   - inode-level operations that mirror proto/master.proto one RPC each (Lookup, Mkdir, Create,
//     CommitWrite, GetExtents, ...), run through MasterClient (leader finding, retries, sessions);
//   - data: ChunkWriter for writing (chunks first, then one commit), ReadStream/Read for reading
//     a range with CRC verification, replica failover and bad-replica reports;
//   - path-level helpers (Stat, ResolvePath, MkdirAll, Put, Get, Remove, Move) built on the two.
//
// Paths follow client/path.h (normalised, relative to "/", ".." rejected). Path helpers follow
// symlinks in every component but the last; whether the last is followed is stated per method.
//
// Requests carry the caller client/caller.h picks; the master checks permissions against it
// (PermissionDenied with EACCES or EPERM).
//
// Errors are absl::Status with canonical codes; file-system errors carry the POSIX errno as a
// payload (common/errors.h: ErrnoOf). A master that cannot be reached gives UNAVAILABLE or
// DEADLINE_EXCEEDED with a "cluster unreachable (masters: ...)" message.
//
// Thread-safe: every method may be called from many threads at once (FUSE does). A ChunkWriter
// handed out by NewChunkWriter belongs to one thread at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <istream>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/chunk_writer.h"
#include "client/io.h"
#include "client/master_client.h"
#include "client/options.h"
#include "proto/master.pb.h"

namespace dfs {

inline constexpr uint64_t kRootInode = 1;
// For ReadStream: read to the end of the file.
inline constexpr uint64_t kToEnd = std::numeric_limits<uint64_t>::max();
// Reads ask the master for extents this many bytes at a time, so memory and metadata per request
// stay bounded however large the file is.
inline constexpr uint64_t kReadWindowBytes = 64ull << 20;

struct CreateOptions {
  uint32_t mode = 0644;
  bool exclusive = false;  // fail with EEXIST if the name exists
  bool replace = false;    // atomically replace an existing regular file
};

// SetAttr: only the fields that are set change.
struct AttrChanges {
  std::optional<uint32_t> mode;
  std::optional<uint32_t> uid;
  std::optional<uint32_t> gid;
  std::optional<uint64_t> size;  // truncate or extend (the extension reads as zeros)
  std::optional<int64_t> atime_ns;
  std::optional<int64_t> mtime_ns;
  bool times_are_now = false;  // the times are "now" (touch): write permission suffices
};

struct PutOptions {
  bool overwrite = false;        // replace an existing regular file (else EEXIST)
  uint32_t mode = 0644;
  uint64_t expected_size = 0;    // for progress reports only; 0 if unknown
  ProgressCallback progress;     // bytes handed to the datanodes so far
};

// A path split into its (resolved) parent directory and last name.
struct ResolvedParent {
  Attr dir;              // a directory
  std::string dir_path;  // canonical path of `dir` as given (symlinks not expanded)
  std::string name;      // the last component; never empty
};

class Client {
 public:
  // A client for the cluster in `options` (validated first). No RPC is made yet: an unreachable
  // cluster shows on the first operation.
  static absl::StatusOr<std::unique_ptr<Client>> New(const ClientOptions& options);

  // `options` must be valid; `seed` drives session ids and retry jitter (tests fix it).
  Client(const ClientOptions& options, uint64_t seed);
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const ClientOptions& options() const { return options_; }
  // The caller a request sent from this thread now carries (client/caller.h); nullopt: none.
  // For requests built now and sent later, as the ops of a Batch.
  std::optional<Caller> CallerNow() const;
  // "host:port,host:port" of the configured masters, for messages.
  std::string MastersString() const { return master_.MastersString(); }

  // ---- Inode-level operations: one master RPC each (plus retries). ----
  absl::StatusOr<Attr> Lookup(uint64_t parent, absl::string_view name);
  // `path` is normalised first. Symlinks are not followed, in any component.
  absl::StatusOr<Attr> LookupPath(absl::string_view path);
  absl::StatusOr<Attr> GetAttr(uint64_t inode);
  // One page of a directory, names in byte order after `start_after`; limit 0: server default.
  absl::StatusOr<ReadDirResponse> ReadDirPage(uint64_t inode, absl::string_view start_after,
                                              uint32_t limit = 0);
  // Every entry, page by page, calling `fn` as pages arrive (a huge directory is never held
  // whole). Stops at and returns `fn`'s first error.
  absl::Status ForEachDirEntry(uint64_t inode,
                               const std::function<absl::Status(const DirEntry&)>& fn);
  // Every entry, collected.
  absl::StatusOr<std::vector<DirEntry>> ReadDir(uint64_t inode);
  // New inodes belong to the caller (client/caller.h), with the parent's group in a setgid
  // directory.
  // Mkdir, Create, Symlink, Link, Unlink, Rmdir and Rename fill `parent_attr` (when given and
  // the master sent them) with the attributes of the directory they changed, after the change;
  // Rename fills `new_parent_attr` with the destination's, if that is another directory.
  absl::StatusOr<Attr> Mkdir(uint64_t parent, absl::string_view name, uint32_t mode,
                             Attr* parent_attr = nullptr);
  // Creates a regular file with `content` (from a ChunkWriter; empty for an empty file) in one
  // atomic command.
  absl::StatusOr<Attr> Create(uint64_t parent, absl::string_view name,
                              const CreateOptions& options, const WrittenData& content = {},
                              Attr* parent_attr = nullptr);
  // Makes `content` (written chunks) the whole content of the file `request` creates.
  static void SetContent(const WrittenData& content, CreateRequest* request);
  absl::StatusOr<Attr> Symlink(uint64_t parent, absl::string_view name, absl::string_view target,
                               Attr* parent_attr = nullptr);
  absl::StatusOr<Attr> Link(uint64_t inode, uint64_t new_parent, absl::string_view new_name,
                            Attr* parent_attr = nullptr);
  // `keep_orphan`: the caller still has the file open, so at zero links the master keeps the
  // inode (an orphan, readable and writable by inode number) until ReleaseOrphan.
  absl::Status Unlink(uint64_t parent, absl::string_view name, bool keep_orphan = false,
                      Attr* parent_attr = nullptr);
  absl::Status Rmdir(uint64_t parent, absl::string_view name, Attr* parent_attr = nullptr);
  // `noreplace`: EEXIST instead of replacing an existing target (RENAME_NOREPLACE).
  // `keep_orphan`: a replaced target that the caller has open becomes an orphan (see Unlink).
  absl::Status Rename(uint64_t parent, absl::string_view name, uint64_t new_parent,
                      absl::string_view new_name, bool noreplace = false,
                      bool keep_orphan = false, Attr* parent_attr = nullptr,
                      Attr* new_parent_attr = nullptr);
  // Mkdirs and creates (with reserved inode ids; a create may carry the file's first content),
  // unlinks, rmdirs and renames applied in order in one Raft entry (MasterService.Batch), each
  // on its own. The ops' `caller` fields are sent as they are (see CallerNow), their sessions
  // are ignored. Fails as a whole only if none was applied.
  struct BatchAnswer {
    // One per op, in order: OK or that op's error as its single call would return it (with the
    // errno payload).
    std::vector<absl::Status> results;
    // The log index the batch was applied at; not counted in newest_applied_index (see
    // BatchResponse.index).
    uint64_t index = 0;
    // The attributes after the batch of the directories its ops changed (best effort).
    std::vector<Attr> dir_attrs;
    // One per op: a done create's or mkdir's new inode as the master made it; else empty.
    std::vector<Attr> attrs;
  };
  absl::StatusOr<BatchAnswer> Batch(std::vector<BatchOp> ops);
  // A block of `count` inode ids this client may give its own mkdirs (MkdirRequest.inode).
  absl::StatusOr<ReserveInodesResponse> ReserveInodes(uint32_t count);
  // Frees an orphan kept by Unlink/Rename with keep_orphan, at the caller's last close. A no-op
  // for an inode that is not an orphan (it was linked again, or already released).
  absl::Status ReleaseOrphan(uint64_t inode);
  absl::StatusOr<Attr> SetAttr(uint64_t inode, const AttrChanges& changes);
  // Commits `data` into an existing file at `offset`, or at its end when `append` (decided by
  // the master when it applies the command). Returns the new attributes and the offset used.
  absl::StatusOr<CommitWriteResponse> CommitWrite(uint64_t inode, bool append, uint64_t offset,
                                                  const WrittenData& data);
  // Extents of [offset, offset + length) (length 0: to the end) with replica locations.
  absl::StatusOr<GetExtentsResponse> GetExtents(uint64_t inode, uint64_t offset, uint64_t length);
  absl::StatusOr<StatFsResponse> StatFs();
  absl::Status ReportBadReplica(uint64_t chunk_id, absl::string_view datanode_id,
                                absl::string_view reason);
  // The change feed, one attempt (MasterClient::Watch), and the newest log index of an answer
  // this client got: a cache fed by the one is as new as everything this client saw once it
  // reached the other.
  absl::Status Watch(grpc::ClientContext* context,
                     const std::function<bool(const WatchEvent&)>& on_event) {
    return master_.Watch(context, on_event);
  }
  uint64_t newest_applied_index() const { return master_.newest_applied_index(); }

  // ---- Data ----
  // A writer whose chunks can be committed with Create or CommitWrite.
  std::unique_ptr<ChunkWriter> NewChunkWriter();
  // Writes `data` as new chunks and commits it at `offset` of file `inode`.
  absl::StatusOr<CommitWriteResponse> Write(uint64_t inode, uint64_t offset,
                                            absl::string_view data);
  // The same, at the end of the file as the master sees it when it applies the write.
  absl::StatusOr<CommitWriteResponse> Append(uint64_t inode, absl::string_view data);
  // Streams up to `length` bytes (kToEnd: all) of file `inode` from `offset` into `sink`, in
  // order, stopping at the end of the file; holes read as zeros. Extents are fetched
  // kReadWindowBytes at a time and data reaches the sink as it arrives. Returns the bytes
  // delivered. `progress` gets (delivered, bytes the read will deliver at most).
  absl::StatusOr<uint64_t> ReadStream(uint64_t inode, uint64_t offset, uint64_t length,
                                      const ByteSink& sink,
                                      const ProgressCallback& progress = nullptr);
  // Reads into `out` (replacing its contents); shorter than `length` at the end of the file.
  absl::Status Read(uint64_t inode, uint64_t offset, uint64_t length, std::string* out);
  // Streams bytes [offset, offset + length) of a file through `extents`, an answer of
  // GetExtents whose requested range covers them (callers that cache extents and chunk
  // locations read without asking the master again). Stops at the file size the answer gives;
  // holes read as zeros. Returns the bytes delivered.
  absl::StatusOr<uint64_t> ReadExtents(const GetExtentsResponse& extents, uint64_t offset,
                                       uint64_t length, const ByteSink& sink);

  // ---- Paths ----
  // The attributes of `path`; a final symlink is not followed (lstat).
  absl::StatusOr<Attr> Stat(absl::string_view path);
  // The inode `path` names, following symlinks in the directories on the way and, when
  // `follow_last`, in the last component too (stat). ELOOP after 40 symlinks.
  absl::StatusOr<Attr> ResolvePath(absl::string_view path, bool follow_last);
  // The directory that contains `path` (which must not be "/") and the last name.
  absl::StatusOr<ResolvedParent> ResolveParent(absl::string_view path);
  // Creates `path` and any missing parents (mkdir -p); an existing directory is fine.
  absl::StatusOr<Attr> MkdirAll(absl::string_view path, uint32_t mode = 0755);
  // Writes everything `source` yields into a new file at `remote` (or replaces it with
  // `overwrite`). All chunks are written before the file is created in one command, so an
  // interrupted put leaves no file. The remote parent must exist.
  absl::StatusOr<Attr> Put(const ByteSource& source, absl::string_view remote,
                           const PutOptions& options);
  absl::StatusOr<Attr> Put(std::istream& in, absl::string_view remote, const PutOptions& options);
  absl::StatusOr<Attr> Put(int fd, absl::string_view remote, const PutOptions& options);
  // Streams the whole file at `remote` (symlinks followed) into `sink`. EISDIR for a directory.
  // Returns the attributes the read started from.
  absl::StatusOr<Attr> Get(absl::string_view remote, const ByteSink& sink,
                           const ProgressCallback& progress = nullptr);
  // Removes a file or symlink; a directory only when `recursive` (else EISDIR), with everything
  // in it. Symlinks are removed, never followed.
  absl::Status Remove(absl::string_view path, bool recursive);
  // Renames `src` to exactly `dst` (POSIX rename: replaces an existing file or empty directory).
  absl::Status Move(absl::string_view src, absl::string_view dst);

 private:
  absl::StatusOr<Attr> ResolveCanonical(const std::string& canonical, bool follow_last, int hops);
  absl::Status RemoveTree(uint64_t dir);

  const ClientOptions options_;
  MasterClient master_;
  std::unique_ptr<ChunkAllocator> allocator_;
};

}  // namespace dfs
