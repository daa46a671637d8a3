// The master's replicated state machine: the namespace and chunk map in a MetaStore, changed only
// by Apply(index, command) and read by the query methods.
//
// Apply is deterministic: the same commands in the same order give byte-identical stores (no
// clock, no randomness, ordered iteration only). Each command's mutations, the applied index and
// the client-session record are written in one atomic batch, so state and index never disagree
// after a crash. A semantic failure (ENOENT...) is a result; a storage failure aborts (fail-stop).
//
// Thread safety: Apply from one thread at a time; queries from any thread, concurrently.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "master/meta_store.h"
#include "proto/command.pb.h"
#include "proto/common.pb.h"
#include "proto/master.pb.h"

namespace dfs {

// The message of every command refused in safe mode (with EROFS).
inline constexpr char kSafeModeMessage[] = "cluster is in safe mode (read-only)";

// Session records kept per client: a retry of one of a client's last kSessionWindow commands is
// answered from the record instead of being applied again.
inline constexpr uint64_t kSessionWindow = 1024;

// Hears, on the apply thread, what each applied log entry changed in inodes and directory
// entries (the change feed, master/watch_hub.h): once per entry, with no inodes and no dirents
// for an entry that changes neither. OnChange is called after the change is in the store and
// before applied_index() shows it, so whoever reads applied_index() >= i knows every change up to
// i was handed over; it must not block. Listening() is asked first: nothing is built when false.
class ChangeListener {
 public:
  virtual ~ChangeListener() = default;
  virtual bool Listening() = 0;
  virtual void OnChange(Change change) = 0;
};

class StateMachine {
 public:
  // Opens (or initialises, with the root directory) the store at `path`; `env` as in
  // MetaStore::Open.
  static absl::StatusOr<std::unique_ptr<StateMachine>> Open(const std::string& path,
                                                            leveldb::Env* env = nullptr);

  uint64_t applied_index() const { return applied_index_.load(); }

  // Applies the command at log `index`, which must be applied_index() + 1.
  CommandResult Apply(uint64_t index, const Command& command);
  // Decodes a log entry's serialized Command and applies it. An entry that does not decode
  // (a bug or corruption upstream of the log) is an InvalidArgument result that still advances
  // the index: every replica decodes the same bytes the same way, so none crashes and all agree.
  CommandResult ApplyEncoded(uint64_t index, absl::string_view data);
  // Advances the applied index past a log entry that is not a command (Raft no-ops and
  // membership changes).
  void ApplyNoop(uint64_t index);

  // Takes a snapshot's bytes in pieces (of at most kSnapshotPieceBytes), in order.
  using SnapshotSink = std::function<absl::Status(absl::string_view piece)>;
  static constexpr size_t kSnapshotPieceBytes = 64 << 10;
  // The whole state as of applied_index(), serialized (a Raft snapshot) into one string: for
  // tests. Apply thread only.
  std::string Snapshot();
  // Captures the state as of applied_index() (apply thread, cheap: a LevelDB snapshot) and
  // returns what serializes that capture into a sink, piece by piece, so that the whole state is
  // never in memory at once (the master streams it into a file). It may run on any thread, while
  // applying goes on, so a large namespace is serialized off the apply thread. Call it at most
  // once; it stops at the sink's first error.
  std::function<absl::Status(const SnapshotSink&)> CaptureSnapshot();
  // Replaces the whole state with a snapshot taken at `index`, atomically. Apply thread only.
  absl::Status Restore(uint64_t index, const std::string& data);

  // ---- queries of the applied state ----
  // With a caller, the queries check permissions as Linux would (common/permissions.h): search
  // on every directory looked into, read on a directory listed or a file whose extents are
  // asked for. A null caller is not checked.
  absl::StatusOr<Attr> GetAttr(uint64_t inode);
  absl::StatusOr<Attr> Lookup(uint64_t parent, const std::string& name,
                              const Caller* caller = nullptr);
  // Resolves an absolute path without following symlinks.
  absl::StatusOr<Attr> LookupPath(const std::string& path, const Caller* caller = nullptr);
  struct DirEntry {
    std::string name;
    Attr attr;
  };
  absl::StatusOr<std::vector<DirEntry>> ReadDir(uint64_t inode, const std::string& start_after,
                                               size_t limit, bool* has_more,
                                               const Caller* caller = nullptr);
  struct ExtentsResult {
    Attr attr;
    std::vector<Extent> extents;   // clipped to the range
    std::vector<ChunkInfo> chunks; // each distinct chunk once
  };
  absl::StatusOr<ExtentsResult> GetExtents(uint64_t inode, uint64_t offset, uint64_t length,
                                           const Caller* caller = nullptr);
  absl::StatusOr<ChunkInfo> GetChunk(uint64_t chunk_id);
  bool ChunkKnown(uint64_t chunk_id);  // referenced or garbage: not an orphan
  uint64_t inode_count();
  uint64_t chunk_count();  // scans the chunk map: for status pages, not hot paths
  // Ids of the datanodes being drained (decommission records), in id order.
  std::vector<std::string> DecommissionedDatanodes();

  // Safe mode (SetSafeModeCmd): while on, Apply refuses with EROFS every command that
  // BlockedInSafeMode() names. Readable from any thread without touching the store.
  bool safe_mode() const { return safe_mode_.load(); }
  // When safe mode was entered (the command's timestamp); 0 when off.
  int64_t safe_mode_since_ns();

  MetaStore* store() { return store_.get(); }

  // Set before the first Apply; not owned, outlives the state machine's use.
  void SetChangeListener(ChangeListener* listener) { listener_ = listener; }

 private:
  explicit StateMachine(std::unique_ptr<MetaStore> store);
  absl::Status Dispatch(Txn& txn, const Command& command, int64_t now_ns, CommandResult* result);
  // Applies a BatchCmd's commands, each on its own, into `result->items`.
  absl::Status ApplyBatch(Txn& txn, const BatchCmd& batch, int64_t now_ns, CommandResult* result);

  std::unique_ptr<MetaStore> store_;
  std::atomic<uint64_t> applied_index_{0};
  std::atomic<bool> safe_mode_{false};  // mirrors the kSafeMode key, for cheap checks
  ChangeListener* listener_ = nullptr;
};

// What `txn`'s pending writes change in inodes (I keys) and directory entries (D keys), as the
// command at `index` leaves them; no inodes and no dirents if it changes neither.
Change NamespaceChange(uint64_t index, const Txn& txn);

// The status a CommandResult describes (with its errno payload).
absl::Status ResultStatus(const CommandResult& result);

// True for the commands safe mode refuses: every client change to the namespace or to file
// content (create, mkdir, write commits, rename, unlink, setattr, link, symlink, batches...) and
// the merger's swaps. Not refused: freeing an orphan at its last close (nothing visible changes,
// and refusing would leak it), replica bookkeeping (repairs go on), id reservations,
// decommissioning and safe mode itself.
bool BlockedInSafeMode(const Command& command);
// FailedPrecondition with EROFS and kSafeModeMessage.
absl::Status SafeModeError();

}  // namespace dfs
