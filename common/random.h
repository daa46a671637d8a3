// A seeded pseudo-random generator. Code never draws from a global source: whoever owns the
// behaviour passes a seed, so a seeded run is reproducible. Not thread-safe.
#pragma once

#include <cstdint>
#include <random>

namespace dfs {

class Random {
 public:
  explicit Random(uint64_t seed) : engine_(seed) {}
  uint64_t Next() { return engine_(); }
  // Uniform in [0, n); n > 0.
  uint64_t Uniform(uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(engine_); }
  // Uniform in [lo, hi].
  int64_t Range(int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(engine_);
  }
  // True with probability p.
  bool Chance(double p) { return std::uniform_real_distribution<double>(0, 1)(engine_) < p; }

 private:
  std::mt19937_64 engine_;
};

// A seed for processes that want a fresh one each run (logged, so a run can be repeated).
inline uint64_t SeedFromEntropy() {
  std::random_device device;
  return (static_cast<uint64_t>(device()) << 32) ^ device();
}

}  // namespace dfs
