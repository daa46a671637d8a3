// Background maintenance against a real cluster (one master, datanodes in two racks, real
// processes): re-replication after a datanode dies, the scrubber finding a flipped byte, the
// trash and the garbage collector, decommissioning under load, the balancer. Grace periods and
// intervals are shortened by flags; every wait is bounded.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/client.h"
#include "common/crc32c.h"
#include "common/rpc.h"
#include "gtest/gtest.h"
#include "proto/datanode.grpc.pb.h"
#include "tests/testutil/cluster.h"
#include "tests/testutil/files.h"

namespace dfs::testing {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Deterministic content for file `i`.
std::string Content(int i, size_t size) {
  std::string data(size, '\0');
  uint64_t x = 0x9E3779B97F4A7C15ull * (i + 1);
  for (size_t k = 0; k < size; ++k) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    data[k] = static_cast<char>(x);
  }
  return data;
}

class MaintenanceTest : public ::testing::Test {
 protected:
  void StartCluster(ClusterOptions options) {
    cluster_ = std::make_unique<TestCluster>(WithFastMaintenance(options));
    absl::Status s = cluster_->Start();
    ASSERT_TRUE(s.ok()) << s << cluster_->MasterLog();
  }

  std::unique_ptr<Client> NewClient(uint64_t chunk_size = 64ull << 20) {
    ClientOptions options;
    options.masters = absl::StrSplit(cluster_->master_address(), ',');
    options.chunk_size_bytes = chunk_size;
    auto client = Client::New(options);
    EXPECT_TRUE(client.ok()) << client.status();
    return *std::move(client);
  }

  absl::Status PutString(Client& client, const std::string& path, const std::string& data) {
    std::istringstream in(data);
    return client.Put(in, path, PutOptions()).status();
  }

  absl::StatusOr<std::string> GetString(Client& client, const std::string& path) {
    std::string out;
    absl::Status s = client.Get(path, [&out](absl::string_view data) {
      out.append(data.data(), data.size());
      return absl::OkStatus();
    }).status();
    if (!s.ok()) return s;
    return out;
  }

  // Puts `count` files of `size` bytes under `dir` from `threads` threads.
  void PutMany(const std::string& dir, int count, size_t size, int threads = 8) {
    auto client = NewClient();
    ASSERT_TRUE(client->MkdirAll(dir).ok());
    std::atomic<int> next{0}, failed{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&] {
        for (int i = next++; i < count; i = next++) {
          absl::Status s = PutString(*client, absl::StrCat(dir, "/f", i), Content(i, size));
          if (!s.ok()) {
            ADD_FAILURE() << "put " << i << ": " << s;
            ++failed;
          }
        }
      });
    }
    for (auto& t : pool) t.join();
    ASSERT_EQ(failed, 0);
  }

  void ExpectFilesIntact(const std::string& dir, int count, size_t size, int threads = 8) {
    auto client = NewClient();
    std::atomic<int> next{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&] {
        for (int i = next++; i < count; i = next++) {
          auto data = GetString(*client, absl::StrCat(dir, "/f", i));
          if (!data.ok()) {
            ADD_FAILURE() << "get " << i << ": " << data.status();
          } else if (*data != Content(i, size)) {
            ADD_FAILURE() << "file " << i << " differs";
          }
        }
      });
    }
    for (auto& t : pool) t.join();
  }

  // Every chunk id of the files `dir`/f0 .. f<count-1>.
  std::vector<uint64_t> ChunksOf(Client& client, const std::string& dir, int count) {
    std::set<uint64_t> ids;
    for (int i = 0; i < count; ++i) {
      auto attr = client.Stat(absl::StrCat(dir, "/f", i));
      if (!attr.ok()) continue;
      auto extents = client.GetExtents(attr->inode(), 0, 0);
      if (!extents.ok()) continue;
      for (const auto& chunk : extents->chunks()) ids.insert(chunk.chunk_id());
    }
    return {ids.begin(), ids.end()};
  }

  std::map<std::string, DatanodeStatus> Datanodes() {
    grpc::ClientContext context;
    SetTimeout(&context, 5000);
    ListDatanodesResponse response;
    std::map<std::string, DatanodeStatus> out;
    if (cluster_->admin()->ListDatanodes(&context, Empty(), &response).ok()) {
      for (const auto& dn : response.datanodes()) out[dn.node().id()] = dn;
    }
    return out;
  }

  ClusterStatusResponse Status() {
    grpc::ClientContext context;
    SetTimeout(&context, 5000);
    ClusterStatusResponse response;
    cluster_->admin()->ClusterStatus(&context, Empty(), &response);
    return response;
  }

  absl::StatusOr<ChunkInfo> Replicas(uint64_t chunk_id) {
    grpc::ClientContext context;
    SetTimeout(&context, 5000);
    ChunkReplicasRequest request;
    request.set_chunk_id(chunk_id);
    ChunkReplicasResponse response;
    grpc::Status s = cluster_->admin()->ChunkReplicas(&context, request, &response);
    if (!s.ok()) return absl::UnavailableError(s.error_message());
    return response.chunk();
  }

  // Chunks of `chunks` with fewer than `want` replicas on live datanodes outside `exclude`.
  int ShortChunks(const std::vector<uint64_t>& chunks, int want,
                  const std::set<std::string>& exclude = {}) {
    std::map<std::string, DatanodeStatus> nodes = Datanodes();
    int shortfall = 0;
    for (uint64_t id : chunks) {
      auto chunk = Replicas(id);
      int good = 0;
      if (chunk.ok()) {
        for (const std::string& r : chunk->replicas()) {
          auto it = nodes.find(r);
          good += it != nodes.end() && it->second.live() && !exclude.count(r) ? 1 : 0;
        }
      }
      if (good < want) ++shortfall;
    }
    return shortfall;
  }

  // Number of chunks stored on every datanode (in chunk files and chunk logs).
  int StoredChunks() {
    int n = 0;
    for (int dn = 0; dn < 8; ++dn) n += StoredChunkCount(cluster_->datanode_dir(dn));
    return n;
  }

  std::unique_ptr<TestCluster> cluster_;
};

// Kill one of four datanodes holding 1,000 chunks: every chunk is back to three live replicas
// well within 30 s of the datanode being declared dead, and every file reads back identical.
TEST_F(MaintenanceTest, RereplicatesAThousandChunksAfterADatanodeDies) {
  ClusterOptions options;
  options.datanode_dead_ms = 3000;
  StartCluster(options);
  constexpr int kFiles = 1000;
  constexpr size_t kSize = 6000;
  auto start = Clock::now();
  PutMany("/many", kFiles, kSize);
  auto client = NewClient();
  std::vector<uint64_t> chunks = ChunksOf(*client, "/many", kFiles);
  ASSERT_EQ(chunks.size(), static_cast<size_t>(kFiles));
  std::cout << "put " << kFiles << " files in " << SecondsSince(start) << " s\n";
  ASSERT_EQ(ShortChunks(chunks, 3), 0);

  const std::string victim = cluster_->datanode_id(0);
  uint64_t on_victim = 0;
  for (uint64_t id : chunks) {
    auto chunk = Replicas(id);
    ASSERT_TRUE(chunk.ok());
    for (const auto& r : chunk->replicas()) on_victim += r == victim ? 1 : 0;
  }
  std::cout << on_victim << " chunks have a replica on the datanode to be killed\n";
  cluster_->StopDatanode(0, SIGKILL);
  auto killed = Clock::now();
  for (;;) {
    auto nodes = Datanodes();
    if (nodes.count(victim) && !nodes[victim].live()) break;
    ASSERT_LT(SecondsSince(killed), 20) << "the master never declared the datanode dead";
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  auto dead = Clock::now();
  std::cout << "declared dead after " << SecondsSince(killed) << " s\n";
  int shortfall = 0;
  do {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    shortfall = ShortChunks(chunks, 3);
  } while (shortfall > 0 && SecondsSince(dead) < 30);
  const double repair_seconds = SecondsSince(dead);
  std::cout << "all " << kFiles << " chunks back to 3 live replicas " << repair_seconds
            << " s after the datanode was declared dead\n";
  ASSERT_EQ(shortfall, 0) << "chunks still short of 3 live replicas 30 s after the death\n"
                          << cluster_->MasterLog();
  ClusterStatusResponse status = Status();
  EXPECT_GE(status.replications_done(), on_victim);
  EXPECT_EQ(status.missing_chunks(), 0u);
  ExpectFilesIntact("/many", kFiles, kSize);

  // The dead node's replicas are forgotten once the chunks are whole again.
  auto forgotten_by = Clock::now() + std::chrono::seconds(20);
  bool forgotten = false;
  while (!forgotten && Clock::now() < forgotten_by) {
    forgotten = true;
    for (size_t i = 0; i < chunks.size(); i += 50) {
      auto chunk = Replicas(chunks[i]);
      forgotten &= chunk.ok() && chunk->replicas_size() == 3;
      for (const auto& r : chunk->replicas()) forgotten &= r != victim;
    }
    if (!forgotten) std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  EXPECT_TRUE(forgotten) << "replicas on the dead datanode are still recorded";
}

// A byte flipped in one replica on disk is found by the scrubber and repaired from a good copy
// without any client reading the file.
TEST_F(MaintenanceTest, ScrubberFindsAFlippedByteAndTheReplicaIsRepaired) {
  ClusterOptions options;
  options.extra_datanode_flags = {"--scrub_bytes_per_sec=67108864", "--scrub_interval_ms=300"};
  StartCluster(options);
  auto client = NewClient();
  const std::string data = Content(7, 3 << 20);
  ASSERT_TRUE(PutString(*client, "/f", data).ok());
  auto attr = client->Stat("/f");
  ASSERT_TRUE(attr.ok());
  auto extents = client->GetExtents(attr->inode(), 0, 0);
  ASSERT_TRUE(extents.ok());
  ASSERT_EQ(extents->chunks_size(), 1);
  const uint64_t chunk_id = extents->chunks(0).chunk_id();
  const std::string bad = extents->chunks(0).replicas(0).id();
  const int bad_dn = cluster_->FindDatanodeById(bad);
  ASSERT_GE(bad_dn, 0);
  DamageChunk(cluster_->datanode_dir(bad_dn), chunk_id, 1234567);
  auto flipped = Clock::now();

  // Repaired: three replicas, every one of which reads back verified.
  auto all_good = [&] {
    auto chunk = Replicas(chunk_id);
    if (!chunk.ok() || chunk->replicas_size() != 3) return false;
    auto nodes = Datanodes();
    for (const std::string& r : chunk->replicas()) {
      if (!nodes.count(r) || !nodes[r].live()) return false;
      auto stub = DatanodeService::NewStub(GetChannel(nodes[r].node().address()));
      grpc::ClientContext context;
      SetTimeout(&context, 5000);
      ReadChunkRequest request;
      request.set_chunk_id(chunk_id);
      auto reader = stub->ReadChunk(&context, request);
      ReadChunkResponse piece;
      std::string got;
      while (reader->Read(&piece)) got += piece.data();
      if (!reader->Finish().ok() || got != data) return false;
    }
    return true;
  };
  bool reported = false, repaired = false;
  while (!repaired && SecondsSince(flipped) < 30) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    reported = reported || Status().corrupt_replica_reports() > 0;
    repaired = reported && all_good();
  }
  std::cout << "found and repaired " << SecondsSince(flipped) << " s after the flip\n";
  EXPECT_TRUE(reported) << "the scrubber never reported the damaged replica";
  EXPECT_TRUE(repaired) << "the chunk is not back to 3 good replicas\n" << cluster_->MasterLog();
  EXPECT_GE(Datanodes()[bad].scrub().corrupt_found(), 1u);
  auto got = GetString(*client, "/f");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, data);
}

// rm moves into the trash; a file restored from it reads back identical; the rest expires from
// the trash, its chunks become garbage and are deleted from the datanodes, as are the chunks of
// an abandoned write: in the end the datanodes hold only the restored file's chunks.
TEST_F(MaintenanceTest, TrashRestoreThenGarbageCollectionEmptiesTheDatanodes) {
  ClusterOptions options;
  options.extra_master_flags = {"--trash_retention_ms=4000"};
  StartCluster(options);
  auto client = NewClient(/*chunk_size=*/1 << 20);
  constexpr int kFiles = 20;
  constexpr size_t kSize = (2 << 20) + 1000;  // three chunks of at most 1 MiB each
  {
    ASSERT_TRUE(client->MkdirAll("/data").ok());
    for (int i = 0; i < kFiles; ++i) {
      ASSERT_TRUE(PutString(*client, absl::StrCat("/data/f", i), Content(i, kSize)).ok());
    }
  }
  // An abandoned write: chunks on the datanodes that no file will ever reference.
  {
    auto writer = client->NewChunkWriter();
    ASSERT_TRUE(writer->Append(Content(99, 1500000)).ok());
    ASSERT_TRUE(writer->Finish().ok());
  }
  const int files_before = StoredChunks();
  EXPECT_EQ(files_before, 3 * (kFiles * 3 + 2));

  CommandResult rm = cluster_->Dfs({"rm", "-r", "/data"});
  ASSERT_EQ(rm.exit_code, 0) << rm.err;
  EXPECT_NE(cluster_->Dfs({"stat", "/data"}).exit_code, 0);
  CommandResult ls = cluster_->Dfs({"trash", "ls"});
  ASSERT_EQ(ls.exit_code, 0) << ls.err;
  EXPECT_NE(ls.out.find("  /data/  dir  /.Trash/"), std::string::npos) << ls.out;
  CommandResult restore = cluster_->Dfs({"trash", "restore", "/data/f3"});
  ASSERT_EQ(restore.exit_code, 0) << restore.err;
  EXPECT_EQ(restore.out, "restored /data/f3\n");
  auto got = GetString(*client, "/data/f3");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, Content(3, kSize));
  // --skip-trash deletes at once.
  ASSERT_TRUE(PutString(*client, "/gone", Content(50, 1000)).ok());
  ASSERT_EQ(cluster_->Dfs({"rm", "--skip-trash", "/gone"}).exit_code, 0);
  EXPECT_EQ(cluster_->Dfs({"trash", "ls"}).out.find("/gone"), std::string::npos);

  // Retention 4 s, garbage grace 1.5 s, orphan grace 3 s (plus chunk reports every 1.5 s).
  auto removed = Clock::now();
  int files = files_before;
  uint64_t used = 0;
  while (SecondsSince(removed) < 40) {
    files = StoredChunks();
    used = 0;
    for (const auto& [id, dn] : Datanodes()) used += dn.used_bytes();
    // Usage figures come with heartbeats: they may lag the files by one.
    if (files == 9 && used < 3 * kSize + (1 << 20)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  std::cout << "chunks stored " << files_before << " -> " << files << ", " << used
            << " bytes used, after " << SecondsSince(removed) << " s\n";
  EXPECT_EQ(files, 9) << "only the restored file's 3 chunks x 3 replicas should remain\n"
                      << cluster_->MasterLog();
  EXPECT_LT(used, 3 * kSize + (1 << 20)) << "datanode disk usage should be near zero";
  CommandResult trash = cluster_->Dfs({"trash", "ls"});
  EXPECT_EQ(trash.out, "") << "the trash should have expired";
  got = GetString(*client, "/data/f3");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, Content(3, kSize));
}

// Decommission a datanode while a client keeps putting and reading: afterwards every chunk has
// three replicas on the other datanodes, and the client never saw an error.
TEST_F(MaintenanceTest, DecommissionUnderLoad) {
  ClusterOptions options;
  StartCluster(options);
  constexpr int kFiles = 100;
  constexpr size_t kSize = 300000;
  PutMany("/base", kFiles, kSize);

  std::atomic<bool> stop{false};
  std::atomic<int> load_files{0}, errors{0};
  std::thread load([&] {
    auto client = NewClient();
    client->MkdirAll("/load").IgnoreError();
    for (int i = 0; !stop; ++i) {
      absl::Status s = PutString(*client, absl::StrCat("/load/f", i), Content(1000 + i, 200000));
      if (!s.ok()) {
        ++errors;
        ADD_FAILURE() << "put during decommission: " << s;
        continue;
      }
      load_files = i + 1;
      auto got = GetString(*client, absl::StrCat("/base/f", i % kFiles));
      if (!got.ok() || *got != Content(i % kFiles, kSize)) {
        ++errors;
        ADD_FAILURE() << "get during decommission: "
                      << (got.ok() ? "wrong content" : got.status().ToString());
      }
    }
  });

  const std::string leaving = cluster_->datanode_id(0);
  CommandResult decommission = RunCommand(
      {BinDir() + "/dfsadmin", "--masters=" + cluster_->master_address(), "decommission", leaving},
      30000);
  ASSERT_EQ(decommission.exit_code, 0) << decommission.err;
  auto started = Clock::now();
  DatanodeAdminState state = DATANODE_DECOMMISSIONING;
  while (SecondsSince(started) < 60) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    state = Datanodes()[leaving].admin_state();
    if (state == DATANODE_DECOMMISSIONED) break;
  }
  stop = true;
  load.join();
  std::cout << "decommissioned in " << SecondsSince(started) << " s while " << load_files
            << " files were put\n";
  ASSERT_EQ(state, DATANODE_DECOMMISSIONED) << cluster_->MasterLog();
  EXPECT_EQ(errors, 0);
  CommandResult datanodes = RunCommand(
      {BinDir() + "/dfsadmin", "--masters=" + cluster_->master_address(), "datanodes"}, 30000);
  EXPECT_NE(datanodes.out.find("decommissioned"), std::string::npos) << datanodes.out;

  // Every chunk, old or written during the drain, has 3 live replicas without the leaving node
  // (a file put at the very end may still be draining: allow the replicator a few seconds).
  auto client = NewClient();
  std::vector<uint64_t> chunks = ChunksOf(*client, "/base", kFiles);
  for (uint64_t id : ChunksOf(*client, "/load", load_files)) chunks.push_back(id);
  int shortfall = 0;
  for (int attempt = 0; attempt < 20; ++attempt) {
    shortfall = ShortChunks(chunks, 3, {leaving});
    if (shortfall == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  EXPECT_EQ(shortfall, 0);
  // The drained node can go: every file still reads back.
  cluster_->StopDatanode(0, SIGKILL);
  ExpectFilesIntact("/base", kFiles, kSize);

  CommandResult recommission = RunCommand(
      {BinDir() + "/dfsadmin", "--masters=" + cluster_->master_address(), "recommission", leaving},
      30000);
  EXPECT_EQ(recommission.exit_code, 0) << recommission.err;
  EXPECT_EQ(Datanodes()[leaving].admin_state(), DATANODE_IN_SERVICE);
}

// Leadership: masters that restart (knowing nothing of the datanodes yet) do not mistake silent
// datanodes for dead ones: no copy is made while the new leader rebuilds liveness from
// heartbeats. After a failover, the new leader repairs a lost datanode's chunks.
TEST_F(MaintenanceTest, NewLeaderWaitsForHeartbeatsThenRepairs) {
  ClusterOptions options;
  options.masters = 3;
  options.datanode_dead_ms = 3000;
  StartCluster(options);
  constexpr int kFiles = 60;
  constexpr size_t kSize = 5000;
  PutMany("/l", kFiles, kSize);
  auto client = NewClient();
  std::vector<uint64_t> chunks = ChunksOf(*client, "/l", kFiles);
  const int files_before = StoredChunks();
  ASSERT_EQ(files_before, 3 * kFiles);

  // Every master restarts at once: the new leader has heard from no datanode.
  cluster_->StopMaster(SIGKILL);
  ASSERT_TRUE(cluster_->StartMaster().ok());
  auto restarted = Clock::now();
  while (SecondsSince(restarted) < 2 * 3.0 + 1) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    EXPECT_EQ(Status().replications_done(), 0u);
    ASSERT_EQ(StoredChunks(), files_before) << "a copy was made right after the restart";
  }
  EXPECT_EQ(ShortChunks(chunks, 3), 0);

  // Fail over, then lose a datanode: the new leader repairs.
  int old_leader = cluster_->FindLeader();
  ASSERT_GE(old_leader, 0);
  cluster_->StopMasterAt(old_leader, SIGKILL);
  ASSERT_TRUE(cluster_->WaitForLeader().ok());
  const std::string victim = cluster_->datanode_id(1);
  cluster_->StopDatanode(1, SIGKILL);
  auto killed = Clock::now();
  for (;;) {
    auto nodes = Datanodes();
    if (nodes.count(victim) && !nodes[victim].live()) break;
    ASSERT_LT(SecondsSince(killed), 20) << "the new leader never declared the datanode dead";
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  int shortfall = 0;
  do {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    shortfall = ShortChunks(chunks, 3);
  } while (shortfall > 0 && SecondsSince(killed) < 40);
  std::cout << "new leader repaired the lost datanode's chunks " << SecondsSince(killed)
            << " s after the kill\n";
  EXPECT_EQ(shortfall, 0);
  ExpectFilesIntact("/l", kFiles, kSize);
}

// Two empty datanodes join three full ones; `dfsadmin balance` moves replicas until every
// datanode's utilization is within the threshold of the cluster's, keeping 3 replicas in both
// racks for every chunk.
TEST_F(MaintenanceTest, BalancerSpreadsReplicasOntoNewDatanodes) {
  ClusterOptions options;
  options.datanodes = 5;
  // 2 GiB each: three nodes end up 6% full, the cluster 3.5%.
  options.extra_datanode_flags = {"--capacity_bytes=2147483648"};
  cluster_ = std::make_unique<TestCluster>(WithFastMaintenance(options));
  ASSERT_TRUE(cluster_->StartMaster().ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(cluster_->StartDatanode(i).ok());
  ASSERT_TRUE(cluster_->WaitForLiveDatanodes(3).ok());
  constexpr int kFiles = 60;
  constexpr size_t kSize = 2 << 20;
  PutMany("/b", kFiles, kSize, /*threads=*/2);
  for (int i = 3; i < 5; ++i) ASSERT_TRUE(cluster_->StartDatanode(i).ok());
  ASSERT_TRUE(cluster_->WaitForLiveDatanodes(5).ok());

  CommandResult balance = RunCommand({BinDir() + "/dfsadmin",
                                      "--masters=" + cluster_->master_address(), "balance",
                                      "--threshold", "0.01"},
                                     30000);
  ASSERT_EQ(balance.exit_code, 0) << balance.err;
  auto started = Clock::now();
  auto spread = [&](double* lowest, double* highest) {
    uint64_t used = 0, capacity = 0;
    *lowest = 1, *highest = 0;
    auto nodes = Datanodes();
    for (const auto& [id, dn] : nodes) {
      used += dn.used_bytes();
      capacity += dn.capacity_bytes();
      double u = static_cast<double>(dn.used_bytes()) / dn.capacity_bytes();
      *lowest = std::min(*lowest, u);
      *highest = std::max(*highest, u);
    }
    double average = static_cast<double>(used) / capacity;
    // Within the threshold, give or take one chunk (2 MiB is 0.1% of a node).
    return *highest - average <= 0.011 && average - *lowest <= 0.011;
  };
  double lowest = 0, highest = 0;
  bool balanced = false;
  while (!balanced && SecondsSince(started) < 60) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    balanced = spread(&lowest, &highest) && Status().balancer_moves() > 0;
  }
  std::cout << "balanced in " << SecondsSince(started) << " s: utilization " << lowest << ".."
            << highest << ", " << Status().balancer_moves() << " moves\n";
  EXPECT_TRUE(balanced) << cluster_->MasterLog();
  // Every chunk still has 3 live replicas spanning both racks.
  auto client = NewClient();
  auto nodes = Datanodes();
  for (uint64_t id : ChunksOf(*client, "/b", kFiles)) {
    auto chunk = Replicas(id);
    ASSERT_TRUE(chunk.ok());
    std::set<std::string> racks;
    int live = 0;
    for (const auto& r : chunk->replicas()) {
      live += nodes[r].live() ? 1 : 0;
      racks.insert(nodes[r].node().rack());
    }
    EXPECT_GE(live, 3) << id;
    EXPECT_EQ(racks.size(), 2u) << id;
  }
  ExpectFilesIntact("/b", kFiles, kSize);
}

// 10,000 files of 4 KiB: after the merger runs the datanodes hold at least 20 times fewer chunk
// files, every file reads back identical, and files rewritten while merges run keep their new
// content (the swap is a compare-and-set on each file's generation).
TEST_F(MaintenanceTest, MergerPacksSmallFilesIntoSharedChunks) {
  ClusterOptions options;
  StartCluster(options);
  constexpr int kFiles = 10000;
  constexpr size_t kSize = 4096;
  auto start = Clock::now();
  PutMany("/small", kFiles, kSize, /*threads=*/16);
  const int before = StoredChunks();
  std::cout << "put " << kFiles << " files in " << SecondsSince(start) << " s: " << before
            << " chunks stored\n";
  EXPECT_EQ(before, 3 * kFiles);
  // The same master, now with the merger on (files are cold after 3 s).
  EXPECT_EQ(cluster_->StopMasterAt(0, SIGTERM), 0) << "master's shutdown failed";
  ASSERT_TRUE(cluster_->StartMasterAt(0, {"--merge_interval_ms=1000", "--merge_cold_ms=3000",
                                          "--merge_small_bytes=65536",
                                          "--merge_target_bytes=4194304"})
                  .ok());
  ASSERT_TRUE(cluster_->WaitForLeader().ok());

  // Meanwhile, rewrite files in place; each must end with its last content.
  auto client = NewClient();
  std::map<int, std::string> latest;
  auto rewrite_until = Clock::now() + std::chrono::seconds(8);
  for (int round = 0; Clock::now() < rewrite_until; ++round) {
    int i = (round * 7919) % kFiles;
    std::string data = Content(kFiles + round, kSize);
    auto attr = client->Stat(absl::StrCat("/small/f", i));
    ASSERT_TRUE(attr.ok());
    ASSERT_TRUE(client->Write(attr->inode(), 0, data).ok());
    latest[i] = data;
    std::this_thread::sleep_for(std::chrono::milliseconds(40));
  }
  std::cout << latest.size() << " files rewritten during the merges\n";

  auto merging = Clock::now();
  int files = before;
  while (SecondsSince(merging) < 60) {
    files = StoredChunks();
    if (files * 20 <= before && Status().merges_done() >= static_cast<uint64_t>(kFiles)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  std::cout << "chunks stored " << before << " -> " << files << " (" << Status().merges_done()
            << " file merges) " << SecondsSince(merging) << " s after the rewrites\n";
  EXPECT_LE(files * 20, before) << cluster_->MasterLog();

  std::atomic<int> next{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < 16; ++t) {
    pool.emplace_back([&] {
      auto reader = NewClient();
      for (int i = next++; i < kFiles; i = next++) {
        auto data = GetString(*reader, absl::StrCat("/small/f", i));
        auto expected = latest.count(i) ? latest.at(i) : Content(i, kSize);
        if (!data.ok()) {
          ADD_FAILURE() << "get " << i << ": " << data.status();
        } else if (*data != expected) {
          ADD_FAILURE() << "file " << i << (latest.count(i) ? " (rewritten)" : "") << " differs";
        }
      }
    });
  }
  for (auto& t : pool) t.join();
}

}  // namespace
}  // namespace dfs::testing
