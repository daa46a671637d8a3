#include "master/watch_hub.h"

#include <algorithm>
#include <utility>

#include "absl/time/time.h"
#include "common/thread_name.h"

namespace dfs {
namespace {

// How often a serving thread looks at `cancelled()` while nothing is queued.
constexpr absl::Duration kCancelPoll = absl::Milliseconds(200);

}  // namespace

WatchHub::WatchHub(const WatchHubOptions& options, Confirm confirm)
    : options_(options), confirm_(std::move(confirm)) {}

WatchHub::~WatchHub() { Stop(); }

void WatchHub::Start() { keepalive_ = std::thread([this] {
    NameThisThread("watch-keepalive");
    KeepaliveLoop();
  }); }

void WatchHub::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    for (Subscriber& s : subscribers_) {
      s.end = absl::UnavailableError("master shutting down");
      s.wake.Signal();
    }
    stop_cv_.SignalAll();
  }
  if (keepalive_.joinable()) keepalive_.join();
}

int WatchHub::subscribers() { return count_.load(); }

bool WatchHub::Listening() { return count_.load() > 0; }

void WatchHub::OnChange(Change change) {
  absl::MutexLock lock(&mu_);
  for (auto it = subscribers_.begin(); it != subscribers_.end(); ++it) {
    Subscriber& s = *it;
    if (!s.end.ok()) continue;
    s.applied = std::max(s.applied, change.index());
    if (change.inodes_size() == 0 && change.dirents_size() == 0) {
      // Nothing to queue; the index goes out with the next event.
    } else if (s.queue.size() >= options_.max_queued_changes) {
      s.end = absl::ResourceExhaustedError("change feed subscriber fell too far behind");
    } else if (std::next(it) == subscribers_.end()) {
      s.queue.push_back(std::move(change));
    } else {
      s.queue.push_back(change);
    }
    s.wake.Signal();
  }
}

void WatchHub::KeepaliveLoop() {
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    stop_cv_.WaitWithTimeout(&mu_, absl::Milliseconds(options_.keepalive_ms));
    if (stopping_ || subscribers_.empty()) continue;
    // Not under the lock: the barrier waits for the apply thread, which calls OnChange.
    mu_.Unlock();
    absl::StatusOr<uint64_t> synced = confirm_();
    mu_.Lock();
    for (Subscriber& s : subscribers_) {
      if (!s.end.ok()) continue;
      if (synced.ok()) {
        s.synced = *synced;
      } else {
        s.end = synced.status();
      }
      s.wake.Signal();
    }
  }
}

absl::Status WatchHub::Serve(const std::function<bool(const WatchEvent&)>& send,
                             const std::function<bool()>& cancelled) {
  std::list<Subscriber>::iterator self;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return absl::UnavailableError("master shutting down");
    self = subscribers_.emplace(subscribers_.end());
    ++count_;
  }
  // Subscribed first, so that every change applied after the confirmed index is queued.
  absl::StatusOr<uint64_t> first = confirm_();
  absl::Status result;
  mu_.Lock();
  if (!first.ok()) {
    result = first.status();
  } else {
    self->synced = *first;
    for (;;) {
      auto idle = [&] { return self->queue.empty() && self->synced == 0 && self->applied == 0; };
      while (self->end.ok() && idle()) {
        if (self->wake.WaitWithTimeout(&mu_, kCancelPoll) && cancelled()) break;
      }
      if (!self->end.ok()) {
        result = self->end;
        break;
      }
      if (idle()) break;  // cancelled
      WatchEvent event;
      while (!self->queue.empty() && static_cast<size_t>(event.changes_size()) < options_.max_batch) {
        *event.add_changes() = std::move(self->queue.front());
        self->queue.pop_front();
      }
      // Both promise that every change up to them went first: only with the queue drained.
      if (self->queue.empty()) {
        event.set_applied_index(self->applied);
        event.set_synced_index(self->synced);
        self->applied = 0;
        self->synced = 0;
      }
      mu_.Unlock();
      const bool sent = send(event);
      const bool stop = !sent || cancelled();
      mu_.Lock();
      if (stop) break;
    }
  }
  subscribers_.erase(self);
  --count_;
  mu_.Unlock();
  return result;
}

}  // namespace dfs
