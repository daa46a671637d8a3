// MasterHttp: what a master adds to its HTTP server (common/http_server.h):
//   - `/`: on the leader the status page (master/status_page.h), built from the AdminService's
//     own answers (RaftStatus, ClusterStatus, ListDatanodes; each other master's RaftStatus over
//     gRPC); on a follower an HTTP 307 redirect to the leader's page, whose HTTP address it asks
//     the leader for (RaftStatusResponse.http_address);
//   - the master's metrics, read at scrape time from the same answers: dfs_raft_* (term,
//     indexes, log size, role, peer lag) and dfs_master_* (namespace size, datanodes, capacity,
//     chunk health, replication queue);
//   - the event watcher: a thread that feeds those answers to a ClusterEventWatcher twice a
//     second, filling the EventLog the page shows.
//
// Thread-safe: Serve runs on HTTP threads; SetService once, before or while serving.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/http_server.h"
#include "common/metrics.h"
#include "master/event_log.h"
#include "master/master_service.h"
#include "master/raft_command_log.h"

namespace dfs {

// The HTTP address a master tells its peers: the bound one, except that a wildcard listen host
// (0.0.0.0) becomes the host of the master's gRPC address, which the peers can reach.
std::string AdvertisedHttpAddress(const std::string& listen, const std::string& bound,
                                  const std::string& grpc_address);

class MasterHttp {
 public:
  explicit MasterHttp(EventLog* events) : events_(events) {}
  ~MasterHttp();  // Stop()

  // Starts the watcher and the metric collectors once the service exists; until then `/`
  // answers 503.
  void SetService(MasterServiceImpl* service);
  void Stop();  // idempotent

  // The handler of `/`.
  HttpResponse Serve(const HttpRequest& request);

 private:
  HttpResponse ServeLeaderPage(MasterServiceImpl* service, const RaftStatusResponse& own);
  HttpResponse RedirectToLeader(const RaftStatusResponse& own);
  void WatchLoop();
  void CollectRaft(metrics::Collection* out);
  void CollectCluster(metrics::Collection* out);

  EventLog* const events_;
  std::atomic<MasterServiceImpl*> service_{nullptr};
  std::unique_ptr<metrics::Registry::CollectorHandle> raft_metrics_;
  std::unique_ptr<metrics::Registry::CollectorHandle> cluster_metrics_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread watcher_;
};

}  // namespace dfs
