// DirAttrCache: a directory's attributes as the master returned them together with a change
// this mount made in it (Create, Mkdir, Symlink, Link, Unlink, Rmdir, Rename: AttrResponse's
// parent_attr, and new_parent_attr for the destination of a rename into another directory),
// kept for the getattr the kernel sends right after. The kernel drops what it knows of a
// directory's attributes whenever it sees the directory change, and under default_permissions
// it needs the mode back before the next operation in that directory: without this, every such
// change costs one more round trip to the master.
//
// An answer is kept only if no other change of the same directory by this mount overlapped the
// change that returned it (either could have been applied last); it is handed out at most once,
// and only while younger than max_age_ms. So what the kernel gets is what a getattr sent at most
// max_age_ms earlier would have got: changes made by other clients within that window can show
// up that much later than without the cache, on top of the attribute timeout.
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "proto/common.pb.h"

namespace dfs::fuse {

class DirAttrCache {
 public:
  // What Begin hands out, for the End of the same change.
  struct Ticket {
    uint64_t dir = 0;
    uint64_t seq = 0;
    bool alone = false;  // no other change of the directory was in flight when it began
  };

  // max_age_ms <= 0 keeps nothing.
  DirAttrCache(int64_t max_age_ms, Clock* clock) : max_age_ms_(max_age_ms), clock_(clock) {}

  // A change of directory `dir` by this mount begins (forgets what is kept of it).
  Ticket Begin(uint64_t dir);
  // The change ended; `attr` is the directory's attributes after it, or null (failed, or the
  // master did not send them).
  void End(const Ticket& ticket, const Attr* attr);
  // The kept attributes of `dir` if fresh, taken out of the cache.
  std::optional<Attr> Take(uint64_t dir);

  size_t size();

 private:
  struct Dir {
    int in_flight = 0;
    uint64_t last_seq = 0;  // of the change that began last
    std::optional<Attr> attr;
    int64_t kept_ns = 0;
  };
  // Forgets stale answers once many directories have one (the kernel asked for none of them).
  void SweepLocked(int64_t now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int64_t max_age_ms_;
  Clock* const clock_;

  absl::Mutex mu_;
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<uint64_t, Dir> dirs_ ABSL_GUARDED_BY(mu_);
};

}  // namespace dfs::fuse
