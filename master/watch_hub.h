// WatchHub: the leader's change feed (MasterService.Watch), which keeps dfs-fuse's metadata cache
// (fuse/meta_cache.h) current.
//
// The state machine hands it, on the apply thread, what every applied command changed in inodes
// and directory entries, with the new values (ChangeListener); the hub queues each change for
// every subscriber, in log order, and tells how far the log was applied (an entry that changes
// neither only moves that on). Every keepalive_ms, while anyone subscribes, it confirms that
// this master still leads (`confirm`: a read barrier, then the applied index) and queues that
// index as a sync marker: a subscriber that gets marker i has been sent every change up to i, and
// knows the leader was still the leader after applying i. When confirming fails (the master lost
// the leadership) every stream ends with that error, and a subscriber that falls too far behind
// (max_queued_changes) is ended alone; subscribers start over, at the leader.
//
// Thread-safe. OnChange never blocks on a subscriber: it only appends to queues.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "master/state_machine.h"
#include "proto/master.pb.h"

namespace dfs {

struct WatchHubOptions {
  int64_t keepalive_ms = 100;
  // A subscriber with this many changes not yet sent is ended (it resubscribes empty).
  size_t max_queued_changes = 100000;
  // Changes per event sent.
  size_t max_batch = 1024;
};

class WatchHub : public ChangeListener {
 public:
  // The applied index after a read barrier; an error when this master does not lead.
  using Confirm = std::function<absl::StatusOr<uint64_t>()>;

  WatchHub(const WatchHubOptions& options, Confirm confirm);
  ~WatchHub() override;
  WatchHub(const WatchHub&) = delete;
  WatchHub& operator=(const WatchHub&) = delete;

  // Starts the keepalive thread.
  void Start();
  // Ends every stream (Unavailable) and stops the keepalive thread. Idempotent.
  void Stop();

  // Serves one subscriber on the calling thread: confirms the leadership, sends a first sync
  // marker, then every change and marker as they come, through `send`, until `send` fails
  // (returns false: the subscriber is gone; OK is returned), `cancelled()` turns true (checked
  // a few times a second; OK), or the hub ends the stream (its error).
  absl::Status Serve(const std::function<bool(const WatchEvent&)>& send,
                     const std::function<bool()>& cancelled);

  int subscribers();

  // ChangeListener
  bool Listening() override;
  void OnChange(Change change) override;

 private:
  struct Subscriber {
    std::deque<Change> queue;  // changes of inodes or entries
    uint64_t applied = 0;      // the newest index applied, to send once `queue` is drained
    uint64_t synced = 0;       // a sync marker to send once `queue` is drained; 0: none
    absl::Status end;     // set: the stream ends with this
    absl::CondVar wake;
  };

  void KeepaliveLoop();

  const WatchHubOptions options_;
  const Confirm confirm_;
  std::atomic<int> count_{0};  // subscribers, for Listening() without the lock

  absl::Mutex mu_;
  std::list<Subscriber> subscribers_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::CondVar stop_cv_;
  std::thread keepalive_;
};

}  // namespace dfs
