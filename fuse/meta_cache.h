// MetaCache: names and attributes this mount learned, kept current by the master's change feed
// (MasterService.Watch, master/watch_hub.h), so that the lookups and getattrs the kernel sends
// once its own timeouts expire are answered here instead of by a read barrier at the master.
//
// What is kept: attributes by inode; directory entries by (directory, name), present or absent;
// and, for some directories, that every entry is known ("complete": a name not kept does not
// exist). It is filled from answers the master gave this mount (Insert*: Lookup, GetAttr,
// ReadDir), and by the feed: each change carries the new values of the inodes and entries one
// command changed, which replace the kept ones in log order; entries of complete directories,
// and the attributes of the inodes they newly name, are added.
//
// An answer may be older than what the feed already delivered: it is inserted only if nothing
// the feed delivered since its Ticket (taken before asking) touched what it describes. A ring
// of recently touched keys remembers; once it overflowed past the ticket, the answer is dropped.
// A change delivered after the answer only makes the value newer.
//
// The cache answers only while it is Usable: the feed is connected, its last sync marker (the
// leader confirmed it still led after sending every earlier change) arrived less than grace_ms
// ago, and the feed has reached the newest index of any answer this mount got from the master
// (the index its own change was applied at, or that a read reflected): the cache never hides a
// change this mount made or a state it already saw, which keeps close-to-open (open asks the
// master) whole. A new or lost stream empties it. So a change made
// through another mount shows here once the feed delivers it, normally well under a millisecond
// after the master applied it, and if the feed stalls at most grace_ms later: a bound on this
// mount's clock, like the kernel's attribute timeout, on top of which the kernel's own caches
// keep what they were given for their timeouts.
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "proto/master.pb.h"

namespace dfs::fuse {

struct MetaCacheOptions {
  // How long after the feed's last sync marker the cache still answers; 0: never (off).
  int64_t grace_ms = 500;
  // Attributes plus entries kept; past it everything is dropped (and learned again).
  size_t max_entries = 100000;
  // Misses in a large directory (more entries than a short listing) after which it is listed
  // whole: a directory this mount did not create, or no longer knows whole (the feed
  // reconnected), would otherwise cost a master round trip for every new name in it.
  uint32_t list_after_misses = 16;
  // Keys the feed touched, remembered for answers in flight.
  size_t touched_ring = 8192;
};

class MetaCache {
 public:
  MetaCache(const MetaCacheOptions& options, Clock* clock);

  bool enabled() const { return options_.grace_ms > 0; }

  // ---- The feed ----
  // A stream begins (empty; usable from its first sync marker) or ends (emptied).
  void Connected();
  void Disconnected();
  void Apply(const WatchEvent& event);

  // ---- Answers from the master ----
  struct Ticket {
    uint64_t generation = 0;
    uint64_t seq = 0;
  };
  // Take before asking the master.
  Ticket Begin();
  // `attr` null: the name does not exist.
  void InsertLookup(const Ticket& ticket, uint64_t parent, absl::string_view name,
                    const Attr* attr);
  void InsertAttr(const Ticket& ticket, const Attr& attr);
  // Every entry of directory `dir`.
  void InsertListing(const Ticket& ticket, uint64_t dir, const std::vector<DirEntry>& entries);
  // A directory this mount just created (`attr`): empty, so complete.
  void InsertNewDir(const Ticket& ticket, const Attr& attr);
  // `dir` is too large to be listed in one short page: Lookup is asked for each name, until
  // options.list_after_misses of them missed (LookupResult::list_whole).
  void MarkLarge(uint64_t dir);
  // `dir` is too large to be listed at all: Lookup is asked for each name.
  void MarkHuge(uint64_t dir);

  // ---- Queries; `own_index` is the newest index of an answer this mount got from the master
  // (Client::newest_applied_index) ----
  enum class Found { kUnknown, kAbsent, kPresent };
  struct LookupResult {
    Found found = Found::kUnknown;
    Attr attr;                // kPresent
    bool listable = false;    // kUnknown: listing the directory could make it complete
    // kUnknown in a directory too large for one short listing that has missed often: list it
    // whole (up to a bound), so that the names it lacks are known absent from then on.
    bool list_whole = false;
  };
  LookupResult Lookup(uint64_t parent, absl::string_view name, uint64_t own_index);
  std::optional<Attr> GetAttr(uint64_t inode, uint64_t own_index);
  // Whether directory `dir` is known to have no entries (nullopt: not known).
  std::optional<bool> IsEmptyDir(uint64_t dir, uint64_t own_index);
  // The index the feed has delivered up to, while the cache is usable (for own_index 0).
  std::optional<uint64_t> FeedIndex();

  struct Stats {
    uint64_t hits = 0;
    uint64_t misses = 0;
    uint64_t inserts_dropped = 0;  // answers older than the feed
    uint64_t entries = 0;
    bool usable = false;
    uint64_t feed_index = 0;  // the log index the feed has delivered up to
  };
  Stats stats();

 private:
  struct Dir {
    bool complete = false;
    bool large = false;
    bool huge = false;
    uint32_t misses = 0;  // while large
    absl::flat_hash_map<std::string, uint64_t> names;  // 0: absent
  };

  void Restart(bool connected);
  bool UsableLocked(uint64_t own_index) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ClearLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetNameLocked(Dir& dir, absl::string_view name, uint64_t inode)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void TouchLocked(uint64_t key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // False if the feed touched one of `keys` since `ticket` (or may have: ring overflowed).
  bool FreshLocked(const Ticket& ticket, const std::vector<uint64_t>& keys)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void LimitLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const MetaCacheOptions options_;
  Clock* const clock_;

  absl::Mutex mu_;
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;  // bumped by Connected and Disconnected
  bool connected_ ABSL_GUARDED_BY(mu_) = false;
  int64_t synced_at_ns_ ABSL_GUARDED_BY(mu_) = 0;  // 0: no marker yet on this stream
  uint64_t feed_index_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t seq_ ABSL_GUARDED_BY(mu_) = 0;  // events applied
  std::deque<std::pair<uint64_t, uint64_t>> touched_ ABSL_GUARDED_BY(mu_);  // (seq, key)
  uint64_t forgotten_seq_ ABSL_GUARDED_BY(mu_) = 0;  // newest seq dropped from touched_
  absl::flat_hash_map<uint64_t, Attr> attrs_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, Dir> dirs_ ABSL_GUARDED_BY(mu_);
  size_t names_ ABSL_GUARDED_BY(mu_) = 0;
  Stats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace dfs::fuse
