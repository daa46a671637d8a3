// The datanode's request validation (datanode/request_validation.h), as pure functions and
// through a real in-process DatanodeServer (INVALID_ARGUMENT before the store is touched), and
// path containment: whatever chunk ids a client sends, every file the datanode creates, reads or
// deletes lies inside its data directory, in the store's own layout.
#include "datanode/request_validation.h"

#include <filesystem>
#include <limits>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/crc32c.h"
#include "common/file_util.h"
#include "common/grpc_status.h"
#include "common/random.h"
#include "common/rpc.h"
#include "common/status.h"
#include "common/validation.h"
#include "datanode/datanode_server.h"
#include "gtest/gtest.h"
#include "proto/datanode.grpc.pb.h"
#include "tests/testutil/temp_dir.h"

namespace dfs {
namespace {

constexpr uint64_t kMaxU64 = std::numeric_limits<uint64_t>::max();

WriteChunkRequest Header(uint64_t chunk_id, std::vector<std::string> downstream = {}) {
  WriteChunkRequest request;
  request.mutable_header()->set_chunk_id(chunk_id);
  for (auto& d : downstream) request.mutable_header()->add_downstream(d);
  return request;
}

ReplicateChunkRequest Replicate(uint64_t chunk_id, uint64_t length,
                                std::vector<std::string> sources) {
  ReplicateChunkRequest request;
  request.set_chunk_id(chunk_id);
  request.set_length(length);
  for (auto& s : sources) request.add_sources(s);
  return request;
}

TEST(DatanodeRequestValidationTest, WriteHeaderAndPieces) {
  EXPECT_TRUE(ValidateWriteHeader(Header(5, {"10.0.0.2:7000", "dn3:7000"})).ok());
  EXPECT_TRUE(absl::IsInvalidArgument(ValidateWriteHeader(WriteChunkRequest())));  // no header
  EXPECT_TRUE(absl::IsInvalidArgument(ValidateWriteHeader(Header(0))));
  for (const char* bad : {"", "unix:/tmp/socket", "h:0", "h", "a b:1"}) {
    EXPECT_TRUE(absl::IsInvalidArgument(ValidateWriteHeader(Header(5, {bad})))) << bad;
  }
  EXPECT_TRUE(absl::IsInvalidArgument(
      ValidateWriteHeader(Header(5, std::vector<std::string>(kMaxReplicas, "h:1")))));

  WriteChunkRequest piece;
  piece.set_data("abc");
  EXPECT_TRUE(ValidateWritePiece(piece, /*first=*/false, kMaxChunkBytes - 3).ok());
  EXPECT_TRUE(absl::IsInvalidArgument(ValidateWritePiece(piece, false, kMaxChunkBytes - 2)));
  EXPECT_TRUE(absl::IsInvalidArgument(ValidateWritePiece(Header(5), /*first=*/false, 0)));
  EXPECT_TRUE(ValidateWritePiece(Header(5), /*first=*/true, 0).ok());
}

TEST(DatanodeRequestValidationTest, ReadDeleteReplicate) {
  ReadChunkRequest read;
  EXPECT_TRUE(absl::IsInvalidArgument(ValidateRequest(read)));  // chunk 0
  read.set_chunk_id(1);
  read.set_offset(kMaxU64 - 5);
  read.set_length(10);
  EXPECT_TRUE(absl::IsInvalidArgument(ValidateRequest(read)));
  read.set_offset(10);
  EXPECT_TRUE(ValidateRequest(read).ok());

  DeleteChunksRequest del;
  del.add_chunk_ids(3);
  EXPECT_TRUE(ValidateRequest(del).ok());
  del.add_chunk_ids(0);
  EXPECT_TRUE(absl::IsInvalidArgument(ValidateRequest(del)));
  del.mutable_chunk_ids()->Resize(kMaxDeleteChunks + 1, 7);
  EXPECT_TRUE(absl::IsInvalidArgument(ValidateRequest(del)));

  EXPECT_TRUE(ValidateRequest(Replicate(4, 100, {"10.0.0.1:7000"})).ok());
  EXPECT_TRUE(absl::IsInvalidArgument(ValidateRequest(Replicate(0, 100, {"h:1"}))));
  EXPECT_TRUE(absl::IsInvalidArgument(ValidateRequest(Replicate(4, 0, {"h:1"}))));
  EXPECT_TRUE(absl::IsInvalidArgument(ValidateRequest(Replicate(4, kMaxChunkBytes + 1, {"h:1"}))));
  EXPECT_TRUE(absl::IsInvalidArgument(ValidateRequest(Replicate(4, 100, {}))));
  EXPECT_TRUE(absl::IsInvalidArgument(ValidateRequest(Replicate(4, 100, {"unix:/x"}))));
  EXPECT_TRUE(absl::IsInvalidArgument(
      ValidateRequest(Replicate(4, 100, std::vector<std::string>(kMaxReplicas + 1, "h:1")))));
}

TEST(DatanodeRequestValidationTest, PutChunk) {
  PutChunkRequest put;
  put.set_data("abc");
  EXPECT_TRUE(absl::IsInvalidArgument(ValidateRequest(put)));  // chunk 0
  put.set_chunk_id(8);
  EXPECT_TRUE(ValidateRequest(put).ok());
  put.clear_data();
  EXPECT_TRUE(absl::IsInvalidArgument(ValidateRequest(put)));  // nothing to store
  put.set_data(std::string(kMaxPutChunkBytes + 1, 'x'));
  EXPECT_TRUE(absl::IsInvalidArgument(ValidateRequest(put)));
}

// ---- through a real datanode ----

class DatanodeRpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_dir_ = root_.path() + "/data";
    // A file beside the data directory that no request may reach.
    ASSERT_TRUE(WriteFileAtomic(root_.path() + "/victim", "keep me").ok());
    DatanodeOptions options;
    options.data_dir = data_dir_;
    options.shutdown_grace_ms = 100;
    options.scrub_bytes_per_sec = 0;
    node_ = std::make_unique<DatanodeServer>(options);
    ASSERT_TRUE(node_->Start().ok());
    stub_ = DatanodeService::NewStub(GetChannel(node_->address()));
  }
  void TearDown() override { node_->Shutdown(); }

  absl::Status Write(uint64_t chunk_id, const std::string& data) {
    grpc::ClientContext context;
    SetTimeout(&context, 10000);
    WriteChunkResponse response;
    auto writer = stub_->WriteChunk(&context, &response);
    WriteChunkRequest request = Header(chunk_id);
    request.set_data(data);
    request.set_data_crc32c(Crc32c(data));
    writer->Write(request);
    writer->WritesDone();
    return FromGrpcStatus(writer->Finish());
  }

  absl::StatusOr<WriteChunkResponse> Put(uint64_t chunk_id, const std::string& data,
                                         uint32_t crc32c) {
    grpc::ClientContext context;
    SetTimeout(&context, 10000);
    PutChunkRequest request;
    request.set_chunk_id(chunk_id);
    request.set_data(data);
    request.set_data_crc32c(crc32c);
    WriteChunkResponse response;
    DFS_RETURN_IF_ERROR(FromGrpcStatus(stub_->PutChunk(&context, request, &response)));
    return response;
  }

  // The status of a ReadChunk call (the data is checked through the store).
  absl::Status ReadStatus(uint64_t chunk_id, uint64_t offset = 0, uint64_t length = 0) {
    ReadChunkRequest request;
    request.set_chunk_id(chunk_id);
    request.set_offset(offset);
    request.set_length(length);
    grpc::ClientContext context;
    SetTimeout(&context, 10000);
    auto reader = stub_->ReadChunk(&context, request);
    for (ReadChunkResponse piece; reader->Read(&piece);) {
    }
    return FromGrpcStatus(reader->Finish());
  }

  absl::Status Delete(std::vector<uint64_t> ids) {
    grpc::ClientContext context;
    SetTimeout(&context, 10000);
    DeleteChunksRequest request;
    for (uint64_t id : ids) request.add_chunk_ids(id);
    DeleteChunksResponse response;
    return FromGrpcStatus(stub_->DeleteChunks(&context, request, &response));
  }

  TempDir root_;
  std::string data_dir_;
  std::unique_ptr<DatanodeServer> node_;
  std::unique_ptr<DatanodeService::Stub> stub_;
};

TEST_F(DatanodeRpcTest, RefusesHostileRequests) {
  EXPECT_TRUE(absl::IsInvalidArgument(Write(0, "zero")));
  EXPECT_TRUE(absl::IsInvalidArgument(ReadStatus(0)));
  EXPECT_TRUE(absl::IsInvalidArgument(ReadStatus(1, kMaxU64, 2)));
  EXPECT_TRUE(absl::IsInvalidArgument(Delete({5, 0})));

  grpc::ClientContext context;
  SetTimeout(&context, 10000);
  ReplicateChunkResponse response;
  absl::Status status = FromGrpcStatus(stub_->ReplicateChunk(
      &context, Replicate(9, 10, {"unix:" + root_.path() + "/socket"}), &response));
  EXPECT_TRUE(absl::IsInvalidArgument(status)) << status;

  grpc::ClientContext write_context;
  SetTimeout(&write_context, 10000);
  WriteChunkResponse written;
  auto writer = stub_->WriteChunk(&write_context, &written);
  writer->Write(Header(6, {"unix:" + root_.path() + "/socket"}));
  writer->WritesDone();
  status = FromGrpcStatus(writer->Finish());
  EXPECT_TRUE(absl::IsInvalidArgument(status)) << status;
  EXPECT_TRUE(node_->store()->List().empty());
}

// Chunk ids reach the file system only as numbers formatted into ChunkStore::ChunkPath. Ids whose
// bytes spell "../", "/" or NUL, the extremes and random ones all land in chunks/<xx>/<16
// hex>.chunk under the data directory, and nothing outside it is touched.
TEST_F(DatanodeRpcTest, ChunkFilesStayInsideTheDataDirectory) {
  std::vector<uint64_t> ids = {1,
                               0xff,
                               0x100,
                               kMaxU64,
                               kMaxU64 - 1,
                               0x2e2e2f2e2e2f2e2eull,
                               0x2f2f2f2f2f2f2f2full,
                               0x2e2e000000000000ull,
                               1ull << 63};
  Random random(7);
  for (int i = 0; i < 20; ++i) ids.push_back(random.Next() | 1);
  for (uint64_t id : ids) {
    const std::string data = absl::StrCat("chunk ", id);
    ASSERT_TRUE(Write(id, data).ok()) << id;
    ASSERT_TRUE(ReadStatus(id).ok()) << id;
    auto stored = node_->store()->Read(id, 0, data.size());
    ASSERT_TRUE(stored.ok()) << stored.status();
    EXPECT_EQ(*stored, data);
  }
  // Every path the store would use, for any id, has the one shape.
  const std::regex shape(
      std::regex_replace(data_dir_, std::regex(R"([.^$|()\[\]{}*+?\\])"), R"(\$&)") +
      "/chunks/[0-9a-f]{2}/[0-9a-f]{16}\\.chunk");
  for (uint64_t id : ids) EXPECT_TRUE(std::regex_match(node_->store()->ChunkPath(id), shape));

  // Every file under the root: the victim, and inside the data directory only the layout.
  size_t chunk_files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root_.path())) {
    const std::string path = entry.path().string();
    if (path == root_.path() + "/victim" || path == data_dir_) continue;
    ASSERT_EQ(path.rfind(data_dir_ + "/", 0), 0u) << path;
    if (entry.is_regular_file() && path.find("/chunks/") != std::string::npos) {
      EXPECT_TRUE(std::regex_match(path, shape)) << path;
      ++chunk_files;
    }
  }
  EXPECT_EQ(chunk_files, ids.size());

  // Deleting every one (and ids never written) removes exactly those files.
  std::vector<uint64_t> doomed = ids;
  doomed.push_back(0x2e2e2f7669637469ull);  // "../victi" in its bytes
  ASSERT_TRUE(Delete(doomed).ok());
  EXPECT_TRUE(node_->store()->List().empty());
  auto victim = ReadFile(root_.path() + "/victim");
  ASSERT_TRUE(victim.ok());
  EXPECT_EQ(*victim, "keep me");
}

}  // namespace
// A small chunk in one message: stored, sealed and readable; refused whole when its CRC does not
// match or the id is taken, and then nothing is left behind.
TEST_F(DatanodeRpcTest, PutChunkStoresASmallChunkWhole) {
  const std::string data = "a small file's bytes";
  absl::StatusOr<WriteChunkResponse> put = Put(12, data, Crc32c(data));
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(put->length(), data.size());
  EXPECT_EQ(put->crc32c(), Crc32c(data));
  ASSERT_EQ(put->stored_on_size(), 1);
  EXPECT_EQ(put->stored_on(0), node_->store()->node_id());
  auto stored = node_->store()->Read(12, 0, data.size());
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(*stored, data);

  EXPECT_TRUE(absl::IsDataLoss(Put(13, data, Crc32c(data) ^ 1).status()));
  EXPECT_FALSE(node_->store()->Contains(13));
  EXPECT_TRUE(absl::IsAlreadyExists(Put(12, "other bytes", Crc32c("other bytes")).status()));
  EXPECT_EQ(*node_->store()->Read(12, 0, data.size()), data);
  EXPECT_TRUE(absl::IsInvalidArgument(Put(0, data, Crc32c(data)).status()));
  EXPECT_EQ(node_->store()->List(), std::vector<uint64_t>{12});
}

}  // namespace dfs
