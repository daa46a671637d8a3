// Scrubber: a datanode's background checker. It re-reads every stored chunk, block by block,
// at a bounded rate (bytes_per_sec), verifying each block's CRC32C and the whole chunk's CRC, so
// that a replica damaged on disk is found before a client needs it. A damaged replica is
// reported to the master (MasterService.ReportBadReplica), which drops it from the chunk map
// (unless it is the last copy) and has this node delete it; the master's replicator then copies
// the chunk again from a good replica.
//
// One pass walks the chunks in id order as listed when the pass starts (chunks deleted meanwhile
// are skipped); passes repeat pass_interval_ms after the previous one ended. Progress counters
// travel in heartbeats (ScrubStats) and each pass ends with a log line.
//
// Thread-safety: Start/Stop from the owning thread; stats() and RunPass() from any thread (a pass
// run by hand serializes with the background one). The store must outlive the scrubber.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/rate_limiter.h"
#include "datanode/chunk_store.h"
#include "proto/master.pb.h"

namespace dfs {

struct ScrubberOptions {
  // Read rate; 0 turns the scrubber off.
  uint64_t bytes_per_sec = 8ull << 20;
  // Pause between the end of one pass and the start of the next.
  int64_t pass_interval_ms = 6ll * 60 * 60 * 1000;
  // Where to report damaged replicas (host:port of every master; the leader accepts).
  std::vector<std::string> masters;
  std::string node_id;
};

class Scrubber {
 public:
  Scrubber(ScrubberOptions options, ChunkStore* store, Clock* clock = RealClock::Get());
  ~Scrubber();

  Scrubber(const Scrubber&) = delete;
  Scrubber& operator=(const Scrubber&) = delete;

  void Start();
  void Stop();  // idempotent; interrupts a pass in progress

  // One full pass over every chunk; returns the number of damaged chunks found.
  uint64_t RunPass();
  ScrubStats stats() const;

 private:
  void Loop();
  // True if the chunk verified; false (after reporting it) if it is damaged.
  bool ScrubChunk(uint64_t chunk_id);
  void Report(uint64_t chunk_id, const absl::Status& why);
  bool Stopping();

  const ScrubberOptions options_;
  ChunkStore* const store_;
  RateLimiter limiter_;

  std::atomic<uint64_t> passes_{0};
  std::atomic<uint64_t> chunks_scanned_{0};
  std::atomic<uint64_t> bytes_scanned_{0};
  std::atomic<uint64_t> corrupt_found_{0};
  std::atomic<uint64_t> current_pass_chunks_{0};

  absl::Mutex pass_mu_;  // one pass at a time
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace dfs
