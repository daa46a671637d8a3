// Three DatanodeServers in one process on 127.0.0.1:0, no masters: pipelined writes along a
// chain, streamed reads, and how failures anywhere in the chain surface.
#include "datanode/datanode_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/crc32c.h"
#include "common/grpc_status.h"
#include "common/random.h"
#include "common/rpc.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/datanode.grpc.pb.h"
#include "tests/testutil/temp_dir.h"
#include "common/status.h"

namespace dfs {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string RandomBytes(size_t size, uint64_t seed) {
  Random random(seed);
  std::string data(size, '\0');
  for (char& c : data) c = static_cast<char>(random.Next());
  return data;
}

// A loopback address nothing listens on: bind a port, then close it.
std::string ClosedAddress() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  DFS_CHECK(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  DFS_CHECK(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  socklen_t len = sizeof(addr);
  DFS_CHECK(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  ::close(fd);
  return absl::StrCat("127.0.0.1:", ntohs(addr.sin_port));
}

struct WriteOptions {
  size_t piece_bytes = kDataPieceBytes;
  int corrupt_piece = -1;  // index of a piece sent with a wrong CRC
};

// A client's WriteChunk: header in the first message, then the data in pieces.
absl::StatusOr<WriteChunkResponse> WriteChunk(const std::string& address, uint64_t chunk_id,
                                              const std::vector<std::string>& downstream,
                                              const std::string& data,
                                              const WriteOptions& options = {}) {
  auto stub = DatanodeService::NewStub(GetChannel(address));
  grpc::ClientContext context;
  SetTimeout(&context, 30000);
  WriteChunkResponse response;
  auto writer = stub->WriteChunk(&context, &response);
  size_t offset = 0;
  int index = 0;
  do {
    WriteChunkRequest request;
    if (index == 0) {
      request.mutable_header()->set_chunk_id(chunk_id);
      for (const std::string& d : downstream) request.mutable_header()->add_downstream(d);
    }
    size_t n = std::min(options.piece_bytes, data.size() - offset);
    request.set_data(data.substr(offset, n));
    request.set_data_crc32c(Crc32c(request.data()) + (index == options.corrupt_piece ? 1 : 0));
    if (!writer->Write(request)) break;
    offset += n;
    ++index;
  } while (offset < data.size());
  writer->WritesDone();
  absl::Status status = FromGrpcStatus(writer->Finish());
  if (!status.ok()) return status;
  return response;
}

// A client's ReadChunk: checks every piece's CRC and size as it arrives.
absl::StatusOr<std::string> ReadChunk(const std::string& address, uint64_t chunk_id,
                                      uint64_t offset = 0, uint64_t length = 0,
                                      int* pieces = nullptr) {
  auto stub = DatanodeService::NewStub(GetChannel(address));
  grpc::ClientContext context;
  SetTimeout(&context, 30000);
  ReadChunkRequest request;
  request.set_chunk_id(chunk_id);
  request.set_offset(offset);
  request.set_length(length);
  auto reader = stub->ReadChunk(&context, request);
  std::string data;
  ReadChunkResponse piece;
  int count = 0;
  while (reader->Read(&piece)) {
    EXPECT_EQ(Crc32c(piece.data()), piece.data_crc32c());
    EXPECT_LE(piece.data().size(), kDataPieceBytes);
    EXPECT_FALSE(piece.data().empty());
    data += piece.data();
    ++count;
  }
  if (pieces != nullptr) *pieces = count;
  absl::Status status = FromGrpcStatus(reader->Finish());
  if (!status.ok()) return status;
  return data;
}

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 3; ++i) {
      DatanodeOptions options;
      options.data_dir = dirs_[i].path() + "/data";
      options.rack = absl::StrCat("rack", i);
      options.shutdown_grace_ms = 200;
      nodes_[i] = std::make_unique<DatanodeServer>(options);
      absl::Status status = nodes_[i]->Start();
      ASSERT_TRUE(status.ok()) << status;
    }
  }

  std::string Address(int i) const { return nodes_[i]->address(); }
  // Chunk files of node i that were never sealed (writes in progress, or left behind).
  size_t UnsealedFiles(int i) const {
    const std::string chunks = dirs_[i].path() + "/data/chunks";
    size_t n = 0;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(chunks)) {
      if (entry.is_regular_file() &&
          (entry.status().permissions() & std::filesystem::perms::owner_read) ==
              std::filesystem::perms::none) {
        ++n;
      }
    }
    return n;
  }
  // Waits (bounded) until node i has no unsealed file: nodes further down a cancelled chain
  // clean up asynchronously.
  bool EventuallyNoUnsealedFiles(int i) const {
    for (int attempt = 0; attempt < 500; ++attempt) {
      if (UnsealedFiles(i) == 0) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  TempDir dirs_[3];
  std::unique_ptr<DatanodeServer> nodes_[3];
};

TEST_F(PipelineTest, ChunkReachesEveryNodeOfTheChain) {
  const std::string data = RandomBytes(5 << 20, 1);
  absl::StatusOr<WriteChunkResponse> response =
      WriteChunk(Address(0), 77, {Address(1), Address(2)}, data);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->length(), data.size());
  EXPECT_EQ(response->crc32c(), Crc32c(data));
  EXPECT_THAT(response->stored_on(),
              ElementsAre(nodes_[0]->id(), nodes_[1]->id(), nodes_[2]->id()));
  EXPECT_NE(nodes_[0]->id(), nodes_[1]->id());

  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    int pieces = 0;
    absl::StatusOr<std::string> read = ReadChunk(Address(i), 77, 0, 0, &pieces);
    ASSERT_TRUE(read.ok()) << read.status();
    EXPECT_TRUE(*read == data);
    EXPECT_EQ(pieces, 5);
    EXPECT_EQ(UnsealedFiles(i), 0u);
    EXPECT_EQ(nodes_[i]->active_streams(), 0u);
  }

  // Ranges: unaligned start and end, clamped at the end, empty at the end.
  absl::StatusOr<std::string> range = ReadChunk(Address(2), 77, 70001, 1500000);
  ASSERT_TRUE(range.ok()) << range.status();
  EXPECT_TRUE(*range == data.substr(70001, 1500000));
  range = ReadChunk(Address(1), 77, data.size() - 10, 1000);
  ASSERT_TRUE(range.ok());
  EXPECT_TRUE(*range == data.substr(data.size() - 10));
  EXPECT_EQ(*ReadChunk(Address(1), 77, data.size(), 0), "");
  EXPECT_TRUE(absl::IsInvalidArgument(ReadChunk(Address(1), 77, data.size() + 1).status()));
}

TEST_F(PipelineTest, OddPieceSizesAndEmptyChunk) {
  const std::string data = RandomBytes(300000, 2);
  WriteOptions options;
  options.piece_bytes = 12345;
  absl::StatusOr<WriteChunkResponse> response =
      WriteChunk(Address(2), 5, {Address(0)}, data, options);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_THAT(response->stored_on(), ElementsAre(nodes_[2]->id(), nodes_[0]->id()));
  EXPECT_TRUE(*ReadChunk(Address(0), 5) == data);

  response = WriteChunk(Address(0), 6, {Address(1), Address(2)}, "");
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->length(), 0u);
  EXPECT_EQ(response->stored_on_size(), 3);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(*ReadChunk(Address(i), 6), "");
}

TEST_F(PipelineTest, UnreachableTailFailsTheWholeWrite) {
  const std::string dead = ClosedAddress();
  const std::string data = RandomBytes(3 << 20, 3);
  absl::StatusOr<WriteChunkResponse> response = WriteChunk(Address(0), 9, {Address(1), dead}, data);
  ASSERT_FALSE(response.ok());
  EXPECT_TRUE(absl::IsUnavailable(response.status())) << response.status();
  EXPECT_THAT(response.status().message(), HasSubstr(dead));
  for (int i = 0; i < 2; ++i) {
    EXPECT_FALSE(nodes_[i]->store()->Contains(9));
    EXPECT_TRUE(EventuallyNoUnsealedFiles(i));
  }
  // The id is still free: a retry along a good chain succeeds.
  ASSERT_TRUE(WriteChunk(Address(0), 9, {Address(1), Address(2)}, data).ok());
}

TEST_F(PipelineTest, WrongPieceChecksumIsDataLoss) {
  const std::string data = RandomBytes(4 << 20, 4);
  WriteOptions options;
  options.corrupt_piece = 2;
  absl::StatusOr<WriteChunkResponse> response =
      WriteChunk(Address(0), 11, {Address(1), Address(2)}, data, options);
  ASSERT_FALSE(response.ok());
  EXPECT_TRUE(absl::IsDataLoss(response.status())) << response.status();
  for (int i = 0; i < 3; ++i) {
    EXPECT_FALSE(nodes_[i]->store()->Contains(11));
    EXPECT_TRUE(EventuallyNoUnsealedFiles(i));
  }
  // Same on a single node, in the very first piece.
  options.corrupt_piece = 0;
  response = WriteChunk(Address(1), 12, {}, "abc", options);
  EXPECT_TRUE(absl::IsDataLoss(response.status())) << response.status();
  EXPECT_FALSE(nodes_[1]->store()->Contains(12));
}

TEST_F(PipelineTest, CancelledClientLeavesNoChunk) {
  auto stub = DatanodeService::NewStub(GetChannel(Address(0)));
  grpc::ClientContext context;
  WriteChunkResponse response;
  auto writer = stub->WriteChunk(&context, &response);
  WriteChunkRequest request;
  request.mutable_header()->set_chunk_id(13);
  request.mutable_header()->add_downstream(Address(1));
  request.set_data(RandomBytes(100000, 5));
  request.set_data_crc32c(Crc32c(request.data()));
  ASSERT_TRUE(writer->Write(request));
  // Wait until both nodes have the stream open, then give up mid-chunk.
  for (int i = 0; i < 500 && nodes_[1]->active_streams() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(nodes_[0]->active_streams(), 1u);
  EXPECT_EQ(nodes_[1]->active_streams(), 1u);
  context.TryCancel();
  EXPECT_FALSE(writer->Finish().ok());
  for (int i = 0; i < 2; ++i) {
    EXPECT_TRUE(EventuallyNoUnsealedFiles(i));
    EXPECT_FALSE(nodes_[i]->store()->Contains(13));
  }
}

TEST_F(PipelineTest, DuplicateChunkIsAlreadyExists) {
  ASSERT_TRUE(WriteChunk(Address(0), 20, {}, "one").ok());
  // dn1 refuses before anything reaches dn2.
  absl::StatusOr<WriteChunkResponse> again = WriteChunk(Address(0), 20, {Address(1)}, "two");
  EXPECT_TRUE(absl::IsAlreadyExists(again.status())) << again.status();
  EXPECT_FALSE(nodes_[1]->store()->Contains(20));
  // dn2 already has it: the chain fails and dn1 keeps no copy.
  ASSERT_TRUE(WriteChunk(Address(1), 21, {}, "one").ok());
  again = WriteChunk(Address(0), 21, {Address(1)}, "two");
  EXPECT_TRUE(absl::IsAlreadyExists(again.status())) << again.status();
  EXPECT_FALSE(nodes_[0]->store()->Contains(21));
  EXPECT_EQ(*ReadChunk(Address(1), 21), "one");
}

TEST_F(PipelineTest, CorruptReplicaIsDataLossOnlyThere) {
  const std::string data = RandomBytes(1 << 20, 6);
  ASSERT_TRUE(WriteChunk(Address(0), 30, {Address(1)}, data).ok());
  const std::string path = nodes_[1]->store()->ChunkPath(30);
  int fd = ::open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  char c = 0;
  ASSERT_EQ(::pwrite(fd, &c, 1, 200000), 1);
  ASSERT_EQ(::pwrite(fd, "\xff", 1, 200000), 1);
  ::close(fd);
  if (data[200000] == '\xff') GTEST_SKIP() << "the flip did not change the byte";
  EXPECT_TRUE(absl::IsDataLoss(ReadChunk(Address(1), 30).status()));
  EXPECT_TRUE(*ReadChunk(Address(1), 30, 0, 131072) == data.substr(0, 131072));
  EXPECT_TRUE(*ReadChunk(Address(0), 30) == data);
}

TEST_F(PipelineTest, DeleteChunksAndIdentity) {
  ASSERT_TRUE(WriteChunk(Address(0), 40, {}, "x").ok());
  ASSERT_TRUE(WriteChunk(Address(0), 41, {}, "y").ok());
  auto stub = DatanodeService::NewStub(GetChannel(Address(0)));
  {
    grpc::ClientContext context;
    DeleteChunksRequest request;
    request.add_chunk_ids(40);
    request.add_chunk_ids(999);
    DeleteChunksResponse response;
    ASSERT_TRUE(stub->DeleteChunks(&context, request, &response).ok());
    EXPECT_EQ(response.deleted(), 1u);
  }
  EXPECT_THAT(nodes_[0]->store()->List(), ElementsAre(41u));
  EXPECT_TRUE(absl::IsNotFound(ReadChunk(Address(0), 40).status()));
  {
    grpc::ClientContext context;
    DatanodeIdentity identity;
    ASSERT_TRUE(stub->Identity(&context, DatanodeEmpty(), &identity).ok());
    EXPECT_EQ(identity.id(), nodes_[0]->id());
    EXPECT_EQ(identity.rack(), "rack0");
  }
}

TEST_F(PipelineTest, RestartKeepsIdAndChunks) {
  ASSERT_TRUE(WriteChunk(Address(0), 50, {}, "persist").ok());
  const std::string id = nodes_[0]->id();
  nodes_[0]->Shutdown();
  DatanodeOptions options;
  options.data_dir = dirs_[0].path() + "/data";
  nodes_[0] = std::make_unique<DatanodeServer>(options);
  ASSERT_TRUE(nodes_[0]->Start().ok());
  EXPECT_EQ(nodes_[0]->id(), id);
  EXPECT_EQ(*ReadChunk(Address(0), 50), "persist");
}

TEST(DatanodeOptionsTest, Validate) {
  DatanodeOptions options;
  EXPECT_TRUE(absl::IsInvalidArgument(options.Validate()));  // no data_dir
  options.data_dir = "/tmp/x";
  EXPECT_TRUE(options.Validate().ok());
  options.masters = {"127.0.0.1:7000", "host:7001"};
  EXPECT_TRUE(options.Validate().ok());
  options.masters.push_back("nocolon");
  EXPECT_TRUE(absl::IsInvalidArgument(options.Validate()));
  options.masters.pop_back();
  options.listen_address = "127.0.0.1:99999";
  EXPECT_TRUE(absl::IsInvalidArgument(options.Validate()));
  options.listen_address = "[::1]:0";
  EXPECT_TRUE(options.Validate().ok());
  options.heartbeat_interval_ms = 0;
  EXPECT_TRUE(absl::IsInvalidArgument(options.Validate()));
  options.heartbeat_interval_ms = 10;
  options.rack = "";
  EXPECT_TRUE(absl::IsInvalidArgument(options.Validate()));
}

TEST(DatanodeServerTest, StartFailsOnBadOptionsAndBusyDirectory) {
  TempDir dir;
  DatanodeOptions options;
  EXPECT_TRUE(absl::IsInvalidArgument(DatanodeServer(options).Start()));
  options.data_dir = dir.path();
  DatanodeServer first(options);
  ASSERT_TRUE(first.Start().ok());
  DatanodeServer second(options);
  EXPECT_TRUE(absl::IsFailedPrecondition(second.Start()));
}

}  // namespace
}  // namespace dfs
