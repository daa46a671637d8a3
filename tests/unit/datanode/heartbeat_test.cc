// HeartbeatSender against fake masters (in-process DatanodeRegistry servers): what each
// heartbeat carries, when full chunk reports go out, and acting on the answers.
#include "datanode/heartbeat.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/rpc.h"
#include "datanode/datanode_server.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testutil/temp_dir.h"
#include "common/status.h"

namespace dfs {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// Records every heartbeat; answers with whatever the test queued (once), else an empty answer.
class FakeMaster final : public DatanodeRegistry::Service {
 public:
  FakeMaster() {
    grpc::ServerBuilder builder;
    builder.RegisterService(this);
    server_ = *StartServer(&builder, "127.0.0.1:0", &address_);
  }
  ~FakeMaster() override { server_->Shutdown(std::chrono::system_clock::now()); }

  grpc::Status Heartbeat(grpc::ServerContext* context, const HeartbeatRequest* request,
                         HeartbeatResponse* response) override {
    if (hang_) {
      // Like a stopped process: no answer until the caller gives up.
      while (!context->IsCancelled()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      return grpc::Status::CANCELLED;
    }
    absl::MutexLock lock(&mu_);
    requests_.push_back(*request);
    if (fail_) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "not leader");
    *response = next_;
    next_.Clear();
    return grpc::Status::OK;
  }

  void SetNextResponse(const HeartbeatResponse& response) {
    absl::MutexLock lock(&mu_);
    next_ = response;
  }
  void SetFailing(bool fail) {
    absl::MutexLock lock(&mu_);
    fail_ = fail;
  }
  std::vector<HeartbeatRequest> requests() {
    absl::MutexLock lock(&mu_);
    return requests_;
  }
  HeartbeatRequest last() {
    absl::MutexLock lock(&mu_);
    return requests_.empty() ? HeartbeatRequest() : requests_.back();
  }
  const std::string& address() const { return address_; }
  std::atomic<bool> hang_{false};

 private:
  std::string address_;
  std::unique_ptr<grpc::Server> server_;
  absl::Mutex mu_;
  std::vector<HeartbeatRequest> requests_ ABSL_GUARDED_BY(mu_);
  HeartbeatResponse next_ ABSL_GUARDED_BY(mu_);
  bool fail_ ABSL_GUARDED_BY(mu_) = false;
};

class FakeClock : public Clock {
 public:
  int64_t NowNanos() override { return now_ns_; }
  int64_t MonotonicNanos() override { return now_ns_; }
  void Advance(std::chrono::milliseconds d) { now_ns_ += d.count() * 1000000; }

 private:
  int64_t now_ns_ = 1'000'000'000'000;
};

class HeartbeatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = *ChunkStore::Open(dir_.path(), 1);
    for (uint64_t id : {3, 1, 2}) {
      auto writer = *store_->OpenWriter(id);
      ASSERT_TRUE(writer->Append("chunk data").ok());
      ASSERT_TRUE(writer->Commit().ok());
    }
  }

  std::unique_ptr<HeartbeatSender> MakeSender(std::vector<std::string> masters,
                                              uint64_t capacity_bytes = 0) {
    HeartbeatOptions options;
    options.masters = std::move(masters);
    options.self.set_id(store_->node_id());
    options.self.set_address("127.0.0.1:1234");
    options.self.set_rack("r1");
    options.capacity_bytes = capacity_bytes;
    options.rpc_timeout_ms = 1000;
    return std::make_unique<HeartbeatSender>(
        options, store_.get(), [] { return 7u; }, &clock_);
  }

  TempDir dir_;
  std::unique_ptr<ChunkStore> store_;
  FakeClock clock_;
};

TEST_F(HeartbeatTest, CarriesIdentitySpaceAndLoad) {
  FakeMaster master;
  auto sender = MakeSender({master.address()});
  EXPECT_EQ(sender->RunOnce(), 1);
  HeartbeatRequest request = master.last();
  EXPECT_EQ(request.node().id(), store_->node_id());
  EXPECT_EQ(request.node().address(), "127.0.0.1:1234");
  EXPECT_EQ(request.node().rack(), "r1");
  EXPECT_EQ(request.chunk_count(), 3u);
  EXPECT_EQ(request.used_bytes(), store_->used_bytes());
  EXPECT_GT(request.used_bytes(), 0u);
  EXPECT_GT(request.capacity_bytes(), 0u);
  EXPECT_GT(request.free_bytes(), 0u);
  EXPECT_LE(request.free_bytes(), request.capacity_bytes());
  EXPECT_EQ(request.active_streams(), 7u);
}

TEST_F(HeartbeatTest, CapacityOverride) {
  FakeMaster master;
  auto sender = MakeSender({master.address()}, /*capacity_bytes=*/1000);
  sender->RunOnce();
  HeartbeatRequest request = master.last();
  EXPECT_EQ(request.capacity_bytes(), 1000u);
  EXPECT_EQ(request.free_bytes(), 1000u - store_->used_bytes());
}

TEST_F(HeartbeatTest, FullReportFirstOnRequestAndPeriodically) {
  FakeMaster a, b;
  auto sender = MakeSender({a.address(), b.address()});

  EXPECT_EQ(sender->RunOnce(), 2);
  for (FakeMaster* m : {&a, &b}) {
    EXPECT_TRUE(m->last().has_chunk_report());
    EXPECT_THAT(m->last().chunk_ids(), ElementsAre(1u, 2u, 3u));
  }
  sender->RunOnce();
  EXPECT_FALSE(a.last().has_chunk_report());
  EXPECT_THAT(a.last().chunk_ids(), IsEmpty());
  EXPECT_FALSE(b.last().has_chunk_report());

  // Master a asks for a report: it comes with the next heartbeat, to a only.
  HeartbeatResponse ask;
  ask.set_send_chunk_report(true);
  a.SetNextResponse(ask);
  sender->RunOnce();
  EXPECT_FALSE(a.last().has_chunk_report());
  sender->RunOnce();
  EXPECT_TRUE(a.last().has_chunk_report());
  EXPECT_FALSE(b.last().has_chunk_report());
  sender->RunOnce();
  EXPECT_FALSE(a.last().has_chunk_report());

  // Every five minutes everyone gets one.
  clock_.Advance(std::chrono::minutes(4));
  sender->RunOnce();
  EXPECT_FALSE(a.last().has_chunk_report());
  EXPECT_FALSE(b.last().has_chunk_report());
  clock_.Advance(std::chrono::minutes(1));
  sender->RunOnce();
  EXPECT_TRUE(a.last().has_chunk_report());
  EXPECT_TRUE(b.last().has_chunk_report());
  EXPECT_EQ(a.requests().size(), 7u);
  EXPECT_EQ(b.requests().size(), 7u);
}

TEST_F(HeartbeatTest, DeletesWhatTheMasterAsks) {
  FakeMaster master;
  auto sender = MakeSender({master.address()});
  HeartbeatResponse response;
  response.add_delete_chunks(2);
  response.add_delete_chunks(99);  // unknown: ignored
  master.SetNextResponse(response);
  sender->RunOnce();
  EXPECT_THAT(store_->List(), ElementsAre(1u, 3u));
  sender->RunOnce();
  EXPECT_EQ(master.last().chunk_count(), 2u);
}

TEST_F(HeartbeatTest, DeadMasterDelaysNobody) {
  FakeMaster live;
  // A master that is not running: its heartbeats fail, the live one still gets its own.
  std::string dead_address;
  {
    FakeMaster dead;
    dead_address = dead.address();
  }
  auto sender = MakeSender({dead_address, live.address()});
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(sender->RunOnce(), 1);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  EXPECT_TRUE(live.last().has_chunk_report());
}

TEST_F(HeartbeatTest, HungMasterCostsOneDeadline) {
  FakeMaster live, hung;
  hung.hang_ = true;
  auto sender = MakeSender({hung.address(), live.address()});  // rpc_timeout_ms = 1000
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(sender->RunOnce(), 1);
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_GE(elapsed, std::chrono::milliseconds(900));
  EXPECT_LT(elapsed, std::chrono::milliseconds(2500));
  EXPECT_TRUE(live.last().has_chunk_report());
}

TEST_F(HeartbeatTest, FullReportAgainAfterAFailedHeartbeat) {
  FakeMaster master;
  auto sender = MakeSender({master.address()});
  master.SetFailing(true);
  EXPECT_EQ(sender->RunOnce(), 0);
  EXPECT_TRUE(master.last().has_chunk_report());
  master.SetFailing(false);
  EXPECT_EQ(sender->RunOnce(), 1);  // the first successful one carries the report
  EXPECT_TRUE(master.last().has_chunk_report());
  sender->RunOnce();
  EXPECT_FALSE(master.last().has_chunk_report());
  master.SetFailing(true);
  sender->RunOnce();
  master.SetFailing(false);
  sender->RunOnce();
  EXPECT_TRUE(master.last().has_chunk_report());
}

TEST(DatanodeServerHeartbeatTest, ServerSendsHeartbeatsUntilShutdown) {
  FakeMaster master;
  TempDir dir;
  DatanodeOptions options;
  options.data_dir = dir.path();
  options.masters = {master.address()};
  options.heartbeat_interval_ms = 20;
  options.rack = "rack-x";
  DatanodeServer server(options);
  ASSERT_TRUE(server.Start().ok());
  for (int i = 0; i < 500 && master.requests().size() < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  server.Shutdown();
  std::vector<HeartbeatRequest> requests = master.requests();
  ASSERT_GE(requests.size(), 3u);
  EXPECT_TRUE(requests[0].has_chunk_report());
  EXPECT_FALSE(requests[1].has_chunk_report());
  EXPECT_EQ(requests[0].node().id(), server.id());
  EXPECT_EQ(requests[0].node().address(), server.address());
  EXPECT_EQ(requests[0].node().rack(), "rack-x");
  // Nothing more once shut down.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(master.requests().size(), requests.size());
}

TEST(FileSystemSpaceTest, ReportsTheDataDirectoryFileSystem) {
  TempDir dir;
  absl::StatusOr<FileSystemSpace> space = GetFileSystemSpace(dir.path());
  ASSERT_TRUE(space.ok()) << space.status();
  EXPECT_GT(space->capacity_bytes, 0u);
  EXPECT_LE(space->free_bytes, space->capacity_bytes);
  EXPECT_TRUE(absl::IsNotFound(GetFileSystemSpace(dir.path() + "/missing").status()));
}

}  // namespace
}  // namespace dfs
