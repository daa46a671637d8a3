// glibc malloc settings for a long-running server with many threads, and a thread that hands
// freed heap back to the kernel (issue 9: a master's memory must not grow with its files).
//
// Why: glibc gives threads their own arenas (up to 8 per core) and keeps what is freed in each
// for reuse. A master runs dozens of gRPC threads, so freed memory piles up in many arenas where
// other threads cannot reuse it; and a free chunk below the top of an arena is never returned on
// its own. Measured before this: malloc_trim(0) took a follower master from 275 MiB to 137 MiB.
//
// Thread safety: ConfigureMalloc before the process starts threads; a MallocTrimmer from any one
// thread (Start/Stop are not concurrent with each other).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

namespace dfs {

// Arenas allowed (M_ARENA_MAX) unless the environment says otherwise (MALLOC_ARENA_MAX wins).
// Threads beyond it share arenas; tcache (per thread) still serves most small allocations
// without a lock, so the contention cost is small next to the memory kept by idle arenas.
inline constexpr int kServerMallocArenas = 4;

// Applies kServerMallocArenas, and a fixed mmap threshold (M_MMAP_THRESHOLD, 1 MiB) so that
// large transient buffers (snapshots, batches, big messages) are mapped and unmapped instead of
// carved from an arena whose top they would pin. Setting the threshold also stops glibc from
// raising it on its own (up to 32 MiB) after such a buffer is freed, which is what let them into
// the arenas before. No-op for a setting whose MALLOC_* environment variable is set.
void ConfigureMalloc();

// A thread that calls malloc_trim(0) every `interval_ms`: returns to the kernel the free pages
// inside every arena, not only at their tops. Cost: a walk of each arena's free lists under its
// lock (milliseconds for a heap of a few hundred MiB).
class MallocTrimmer {
 public:
  explicit MallocTrimmer(int64_t interval_ms) : interval_ms_(interval_ms) {}
  ~MallocTrimmer() { Stop(); }
  MallocTrimmer(const MallocTrimmer&) = delete;
  MallocTrimmer& operator=(const MallocTrimmer&) = delete;

  void Start();
  void Stop();  // idempotent

 private:
  void Run();

  const int64_t interval_ms_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace dfs
