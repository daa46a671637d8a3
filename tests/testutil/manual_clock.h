// ManualClock: a Clock that tests move by hand. Both readings are the same number, starting at
// one second; not thread-safe (tests set it between calls).
#pragma once

#include <cstdint>

#include "common/clock.h"

namespace dfs {

class ManualClock : public Clock {
 public:
  int64_t NowNanos() override { return now_ns; }
  int64_t MonotonicNanos() override { return now_ns; }
  int64_t now_ns = 1'000'000'000;
};

}  // namespace dfs
