// Seeded whole-cluster simulation of the Raft core; see raft_sim.h for what is checked.
//
//   DFS_SIM_SEED=<n>        replay one seed, printing its event trace tail
//   DFS_SIM_SEEDS=<n>       run exactly n seeds (e.g. 1000000 for a long soak)
//   DFS_SIM_SECONDS=<s>     without DFS_SIM_SEEDS: run seeds 1, 2, 3... until s seconds have
//                           passed (default 50: a few thousand seeds in an optimized build, a
//                           few dozen under sanitizers; the count run is printed)
//   DFS_SIM_FIRST_SEED=<n>  first seed of the range (default 1)
//   DFS_SIM_TRACE_LINES=<n> how many trace lines a replay or failure prints (default 80)
//   DFS_SIM_THREADS=<n>     run seeds on n threads (default 1; runs are independent)
// A failure prints the seed, the violated invariant and the last events.
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>
#include <unistd.h>

#include "gtest/gtest.h"
#include "tests/sim/raft_sim.h"

namespace dfs::raft::sim {
namespace {

constexpr uint64_t kDefaultSeconds = 50;

thread_local uint64_t g_current_seed = 0;
std::mutex g_report_mu;

void OnAbort(int) {
  // A DFS_CHECK inside the core fired: say which seed, so it can be replayed.
  char buf[128];
  int n = std::snprintf(buf, sizeof(buf),
                        "\nraft sim: aborted in seed %llu; replay with DFS_SIM_SEED=%llu\n",
                        static_cast<unsigned long long>(g_current_seed),
                        static_cast<unsigned long long>(g_current_seed));
  if (n > 0) (void)!write(2, buf, n);
}

uint64_t EnvOr(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtoull(v, nullptr, 10) : fallback;
}

using ull = unsigned long long;

void Report(uint64_t seed, const SimOptions& o, const SimResult& r) {
  std::fprintf(stderr,
               "seed %llu (%d nodes%s%s%s): committed=%llu elections=%llu crashes=%llu "
               "snapshots=%llu members +%llu -%llu transfers=%llu reads=%llu messages=%llu "
               "recovery=%d ticks\n",
               ull(seed), o.num_nodes, o.lease_reads ? ", lease reads" : "",
               o.pre_vote ? "" : ", no pre-vote", o.check_quorum ? "" : ", no check-quorum",
               ull(r.committed),
               ull(r.elections), ull(r.crashes), ull(r.snapshots_installed), ull(r.members_added),
               ull(r.members_removed), ull(r.transfers), ull(r.reads), ull(r.messages),
               r.recovery_ticks);
}

// Totals over all seeds of a run, to show the faults and features were exercised.
struct Totals {
  std::mutex mu;
  SimResult sum;
  int max_recovery_ticks = 0;
  void Add(const SimResult& r) {
    std::lock_guard<std::mutex> lock(mu);
    sum.committed += r.committed;
    sum.elections += r.elections;
    sum.crashes += r.crashes;
    sum.snapshots_installed += r.snapshots_installed;
    sum.members_added += r.members_added;
    sum.members_removed += r.members_removed;
    sum.transfers += r.transfers;
    sum.reads += r.reads;
    sum.messages += r.messages;
    max_recovery_ticks = std::max(max_recovery_ticks, r.recovery_ticks);
  }
};
Totals g_totals;

bool RunSeed(uint64_t seed, bool verbose) {
  g_current_seed = seed;
  SimOptions options = OptionsForSeed(seed);
  options.trace = verbose;
  options.trace_tail = EnvOr("DFS_SIM_TRACE_LINES", 80);
  SimResult result = RunSimulation(options);
  g_totals.Add(result);
  if (verbose || !result.ok) {
    std::lock_guard<std::mutex> lock(g_report_mu);
    if (!result.ok && !verbose) {
      // Replay with tracing on: a run is a function of its seed.
      options.trace = true;
      result = RunSimulation(options);
    }
    for (const std::string& line : result.trace) std::fprintf(stderr, "  %s\n", line.c_str());
    Report(seed, options, result);
  }
  if (!result.ok) {
    ADD_FAILURE() << "raft sim seed " << seed << " failed: " << result.error
                  << "\nreplay with DFS_SIM_SEED=" << seed;
  }
  return result.ok;
}

TEST(RaftSim, RandomSeeds) {
  std::signal(SIGABRT, OnAbort);
  if (std::getenv("DFS_SIM_SEED") != nullptr) {
    RunSeed(EnvOr("DFS_SIM_SEED", 1), /*verbose=*/true);
    return;
  }
  const uint64_t first = EnvOr("DFS_SIM_FIRST_SEED", 1);
  const bool fixed_count = std::getenv("DFS_SIM_SEEDS") != nullptr;
  const uint64_t count = fixed_count ? EnvOr("DFS_SIM_SEEDS", 1) : UINT64_MAX / 2;
  const double budget_secs = static_cast<double>(EnvOr("DFS_SIM_SECONDS", kDefaultSeconds));
  const uint64_t threads = std::max<uint64_t>(1, EnvOr("DFS_SIM_THREADS", 1));
  const auto start = std::chrono::steady_clock::now();
  std::atomic<uint64_t> next{first};
  std::atomic<uint64_t> failures{0};
  std::atomic<uint64_t> done{0};
  auto out_of_time = [&] {
    if (fixed_count) return false;
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() >
           budget_secs;
  };
  auto worker = [&] {
    for (uint64_t seed = next++; seed < first + count && failures < 3 && !out_of_time();
         seed = next++) {
      if (!RunSeed(seed, /*verbose=*/false)) ++failures;
      ++done;
    }
  };
  std::vector<std::thread> pool;
  for (uint64_t i = 1; i < threads; ++i) pool.emplace_back(worker);
  worker();
  for (std::thread& t : pool) t.join();
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::fprintf(stderr, "raft sim: %llu seeds from %llu on %llu thread(s) in %.1f s\n",
               static_cast<unsigned long long>(done.load()), static_cast<unsigned long long>(first),
               static_cast<unsigned long long>(threads), secs);
  const SimResult& t = g_totals.sum;
  std::fprintf(stderr,
               "raft sim totals: committed=%llu elections=%llu crashes=%llu snapshots=%llu "
               "members +%llu -%llu transfers=%llu reads=%llu messages=%llu; "
               "slowest recovery %d ticks\n",
               ull(t.committed), ull(t.elections), ull(t.crashes), ull(t.snapshots_installed),
               ull(t.members_added), ull(t.members_removed), ull(t.transfers), ull(t.reads),
               ull(t.messages), g_totals.max_recovery_ticks);
}

}  // namespace
}  // namespace dfs::raft::sim
