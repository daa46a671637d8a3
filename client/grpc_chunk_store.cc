#include "client/grpc_chunk_store.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/call_group.h"
#include "common/crc32c.h"
#include "common/errors.h"
#include "common/grpc_status.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "common/rpc.h"
#include "common/status.h"
#include "proto/datanode.grpc.pb.h"

namespace dfs {
namespace {

constexpr int64_t kProbeTimeoutMs = 2000;

// One WriteChunk stream: to `nodes[0]`, which forwards to the rest of `nodes` (a chain).
class ChunkStream {
 public:
  ChunkStream(uint64_t chunk_id, const std::vector<DatanodeInfo>& nodes, int64_t timeout_ms)
      : chunk_id_(chunk_id), address_(nodes[0].address()) {
    for (size_t i = 1; i < nodes.size(); ++i) downstream_.push_back(nodes[i].address());
    stub_ = DatanodeService::NewStub(GetChannel(address_));
    SetTimeout(&context_, timeout_ms);
    writer_ = stub_->WriteChunk(&context_, &response_);
  }

  ~ChunkStream() {
    if (!done_) {
      // Abandoned: tell the datanodes to drop the partial chunk rather than wait for more.
      context_.TryCancel();
      (void)writer_->Finish();
    }
  }

  absl::Status Write(const WriteChunkRequest& piece, bool last) {
    WriteChunkRequest request;
    if (!header_sent_) {
      // The header rides with the first piece: one message, and for a small chunk (with the
      // end of the stream too) one frame through each hop of the chain.
      WriteChunkHeader* header = request.mutable_header();
      header->set_chunk_id(chunk_id_);
      for (const std::string& address : downstream_) header->add_downstream(address);
      header_sent_ = true;
    }
    request.set_data(piece.data());
    request.set_data_crc32c(piece.data_crc32c());
    // The last message also half-closes the stream (WritesDone is implied).
    grpc::WriteOptions options;
    if (last) options.set_last_message();
    writes_done_ = last;
    if (!writer_->Write(request, options)) {
      done_ = true;
      absl::Status status = FromGrpcStatus(writer_->Finish());
      if (status.ok()) status = absl::UnavailableError("write stream closed early");
      return Annotate(status);
    }
    return absl::OkStatus();
  }

  // Half-closes the stream (if the last piece did not), so that the nodes seal the chunk.
  void WritesDone() {
    if (!writes_done_) writer_->WritesDone();
    writes_done_ = true;
  }

  // Waits for the nodes' answer.
  absl::StatusOr<WriteChunkResponse> Finish() {
    done_ = true;
    absl::Status status = FromGrpcStatus(writer_->Finish());
    if (!status.ok()) return Annotate(status);
    return response_;
  }

  bool header_sent() const { return header_sent_; }

 private:
  absl::Status Annotate(const absl::Status& status) {
    return PrefixMessage(absl::StrCat("chunk ", chunk_id_, " via ", address_, ": "), status);
  }

  const uint64_t chunk_id_;
  const std::string address_;
  std::vector<std::string> downstream_;
  std::unique_ptr<DatanodeService::Stub> stub_;
  grpc::ClientContext context_;
  WriteChunkResponse response_;
  std::unique_ptr<grpc::ClientWriter<WriteChunkRequest>> writer_;
  bool header_sent_ = false;
  bool writes_done_ = false;  // the end of the stream was sent
  bool done_ = false;
};

void ObservePipelineLatency(std::chrono::steady_clock::time_point start) {
  static metrics::Histogram* const latency = WriteStageLatency("pipeline");
  latency->Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
}

// A chunk's replicas written through one chain of datanodes.
class ChainPipeline : public ChunkPipeline {
 public:
  ChainPipeline(uint64_t chunk_id, std::vector<DatanodeInfo> nodes, int64_t timeout_ms)
      : chunk_id_(chunk_id), nodes_(std::move(nodes)), stream_(chunk_id_, nodes_, timeout_ms) {}

  uint64_t chunk_id() const override { return chunk_id_; }
  const std::vector<DatanodeInfo>& nodes() const override { return nodes_; }

  absl::Status Write(absl::string_view piece, bool last) override {
    if (done_) return absl::FailedPreconditionError("pipeline already finished");
    WriteChunkRequest request;
    request.set_data(piece.data(), piece.size());
    request.set_data_crc32c(Crc32c(piece.data(), piece.size()));
    if (absl::Status s = stream_.Write(request, last); !s.ok()) {
      done_ = true;
      return s;
    }
    return absl::OkStatus();
  }

  absl::StatusOr<SealedChunk> Finish() override {
    if (done_) return absl::FailedPreconditionError("pipeline already finished");
    done_ = true;
    if (!stream_.header_sent()) {
      // An empty chunk is never written (empty files have no chunks), so this is a bug.
      return absl::InternalError("finishing a pipeline that was sent nothing");
    }
    stream_.WritesDone();
    DFS_ASSIGN_OR_RETURN(WriteChunkResponse response, stream_.Finish());
    SealedChunk sealed;
    sealed.length = response.length();
    sealed.crc32c = response.crc32c();
    sealed.stored_on.assign(response.stored_on().begin(), response.stored_on().end());
    ObservePipelineLatency(start_);
    return sealed;
  }

 private:
  const uint64_t chunk_id_;
  const std::vector<DatanodeInfo> nodes_;
  ChunkStream stream_;
  bool done_ = false;
  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

// A small chunk sent whole to every replica at once: one PutChunk call per datanode, all in
// flight together (gRPC's callback API), so the nodes store and fsync in parallel and the client
// waits for one round trip, with no stream to set up and no chain to cross.
class FanOutPipeline : public ChunkPipeline {
 public:
  FanOutPipeline(uint64_t chunk_id, std::vector<DatanodeInfo> nodes, int64_t timeout_ms)
      : chunk_id_(chunk_id), nodes_(std::move(nodes)), timeout_ms_(timeout_ms) {}

  ~FanOutPipeline() override {
    // Calls still in flight write into calls_: stop them before it goes.
    if (group_ != nullptr && !done_) {
      for (auto& call : calls_) call->context.TryCancel();
      group_->Wait();
    }
  }

  uint64_t chunk_id() const override { return chunk_id_; }
  const std::vector<DatanodeInfo>& nodes() const override { return nodes_; }

  absl::Status Write(absl::string_view piece, bool last) override {
    if (done_ || group_ != nullptr) {
      return absl::FailedPreconditionError("pipeline already finished");
    }
    request_.mutable_data()->append(piece.data(), piece.size());
    if (last) Send();
    return absl::OkStatus();
  }

  absl::StatusOr<SealedChunk> Finish() override {
    if (done_) return absl::FailedPreconditionError("pipeline already finished");
    if (request_.data().empty()) {
      // An empty chunk is never written (empty files have no chunks), so this is a bug.
      done_ = true;
      return absl::InternalError("finishing a pipeline that was sent nothing");
    }
    if (group_ == nullptr) Send();
    group_->Wait();
    done_ = true;
    SealedChunk sealed;
    for (size_t i = 0; i < calls_.size(); ++i) {
      const Call& call = *calls_[i];
      if (!call.status.ok()) {
        return PrefixMessage(
            absl::StrCat("chunk ", chunk_id_, " via ", nodes_[i].address(), ": "),
            FromGrpcStatus(call.status));
      }
      if (i > 0 && (call.response.length() != sealed.length ||
                    call.response.crc32c() != sealed.crc32c)) {
        return absl::DataLossError(absl::StrCat(
            "chunk ", chunk_id_, ": replicas differ (length ", sealed.length, " crc ",
            sealed.crc32c, " vs ", call.response.length(), " crc ", call.response.crc32c(), ")"));
      }
      sealed.length = call.response.length();
      sealed.crc32c = call.response.crc32c();
      sealed.stored_on.insert(sealed.stored_on.end(), call.response.stored_on().begin(),
                              call.response.stored_on().end());
    }
    ObservePipelineLatency(start_);
    return sealed;
  }

 private:
  struct Call {
    std::unique_ptr<DatanodeService::Stub> stub;
    grpc::ClientContext context;
    WriteChunkResponse response;
    grpc::Status status;
  };

  void Send() {
    request_.set_chunk_id(chunk_id_);
    request_.set_data_crc32c(Crc32c(request_.data()));
    group_ = std::make_unique<CallGroup>();
    for (const DatanodeInfo& node : nodes_) {
      Call& call = *calls_.emplace_back(std::make_unique<Call>());
      call.stub = DatanodeService::NewStub(GetChannel(node.address()));
      SetTimeout(&call.context, timeout_ms_);
      call.stub->async()->PutChunk(&call.context, &request_, &call.response,
                                   group_->Done(&call.status));
    }
  }

  const uint64_t chunk_id_;
  const std::vector<DatanodeInfo> nodes_;
  const int64_t timeout_ms_;
  PutChunkRequest request_;
  std::vector<std::unique_ptr<Call>> calls_;
  std::unique_ptr<CallGroup> group_;  // once sent
  bool done_ = false;
  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

// The pipeline for a chunk of `size_hint` bytes through `nodes`.
std::unique_ptr<ChunkPipeline> NewPipeline(uint64_t chunk_id, std::vector<DatanodeInfo> nodes,
                                           int64_t timeout_ms, bool fan_out) {
  if (fan_out) return std::make_unique<FanOutPipeline>(chunk_id, std::move(nodes), timeout_ms);
  return std::make_unique<ChainPipeline>(chunk_id, std::move(nodes), timeout_ms);
}

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
    return NewPipeline(reserved->chunk_id, std::move(reserved->pipeline), timeout_ms,
                       FanOut(size_hint));
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
  return NewPipeline(response->chunk_id(), std::move(nodes), timeout_ms, FanOut(size_hint));
}

bool GrpcChunkAllocator::FanOut(uint64_t size_hint) const {
  return size_hint > 0 && size_hint <= options_.fan_out_max_bytes;
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
