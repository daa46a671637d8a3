// The master's request validation (master/request_validation.h): one test per rule on the pure
// functions, then the same rules through a real in-process master's gRPC services, which must
// answer INVALID_ARGUMENT before anything reaches the log.
#include "master/request_validation.h"

#include <chrono>
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/grpc_status.h"
#include "common/rpc.h"
#include "common/validation.h"
#include "gtest/gtest.h"
#include "master/master_server.h"
#include "proto/master.grpc.pb.h"
#include "tests/testutil/temp_dir.h"

namespace dfs {
namespace {

constexpr uint64_t kMaxU64 = std::numeric_limits<uint64_t>::max();

void ExpectInvalid(const absl::Status& status, int err = EINVAL) {
  EXPECT_TRUE(absl::IsInvalidArgument(status)) << status;
  EXPECT_EQ(ErrnoOf(status), err) << status;
}

MkdirRequest Mkdir(uint64_t parent, const std::string& name) {
  MkdirRequest request;
  request.set_parent(parent);
  request.set_name(name);
  return request;
}

Extent MakeExtent(uint64_t file_offset, uint64_t chunk_id, uint64_t chunk_offset, uint64_t length) {
  Extent e;
  e.set_file_offset(file_offset);
  e.set_chunk_id(chunk_id);
  e.set_chunk_offset(chunk_offset);
  e.set_length(length);
  return e;
}

// A write of 100 bytes in chunk 7 with three replicas: valid, for the tests to break.
CommitWriteRequest GoodWrite() {
  CommitWriteRequest request;
  request.set_inode(5);
  request.set_offset(4096);
  request.set_length(100);
  *request.add_extents() = MakeExtent(0, 7, 0, 100);
  ChunkInfo* chunk = request.add_new_chunks();
  chunk->set_chunk_id(7);
  chunk->set_length(100);
  for (const char* id : {"dn1", "dn2", "dn3"}) chunk->add_replicas(id);
  return request;
}

TEST(RequestValidationTest, Names) {
  EXPECT_TRUE(ValidateRequest(Mkdir(1, "ok.txt")).ok());
  for (const std::string& bad : {std::string(""), std::string("."), std::string(".."),
                                 std::string("a/b"), std::string("a\0b", 3)}) {
    ExpectInvalid(ValidateRequest(Mkdir(1, bad)));
  }
  ExpectInvalid(ValidateRequest(Mkdir(1, std::string(256, 'x'))), ENAMETOOLONG);
  EXPECT_TRUE(ValidateRequest(Mkdir(1, std::string(255, 'x'))).ok());
  ExpectInvalid(ValidateRequest(Mkdir(0, "a")));  // no inode 0

  RenameRequest rename;
  rename.set_parent(1);
  rename.set_name("a");
  rename.set_new_parent(1);
  rename.set_new_name("..");
  ExpectInvalid(ValidateRequest(rename));
  ReadDirRequest readdir;
  readdir.set_inode(1);
  readdir.set_start_after("x/y");
  ExpectInvalid(ValidateRequest(readdir));
  LookupPathRequest path;
  path.set_path("relative/path");
  ExpectInvalid(ValidateRequest(path));
  path.set_path("/" + std::string(kMaxPathBytes, 'a'));
  ExpectInvalid(ValidateRequest(path));
}

TEST(RequestValidationTest, SymlinkTargets) {
  SymlinkRequest request;
  request.set_parent(1);
  request.set_name("l");
  request.set_target("../somewhere");
  EXPECT_TRUE(ValidateRequest(request).ok());
  request.set_target(std::string(4096, 'x'));
  ExpectInvalid(ValidateRequest(request), ENAMETOOLONG);
  request.set_target(std::string("a\0b", 3));
  ExpectInvalid(ValidateRequest(request));
  request.set_target("");
  EXPECT_EQ(ErrnoOf(ValidateRequest(request)), ENOENT);  // as symlink(2)
}

TEST(RequestValidationTest, SizesAndOffsets) {
  EXPECT_TRUE(ValidateRequest(GoodWrite()).ok());
  CommitWriteRequest write = GoodWrite();
  write.set_offset(kMaxU64 - 10);  // offset + length would wrap
  ExpectInvalid(ValidateRequest(write), EFBIG);
  write.set_offset(kMaxFileBytes - 99);  // ends one byte past the largest file
  ExpectInvalid(ValidateRequest(write), EFBIG);
  write.set_append(true);  // an append's offset is decided at apply time
  EXPECT_TRUE(ValidateRequest(write).ok());

  SetAttrRequest truncate;
  truncate.set_inode(5);
  truncate.set_size(kMaxFileBytes + 1);
  ExpectInvalid(ValidateRequest(truncate), EFBIG);
  truncate.set_size(kMaxFileBytes);
  EXPECT_TRUE(ValidateRequest(truncate).ok());

  CreateRequest create;
  create.set_parent(1);
  create.set_name("f");
  create.set_size(kMaxU64);
  ExpectInvalid(ValidateRequest(create), EFBIG);

  GetExtentsRequest extents;
  extents.set_inode(5);
  extents.set_offset(kMaxU64 - 1);
  extents.set_length(2);
  ExpectInvalid(ValidateRequest(extents));
  extents.set_offset(1ull << 62);  // far past any end, but a read there is fine
  extents.set_length(4096);
  EXPECT_TRUE(ValidateRequest(extents).ok());

  AllocateChunkRequest allocate;
  allocate.set_size_hint(kMaxChunkBytes + 1);
  ExpectInvalid(ValidateRequest(allocate));
  allocate.set_size_hint(4096);
  allocate.set_extra(kMaxExtraChunks);
  EXPECT_TRUE(ValidateRequest(allocate).ok());
  allocate.set_extra(kMaxExtraChunks + 1);
  ExpectInvalid(ValidateRequest(allocate));
  allocate.set_extra(0xffffffffu);
  ExpectInvalid(ValidateRequest(allocate));
}

TEST(RequestValidationTest, Extents) {
  CommitWriteRequest write = GoodWrite();
  write.mutable_extents(0)->set_chunk_id(0);
  ExpectInvalid(ValidateRequest(write));
  write = GoodWrite();
  write.mutable_extents(0)->set_length(0);
  ExpectInvalid(ValidateRequest(write));
  write = GoodWrite();
  write.mutable_extents(0)->set_file_offset(1);  // ends past the write's 100 bytes
  ExpectInvalid(ValidateRequest(write));
  write = GoodWrite();
  write.mutable_extents(0)->set_chunk_offset(kMaxU64 - 50);  // wraps inside the chunk
  ExpectInvalid(ValidateRequest(write));
  write = GoodWrite();
  write.mutable_new_chunks(0)->set_chunk_id(0);
  ExpectInvalid(ValidateRequest(write));
  write = GoodWrite();
  write.mutable_new_chunks(0)->set_length(kMaxChunkBytes + 1);
  ExpectInvalid(ValidateRequest(write));
  write = GoodWrite();
  write.mutable_new_chunks(0)->clear_replicas();
  ExpectInvalid(ValidateRequest(write));
  write = GoodWrite();
  write.mutable_new_chunks(0)->set_replicas(0, std::string("dn\n1"));
  ExpectInvalid(ValidateRequest(write));
}

TEST(RequestValidationTest, RepeatedFieldCounts) {
  CommitWriteRequest write = GoodWrite();
  write.set_length(kMaxExtentsPerRequest + 1);
  for (int i = 1; i <= kMaxExtentsPerRequest; ++i) *write.add_extents() = MakeExtent(i, 7, 0, 1);
  ExpectInvalid(ValidateRequest(write));
  write.mutable_extents()->RemoveLast();
  EXPECT_TRUE(ValidateRequest(write).ok());

  ChunkInfo* chunk = write.mutable_new_chunks(0);
  for (int i = chunk->replicas_size(); i <= kMaxReplicas; ++i) chunk->add_replicas("dn");
  ExpectInvalid(ValidateRequest(write));

  CheckFilesRequest check;
  for (int i = 1; i <= kMaxCheckFiles + 1; ++i) check.add_inodes(i);
  ExpectInvalid(ValidateRequest(check));
  HeartbeatRequest heartbeat;
  heartbeat.mutable_node()->set_id("dn1");
  heartbeat.mutable_node()->set_address("127.0.0.1:7000");
  EXPECT_TRUE(ValidateRequest(heartbeat).ok());
  heartbeat.mutable_chunk_ids()->Resize(kMaxReportedChunks + 1, 1);
  ExpectInvalid(ValidateRequest(heartbeat));
  AllocateChunkRequest allocate;
  for (int i = 0; i <= kMaxListedNodes; ++i) allocate.add_exclude_datanodes("dn");
  ExpectInvalid(ValidateRequest(allocate));
}

TEST(RequestValidationTest, Batches) {
  BatchRequest batch;
  ExpectInvalid(ValidateRequest(batch));  // empty
  RemoveRequest* unlink = batch.add_ops()->mutable_unlink();
  unlink->set_parent(1);
  unlink->set_name("a");
  RemoveRequest* rmdir = batch.add_ops()->mutable_rmdir();
  rmdir->set_parent(1);
  rmdir->set_name("d");
  RenameRequest* rename = batch.add_ops()->mutable_rename();
  rename->set_parent(1);
  rename->set_name("b");
  rename->set_new_parent(1);
  rename->set_new_name("c");
  EXPECT_TRUE(ValidateRequest(batch).ok());

  BatchRequest full;
  for (int i = 0; i < kMaxBatchOps; ++i) *full.add_ops() = batch.ops(i % batch.ops_size());
  EXPECT_TRUE(ValidateRequest(full).ok());
  *full.add_ops() = batch.ops(0);  // 1025
  ExpectInvalid(ValidateRequest(full));

  BatchRequest unset = batch;
  unset.add_ops();  // no op set
  ExpectInvalid(ValidateRequest(unset));

  // A sub-request is checked as its single call is, errno included.
  BatchRequest bad_name = batch;
  bad_name.mutable_ops(1)->mutable_rmdir()->set_name("..");
  ExpectInvalid(ValidateRequest(bad_name));
  bad_name.mutable_ops(2)->mutable_rename()->set_new_name(std::string(256, 'x'));
  bad_name.mutable_ops(1)->mutable_rmdir()->set_name("d");
  absl::Status long_name = ValidateRequest(bad_name);
  ExpectInvalid(long_name, ENAMETOOLONG);
  EXPECT_TRUE(absl::StartsWith(long_name.message(), "batch op 2: ")) << long_name;
  BatchRequest no_parent = batch;
  no_parent.mutable_ops(0)->mutable_unlink()->set_parent(0);
  ExpectInvalid(ValidateRequest(no_parent));

  // New inodes: a mkdir and a create name their (client-reserved) id; a create is exclusive.
  // It may carry content, checked as a single Create's is.
  BatchRequest news;
  MkdirRequest* mkdir = news.add_ops()->mutable_mkdir();
  mkdir->set_parent(1);
  mkdir->set_name("m");
  mkdir->set_inode(100);
  CreateRequest* create = news.add_ops()->mutable_create();
  create->set_parent(1);
  create->set_name("f");
  create->set_inode(101);
  create->set_exclusive(true);
  EXPECT_TRUE(ValidateRequest(news).ok());
  for (auto spoil : std::vector<std::function<void(BatchRequest&)>>{
           [](BatchRequest& b) { b.mutable_ops(0)->mutable_mkdir()->set_inode(0); },
           [](BatchRequest& b) { b.mutable_ops(1)->mutable_create()->set_inode(0); },
           [](BatchRequest& b) { b.mutable_ops(1)->mutable_create()->set_exclusive(false); },
           [](BatchRequest& b) { b.mutable_ops(1)->mutable_create()->set_replace(true); },
           // An extent beyond the size it gives the file.
           [](BatchRequest& b) {
             *b.mutable_ops(1)->mutable_create()->add_extents() = MakeExtent(0, 7, 0, 100);
             b.mutable_ops(1)->mutable_create()->set_size(99);
           },
       }) {
    BatchRequest spoiled = news;
    spoil(spoiled);
    ExpectInvalid(ValidateRequest(spoiled));
  }
  // The file's first content, written before its create was sent.
  CommitWriteRequest write = GoodWrite();
  *create->mutable_extents() = write.extents();
  *create->mutable_new_chunks() = write.new_chunks();
  create->set_size(write.length());
  EXPECT_TRUE(ValidateRequest(news).ok()) << ValidateRequest(news);
}

TEST(RequestValidationTest, ReserveInodes) {
  ReserveInodesRequest request;
  ExpectInvalid(ValidateRequest(request));  // none
  request.set_count(1);
  EXPECT_TRUE(ValidateRequest(request).ok());
  request.set_count(kMaxReservedInodes);
  EXPECT_TRUE(ValidateRequest(request).ok());
  request.set_count(kMaxReservedInodes + 1);
  ExpectInvalid(ValidateRequest(request));
  request.set_count(UINT32_MAX);
  ExpectInvalid(ValidateRequest(request));
}

TEST(RequestValidationTest, IdsAndAddresses) {
  ChunkReplicasRequest replicas;
  ExpectInvalid(ValidateRequest(replicas));  // chunk 0
  ReportBadReplicaRequest report;
  report.set_chunk_id(3);
  ExpectInvalid(ValidateRequest(report));  // no datanode id
  report.set_datanode_id("dn1");
  EXPECT_TRUE(ValidateRequest(report).ok());
  report.set_reason(std::string(kMaxReasonBytes + 1, 'r'));
  ExpectInvalid(ValidateRequest(report));

  HeartbeatRequest heartbeat;
  heartbeat.mutable_node()->set_id("dn1");
  for (const char* bad : {"", "nohost", "unix:/tmp/socket", "dns:///h:1", "h:0", "h:65536", "h:-1",
                          "h:1x", "bad host:1", ":7000"}) {
    heartbeat.mutable_node()->set_address(bad);
    ExpectInvalid(ValidateRequest(heartbeat));
  }
  for (const char* good : {"127.0.0.1:7000", "dn-1.example.com:1", "[::1]:65535"}) {
    heartbeat.mutable_node()->set_address(good);
    EXPECT_TRUE(ValidateRequest(heartbeat).ok()) << good;
  }
  RaftMemberRequest member;
  member.set_address("unix:/run/x");
  ExpectInvalid(ValidateRequest(member));
  DecommissionRequest decommission;
  ExpectInvalid(ValidateRequest(decommission));
}

TEST(RequestValidationTest, AdminArguments) {
  BalanceRequest balance;
  balance.set_threshold(0.1);
  EXPECT_TRUE(ValidateRequest(balance).ok());
  for (double bad : {-0.1, 1.0, std::nan(""), std::numeric_limits<double>::infinity()}) {
    balance.set_threshold(bad);
    ExpectInvalid(ValidateRequest(balance));
  }
  SafeModeRequest safe_mode;
  safe_mode.set_action(SafeModeRequest::LEAVE);
  EXPECT_TRUE(ValidateRequest(safe_mode).ok());
  safe_mode.set_action(static_cast<SafeModeRequest::Action>(7));  // proto3 keeps unknown values
  ExpectInvalid(ValidateRequest(safe_mode));
}

// ---- the same rules at the RPC layer ----

class MasterRpcValidationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MasterOptions options;
    options.data_dir = dir_.path() + "/master";
    options.tick_ms = 10;
    server_ = std::make_unique<MasterServer>(options);
    ASSERT_TRUE(server_->Start().ok());
    channel_ = GetChannel(server_->address());
    master_ = MasterService::NewStub(channel_);
    admin_ = AdminService::NewStub(channel_);
    registry_ = DatanodeRegistry::NewStub(channel_);
  }
  void TearDown() override { server_->Shutdown(); }

  template <typename Stub, typename Method, typename Request, typename Response>
  grpc::Status Call(Stub* stub, Method method, const Request& request, Response* response) {
    grpc::ClientContext context;
    SetTimeout(&context, 10000);
    return (stub->*method)(&context, request, response);
  }

  TempDir dir_;
  std::unique_ptr<MasterServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<MasterService::Stub> master_;
  std::unique_ptr<AdminService::Stub> admin_;
  std::unique_ptr<DatanodeRegistry::Stub> registry_;
};

TEST_F(MasterRpcValidationTest, RefusesHostileRequests) {
  AttrResponse attr;
  Empty empty;
  EXPECT_EQ(Call(master_.get(), &MasterService::Stub::Mkdir, Mkdir(1, ".."), &attr).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  grpc::Status status =
      Call(master_.get(), &MasterService::Stub::Mkdir, Mkdir(1, std::string(300, 'n')), &attr);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(ErrnoOf(FromGrpcStatus(status)), ENAMETOOLONG);  // the errno survives gRPC

  CommitWriteRequest write = GoodWrite();
  write.set_offset(kMaxU64 - 10);
  CommitWriteResponse written;
  status = Call(master_.get(), &MasterService::Stub::CommitWrite, write, &written);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(ErrnoOf(FromGrpcStatus(status)), EFBIG);

  GetAttrRequest getattr;  // inode 0
  EXPECT_EQ(Call(master_.get(), &MasterService::Stub::GetAttr, getattr, &attr).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  HeartbeatRequest heartbeat;
  heartbeat.mutable_node()->set_id("dn1");
  heartbeat.mutable_node()->set_address("unix:/tmp/evil");
  HeartbeatResponse beat;
  EXPECT_EQ(
      Call(registry_.get(), &DatanodeRegistry::Stub::Heartbeat, heartbeat, &beat).error_code(),
      grpc::StatusCode::INVALID_ARGUMENT);

  ChunkReplicasRequest replicas;  // chunk 0
  ChunkReplicasResponse chunk;
  EXPECT_EQ(Call(admin_.get(), &AdminService::Stub::ChunkReplicas, replicas, &chunk).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  SafeModeRequest safe_mode;
  safe_mode.set_action(static_cast<SafeModeRequest::Action>(9));
  SafeModeResponse mode;
  EXPECT_EQ(Call(admin_.get(), &AdminService::Stub::SafeMode, safe_mode, &mode).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  BatchRequest empty_batch;
  BatchResponse batched;
  EXPECT_EQ(Call(master_.get(), &MasterService::Stub::Batch, empty_batch, &batched).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  CheckFilesRequest check;
  for (int i = 1; i <= kMaxCheckFiles + 1; ++i) check.add_inodes(i);
  CheckFilesResponse files;
  EXPECT_EQ(Call(admin_.get(), &AdminService::Stub::CheckFiles, check, &files).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  // None of it reached the log; a valid request still works (once there is a leader).
  MkdirRequest good = Mkdir(1, "fine");
  good.mutable_session()->set_client_id(42);
  good.mutable_session()->set_seq(1);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  do {
    status = Call(master_.get(), &MasterService::Stub::Mkdir, good, &attr);
    if (status.error_code() != grpc::StatusCode::UNAVAILABLE) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  } while (std::chrono::steady_clock::now() < deadline);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(attr.attr().type(), FILE_TYPE_DIRECTORY);
}

}  // namespace
}  // namespace dfs
