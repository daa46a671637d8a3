// FileSystem: the POSIX file-system semantics of dfs-fuse, in dfs terms (inode numbers, Attr,
// absl::Status), with no libfuse in sight. fuse/fuse_server.h adapts it to the kernel's requests
// and turns statuses into errno values (common/errors.h ErrnoOf) at that edge.
//
// What it adds on top of the client library:
//   - Write buffering (fuse/write_buffer.h). Each inode this mount writes has one buffer:
//     sequential writes and appends stream into a chunk pipeline as they come, scattered
//     positional writes wait in memory; both are committed to the master on flush (close),
//     fsync, when the buffer reaches the commit size (the chunk size), before truncation, and
//     when appends and positional writes alternate. Appends are committed with append=true: the
//     master places them at the file's end when it applies the command, so concurrent appenders
//     never interleave inside one write call. Reads lay buffered ranges over what the cluster
//     returns (a streamed run or appends are committed first), and getattr reports the size
//     the buffer implies. Fsync returns once the commit is done — the data is then on every
//     replica (the pipeline acknowledges only after all of them synced) and in the namespace.
//   - Close-to-open consistency. Open asks the master for fresh attributes; the kernel's cached
//     pages are kept only when the content generation is the one this mount last saw (else
//     Opened::invalidate tells the adapter to drop the kernel's attributes and pages).
//   - Reads: per open file, readahead with parallel block fetches (fuse/file_reader.h) over a
//     cache of extents and chunk locations, dropped when this mount changes the file.
//   - Open-unlinked files. Open handles are counted per inode; an unlink or rename that drops a
//     name of an inode open here asks the master to keep it as an orphan, and the last release
//     of such an inode frees it (ReleaseOrphan). Other mounts' open files are not known here:
//     unlinking a file another mount has open removes it at once (as on NFS without silly
//     renames).
//   - Lookup counting (the kernel's nlookup), so per-inode state lives as long as the kernel
//     knows the inode or has it open.
//
// Thread-safe: the adapter calls every method from many threads at once. Per-inode write state
// is serialised by the inode's mutex; no lock is held across an RPC except that one (a commit
// happens under it, so writes to one file wait for its commit).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "fuse/dir_attr_cache.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "client/client.h"
#include "common/clock.h"
#include "fuse/file_reader.h"
#include "fuse/meta_cache.h"
#include "fuse/thread_pool.h"
#include "fuse/write_behind.h"
#include "fuse/write_buffer.h"

namespace dfs::fuse {

struct FileSystemOptions {
  // A file's pending write is committed when it reaches this size (use the chunk size).
  uint64_t commit_bytes = 64ull << 20;
  // Reads: block size and how far ahead a sequential reader is served (0: no readahead).
  uint64_t read_block_bytes = 1 << 20;
  uint64_t readahead_bytes = 32ull << 20;
  int prefetch_threads = 8;
  // Extents (with chunk locations) are fetched this many bytes at a time and reused for this
  // long by one open file; this mount's own changes drop them at once.
  uint64_t extent_window_bytes = 64ull << 20;
  int64_t extent_cache_ms = 5000;
  // A directory's attributes that the master returned with this mount's create, mkdir or
  // symlink in it answer the kernel's getattr that follows, if it comes within this long
  // (fuse/dir_attr_cache.h); 0 asks the master every time. At most the attribute timeout.
  int64_t dir_attr_reuse_ms = 200;
  // Names and attributes kept current by the master's change feed (fuse/meta_cache.h) answer
  // lookups and getattrs; grace_ms 0 turns it off. Only with the kernel checking permissions
  // (default_permissions): the master's checks of a lookup are skipped on a hit.
  MetaCacheOptions meta_cache;
  // Mkdirs, unlinks, rmdirs and renames whose outcome this mount knows are answered at once and
  // sent to the master behind (fuse/write_behind.h); only with the metadata cache on.
  WriteBehindOptions write_behind;
};

// Tells the kernel to forget what it caches about an inode. Implementations must not wait for
// the kernel: FileSystem calls this from inside request handlers.
class KernelCache {
 public:
  virtual ~KernelCache() = default;
  // Cached attributes, and cached pages too when `data`.
  virtual void Invalidate(uint64_t inode, bool data) = 0;
};

class FileSystem {
 public:
  // `client` and `kernel` (may be null) must outlive the FileSystem.
  FileSystem(Client* client, KernelCache* kernel, const FileSystemOptions& options,
             Clock* clock = RealClock::Get());
  ~FileSystem();
  FileSystem(const FileSystem&) = delete;
  FileSystem& operator=(const FileSystem&) = delete;

  class FileHandle;
  class DirHandle;

  // ---- Names. Every call returning an Attr of a named inode counts one kernel lookup of it
  // (Lookup, Mkdir, Symlink, Link, Create; readdirplus entries through AddLookup). ----
  absl::StatusOr<Attr> Lookup(uint64_t parent, absl::string_view name);
  void AddLookup(const Attr& attr);
  void Forget(uint64_t inode, uint64_t nlookup);

  // The master's attributes, with the size grown by this mount's pending write.
  absl::StatusOr<Attr> GetAttr(uint64_t inode);
  // Truncation commits the pending write first. UTIME_NOW is the caller's business (the
  // adapter reads the clock).
  absl::StatusOr<Attr> SetAttr(uint64_t inode, const AttrChanges& changes);
  absl::StatusOr<std::string> ReadLink(uint64_t inode);

  // New inodes belong to the caller the adapter names (client/caller.h).
  absl::StatusOr<Attr> Mkdir(uint64_t parent, absl::string_view name, uint32_t mode);
  absl::StatusOr<Attr> Symlink(uint64_t parent, absl::string_view name, absl::string_view target);
  absl::StatusOr<Attr> Link(uint64_t inode, uint64_t new_parent, absl::string_view new_name);
  absl::Status Unlink(uint64_t parent, absl::string_view name);
  absl::Status Rmdir(uint64_t parent, absl::string_view name);
  // `noreplace`: RENAME_NOREPLACE. (RENAME_EXCHANGE is refused by the adapter.)
  absl::Status Rename(uint64_t parent, absl::string_view name, uint64_t new_parent,
                      absl::string_view new_name, bool noreplace);
  absl::StatusOr<StatFsResponse> StatFs();
  // fsyncdir(2): every namespace change this mount answered is committed; reports one that
  // failed at the master since the last fsync or fsyncdir.
  absl::Status FsyncDir();

  // ---- Files ----
  struct Opened {
    FileHandle* handle = nullptr;
    Attr attr;
    // The kernel may keep the pages it caches for this inode (the content did not change since
    // this mount last saw it).
    bool keep_cache = false;
    // The kernel's cached attributes are stale: invalidate them before answering the open.
    bool invalidate_attr = false;
    // Serve this handle without the kernel's page cache (O_APPEND: the kernel would cache the
    // appended bytes at the offset it guesses, but the master decides where they land).
    bool direct_io = false;
  };
  // `flags` as open(2) gives them (O_ACCMODE, O_TRUNC, O_APPEND).
  absl::StatusOr<Opened> Open(uint64_t inode, int flags);
  // Creates (or, without O_EXCL, opens an existing) regular file and opens it; counts a lookup.
  absl::StatusOr<Opened> Create(uint64_t parent, absl::string_view name, uint32_t mode, int flags);
  // Up to `size` bytes at `offset`; shorter only at the end of the file.
  absl::StatusOr<std::string> Read(FileHandle* handle, uint64_t offset, uint64_t size);
  // Buffers `data` (O_APPEND handles: at the end, wherever that is when committed).
  absl::StatusOr<size_t> Write(FileHandle* handle, uint64_t offset, absl::string_view data);
  // close(2) of one descriptor: commits the inode's pending write; reports a commit that failed
  // since the last flush or fsync.
  absl::Status Flush(FileHandle* handle);
  absl::Status Fsync(FileHandle* handle);
  // The last close of the open file: commits what is left (errors can only be logged), frees
  // an orphaned inode at its last release in this mount, and deletes the handle.
  void Release(FileHandle* handle);

  // ---- Directories ----
  absl::StatusOr<DirHandle*> OpenDir(uint64_t inode);
  // Calls `add(entry, next_offset)` for the entries from `offset` on ("." and ".." first) until
  // it returns false (the kernel's buffer is full) or the directory ends. The listing is read
  // from the master page by page as the kernel asks, and read afresh when it starts over at 0.
  absl::Status ReadDir(DirHandle* handle, uint64_t offset,
                       const std::function<bool(const DirEntry& entry, uint64_t next)>& add);
  void ReleaseDir(DirHandle* handle);

  // ---- For tests and the adapter's shutdown ----
  // Open file handles in this mount.
  int open_files();
  // Inodes with per-inode state (known to the kernel or open).
  size_t tracked_inodes();
  // Commits every pending write (at unmount).
  absl::Status FlushAll();
  MetaCache::Stats meta_cache_stats() { return meta_.stats(); }
  WriteBehind::Stats write_behind_stats() { return write_behind_.stats(); }

 private:
  struct InodeState;
  class ExtentSource;

  // The master's answer to a lookup, through the metadata cache; not counted as a kernel lookup.
  absl::StatusOr<Attr> LookupAttr(uint64_t parent, absl::string_view name);
  // The client, once every namespace change this mount answered before is at the master: what
  // is asked then reflects them (fuse/write_behind.h).
  Client* Master();
  // What this mount knows of a name without asking the master: its own queued changes, then the
  // metadata cache.
  MetaCache::LookupResult KnownName(uint64_t parent, absl::string_view name);
  // Whether an inode is open here (an unlink must then keep it as an orphan).
  bool OpenHere(uint64_t inode);
  // Queues `op` behind if `dirs` (the directories it changes, with the change of each one's link
  // count) have known attributes; false: do it now.
  // `held_seq`: hold `op` (a create) for the file's content, and give its number there.
  bool SendBehind(BatchOp op, WriteBehind::Effects effects,
                  std::vector<std::pair<uint64_t, int>> dirs, uint64_t* held_seq = nullptr);
  // A directory's attributes as this mount knows them (its own queued changes, the metadata
  // cache), else as the master says; nullopt if it cannot say.
  std::optional<Attr> KnownDirAttr(uint64_t dir);
  // `caller` as the master takes it: root squashed if it squashes this mount's root.
  Caller AsTheMasterSees(const Caller& caller);
  // The caller of this request, if the master's permission rules (common/permissions.h), applied
  // as the master will, let it do what `allowed` checks: the change can be sent behind.
  std::optional<Caller> BehindCaller(const std::function<absl::Status(const Caller&)>& allowed);
  // An inode id for a create or mkdir sent behind, from a block reserved at the master.
  absl::StatusOr<uint64_t> NextInodeId();
  // Create (an empty file), Mkdir, Unlink, Rmdir and Rename behind the caller's back, where the
  // outcome is known here (NewInodeBehind: the new inode's attributes; `held_seq` as SendBehind).
  std::optional<Attr> NewInodeBehind(uint64_t parent, absl::string_view name, FileType type,
                                     uint32_t mode, uint64_t* held_seq = nullptr);
  bool RemoveBehind(uint64_t parent, absl::string_view name, bool rmdir);
  bool RenameBehind(uint64_t parent, absl::string_view name, uint64_t new_parent,
                    absl::string_view new_name, bool noreplace);
  // Follows the change feed into meta_ until feed_stop_ (its own thread).
  void RunFeed();
  void StopFeed();

  std::shared_ptr<InodeState> GetState(uint64_t inode) ABSL_LOCKS_EXCLUDED(table_mu_);
  std::shared_ptr<InodeState> FindState(uint64_t inode) ABSL_LOCKS_EXCLUDED(table_mu_);
  void MaybeDropStateLocked(uint64_t inode) ABSL_EXCLUSIVE_LOCKS_REQUIRED(table_mu_);
  // After this mount changed the content of `state`'s inode to `after`: whether the kernel's
  // pages still hold the current bytes (InodeState::page_generation).
  void AdvancePages(InodeState& state, const Attr& after);
  // Commits `state`'s write buffer; its mutex held. A failure is also kept for the next flush.
  absl::Status CommitLocked(InodeState& state);
  // A new file's first content, given to its create while write-behind still holds it (one op,
  // one Raft entry for both): the file's attributes after it. nullopt if the create went
  // without it (then the content is a CommitWrite of its own).
  std::optional<absl::StatusOr<Attr>> ContentWithCreate(InodeState& state, bool append,
                                                        uint64_t offset, const WrittenData& data)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(state.mu);
  // Commits written chunks into the inode (the buffer's WriteTarget::Commit).
  absl::Status CommitData(InodeState& state, bool append, uint64_t offset,
                          const WrittenData& data);
  // Commits the pending write of `inode`, if any.
  absl::Status CommitInode(InodeState& state);
  // Adjusts `attr` for a pending write and for this mount's newest change of the content, which
  // `attr` may predate; `state`'s mutex held.
  void ApplyPendingLocked(const InodeState& state, Attr* attr);
  // Records the attributes after this mount changed `state`'s content; its mutex held.
  void NoteOwnChangeLocked(InodeState& state, const Attr& after);
  // An extents answer fetched by open, to start the new handle's cache with.
  struct ExtentSeed {
    GetExtentsResponse extents;
    uint64_t version = 0;  // the inode's data_version before the answer was asked for
  };
  absl::StatusOr<Opened> OpenAttr(const Attr& attr, int flags, bool created, ExtentSeed* seed);
  // Marks `inode` (if open here) as losing a link; true if the master must keep it as an orphan.
  std::shared_ptr<InodeState> BeginDropLink(uint64_t inode);
  void EndDropLink(const std::shared_ptr<InodeState>& state);
  void ReleaseOrphanIfDue(const std::shared_ptr<InodeState>& state);

  Client* const client_;
  KernelCache* const kernel_;
  const FileSystemOptions options_;
  Clock* const clock_;
  ThreadPool prefetch_pool_;
  DirAttrCache dir_attrs_;
  MetaCache meta_;
  WriteBehind write_behind_;  // after meta_: sends what is queued before meta_ goes

  absl::Mutex ids_mu_;  // reserved inode ids [next_id_, end_id_)
  uint64_t next_id_ ABSL_GUARDED_BY(ids_mu_) = 0;
  uint64_t end_id_ ABSL_GUARDED_BY(ids_mu_) = 0;
  std::atomic<int> root_squashed_{-1};  // StatFsResponse.root_squashed; -1: not asked yet

  absl::Mutex feed_mu_;
  bool feed_stop_ ABSL_GUARDED_BY(feed_mu_) = false;
  grpc::ClientContext* feed_context_ ABSL_GUARDED_BY(feed_mu_) = nullptr;
  std::thread feed_;

  absl::Mutex table_mu_;
  absl::flat_hash_map<uint64_t, std::shared_ptr<InodeState>> inodes_ ABSL_GUARDED_BY(table_mu_);
  int open_files_ ABSL_GUARDED_BY(table_mu_) = 0;
};

}  // namespace dfs::fuse
