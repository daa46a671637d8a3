#include "client/grpc_chunk_store.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/crc32c.h"
#include "common/grpc_status.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "common/rpc.h"
#include "proto/datanode.grpc.pb.h"

namespace dfs {
namespace {

constexpr int64_t kProbeTimeoutMs = 2000;

class GrpcChunkPipeline : public ChunkPipeline {
 public:
  GrpcChunkPipeline(uint64_t chunk_id, std::vector<DatanodeInfo> nodes, int64_t timeout_ms)
      : chunk_id_(chunk_id), nodes_(std::move(nodes)) {
    stub_ = DatanodeService::NewStub(GetChannel(nodes_[0].address()));
    SetTimeout(&context_, timeout_ms);
    writer_ = stub_->WriteChunk(&context_, &response_);
  }

  ~GrpcChunkPipeline() override {
    if (!done_) {
      // Abandoned: tell the datanodes to drop the partial chunk rather than wait for more.
      context_.TryCancel();
      (void)writer_->Finish();
    }
  }

  uint64_t chunk_id() const override { return chunk_id_; }
  const std::vector<DatanodeInfo>& nodes() const override { return nodes_; }

  absl::Status Write(absl::string_view piece, bool last) override {
    if (done_ || writes_done_) return absl::FailedPreconditionError("pipeline already finished");
    WriteChunkRequest request;
    if (!header_sent_) {
      // The header rides with the first piece: one message, and for a small chunk (with the
      // end of the stream too) one frame through each hop of the chain.
      WriteChunkHeader* header = request.mutable_header();
      header->set_chunk_id(chunk_id_);
      for (size_t i = 1; i < nodes_.size(); ++i) header->add_downstream(nodes_[i].address());
      header_sent_ = true;
    }
    request.set_data(piece.data(), piece.size());
    request.set_data_crc32c(Crc32c(piece.data(), piece.size()));
    // The last message also half-closes the stream (WritesDone is implied).
    grpc::WriteOptions options;
    if (last) options.set_last_message();
    writes_done_ = last;
    if (!writer_->Write(request, options)) return Broken();
    return absl::OkStatus();
  }

  absl::StatusOr<SealedChunk> Finish() override {
    if (done_) return absl::FailedPreconditionError("pipeline already finished");
    if (!header_sent_) {
      // An empty chunk is never written (empty files have no chunks), so this is a bug.
      return absl::InternalError("finishing a pipeline that was sent nothing");
    }
    if (!writes_done_) writer_->WritesDone();
    done_ = true;
    absl::Status status = FromGrpcStatus(writer_->Finish());
    if (!status.ok()) return Annotate(status);
    static metrics::Histogram* const latency = WriteStageLatency("pipeline");
    latency->Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start_)
                         .count());
    SealedChunk sealed;
    sealed.length = response_.length();
    sealed.crc32c = response_.crc32c();
    sealed.stored_on.assign(response_.stored_on().begin(), response_.stored_on().end());
    return sealed;
  }

 private:
  absl::Status Broken() {
    done_ = true;
    absl::Status status = FromGrpcStatus(writer_->Finish());
    if (status.ok()) status = absl::UnavailableError("write stream closed early");
    return Annotate(status);
  }

  absl::Status Annotate(const absl::Status& status) {
    absl::Status result(status.code(), absl::StrCat("chunk ", chunk_id_, " via ",
                                                    nodes_[0].address(), ": ", status.message()));
    status.ForEachPayload(
        [&](absl::string_view url, const absl::Cord& payload) { result.SetPayload(url, payload); });
    return result;
  }

  const uint64_t chunk_id_;
  const std::vector<DatanodeInfo> nodes_;
  std::unique_ptr<DatanodeService::Stub> stub_;
  grpc::ClientContext context_;
  WriteChunkResponse response_;
  std::unique_ptr<grpc::ClientWriter<WriteChunkRequest>> writer_;
  bool header_sent_ = false;
  bool writes_done_ = false;  // the end of the stream was sent (with the last piece)
  bool done_ = false;
  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

}  // namespace

metrics::Histogram* WriteStageLatency(absl::string_view stage) {
  return metrics::Registry::Default()
      .Histogram("dfs_client_write_stage_seconds",
                 "Seconds the client spent in each stage of writing data.", {"stage"})
      ->WithLabels({std::string(stage)});
}

int64_t DataTimeoutMs(const ClientOptions& options, uint64_t bytes) {
  return options.rpc_timeout_ms + static_cast<int64_t>(bytes >> 20) * 1000;
}

GrpcChunkAllocator::GrpcChunkAllocator(MasterClient* master, const ClientOptions& options,
                                       Clock* clock)
    : master_(master),
      options_(options),
      reservations_(options.chunk_reserve_count > 0 ? options.chunk_reserve_max_bytes : 0,
                    options.chunk_reserve_ttl_ms, clock) {}

absl::StatusOr<std::unique_ptr<ChunkPipeline>> GrpcChunkAllocator::Open(
    uint64_t size_hint, const std::vector<std::string>& exclude) {
  const int64_t timeout_ms = DataTimeoutMs(options_, size_hint);
  if (std::optional<ReservedChunk> reserved = reservations_.Take(size_hint, exclude)) {
    return std::unique_ptr<ChunkPipeline>(new GrpcChunkPipeline(
        reserved->chunk_id, std::move(reserved->pipeline), timeout_ms));
  }
  const bool reserve = options_.chunk_reserve_count > 0 && reservations_.Covers(size_hint, exclude);
  AllocateChunkRequest request;
  // Reserved chunks may be used for anything up to max_bytes: placement must allow for that.
  request.set_size_hint(reserve ? reservations_.max_bytes() : size_hint);
  if (reserve) request.set_extra(static_cast<uint32_t>(options_.chunk_reserve_count));
  for (const std::string& id : exclude) request.add_exclude_datanodes(id);
  absl::StatusOr<AllocateChunkResponse> response;
  {
    metrics::ScopedTimer timer(WriteStageLatency("allocate"));
    response = master_->Call(&MasterService::Stub::AllocateChunk, request);
  }
  if (!response.ok()) return response.status();
  if (response->pipeline().empty()) {
    return absl::UnavailableError(
        absl::StrCat("master allocated chunk ", response->chunk_id(), " on no datanode"));
  }
  std::vector<ReservedChunk> extra;
  for (AllocatedChunk& chunk : *response->mutable_extra()) {
    if (chunk.pipeline().empty()) continue;
    ReservedChunk& reserved = extra.emplace_back();
    reserved.chunk_id = chunk.chunk_id();
    reserved.pipeline.assign(std::make_move_iterator(chunk.mutable_pipeline()->begin()),
                             std::make_move_iterator(chunk.mutable_pipeline()->end()));
  }
  reservations_.Add(std::move(extra));
  std::vector<DatanodeInfo> nodes(response->pipeline().begin(), response->pipeline().end());
  return std::unique_ptr<ChunkPipeline>(
      new GrpcChunkPipeline(response->chunk_id(), std::move(nodes), timeout_ms));
}

std::vector<std::string> GrpcChunkAllocator::Suspects(const ChunkPipeline& pipeline,
                                                      const absl::Status& error) {
  std::vector<std::string> suspects;
  for (const DatanodeInfo& node : pipeline.nodes()) {
    auto stub = DatanodeService::NewStub(GetChannel(node.address()));
    grpc::ClientContext context;
    SetTimeout(&context, std::min(options_.rpc_timeout_ms, kProbeTimeoutMs));
    DatanodeIdentity identity;
    grpc::Status status = stub->Identity(&context, DatanodeEmpty(), &identity);
    if (!status.ok() || identity.id() != node.id()) {
      DFS_LOG(INFO) << "excluding datanode " << node.id() << " (" << node.address()
                    << ") from the next pipeline: "
                    << (status.ok() ? "answers as " + identity.id() : status.error_message());
      suspects.push_back(node.id());
    }
  }
  reservations_.DropNodes(suspects);
  return suspects;
}

void GrpcChunkAllocator::Pause(int attempt) {
  int64_t ms = std::min<int64_t>(2000, 100ll << std::min(attempt - 1, 5));
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

}  // namespace dfs
