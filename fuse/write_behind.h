// WriteBehind: namespace changes (create, mkdir, unlink, rmdir, rename) that dfs-fuse answers at
// once and sends to the master afterwards, in order, many to one Raft entry (MasterService.Batch). A local
// file system answers these from memory and journals them later; a DFS that commits each through
// a majority before answering pays a round trip and two fsyncs per call, which a single-threaded
// `rm -r`, `mkdir -p` or `mv` loop feels in full.
//
// What the caller of an operation is promised is POSIX's: the change is durable (committed by a
// Raft majority) once fsync or fsyncdir returns, or the mount is unmounted cleanly; until then
// a crash of this mount (not of a master: the client retries, and the batch's session makes a
// retry apply once) may lose it. dfs-fuse sends a change behind only when its metadata cache
// (fuse/meta_cache.h) says what the master will answer: the name exists (or not, for mkdir), its
// type, a directory's emptiness, no open file here to keep as an orphan, and the master's
// permission rules (common/permissions.h, with its root squash) allow it; a new file or directory
// gets an inode id from a block the mount reserved. A file's data is committed by inode after
// its create (every other call to the master waits for the queue), and its close waits for the
// queue too, so close-to-open holds for a new file as for its content. A create whose file this
// mount writes is held back (at most WriteBehindOptions::hold) for the file's first content:
// a small file written and closed at once then costs one op, one Raft entry (Amend, Wait).
// Anything else waits for the changes before it (Drain) and goes to the master as before. A
// change the master refuses anyway (another client changed the name first) is logged and
// reported by the next fsync or fsyncdir (EIO).
//
// This mount sees its own changes at once: until the change feed has delivered the entry a
// change was applied at, the names and directory attributes it made are answered from here
// (Lookup, DirAttr) before the metadata cache, which does not have them yet. Other mounts see a
// change once it is applied, normally within a batch's round trip.
//
// Thread-safe. One thread of its own sends the batches, but a caller that waits for the answer
// (Drain, Wait) sends the queue itself when no batch is in flight.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "fuse/meta_cache.h"
#include "proto/master.pb.h"

namespace dfs::fuse {

struct WriteBehindOptions {
  bool enabled = true;
  // Changes waiting to be sent; a caller beyond it waits.
  size_t max_pending = 4096;
  // Changes per batch (the master takes at most 1024).
  size_t max_batch = 1024;
  // How long a held create (Enqueue with `hold`) waits for its file's content before the batch
  // goes without it. Anyone waiting for the queue (Drain, Wait) ends every hold at once.
  absl::Duration hold = absl::Milliseconds(100);
};

class WriteBehind {
 public:
  using Answer = Client::BatchAnswer;
  // Sends one batch: its answer, or the batch's own failure.
  using Sender = std::function<absl::StatusOr<Answer>(const std::vector<BatchOp>& ops)>;
  // Told the directories whose attributes this mount showed ahead of the master and now has
  // from it (to make the kernel ask again). Called without locks held.
  using DirsAnswered = std::function<void(const std::vector<uint64_t>& dirs)>;
  // The log index the change feed has delivered up to, or nullopt while the feed cannot be
  // trusted (the metadata cache is not usable).
  using FeedIndex = std::function<std::optional<uint64_t>()>;

  WriteBehind(const WriteBehindOptions& options, Sender sender, FeedIndex feed_index,
              DirsAnswered dirs_answered = nullptr);
  // Sends what is queued, then stops.
  ~WriteBehind();
  WriteBehind(const WriteBehind&) = delete;
  WriteBehind& operator=(const WriteBehind&) = delete;

  bool enabled() const { return options_.enabled; }

  // What one queued op does, as this mount shows it until the feed delivers the result.
  struct Effects {
    struct Name {
      uint64_t parent = 0;
      std::string name;
      std::optional<Attr> attr;  // nullopt: the name no longer exists
    };
    std::vector<Name> names;
    std::vector<Attr> dirs;  // directories' attributes after the op
  };
  // Queues `op` (its caller already set); waits while max_pending ops are queued. Returns the
  // op's number. `hold`: `op` is a create whose file this mount is writing; the queue is not
  // sent until Amend gives it the file's first content, someone waits, or options.hold passes.
  uint64_t Enqueue(BatchOp op, Effects effects, bool hold = false);
  // If op `seq` is still queued and held, lets `amend` change it, ends its hold and returns true;
  // its answer is then Wait's to take (a failure is not also reported by TakeError). False once
  // the op was sent (or if it was never held).
  bool Amend(uint64_t seq, absl::FunctionRef<void(BatchOp&)> amend);
  // For an op Amend accepted: sends the queue and returns the op's answer, the new inode's
  // attributes as the master made them.
  absl::StatusOr<Attr> Wait(uint64_t seq);

  // ---- This mount's view of its own changes ----
  using Found = MetaCache::Found;
  Found Lookup(uint64_t parent, absl::string_view name, Attr* attr);
  std::optional<Attr> DirAttr(uint64_t inode);
  // Whether a queued or unconfirmed change made a name exist in `dir`.
  bool AddsNamesIn(uint64_t dir);

  // Returns once every op queued before the call has been answered by the master.
  void Drain();
  // The first failure since the last call (then forgotten), as EIO; OK if none.
  absl::Status TakeError();

  struct Stats {
    uint64_t queued = 0;   // ops ever queued
    uint64_t batches = 0;  // batches sent
    uint64_t failed = 0;   // ops the master refused, or whose batch failed
    uint64_t drains = 0;   // Drain calls that had to wait
    uint64_t amended = 0;  // held creates that got their file's content (Amend)
  };
  Stats stats();

 private:
  struct Kept {
    uint64_t seq = 0;    // the op that set it
    uint64_t index = 0;  // its batch's log index once answered; 0 while queued or in flight
    std::optional<Attr> attr;
  };
  using NameKey = std::pair<uint64_t, std::string>;
  // The keys one op set, to confirm or forget them when its answer comes and once the feed has
  // delivered it.
  struct Touched {
    uint64_t seq = 0;
    uint64_t index = 0;  // its batch's, once answered
    std::vector<NameKey> names;
    std::vector<uint64_t> dirs;
  };

  struct Queued {
    BatchOp op;
    uint64_t seq = 0;
    bool held = false;
  };

  void Run();
  // Waits until the queue should be sent: no batch is in flight, something is queued and nothing
  // is held, or the hold ended (someone waits, or its time passed). False when stopping with
  // nothing left to send.
  bool AwaitBatchLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sends the oldest queued ops as one batch (mu_ released meanwhile) and records the answer.
  // Only while no batch is in flight: batches go one at a time, in order.
  void SendBatchLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Returns once every op up to `seq` is answered; sends the queue itself whenever no batch is
  // in flight.
  void AwaitAnsweredLocked(uint64_t seq) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Records the answer to the oldest `count` unanswered ops (but for answered_seq_); returns the
  // directories whose attributes it replaced.
  std::vector<uint64_t> AnsweredLocked(size_t count, const absl::StatusOr<Answer>& answer)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drops what the feed has delivered, or everything answered while the feed is not trusted;
  // returns whether answered entries may be used.
  bool ExpireLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drops what `touched` set, where no later op replaced it.
  void ForgetLocked(const Touched& touched) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const WriteBehindOptions options_;
  const Sender sender_;
  const FeedIndex feed_index_;
  const DirsAnswered dirs_answered_;

  absl::Mutex mu_;
  std::deque<Queued> queue_ ABSL_GUARDED_BY(mu_);
  size_t held_ ABSL_GUARDED_BY(mu_) = 0;             // queued ops with `held`
  absl::Time hold_until_ ABSL_GUARDED_BY(mu_);       // when the oldest hold ends
  bool flush_ ABSL_GUARDED_BY(mu_) = false;          // someone waits: send without holding
  bool sending_ ABSL_GUARDED_BY(mu_) = false;        // a batch is in flight
  // Ops Amend accepted, until their answer; then the answer, until Wait takes it.
  absl::flat_hash_map<uint64_t, std::optional<absl::StatusOr<Attr>>> awaited_
      ABSL_GUARDED_BY(mu_);
  uint64_t queued_seq_ ABSL_GUARDED_BY(mu_) = 0;    // the newest op queued
  uint64_t answered_seq_ ABSL_GUARDED_BY(mu_) = 0;  // every op up to it is answered
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status error_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<NameKey, Kept> names_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, Kept> dirs_ ABSL_GUARDED_BY(mu_);
  std::deque<Touched> unanswered_ ABSL_GUARDED_BY(mu_);  // in seq order, queued and in flight
  std::deque<Touched> answered_ ABSL_GUARDED_BY(mu_);    // in index order, not yet in the feed
  Stats stats_ ABSL_GUARDED_BY(mu_);
  std::thread sender_thread_;
};

}  // namespace dfs::fuse
