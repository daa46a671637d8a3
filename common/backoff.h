// Exponential backoff with jitter for retries under a deadline.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>

#include "common/random.h"

namespace dfs {

class Backoff {
 public:
  Backoff(int64_t initial_ms, int64_t max_ms, uint64_t seed)
      : next_ms_(initial_ms), max_ms_(max_ms), random_(seed) {}

  // The next delay: uniformly drawn from [d/2, d], where d doubles each call up to max.
  std::chrono::milliseconds Next() {
    int64_t d = next_ms_;
    next_ms_ = std::min(max_ms_, next_ms_ * 2);
    return std::chrono::milliseconds(random_.Range(d / 2, d));
  }

 private:
  int64_t next_ms_;
  int64_t max_ms_;
  Random random_;
};

}  // namespace dfs
