// RateLimiter: a token bucket that paces bytes (or any unit) to a rate, for background work that
// must not crowd out clients: re-replication copies, the scrubber's reads.
//
// Acquire(n) returns at once while the bucket holds tokens (a burst of up to `burst` units) and
// otherwise sleeps until the debt is paid; a request larger than the burst is allowed and simply
// waits longer, so large chunks are never starved. Rate 0 means unlimited.
//
// Time comes from a Clock so tests can drive it; sleeping goes through a callback that returns
// false to abandon the wait (shutdown). Thread-safe.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

#include "common/clock.h"

namespace dfs {

class RateLimiter {
 public:
  // `sleep(ns)` waits up to ns nanoseconds and returns false if the caller should give up.
  using SleepFn = std::function<bool(int64_t ns)>;

  RateLimiter(uint64_t units_per_sec, uint64_t burst, Clock* clock = RealClock::Get(),
              SleepFn sleep = nullptr)
      : rate_(units_per_sec),
        burst_(std::max<uint64_t>(burst, 1)),
        clock_(clock),
        sleep_(sleep ? std::move(sleep) : SleepFn([](int64_t ns) {
          std::this_thread::sleep_for(std::chrono::nanoseconds(ns));
          return true;
        })) {
    last_ns_ = clock_->MonotonicNanos();
    tokens_ = static_cast<double>(burst_);
  }

  void set_rate(uint64_t units_per_sec) {
    std::lock_guard<std::mutex> lock(mu_);
    rate_ = units_per_sec;
  }
  uint64_t rate() const {
    std::lock_guard<std::mutex> lock(mu_);
    return rate_;
  }

  // Takes `units` tokens, waiting as long as the rate requires. Returns false if the sleep
  // callback asked to stop (the tokens are taken anyway: the caller was about to do the work).
  bool Acquire(uint64_t units) {
    int64_t wait_ns = Reserve(units);
    while (wait_ns > 0) {
      // Sleep in slices so that a stop request is noticed promptly.
      int64_t slice = std::min<int64_t>(wait_ns, 100'000'000);
      if (!sleep_(slice)) return false;
      wait_ns -= slice;
    }
    return true;
  }

  // Takes the tokens and returns how long the caller must wait before using them (0: at once).
  int64_t Reserve(uint64_t units) {
    std::lock_guard<std::mutex> lock(mu_);
    if (rate_ == 0) return 0;
    const int64_t now = clock_->MonotonicNanos();
    tokens_ = std::min<double>(static_cast<double>(burst_),
                               tokens_ + (now - last_ns_) * 1e-9 * static_cast<double>(rate_));
    last_ns_ = now;
    tokens_ -= static_cast<double>(units);
    if (tokens_ >= 0) return 0;
    return static_cast<int64_t>(-tokens_ / static_cast<double>(rate_) * 1e9);
  }

 private:
  mutable std::mutex mu_;
  uint64_t rate_;        // guarded by mu_
  const uint64_t burst_;
  Clock* const clock_;
  const SleepFn sleep_;
  double tokens_ = 0;    // guarded by mu_; negative: debt that later callers wait out
  int64_t last_ns_ = 0;  // guarded by mu_
};

}  // namespace dfs
