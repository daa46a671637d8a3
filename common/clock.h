// Time as an interface, so code that decides by time can be driven by a simulated clock in tests.
#pragma once

#include <chrono>
#include <cstdint>

namespace dfs {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time (for timestamps users see).
  virtual int64_t NowNanos() = 0;
  // Monotonic time (for timeouts and rates).
  virtual int64_t MonotonicNanos() = 0;
};

class RealClock : public Clock {
 public:
  int64_t NowNanos() override {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  int64_t MonotonicNanos() override {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  static RealClock* Get() {
    static RealClock* clock = new RealClock;
    return clock;
  }
};

}  // namespace dfs
