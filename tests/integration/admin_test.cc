// dfsadmin against real clusters: status (text and JSON) following datanode and master losses,
// fsck's exit codes as chunks go under-replicated, missing and back, fsck --verify finding and
// reporting flipped bytes, safe mode across a leader failover, merge and snapshot, and every
// command's --help and usage errors.
#include <signal.h>

#include <chrono>
#include <functional>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "client/client.h"
#include "common/rpc.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "proto/admin.pb.h"
#include "tests/testutil/cluster.h"
#include "tests/testutil/files.h"

namespace dfs::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Clock = std::chrono::steady_clock;

// Polls `done` every 200 ms for up to `seconds`; true once it holds.
bool WaitFor(const std::function<bool()>& done, int seconds) {
  auto deadline = Clock::now() + std::chrono::seconds(seconds);
  while (Clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return done();
}

CommandResult AdminAt(const std::string& masters, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {BinDir() + "/dfsadmin", "--masters=" + masters, "--timeout=5"};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, 60000);
}

class AdminTest : public ::testing::Test {
 protected:
  void StartCluster(ClusterOptions options) {
    cluster_ = std::make_unique<TestCluster>(WithFastMaintenance(options));
    absl::Status s = cluster_->Start();
    ASSERT_TRUE(s.ok()) << s << cluster_->MasterLog();
    ClientOptions client_options;
    client_options.masters = absl::StrSplit(cluster_->master_address(), ',');
    auto client = Client::New(client_options);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
  }

  CommandResult Admin(const std::vector<std::string>& args) {
    return AdminAt(cluster_->master_address(), args);
  }

  StatusReport Report() {
    CommandResult r = Admin({"status", "--json"});
    StatusReport report;
    google::protobuf::util::JsonParseOptions options;
    auto parsed = google::protobuf::util::JsonStringToMessage(r.out, &report, options);
    EXPECT_TRUE(parsed.ok()) << parsed.ToString() << "\n" << r.out << r.err;
    return report;
  }

  // Waits until the leader has scanned the chunk map since it became leader.
  void WaitForMaintenance() {
    ASSERT_TRUE(WaitFor([&] { return Report().cluster().maintenance_active(); }, 20))
        << cluster_->MasterLog();
  }

  std::string Local(const std::string& name) { return cluster_->dir() + "/" + name; }

  void Put(const std::string& local, const std::string& remote) {
    CommandResult r = cluster_->Dfs({"put", local, remote});
    ASSERT_EQ(r.exit_code, 0) << r.err << cluster_->MasterLog();
  }

  uint64_t OnlyChunkOf(const std::string& path) {
    auto attr = client_->Stat(path);
    EXPECT_TRUE(attr.ok()) << attr.status();
    auto extents = client_->GetExtents(attr.ok() ? attr->inode() : 0, 0, 0);
    EXPECT_TRUE(extents.ok()) << extents.status();
    EXPECT_EQ(extents->chunks_size(), 1);
    return extents->chunks_size() > 0 ? extents->chunks(0).chunk_id() : 0;
  }

  ChunkReplicasResponse Replicas(uint64_t chunk_id) {
    grpc::ClientContext context;
    SetTimeout(&context, 5000);
    ChunkReplicasRequest request;
    request.set_chunk_id(chunk_id);
    ChunkReplicasResponse response;
    EXPECT_TRUE(cluster_->admin()->ChunkReplicas(&context, request, &response).ok());
    return response;
  }

  std::unique_ptr<TestCluster> cluster_;
  std::unique_ptr<Client> client_;
};

// Usage is checked before the cluster is contacted: no cluster needed.
TEST(AdminUsageTest, EveryCommandHasHelpAndBadInputExitsTwo) {
  const std::string nowhere = "127.0.0.1:1";
  CommandResult help = AdminAt(nowhere, {"help"});
  ASSERT_EQ(help.exit_code, 0) << help.err;
  for (const std::string command : {"status", "datanodes", "fsck", "decommission", "recommission",
                                    "balance", "merge", "snapshot", "safemode", "raft"}) {
    EXPECT_THAT(help.out, HasSubstr("  " + command)) << "not listed: " << command;
    CommandResult r = AdminAt(nowhere, {command, "--help"});
    EXPECT_EQ(r.exit_code, 0) << command << ": " << r.err;
    EXPECT_TRUE(absl::StartsWith(r.out, "usage: dfsadmin " + command)) << r.out;
    EXPECT_EQ(AdminAt(nowhere, {"help", command}).out, r.out);
  }
  EXPECT_THAT(AdminAt(nowhere, {"fsck", "--help"}).out, HasSubstr("--verify"));
  EXPECT_THAT(AdminAt(nowhere, {"status", "--help"}).out, HasSubstr("--json"));
  EXPECT_THAT(AdminAt(nowhere, {"balance", "--help"}).out, HasSubstr("--threshold"));
  EXPECT_THAT(AdminAt(nowhere, {"safemode", "--help"}).out, HasSubstr("enter"));

  const std::vector<std::vector<std::string>> bad = {
      {},
      {"frobnicate"},
      {"status", "--yaml"},
      {"status", "extra"},
      {"fsck", "--bogus"},
      {"fsck", "/a", "/b"},
      {"fsck", "--verify=yes"},
      {"safemode"},
      {"safemode", "sideways"},
      {"safemode", "enter", "now"},
      {"balance", "--threshold", "5"},
      {"balance", "--threshold"},
      {"decommission"},
      {"raft"},
      {"raft", "add"},
      {"raft", "sideways"},
      {"merge", "now"},
      {"--timeout=-1", "status"},
  };
  EXPECT_THAT(AdminAt(nowhere, {"safemode", "sideways"}).err,
              HasSubstr("dfsadmin: safemode: unknown action sideways"));
  EXPECT_THAT(AdminAt(nowhere, {"fsck", "--bogus"}).err,
              HasSubstr("dfsadmin: fsck: unknown option --bogus\nusage: dfsadmin fsck"));
  for (const auto& args : bad) {
    CommandResult r = AdminAt(nowhere, args);
    EXPECT_EQ(r.exit_code, 2) << absl::StrJoin(args, " ") << "\n" << r.out << r.err;
    EXPECT_THAT(r.err, HasSubstr("dfsadmin: ")) << absl::StrJoin(args, " ");
  }
}

// One master, three datanodes, RF 3: status and fsck as replicas die and come back.
TEST_F(AdminTest, StatusAndFsckFollowDatanodeLosses) {
  ClusterOptions options;
  options.datanodes = 3;
  options.datanode_dead_ms = 2000;
  StartCluster(options);
  WriteRandomFile(Local("f"), 3 << 20, 1);
  ASSERT_EQ(cluster_->Dfs({"mkdir", "/data"}).exit_code, 0);
  Put(Local("f"), "/data/f");
  WaitForMaintenance();

  StatusReport report = Report();
  EXPECT_EQ(report.health(), "HEALTHY") << report.verdict();
  EXPECT_EQ(report.verdict(), "HEALTHY");
  EXPECT_EQ(report.leader(), cluster_->master_addresses()[0]);
  EXPECT_GT(report.term(), 0u);
  ASSERT_EQ(report.masters_size(), 1);
  EXPECT_EQ(report.masters(0).role(), "leader");
  EXPECT_TRUE(report.masters(0).reachable());
  EXPECT_EQ(report.masters(0).lag(), 0u);
  EXPECT_GT(report.masters(0).applied_index(), 0u);
  EXPECT_EQ(report.datanodes().live(), 3u);
  EXPECT_EQ(report.datanodes().dead(), 0u);
  EXPECT_EQ(report.datanodes().nodes_size(), 3);
  EXPECT_GT(report.datanodes().capacity_bytes(), 0u);
  EXPECT_EQ(report.cluster().chunks(), 1u);
  EXPECT_FALSE(report.safe_mode());
  CommandResult text = Admin({"status"});
  EXPECT_EQ(text.exit_code, 0) << text.err;
  EXPECT_THAT(text.out, HasSubstr("health:       HEALTHY\n"));
  EXPECT_THAT(text.out, HasSubstr(cluster_->master_addresses()[0] + " (term "));
  EXPECT_THAT(text.out, HasSubstr("3 live, 0 dead"));

  CommandResult fsck = Admin({"fsck"});
  EXPECT_EQ(fsck.exit_code, 0) << fsck.out << fsck.err;
  EXPECT_THAT(fsck.out, HasSubstr("files:        1 ("));
  EXPECT_THAT(fsck.out, HasSubstr("chunks:       1: 1 healthy, 0 under-replicated, 0 missing"));
  EXPECT_THAT(fsck.out, HasSubstr("bytes:        3145728 in files"));
  EXPECT_THAT(fsck.out, HasSubstr("The file system under / is HEALTHY"));
  EXPECT_EQ(Admin({"fsck", "/data/f"}).exit_code, 0);
  CommandResult nowhere = Admin({"fsck", "/nope"});
  EXPECT_EQ(nowhere.exit_code, 2);
  EXPECT_THAT(nowhere.err, HasSubstr("/nope: No such file or directory"));

  // One replica lost: readable, so fsck passes but lists the file; status says DEGRADED.
  cluster_->StopDatanode(0, SIGKILL);
  ASSERT_TRUE(cluster_->WaitForLiveDatanodes(2).ok());
  fsck = Admin({"fsck", "/"});
  EXPECT_EQ(fsck.exit_code, 0) << fsck.out << fsck.err;
  EXPECT_THAT(fsck.out, HasSubstr("/data/f: chunk "));
  EXPECT_THAT(fsck.out, HasSubstr("UNDER-REPLICATED, 2 of 3 good replicas"));
  EXPECT_THAT(fsck.out, HasSubstr(" dead"));
  EXPECT_THAT(fsck.out, HasSubstr("is DEGRADED"));
  const std::string degraded = "DEGRADED: 1 under-replicated chunk, 1 dead datanode";
  EXPECT_TRUE(WaitFor([&] { return Report().verdict() == degraded; }, 15)) << Report().verdict();
  report = Report();
  EXPECT_EQ(report.health(), "DEGRADED");
  EXPECT_EQ(report.datanodes().live(), 2u);
  EXPECT_EQ(report.datanodes().dead(), 1u);

  // Every replica lost: the data is at risk and fsck fails.
  cluster_->StopDatanode(1, SIGKILL);
  cluster_->StopDatanode(2, SIGKILL);
  ASSERT_TRUE(cluster_->WaitForLiveDatanodes(0).ok());
  fsck = Admin({"fsck"});
  EXPECT_EQ(fsck.exit_code, 1) << fsck.out << fsck.err;
  EXPECT_THAT(fsck.out, HasSubstr("MISSING, 0 of 3 good replicas"));
  EXPECT_THAT(fsck.out, HasSubstr("The file system under / is AT RISK"));
  EXPECT_TRUE(WaitFor([&] { return Report().cluster().missing_chunks() == 1; }, 15));
  EXPECT_EQ(Report().health(), "AT_RISK");
  EXPECT_THAT(Report().verdict(), HasSubstr("AT RISK: 1 missing chunk"));
  text = Admin({"status"});
  EXPECT_THAT(text.out, HasSubstr("health:       AT RISK: 1 missing chunk"));

  // The datanodes come back with their chunks: healthy again.
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(cluster_->StartDatanode(i).ok());
  ASSERT_TRUE(cluster_->WaitForLiveDatanodes(3).ok());
  fsck = Admin({"fsck"});
  EXPECT_EQ(fsck.exit_code, 0) << fsck.out << fsck.err;
  EXPECT_THAT(fsck.out, HasSubstr("is HEALTHY"));
  EXPECT_TRUE(WaitFor([&] { return Report().health() == "HEALTHY"; }, 15)) << Report().verdict();
}

// A flipped byte in one replica: fsck --verify finds it, reports it, and the replicator repairs
// the chunk. Flipped bytes in every replica of another chunk: fsck --verify fails.
TEST_F(AdminTest, FsckVerifyFindsFlippedBytes) {
  ClusterOptions options;
  options.datanodes = 4;
  options.datanode_dead_ms = 2000;
  options.extra_datanode_flags = {"--scrub_bytes_per_sec=0"};  // fsck, not the scrubber, finds it
  StartCluster(options);
  WriteRandomFile(Local("f"), 3 << 20, 2);
  WriteRandomFile(Local("g"), 1 << 20, 3);
  Put(Local("f"), "/f");
  Put(Local("g"), "/g");
  WaitForMaintenance();
  CommandResult verify = Admin({"fsck", "--verify"});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  EXPECT_THAT(verify.out, HasSubstr("verified:     12582912 bytes read back and checked"));
  EXPECT_THAT(verify.out, HasSubstr("0 damaged replicas found"));

  const uint64_t f_chunk = OnlyChunkOf("/f");
  const std::string bad = Replicas(f_chunk).chunk().replicas(0);
  const int bad_dn = cluster_->FindDatanodeById(bad);
  ASSERT_GE(bad_dn, 0);
  DamageChunk(cluster_->datanode_dir(bad_dn), f_chunk, 123456);
  // Without --verify nothing is known yet.
  EXPECT_THAT(Admin({"fsck"}).out, HasSubstr("is HEALTHY"));

  verify = Admin({"fsck", "--verify", "/"});
  EXPECT_EQ(verify.exit_code, 0) << "two good replicas are left\n" << verify.out << verify.err;
  EXPECT_THAT(verify.out, HasSubstr("/f: chunk "));
  EXPECT_THAT(verify.out, HasSubstr("is CORRUPT (reported to the master for repair)"));
  EXPECT_THAT(verify.out, HasSubstr("1 damaged replicas found"));
  EXPECT_THAT(verify.out, Not(HasSubstr("/g: chunk")));
  ChunkReplicasResponse replicas = Replicas(f_chunk);
  EXPECT_THAT(std::vector<std::string>(replicas.corrupt_replicas().begin(),
                                       replicas.corrupt_replicas().end()),
              ::testing::Contains(bad));
  // Repaired from a good copy: three good replicas, every one of which verifies.
  EXPECT_TRUE(WaitFor(
      [&] {
        CommandResult r = Admin({"fsck", "--verify", "/f"});
        return r.exit_code == 0 && absl::StrContains(r.out, "is HEALTHY") &&
               absl::StrContains(r.out, "0 damaged replicas found");
      },
      30))
      << Admin({"fsck", "/f"}).out << cluster_->MasterLog();

  // Every replica of /g damaged: nothing good is left to read or copy.
  const uint64_t g_chunk = OnlyChunkOf("/g");
  const ChunkReplicasResponse g_replicas = Replicas(g_chunk);
  ASSERT_EQ(g_replicas.chunk().replicas_size(), 3);
  for (const std::string& id : g_replicas.chunk().replicas()) {
    DamageChunk(cluster_->datanode_dir(cluster_->FindDatanodeById(id)), g_chunk, 4321);
  }
  verify = Admin({"fsck", "--verify"});
  EXPECT_EQ(verify.exit_code, 1) << verify.out << verify.err;
  EXPECT_THAT(verify.out, HasSubstr("CORRUPT, 0 of 3 good replicas"));
  EXPECT_THAT(verify.out, HasSubstr("3 damaged replicas found"));
  EXPECT_THAT(verify.out, HasSubstr("is AT RISK"));
  // Known to the master now: a plain fsck and status say so too.
  CommandResult fsck = Admin({"fsck", "/g"});
  EXPECT_EQ(fsck.exit_code, 1) << fsck.out;
  EXPECT_THAT(fsck.out, HasSubstr("corrupt"));
  EXPECT_EQ(Report().cluster().corrupt_chunks(), 1u);
  EXPECT_THAT(Report().verdict(), HasSubstr("AT RISK: 1 corrupt chunk"));
}

// Safe mode: puts and mkdirs fail with the read-only message and leave nothing behind, reads
// work, it survives the leader's death, and leaving it makes the cluster writable again. Then a
// snapshot on demand, and status as masters die.
TEST_F(AdminTest, SafeModeSurvivesFailoverThenSnapshotAndNoLeader) {
  ClusterOptions options;
  options.masters = 3;
  options.datanodes = 3;
  options.datanode_dead_ms = 2000;
  StartCluster(options);
  WriteRandomFile(Local("f"), 100000, 4);
  Put(Local("f"), "/before");

  CommandResult get = Admin({"safemode", "get"});
  EXPECT_EQ(get.exit_code, 0) << get.err;
  EXPECT_EQ(get.out, "Safe mode is OFF\n");
  CommandResult enter = Admin({"safemode", "enter"});
  ASSERT_EQ(enter.exit_code, 0) << enter.err;
  EXPECT_THAT(enter.out, HasSubstr("Safe mode is ON"));
  get = Admin({"safemode", "get"});
  EXPECT_EQ(get.exit_code, 0);
  EXPECT_THAT(get.out, HasSubstr("Safe mode is ON"));

  auto expect_read_only = [&] {
    CommandResult put = cluster_->Dfs({"put", Local("f"), "/x"}, 60000);
    EXPECT_NE(put.exit_code, 0);
    EXPECT_THAT(put.err, HasSubstr("cluster is in safe mode (read-only)"));
    CommandResult mkdir = cluster_->Dfs({"mkdir", "/d"});
    EXPECT_NE(mkdir.exit_code, 0);
    EXPECT_THAT(mkdir.err, HasSubstr("cluster is in safe mode (read-only)"));
    EXPECT_NE(cluster_->Dfs({"rm", "--skip-trash", "/before"}).exit_code, 0);
    CommandResult ls = cluster_->Dfs({"ls", "/"});
    EXPECT_EQ(ls.exit_code, 0) << ls.err;
    EXPECT_THAT(ls.out, HasSubstr("before"));
    EXPECT_THAT(ls.out, Not(HasSubstr("x")));
    EXPECT_THAT(ls.out, Not(HasSubstr("d\n")));
    CommandResult read = cluster_->Dfs({"get", "/before", Local("got")});
    EXPECT_EQ(read.exit_code, 0) << read.err;
    EXPECT_EQ(Sha256(Local("got")), Sha256(Local("f")));
  };
  expect_read_only();
  StatusReport report = Report();
  EXPECT_TRUE(report.safe_mode());
  EXPECT_TRUE(report.cluster().safe_mode());
  EXPECT_THAT(report.verdict(), HasSubstr("SAFE MODE"));
  ASSERT_EQ(report.masters_size(), 3);

  // The leader dies; its successor is in safe mode too.
  const int old_leader = cluster_->FindLeader();
  ASSERT_GE(old_leader, 0);
  cluster_->StopMasterAt(old_leader, SIGKILL);
  ASSERT_TRUE(cluster_->WaitForLeader().ok());
  get = Admin({"safemode", "get"});
  EXPECT_EQ(get.exit_code, 0) << get.err;
  EXPECT_THAT(get.out, HasSubstr("Safe mode is ON"));
  expect_read_only();
  // Degraded (a master is down) once the new leader has heard from the datanodes.
  EXPECT_TRUE(WaitFor([&] { return Report().health() == "DEGRADED"; }, 10)) << Report().verdict();
  report = Report();
  EXPECT_THAT(report.verdict(), HasSubstr("1 of 3 masters unreachable"));
  EXPECT_NE(report.leader(), cluster_->master_addresses()[old_leader]);
  int unreachable = 0;
  for (const MasterReport& m : report.masters()) unreachable += m.reachable() ? 0 : 1;
  EXPECT_EQ(unreachable, 1);

  CommandResult leave = Admin({"safemode", "leave"});
  ASSERT_EQ(leave.exit_code, 0) << leave.err;
  EXPECT_EQ(leave.out, "Safe mode is OFF\n");
  EXPECT_EQ(Admin({"safemode", "get"}).out, "Safe mode is OFF\n");
  CommandResult put = cluster_->Dfs({"put", Local("f"), "/x"});
  EXPECT_EQ(put.exit_code, 0) << put.err;
  EXPECT_EQ(cluster_->Dfs({"mkdir", "/d"}).exit_code, 0);

  // A snapshot on demand moves the leader's snapshot index up to its applied index.
  const int leader = cluster_->FindLeader();
  ASSERT_GE(leader, 0);
  auto raft_status = [&] {
    grpc::ClientContext context;
    SetTimeout(&context, 5000);
    RaftStatusResponse status;
    EXPECT_TRUE(cluster_->admin_at(leader)->RaftStatus(&context, Empty(), &status).ok());
    return status;
  };
  const RaftStatusResponse before = raft_status();
  CommandResult snapshot = Admin({"snapshot"});
  ASSERT_EQ(snapshot.exit_code, 0) << snapshot.err;
  EXPECT_THAT(snapshot.out, HasSubstr("snapshot taken on " + cluster_->master_addresses()[leader]));
  const RaftStatusResponse after = raft_status();
  EXPECT_GT(after.snapshot_index(), before.snapshot_index());
  EXPECT_GE(after.snapshot_index(), before.applied_index());
  EXPECT_EQ(Admin({"raft", "snapshot"}).exit_code, 0);

  // Two of three masters down: no leader.
  cluster_->StopMasterAt(leader, SIGKILL);
  CommandResult status = Admin({"status"});
  EXPECT_EQ(status.exit_code, 1) << status.out;
  EXPECT_THAT(status.out, HasSubstr("health:       NO LEADER"));
  EXPECT_EQ(Report().health(), "NO_LEADER");
}

// `dfsadmin merge` runs the merger although it has no schedule; safe mode holds it (and the
// balancer) back.
TEST_F(AdminTest, MergeOnDemandAndSafeModeHoldsItBack) {
  ClusterOptions options;
  options.datanodes = 3;
  options.datanode_dead_ms = 2000;
  options.extra_master_flags = {"--merge_cold_ms=0", "--merge_small_bytes=65536",
                                "--merge_target_bytes=4194304"};
  StartCluster(options);
  constexpr int kFiles = 20;
  for (int i = 0; i < kFiles; ++i) {
    std::istringstream in(RandomBytes(4096, i));
    ASSERT_TRUE(client_->Put(in, absl::StrCat("/s", i), PutOptions()).ok());
  }
  WaitForMaintenance();
  EXPECT_EQ(Report().cluster().chunks(), static_cast<uint64_t>(kFiles));

  ASSERT_EQ(Admin({"safemode", "enter"}).exit_code, 0);
  CommandResult merge = Admin({"merge"});
  EXPECT_EQ(merge.exit_code, 1);
  EXPECT_THAT(merge.err, HasSubstr("safe mode"));
  CommandResult balance = Admin({"balance"});
  EXPECT_EQ(balance.exit_code, 1);
  EXPECT_THAT(balance.err, HasSubstr("safe mode"));
  ASSERT_EQ(Admin({"safemode", "leave"}).exit_code, 0);

  merge = Admin({"merge"});
  ASSERT_EQ(merge.exit_code, 0) << merge.err;
  EXPECT_THAT(merge.out, HasSubstr("merger pass started"));
  EXPECT_TRUE(WaitFor([&] { return Report().cluster().merges_done() >= kFiles; }, 20))
      << cluster_->MasterLog();
  EXPECT_EQ(Report().cluster().chunks(), 1u);
  CommandResult fsck = Admin({"fsck"});
  EXPECT_EQ(fsck.exit_code, 0) << fsck.out;
  EXPECT_THAT(fsck.out, HasSubstr("files:        20 ("));
  EXPECT_THAT(fsck.out, HasSubstr("chunks:       1: 1 healthy"));
  for (int i = 0; i < kFiles; ++i) {
    std::string data;
    absl::Status s = client_
                         ->Get(absl::StrCat("/s", i),
                               [&](absl::string_view piece) {
                                 data.append(piece.data(), piece.size());
                                 return absl::OkStatus();
                               })
                         .status();
    ASSERT_TRUE(s.ok()) << s;
    EXPECT_EQ(data, RandomBytes(4096, i)) << "file " << i;
  }
}

}  // namespace
}  // namespace dfs::testing
