// DatanodeServer: one datanode — the chunk store, the gRPC DatanodeService on the listen
// address, and heartbeats to the masters — with a start/stop lifecycle. dfs-datanode's main()
// runs one; tests run several in one process.
//
// Thread-safety: Start and Shutdown from one owning thread; the accessors are safe from any
// thread once Start has returned OK.
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "common/http_server.h"
#include "common/metrics.h"
#include "datanode/chunk_store.h"
#include "datanode/datanode_options.h"
#include "datanode/datanode_service.h"
#include "datanode/heartbeat.h"
#include "datanode/scrubber.h"
#include "grpcpp/grpcpp.h"

namespace dfs {

class DatanodeServer {
 public:
  explicit DatanodeServer(DatanodeOptions options);
  // Shuts down if still running.
  ~DatanodeServer();

  DatanodeServer(const DatanodeServer&) = delete;
  DatanodeServer& operator=(const DatanodeServer&) = delete;

  // Validates the options, opens the store, starts serving and starts heartbeats. Call once.
  absl::Status Start();

  // Stops heartbeats, gives in-flight RPCs options.shutdown_grace_ms to finish, cancels the rest
  // (their temp files are removed) and closes the store. Idempotent.
  void Shutdown();

  // The address clients should dial ("host:port", with the real port when listening on port 0).
  const std::string& address() const { return address_; }
  // The stable node id from the store.
  const std::string& id() const;
  // The store, for tests and tools in the same process. Null before Start and after Shutdown.
  ChunkStore* store() { return store_.get(); }
  uint32_t active_streams() const { return service_ ? service_->active_streams() : 0; }
  // The scrubber, for tests in the same process. Null before Start and after Shutdown.
  Scrubber* scrubber() { return scrubber_.get(); }

 private:
  // The datanode's gauges and scrubber counters, read at each scrape.
  void CollectMetrics(metrics::Collection* out);

  const DatanodeOptions options_;
  std::string address_;
  std::unique_ptr<ChunkStore> store_;
  std::unique_ptr<DatanodeServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<HeartbeatSender> heartbeat_;
  std::unique_ptr<Scrubber> scrubber_;
  std::unique_ptr<HttpServer> http_;
  std::unique_ptr<metrics::Registry::CollectorHandle> metrics_;
  std::string id_;
};

}  // namespace dfs
