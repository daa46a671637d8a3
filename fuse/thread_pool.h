// ThreadPool: a fixed set of threads running queued tasks in order, for background work that
// must not occupy a kernel-request thread (readahead fetches, kernel cache invalidations).
//
// Thread-safe: Schedule may be called from any thread. The destructor drops tasks that have
// not started and waits for running ones, so a task must not block forever.
#pragma once

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace dfs::fuse {

class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  void Schedule(std::function<void()> task);

 private:
  void Work();

  absl::Mutex mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace dfs::fuse
