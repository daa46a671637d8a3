// Copier: runs the copies the replicator and the balancer plan, datanode to datanode. A pool of
// worker threads (max_concurrent_copies) takes tasks in queue order (the replicator queues the
// chunks with the fewest live replicas first); a cluster-wide token bucket keeps the bytes moved
// under replication_bytes_per_sec, and each copy is also paced by the copying datanode at that
// rate, so one large chunk does not burst.
//
// One copy: the master asks the target datanode to pull the chunk (ReplicateChunk), which reads
// it from a source, verifies every piece and the whole chunk's CRC against the record, and seals
// it; then the master records the new replica (AddReplicaCmd). A balancer move then drops the
// source replica (TrimReplicaCmd, requiring the new one) and deletes it on the source. A source
// that served damaged data is dropped from the record and told to delete its copy, as a client's
// bad-replica report would.
//
// A task carries the leadership term it was planned under and is dropped once that term is over;
// losing leadership also cancels the calls in flight.
//
// Thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/rate_limiter.h"
#include "grpcpp/grpcpp.h"
#include "master/maintenance/context.h"
#include "proto/common.pb.h"

namespace dfs {

struct CopyTask {
  uint64_t chunk_id = 0;
  uint64_t length = 0;
  uint32_t crc32c = 0;
  std::vector<DatanodeInfo> sources;  // in order of preference
  DatanodeInfo target;
  std::string move_from;  // balancer: the replica to drop once the copy is recorded
  uint64_t term = 0;
};

class Copier {
 public:
  explicit Copier(MaintenanceContext* ctx);
  ~Copier();

  void Start();
  void Stop();

  // Replaces the repair tasks that have not started with `tasks` (a fresh plan supersedes the
  // last); queued balancer moves are kept, behind them.
  void ReplaceQueue(std::vector<CopyTask> tasks);
  // Adds tasks behind the queued ones.
  void Enqueue(std::vector<CopyTask> tasks);
  // Drops queued tasks and cancels running copies (leadership lost).
  void CancelAll();

  // True if a copy of `chunk_id` is queued or running: the replicator leaves it alone meanwhile.
  bool Busy(uint64_t chunk_id);
  size_t running();
  size_t queued();
  // Balancer moves queued or running.
  size_t moves_in_flight();

 private:
  void Worker();
  void Run(const CopyTask& task, grpc::ClientContext* context);
  // Drops replicas a copy found damaged, as ReportBadReplica does.
  void DropBadSources(const CopyTask& task, const std::vector<std::string>& bad_addresses);

  MaintenanceContext* const ctx_;
  RateLimiter limiter_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<CopyTask> queue_;                   // guarded by mu_
  std::map<uint64_t, int> busy_;                 // guarded by mu_: chunk -> queued + running
  std::set<grpc::ClientContext*> running_;       // guarded by mu_
  size_t moves_ = 0;                             // guarded by mu_
  bool stop_ = false;                            // guarded by mu_
  std::vector<std::thread> workers_;
};

}  // namespace dfs
