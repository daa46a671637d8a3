#include "master/watch_hub.h"

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace dfs {
namespace {

Change ChangeAt(uint64_t index) {
  Change change;
  change.set_index(index);
  change.add_inodes()->set_inode(index);
  return change;
}

// A subscriber on its own thread, recording what it is sent.
class Subscriber {
 public:
  explicit Subscriber(WatchHub* hub) {
    thread_ = std::thread([this, hub] {
      absl::Status status = hub->Serve(
          [this](const WatchEvent& event) {
            absl::MutexLock lock(&mu_);
            events_.push_back(event);
            return true;
          },
          [this] { return cancelled_.load(); });
      absl::MutexLock lock(&mu_);
      result_ = status;
      done_ = true;
    });
  }
  ~Subscriber() {
    cancelled_ = true;
    thread_.join();
  }

  // Waits (up to 10 s) until `pred` holds over the events received.
  bool WaitFor(const std::function<bool(const std::vector<WatchEvent>&)>& pred) {
    for (int i = 0; i < 2000; ++i) {
      {
        absl::MutexLock lock(&mu_);
        if (pred(events_)) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }
  absl::Status WaitDone() {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&done_), absl::Seconds(10));
    EXPECT_TRUE(done_);
    return result_;
  }
  std::vector<uint64_t> ChangeIndexes() {
    absl::MutexLock lock(&mu_);
    std::vector<uint64_t> out;
    for (const WatchEvent& e : events_) {
      for (const Change& c : e.changes()) out.push_back(c.index());
    }
    return out;
  }

 private:
  absl::Mutex mu_;
  std::vector<WatchEvent> events_ ABSL_GUARDED_BY(mu_);
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status result_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> cancelled_{false};
  std::thread thread_;
};

bool HasMarker(const std::vector<WatchEvent>& events, uint64_t index) {
  for (const WatchEvent& e : events) {
    if (e.synced_index() == index) return true;
  }
  return false;
}

TEST(WatchHubTest, SendsAFirstMarkerThenChangesInOrderAndKeepalives) {
  std::atomic<uint64_t> applied{7};
  WatchHubOptions options;
  options.keepalive_ms = 20;
  WatchHub hub(options, [&]() -> absl::StatusOr<uint64_t> { return applied.load(); });
  hub.Start();
  EXPECT_FALSE(hub.Listening());
  {
    Subscriber sub(&hub);
    ASSERT_TRUE(sub.WaitFor([](const auto& events) { return HasMarker(events, 7); }));
    EXPECT_TRUE(hub.Listening());
    for (uint64_t i = 8; i <= 20; ++i) {
      hub.OnChange(ChangeAt(i));
      applied = i;
    }
    ASSERT_TRUE(sub.WaitFor([](const auto& events) { return HasMarker(events, 20); }));
    // An entry that changes nothing in the namespace is not queued, but its index goes out.
    Change nothing;
    nothing.set_index(21);
    hub.OnChange(nothing);
    ASSERT_TRUE(sub.WaitFor([](const auto& events) {
      return !events.empty() && events.back().applied_index() == 21;
    }));
    std::vector<uint64_t> expected;
    for (uint64_t i = 8; i <= 20; ++i) expected.push_back(i);
    EXPECT_EQ(sub.ChangeIndexes(), expected);
  }
  EXPECT_EQ(hub.subscribers(), 0);
  hub.Stop();
}

TEST(WatchHubTest, LosingTheLeadershipEndsEveryStream) {
  std::atomic<bool> leader{true};
  WatchHubOptions options;
  options.keepalive_ms = 10;
  WatchHub hub(options, [&]() -> absl::StatusOr<uint64_t> {
    if (!leader) return absl::UnavailableError("not the leader");
    return 1;
  });
  hub.Start();
  Subscriber a(&hub);
  Subscriber b(&hub);
  ASSERT_TRUE(a.WaitFor([](const auto& events) { return HasMarker(events, 1); }));
  ASSERT_TRUE(b.WaitFor([](const auto& events) { return HasMarker(events, 1); }));
  leader = false;
  EXPECT_TRUE(absl::IsUnavailable(a.WaitDone()));
  EXPECT_TRUE(absl::IsUnavailable(b.WaitDone()));
  // A new subscriber is refused at once.
  Subscriber c(&hub);
  EXPECT_TRUE(absl::IsUnavailable(c.WaitDone()));
  hub.Stop();
}

TEST(WatchHubTest, ASubscriberTooFarBehindIsEndedAndStopEndsTheRest) {
  absl::Notification release;
  std::atomic<int> confirms{0};
  WatchHubOptions options;
  options.keepalive_ms = 100000;  // no keepalives in this test
  options.max_queued_changes = 3;
  WatchHub hub(options, [&]() -> absl::StatusOr<uint64_t> {
    // The first subscriber's first confirmation blocks, so its queue fills.
    if (confirms.fetch_add(1) == 0) release.WaitForNotification();
    return 1;
  });
  hub.Start();
  Subscriber slow(&hub);
  while (!hub.Listening()) std::this_thread::yield();
  for (uint64_t i = 2; i <= 5; ++i) hub.OnChange(ChangeAt(i));
  release.Notify();
  EXPECT_TRUE(absl::IsResourceExhausted(slow.WaitDone()));

  Subscriber other(&hub);
  ASSERT_TRUE(other.WaitFor([](const auto& events) { return HasMarker(events, 1); }));
  hub.Stop();
  EXPECT_TRUE(absl::IsUnavailable(other.WaitDone()));
}

}  // namespace
}  // namespace dfs
