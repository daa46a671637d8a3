// Fault injection against real processes (label fault; needs root: network namespaces,
// iptables, FUSE, tmpfs).
//
// WorkloadsSurviveEveryNemesis: a cluster of 3 masters and 4 datanodes, each in a network
// namespace of its own with its data on dfs-lossyfs (power-loss semantics) or, for one datanode,
// on a small tmpfs; two dfs-fuse clients in namespaces of their own. Four workloads run
// throughout (names, registers, O_APPEND records through FUSE, large files) while the nemesis
// injects every kind of fault once (crash with power loss, pause, partitions of every shape,
// loss, delay and reordering, a full disk), healing after each. Then the cluster must be whole
// again and every history must pass its checker.
//
// Knobs for long campaigns by hand:
//   DFS_FAULT_MINUTES=N   random faults (one or two at a time) for N minutes instead
//   DFS_FAULT_SEED=S      the seed of everything random in the run (printed otherwise)
//   DFS_FAULT_OUT=DIR     where histories, the fault log and the summary go (kept); by default
//                         a /tmp directory that is removed when the run passes
//   DFS_FAULT_NAMES=journal  lossy storage keeps name changes at any fsync (ext4-like) instead
//                         of only at fsync(dir) (POSIX)
//
// AcknowledgedDataSurvivesPowerLoss: every server of a small cluster on dfs-lossyfs, all killed
// at once and everything they had not synced thrown away, several times over; every file whose
// put was acknowledged must read back byte for byte and every server must restart cleanly.
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/client.h"
#include "common/random.h"
#include "common/rpc.h"
#include "gtest/gtest.h"
#include "tests/fault/lossyfs_mount.h"
#include "tests/fault/nemesis.h"
#include "tests/fault/netns.h"
#include "tests/fault/workload.h"
#include "tests/testutil/files.h"
#include "tests/testutil/temp_dir.h"

namespace dfs::fault {
namespace {

using testing::TestCluster;

absl::Status g_prerequisites = absl::UnknownError("not checked");

std::string Env(const char* name, const std::string& fallback = "") {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

class FaultTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    g_prerequisites = CheckFaultPrerequisites();
    // Before any thread exists: the network namespace is per thread.
    if (g_prerequisites.ok()) g_prerequisites = EnterPrivateNetwork();
    if (g_prerequisites.ok()) RemoveStaleNamespaces();
  }
  void SetUp() override {
    // Missing root features fail loudly: a fault test that skips proves nothing.
    ASSERT_TRUE(g_prerequisites.ok()) << g_prerequisites;
  }
};

// Polls `condition` every 200 ms until it holds or `timeout` passes.
template <typename Fn>
bool WaitFor(Fn condition, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return condition();
}

absl::StatusOr<ClusterStatusResponse> ClusterStatusOf(TestCluster& cluster) {
  grpc::ClientContext context;
  SetTimeout(&context, 3000);
  ClusterStatusResponse status;
  grpc::Status s = cluster.admin()->ClusterStatus(&context, Empty(), &status);
  if (!s.ok()) return absl::UnavailableError(s.error_message());
  return status;
}

// Healthy: a leader whose maintenance runs, every datanode live, no chunk without a replica.
absl::Status WaitHealthy(NetnsCluster& cluster, std::chrono::milliseconds timeout) {
  std::string last = "no answer";
  bool ok = WaitFor(
      [&] {
        absl::StatusOr<ClusterStatusResponse> status = ClusterStatusOf(cluster.cluster());
        if (!status.ok()) {
          last = status.status().ToString();
          return false;
        }
        last = absl::StrCat("live ", status->live_datanodes(), "/", cluster.datanodes(),
                            ", maintenance ", status->maintenance_active(), ", missing chunks ",
                            status->missing_chunks());
        return static_cast<int>(status->live_datanodes()) == cluster.datanodes() &&
               status->maintenance_active() && status->missing_chunks() == 0;
      },
      timeout);
  return ok ? absl::OkStatus() : absl::DeadlineExceededError("cluster not healthy: " + last);
}

TEST_F(FaultTest, WorkloadsSurviveEveryNemesis) {
  uint64_t seed = 0;
  if (!absl::SimpleAtoi(Env("DFS_FAULT_SEED"), &seed)) seed = SeedFromEntropy() % 1000000;
  int minutes = 0;
  (void)absl::SimpleAtoi(Env("DFS_FAULT_MINUTES"), &minutes);
  const bool campaign = minutes > 0;
  std::cout << "fault run: seed " << seed
            << (campaign ? absl::StrCat(", ", minutes, " minutes") : ", CI schedule")
            << " (DFS_FAULT_SEED=" << seed << " repeats it)" << std::endl;
  Random random(seed);

  const std::string out_env = Env("DFS_FAULT_OUT");
  const std::string out = out_env.empty() ? absl::StrCat("/tmp/dfs-fault-", ::getpid()) : out_env;
  std::filesystem::create_directories(out);

  NetnsClusterOptions options;
  options.small_disk_datanode = 3;
  options.lossy_names =
      Env("DFS_FAULT_NAMES") == "journal" ? LossyNames::kJournal : LossyNames::kStrict;
  options.cluster.datanode_dead_ms = 3000;
  options.cluster.heartbeat_interval_ms = 300;
  // Background work at test speed, so that it runs under the faults too: the GC deletes garbage
  // seconds after it appears, the replicator repairs at once, snapshots compact the log every
  // 500 commands (InstallSnapshot to restarted masters). Copies no record knows wait 60 s, longer
  // than any client here takes between writing a chunk and committing it.
  options.cluster = testing::WithFastMaintenance(options.cluster);
  for (const std::string& flag :
       {absl::StrCat("--seed=", seed + 1), std::string("--snapshot_every=500"),
        std::string("--orphan_grace_ms=60000")}) {
    options.cluster.extra_master_flags.push_back(flag);
  }
  NetnsCluster cluster(options);
  absl::Status started = cluster.Start();
  ASSERT_TRUE(started.ok()) << started << "\nm0 log:\n" << cluster.Log({true, 0});

  std::vector<std::string> mounts;
  for (int c = 0; c < cluster.fuse_clients(); ++c) mounts.push_back(cluster.mount(c).path());
  auto make = [&](const std::string& dir, int clients, uint64_t salt) {
    WorkloadOptions w;
    w.masters = cluster.cluster().master_addresses();
    w.dir = dir;
    w.clients = clients;
    w.seed = seed * 31 + salt;
    return w;
  };
  std::vector<std::unique_ptr<Workload>> workloads;
  workloads.push_back(std::make_unique<NamespaceWorkload>(make("/fault/names", 3, 1)));
  workloads.push_back(std::make_unique<RegisterWorkload>(make("/fault/registers", 3, 2)));
  workloads.push_back(std::make_unique<AppendWorkload>(make("/fault/appends", 2, 3), mounts));
  workloads.push_back(std::make_unique<LargeFileWorkload>(make("/fault/large", 1, 4)));
  for (auto& workload : workloads) {
    absl::Status s = workload->Setup();
    ASSERT_TRUE(s.ok()) << workload->name() << ": " << s;
  }
  const int64_t base_ns = History::NowNs();
  for (auto& workload : workloads) workload->Start();

  Nemesis nemesis(&cluster, seed * 17 + 5);
  std::vector<std::string> heal_failures;
  auto hold = [&](int min_ms, int max_ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(random.Range(min_ms, max_ms)));
  };
  auto cycle = [&](const std::vector<Fault>& faults) {
    hold(1000, 2000);  // quiet: the workloads make progress between faults
    for (Fault fault : faults) {
      absl::Status s = nemesis.Inject(fault);
      if (!s.ok())
        std::cout << "nemesis: " << FaultName(fault) << " not injected: " << s << std::endl;
    }
    // Longer than an election timeout (10 ticks of 50 ms, randomized up to twice that), and
    // sometimes than the clients' operation deadline (4 s).
    hold(3000, 6000);
    absl::Status healed = nemesis.Heal();
    if (!healed.ok()) heal_failures.push_back(healed.ToString());
    // The next fault should meet a cluster with a leader (bounded: a missing one shows later).
    (void)cluster.cluster().WaitForLeader(15000);
  };
  if (campaign) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::minutes(minutes);
    const std::vector<Fault> all = AllFaults();
    while (std::chrono::steady_clock::now() < end) {
      std::vector<Fault> faults = {all[random.Uniform(all.size())]};
      if (random.Chance(0.3)) faults.push_back(all[random.Uniform(all.size())]);
      cycle(faults);
    }
  } else {
    std::vector<Fault> all = AllFaults();
    Shuffle(all, random);
    for (Fault fault : all) cycle({fault});
  }
  hold(1000, 1500);
  for (auto& workload : workloads) workload->Stop();
  const int64_t stopped_ns = History::NowNs();

  absl::Status healthy = WaitHealthy(cluster, std::chrono::seconds(60));
  std::vector<WorkloadReport> reports;
  for (auto& workload : workloads) reports.push_back(workload->Finish());

  // The summary: what ran, what was injected, what the checkers said.
  std::ostringstream summary;
  summary << "fault run seed " << seed << ", " << (stopped_ns - base_ns) / 1e9
          << " s of workload\n";
  summary << "operations:\n";
  for (auto& workload : workloads) summary << "  " << workload->Counts() << "\n";
  summary << "  reads that found their inode replaced after the lookup (looked up again): "
          << ReadsOfVanishedInodes() << "\n";
  summary << "faults injected:";
  for (const auto& [kind, n] : nemesis.counts()) summary << " " << kind << "=" << n;
  summary << "\nfault log:\n" << nemesis.Log(base_ns);
  for (int i = 0; i < cluster.masters(); ++i) {
    if (LossyMount* disk = cluster.storage({true, i})) {
      summary << "  storage m" << i << ": " << disk->Stats().value_or("?") << "\n";
    }
  }
  for (int i = 0; i < cluster.datanodes(); ++i) {
    if (LossyMount* disk = cluster.storage({false, i})) {
      summary << "  storage d" << i << ": " << disk->Stats().value_or("?") << "\n";
    }
  }
  summary << "checks:\n";
  for (size_t i = 0; i < workloads.size(); ++i) {
    summary << "  " << workloads[i]->name() << ": " << reports[i].Summary() << "\n";
  }
  summary << "cluster after heal: " << (healthy.ok() ? "healthy" : healthy.ToString()) << "\n";
  for (const std::string& failure : heal_failures) summary << "heal failed: " << failure << "\n";
  std::cout << summary.str() << std::flush;

  bool passed = healthy.ok() && heal_failures.empty();
  for (const WorkloadReport& report : reports) passed = passed && report.ok;
  std::ofstream(out + "/summary.txt") << summary.str();
  for (auto& workload : workloads) {
    (void)SaveHistory(absl::StrCat(out, "/history-", workload->name(), ".txt"),
                      workload->Operations(),
                      {absl::StrCat("seed ", seed), absl::StrCat("workload ", workload->name())});
  }
  if (!passed || !out_env.empty()) {
    std::cout << "histories, fault log and summary kept in " << out << std::endl;
  } else {
    std::filesystem::remove_all(out);
  }

  if (!healthy.ok()) {
    // Which node did not come back, and why: the end of every log.
    std::string logs = absl::StrCat("\nm0 log:\n", cluster.Log({true, 0}));
    for (int i = 0; i < cluster.datanodes(); ++i) {
      absl::StrAppend(&logs, "\nd", i, " log:\n", cluster.Log({false, i}, 3000));
    }
    ADD_FAILURE() << healthy << logs;
  }
  EXPECT_TRUE(heal_failures.empty()) << absl::StrJoin(heal_failures, "\n");
  for (size_t i = 0; i < workloads.size(); ++i) {
    EXPECT_TRUE(reports[i].ok) << workloads[i]->name() << ": " << reports[i].Summary();
    // A workload that did nothing under faults checked nothing.
    int64_t ok_ops = 0;
    for (const Operation& op : workloads[i]->Operations()) ok_ops += op.outcome == Outcome::kOk;
    EXPECT_GT(ok_ops, 20) << workloads[i]->Counts();
  }
  if (!campaign) {
    for (Fault fault : AllFaults()) {
      EXPECT_GE(nemesis.counts()[FaultName(fault)], 1) << FaultName(fault) << " was never injected";
    }
  }
}

// Puts `n` files of a few chunks each; returns the contents of those acknowledged.
std::map<std::string, std::string> PutFiles(Client& client, const std::string& dir, int round,
                                            int n, Random& random) {
  std::map<std::string, std::string> acked;
  for (int i = 0; i < n; ++i) {
    const std::string path = absl::StrCat(dir, "/r", round, "-f", i);
    std::string data = testing::RandomBytes(random.Range(1, 3 << 20), random.Next());
    std::istringstream in(data);
    if (client.Put(in, path, PutOptions{}).ok()) acked[path] = std::move(data);
  }
  return acked;
}

TEST_F(FaultTest, AcknowledgedDataSurvivesPowerLoss) {
  uint64_t seed = 0;
  if (!absl::SimpleAtoi(Env("DFS_FAULT_SEED"), &seed)) seed = SeedFromEntropy() % 1000000;
  std::cout << "power-loss run: seed " << seed << std::endl;
  Random random(seed);
  const LossyNames names =
      Env("DFS_FAULT_NAMES") == "journal" ? LossyNames::kJournal : LossyNames::kStrict;

  TempDir dir;
  testing::ClusterOptions options;
  options.masters = 3;
  options.datanodes = 3;  // RF 3: every chunk on every datanode, so every crash matters
  std::vector<std::unique_ptr<LossyMount>> disks;
  auto lossy = [&](const std::string& name) {
    disks.push_back(std::make_unique<LossyMount>());
    absl::Status s = disks.back()->Mount(dir.path() + "/" + name + ".backing",
                                         dir.path() + "/" + name + ".data", names);
    EXPECT_TRUE(s.ok()) << s;
    testing::NodeSite site;
    site.data_dir = disks.back()->path();
    return site;
  };
  for (int i = 0; i < options.masters; ++i) {
    options.master_sites.push_back(lossy(absl::StrCat("m", i)));
  }
  for (int i = 0; i < options.datanodes; ++i) {
    options.datanode_sites.push_back(lossy(absl::StrCat("d", i)));
  }
  ASSERT_FALSE(HasFailure());
  auto cluster = std::make_unique<TestCluster>(options);
  absl::Status started = cluster->Start();
  ASSERT_TRUE(started.ok()) << started;

  ClientOptions client_options;
  client_options.masters = cluster->master_addresses();
  client_options.chunk_size_bytes = 1 << 20;
  client_options.op_timeout_ms = 20000;
  client_options.write_retry_deadline_ms = 20000;
  auto client = std::make_unique<Client>(client_options, seed + 1);
  ASSERT_TRUE(client->MkdirAll("/power").ok());

  std::map<std::string, std::string> acked;
  constexpr int kRounds = 3;
  for (int round = 0; round < kRounds; ++round) {
    for (auto& [path, data] : PutFiles(*client, "/power", round, 4, random)) acked[path] = data;
    // Every server dies at once and its unsynced writes with it.
    for (int i = 0; i < options.datanodes; ++i) cluster->StopDatanode(i, SIGKILL);
    for (int i = 0; i < options.masters; ++i) cluster->StopMasterAt(i, SIGKILL);
    for (auto& disk : disks) {
      absl::StatusOr<std::string> stats = disk->Crash();
      ASSERT_TRUE(stats.ok()) << stats.status();
      std::cout << "round " << round << " " << disk->path() << ": " << *stats << std::endl;
    }
    for (int i = 0; i < options.masters; ++i) {
      absl::Status s = cluster->StartMasterAt(i);
      ASSERT_TRUE(s.ok()) << "master " << i << " after power loss: " << s;
    }
    for (int i = 0; i < options.datanodes; ++i) {
      absl::Status s = cluster->StartDatanode(i);
      ASSERT_TRUE(s.ok()) << "datanode " << i << " after power loss: " << s;
    }
    ASSERT_TRUE(cluster->WaitForLeader(20000).ok()) << cluster->MasterLog();
    ASSERT_TRUE(cluster->WaitForLiveDatanodes(options.datanodes, 30000).ok())
        << cluster->MasterLog();
    client = std::make_unique<Client>(client_options, seed + 2 + round);
    for (const auto& [path, data] : acked) {
      std::string read;
      absl::Status s;
      // The datanodes may still be reporting their chunks to the new leader.
      ASSERT_TRUE(WaitFor(
          [&] {
            read.clear();
            s = client
                    ->Get(path,
                          [&](absl::string_view piece) {
                            read.append(piece.data(), piece.size());
                            return absl::OkStatus();
                          })
                    .status();
            return s.ok();
          },
          std::chrono::seconds(30)))
          << "round " << round << ": acknowledged " << path << " unreadable after power loss: " << s
          << "\n"
          << cluster->MasterLog();
      EXPECT_TRUE(read == data) << "round " << round << ": " << path
                                << " differs after power loss (" << read.size() << " bytes, wrote "
                                << data.size() << ")";
    }
  }
  EXPECT_GT(acked.size(), 0u);
  cluster.reset();  // servers die before their disks go
}

}  // namespace
}  // namespace dfs::fault
