#include "common/malloc_tuning.h"

#include <malloc.h>

#include <chrono>
#include <cstdlib>

namespace dfs {

namespace {
constexpr int kMmapThresholdBytes = 1 << 20;
}  // namespace

void ConfigureMalloc() {
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) mallopt(M_ARENA_MAX, kServerMallocArenas);
  if (std::getenv("MALLOC_MMAP_THRESHOLD_") == nullptr) {
    mallopt(M_MMAP_THRESHOLD, kMmapThresholdBytes);
  }
}

void MallocTrimmer::Start() {
  if (interval_ms_ <= 0 || thread_.joinable()) return;
  thread_ = std::thread([this] { Run(); });
}

void MallocTrimmer::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void MallocTrimmer::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!cv_.wait_for(lock, std::chrono::milliseconds(interval_ms_), [this] { return stopping_; })) {
    lock.unlock();
    malloc_trim(0);
    lock.lock();
  }
}

}  // namespace dfs
