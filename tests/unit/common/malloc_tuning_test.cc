// MallocTrimmer's lifecycle: it stops at once whatever its interval, and an interval of 0 turns
// it off.
#include "common/malloc_tuning.h"

#include <chrono>
#include <cstdlib>
#include <vector>

#include "gtest/gtest.h"

namespace dfs {
namespace {

TEST(MallocTrimmer, StopDoesNotWaitForTheInterval) {
  MallocTrimmer trimmer(/*interval_ms=*/3600 * 1000);
  trimmer.Start();
  const auto start = std::chrono::steady_clock::now();
  trimmer.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  trimmer.Stop();  // idempotent
}

TEST(MallocTrimmer, TrimsWhileOthersAllocate) {
  ConfigureMalloc();
  MallocTrimmer trimmer(/*interval_ms=*/1);
  trimmer.Start();
  for (int round = 0; round < 20; ++round) {
    std::vector<void*> blocks;
    for (int i = 0; i < 2000; ++i) blocks.push_back(std::malloc(1000 + i));
    for (void* p : blocks) std::free(p);
  }
  trimmer.Stop();
}

TEST(MallocTrimmer, ZeroIntervalIsOff) {
  MallocTrimmer trimmer(/*interval_ms=*/0);
  trimmer.Start();
  trimmer.Stop();
}

}  // namespace
}  // namespace dfs
