// HeartbeatSender: the datanode's side of DatanodeRegistry. Every interval it sends one heartbeat
// (identity, space, load) to every configured master. Only the Raft leader acts on heartbeats,
// and any replica may become leader, so all of them hear from every datanode; the calls go out
// in parallel, each with a short deadline, so a dead or stopped master delays nobody.
//
// A full chunk report rides on a heartbeat to a master the first time one succeeds, after a
// failed heartbeat to it (it may have restarted and forgotten us), when it asks for one
// (send_chunk_report), and every full_report_interval_ms. Chunks listed in a response's
// delete_chunks are removed from the store.
//
// Thread-safety: Start/Stop from the owning thread; RunOnce may be called from any thread (it
// serializes with the background thread). The store must outlive the sender.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "datanode/chunk_store.h"
#include "proto/master.grpc.pb.h"

namespace dfs {

struct HeartbeatOptions {
  std::vector<std::string> masters;  // host:port of every master replica
  DatanodeInfo self;                 // id, address and rack of this datanode
  int64_t interval_ms = 1000;
  // Deadline of each heartbeat RPC; 0 derives it from the interval (clamped to 0.5 s .. 5 s).
  int64_t rpc_timeout_ms = 0;
  int64_t full_report_interval_ms = 5 * 60 * 1000;
  // Reported capacity; 0 means the data directory's file system size.
  uint64_t capacity_bytes = 0;
};

// Space on the file system holding `path` (statvfs): total and available to us.
struct FileSystemSpace {
  uint64_t capacity_bytes = 0;
  uint64_t free_bytes = 0;
};
absl::StatusOr<FileSystemSpace> GetFileSystemSpace(const std::string& path);

class HeartbeatSender {
 public:
  // `active_streams` returns the current load; it is called from the heartbeat thread.
  HeartbeatSender(HeartbeatOptions options, ChunkStore* store,
                  std::function<uint32_t()> active_streams, Clock* clock = RealClock::Get());
  ~HeartbeatSender();

  HeartbeatSender(const HeartbeatSender&) = delete;
  HeartbeatSender& operator=(const HeartbeatSender&) = delete;

  // Adds figures of other components (the scrubber's progress) to every heartbeat. Called on
  // the heartbeat thread; set before Start.
  void SetDecorator(std::function<void(HeartbeatRequest*)> decorate) {
    decorate_ = std::move(decorate);
  }

  // Starts the background thread; does nothing when no master is configured.
  void Start();
  // Stops the thread, interrupting the wait between rounds. Idempotent.
  void Stop();

  // Sends one heartbeat to every master and processes the answers; returns when all answered
  // or timed out. Returns how many masters answered OK.
  int RunOnce();

 private:
  struct Master {
    std::string address;
    std::unique_ptr<DatanodeRegistry::Stub> stub;
    bool report_due = true;
    int64_t last_report_ns = 0;
    bool failing = false;  // for logging only on changes
  };

  void Loop();
  HeartbeatRequest BaseRequest();

  const HeartbeatOptions options_;
  ChunkStore* const store_;
  const std::function<uint32_t()> active_streams_;
  std::function<void(HeartbeatRequest*)> decorate_;
  Clock* const clock_;

  absl::Mutex round_mu_;  // one round at a time
  std::vector<Master> masters_ ABSL_GUARDED_BY(round_mu_);

  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace dfs
