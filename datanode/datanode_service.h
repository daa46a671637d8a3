// DatanodeServiceImpl: the gRPC DatanodeService (proto/datanode.proto) over a ChunkStore.
//
// WriteChunk is a pipeline, as in GFS and HDFS: each node forwards every data piece to the next
// node of the chain as it arrives and appends it locally at the same time, so a chunk crosses
// the chain in about the time one hop takes. A node answers only after it and every node after
// it hold the chunk durably; on any failure it answers with an error and keeps no committed copy.
// PutChunk stores a small chunk sent whole, on this node alone (the client fans out to every
// replica). ReadChunk streams a verified byte range in pieces of at most kDataPieceBytes.
//
// Thread-safety: gRPC calls the handlers from many threads at once; the service is thread-safe.
// The store must outlive the service.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "datanode/chunk_store.h"
#include "proto/datanode.grpc.pb.h"

namespace dfs {

class DatanodeServiceImpl final : public DatanodeService::Service {
 public:
  DatanodeServiceImpl(ChunkStore* store, std::string rack);

  grpc::Status WriteChunk(grpc::ServerContext* context,
                          grpc::ServerReader<WriteChunkRequest>* reader,
                          WriteChunkResponse* response) override;
  grpc::Status PutChunk(grpc::ServerContext* context, const PutChunkRequest* request,
                        WriteChunkResponse* response) override;
  grpc::Status ReadChunk(grpc::ServerContext* context, const ReadChunkRequest* request,
                         grpc::ServerWriter<ReadChunkResponse>* writer) override;
  grpc::Status DeleteChunks(grpc::ServerContext* context, const DeleteChunksRequest* request,
                            DeleteChunksResponse* response) override;
  grpc::Status Identity(grpc::ServerContext* context, const DatanodeEmpty* request,
                        DatanodeIdentity* response) override;
  // Copies a chunk from other datanodes at the master's request (datanode/replication.h).
  grpc::Status ReplicateChunk(grpc::ServerContext* context, const ReplicateChunkRequest* request,
                              ReplicateChunkResponse* response) override;

  // Reads and writes in progress: the load figure sent with heartbeats.
  uint32_t active_streams() const { return active_streams_.load(std::memory_order_relaxed); }
  // RPCs of any kind in progress; lets shutdown skip its grace period when the node is idle.
  uint32_t active_calls() const { return active_calls_.load(std::memory_order_relaxed); }

 private:
  absl::StatusOr<WriteChunkResponse> DoWriteChunk(grpc::ServerContext* context,
                                                  grpc::ServerReader<WriteChunkRequest>* reader);
  absl::Status DoPutChunk(const PutChunkRequest& request, WriteChunkResponse* response);
  absl::Status DoReadChunk(grpc::ServerContext* context, const ReadChunkRequest& request,
                           grpc::ServerWriter<ReadChunkResponse>* writer);

  ChunkStore* const store_;
  const std::string rack_;
  std::atomic<uint32_t> active_streams_{0};
  std::atomic<uint32_t> active_calls_{0};
};

}  // namespace dfs
