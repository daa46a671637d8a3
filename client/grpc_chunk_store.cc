#include "client/grpc_chunk_store.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/crc32c.h"
#include "common/grpc_status.h"
#include "common/logging.h"
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

  absl::Status Write(absl::string_view piece) override {
    if (done_) return absl::FailedPreconditionError("pipeline already finished");
    WriteChunkRequest request;
    if (!header_sent_) {
      // The header travels alone so that its handling cannot be confused with data's.
      WriteChunkHeader* header = request.mutable_header();
      header->set_chunk_id(chunk_id_);
      for (size_t i = 1; i < nodes_.size(); ++i) header->add_downstream(nodes_[i].address());
      if (!writer_->Write(request)) return Broken();
      header_sent_ = true;
      request.Clear();
    }
    request.set_data(piece.data(), piece.size());
    request.set_data_crc32c(Crc32c(piece.data(), piece.size()));
    if (!writer_->Write(request)) return Broken();
    return absl::OkStatus();
  }

  absl::StatusOr<SealedChunk> Finish() override {
    if (done_) return absl::FailedPreconditionError("pipeline already finished");
    if (!header_sent_) {
      // An empty chunk is never written (empty files have no chunks), so this is a bug.
      return absl::InternalError("finishing a pipeline that was sent nothing");
    }
    writer_->WritesDone();
    done_ = true;
    absl::Status status = FromGrpcStatus(writer_->Finish());
    if (!status.ok()) return Annotate(status);
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
  bool done_ = false;
};

}  // namespace

int64_t DataTimeoutMs(const ClientOptions& options, uint64_t bytes) {
  return options.rpc_timeout_ms + static_cast<int64_t>(bytes >> 20) * 1000;
}

GrpcChunkAllocator::GrpcChunkAllocator(MasterClient* master, const ClientOptions& options)
    : master_(master), options_(options) {}

absl::StatusOr<std::unique_ptr<ChunkPipeline>> GrpcChunkAllocator::Open(
    uint64_t size_hint, const std::vector<std::string>& exclude) {
  AllocateChunkRequest request;
  request.set_size_hint(size_hint);
  for (const std::string& id : exclude) request.add_exclude_datanodes(id);
  absl::StatusOr<AllocateChunkResponse> response =
      master_->Call(&MasterService::Stub::AllocateChunk, request);
  if (!response.ok()) return response.status();
  if (response->pipeline().empty()) {
    return absl::UnavailableError(
        absl::StrCat("master allocated chunk ", response->chunk_id(), " on no datanode"));
  }
  std::vector<DatanodeInfo> nodes(response->pipeline().begin(), response->pipeline().end());
  return std::unique_ptr<ChunkPipeline>(new GrpcChunkPipeline(
      response->chunk_id(), std::move(nodes), DataTimeoutMs(options_, size_hint)));
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
  return suspects;
}

void GrpcChunkAllocator::Pause(int attempt) {
  int64_t ms = std::min<int64_t>(2000, 100ll << std::min(attempt - 1, 5));
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

}  // namespace dfs
