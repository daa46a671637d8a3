#include "datanode/datanode_server.h"

#include <chrono>
#include <thread>
#include <utility>

#include "absl/strings/str_join.h"
#include "common/logging.h"
#include "common/random.h"
#include "common/rpc.h"
#include "common/status.h"

namespace dfs {

DatanodeServer::DatanodeServer(DatanodeOptions options) : options_(std::move(options)) {}

DatanodeServer::~DatanodeServer() { Shutdown(); }

const std::string& DatanodeServer::id() const { return id_; }

absl::Status DatanodeServer::Start() {
  DFS_CHECK(store_ == nullptr);
  DFS_RETURN_IF_ERROR(options_.Validate());
  uint64_t seed = options_.seed;
  if (seed == 0) {
    seed = SeedFromEntropy();
    DFS_LOG(DEBUG) << "datanode seed " << seed;
  }
  DFS_ASSIGN_OR_RETURN(store_, ChunkStore::Open(options_.data_dir, seed));
  id_ = store_->node_id();
  service_ = std::make_unique<DatanodeServiceImpl>(store_.get(), options_.rack);

  grpc::ServerBuilder builder;
  builder.RegisterService(service_.get());
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::CQ_TIMEOUT_MSEC, 100);
  absl::StatusOr<std::unique_ptr<grpc::Server>> server =
      StartServer(&builder, options_.listen_address, &address_);
  if (!server.ok()) {
    service_.reset();
    store_.reset();
    return server.status();
  }
  server_ = *std::move(server);

  ScrubberOptions scrub;
  scrub.bytes_per_sec = options_.scrub_bytes_per_sec;
  scrub.pass_interval_ms = options_.scrub_interval_ms;
  scrub.masters = options_.masters;
  scrub.node_id = id_;
  scrubber_ = std::make_unique<Scrubber>(std::move(scrub), store_.get());

  HeartbeatOptions heartbeat;
  heartbeat.masters = options_.masters;
  heartbeat.self.set_id(id_);
  heartbeat.self.set_address(address_);
  heartbeat.self.set_rack(options_.rack);
  heartbeat.interval_ms = options_.heartbeat_interval_ms;
  heartbeat.capacity_bytes = options_.capacity_bytes;
  DatanodeServiceImpl* service = service_.get();
  heartbeat_ = std::make_unique<HeartbeatSender>(std::move(heartbeat), store_.get(),
                                                 [service] { return service->active_streams(); });
  Scrubber* scrubber = scrubber_.get();
  heartbeat_->SetDecorator(
      [scrubber](HeartbeatRequest* request) { *request->mutable_scrub() = scrubber->stats(); });
  heartbeat_->Start();
  scrubber_->Start();
  metrics_ = metrics::Registry::Default().AddCollector(
      [this](metrics::Collection* out) { CollectMetrics(out); });
  absl::StatusOr<std::unique_ptr<HttpServer>> http =
      StartHttpServer(options_.http_listen_address, options_.http_port_file);
  if (!http.ok()) {
    Shutdown();
    return http.status();
  }
  http_ = *std::move(http);

  DFS_LOG(INFO) << "datanode " << id_ << " serving on " << address_ << ", rack " << options_.rack
                << ", data " << options_.data_dir << ", masters ["
                << absl::StrJoin(options_.masters, ",") << "]";
  return absl::OkStatus();
}

void DatanodeServer::CollectMetrics(metrics::Collection* out) {
  out->AddGauge("dfs_datanode_chunks", "Chunks stored on this datanode.", store_->chunk_count());
  out->AddGauge("dfs_datanode_used_bytes",
                "Bytes of chunk files and live chunk log records on this datanode.",
                store_->used_bytes());
  out->AddGauge("dfs_datanode_log_segments", "Segment files of this datanode's chunk log.",
                store_->log_segment_count());
  out->AddGauge("dfs_datanode_active_streams", "Chunk reads and writes in progress.",
                service_->active_streams());
  ScrubStats scrub = scrubber_->stats();
  out->AddCounter("dfs_datanode_scrub_passes_total", "Scrubber passes over every chunk completed.",
                  scrub.passes());
  out->AddCounter("dfs_datanode_scrub_chunks_total", "Chunks the scrubber verified.",
                  scrub.chunks_scanned());
  out->AddCounter("dfs_datanode_scrub_bytes_total", "Bytes the scrubber re-read and verified.",
                  scrub.bytes_scanned());
  out->AddCounter("dfs_datanode_scrub_corrupt_total", "Damaged chunks the scrubber found.",
                  scrub.corrupt_found());
  out->AddGauge("dfs_datanode_scrub_pass_chunks", "Chunks verified so far in the current pass.",
                scrub.current_pass_chunks());
}

void DatanodeServer::Shutdown() {
  if (store_ == nullptr) return;
  // The metrics read the store, the service and the scrubber: gone first.
  http_.reset();
  metrics_.reset();
  // Heartbeats first: a node that is going away should not advertise itself any more.
  heartbeat_.reset();
  scrubber_.reset();
  // gRPC's own graceful shutdown also waits for idle client connections to go away, which
  // cached channels never do; so wait for our calls ourselves, then stop at once.
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.shutdown_grace_ms);
  while (service_->active_calls() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  server_->Shutdown(std::chrono::system_clock::now());
  server_->Wait();
  server_.reset();
  // No handler runs any more, so no writer or reader still points into the store.
  service_.reset();
  store_.reset();
  DFS_LOG(INFO) << "datanode " << id_ << " stopped";
}

}  // namespace dfs
