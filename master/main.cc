// dfs-master: serves the namespace and chunk map. Flags are parsed here into MasterOptions.
#include <csignal>
#include <iostream>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/marshalling.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "common/logging.h"
#include "common/malloc_tuning.h"
#include "common/security_flags.h"
#include "master/maintenance_flags.h"
#include "master/master_server.h"

ABSL_FLAG(std::string, data_dir, "", "Directory for the metadata store and command log (required).");
ABSL_FLAG(std::string, listen, "127.0.0.1:0",
          "Address to serve on, host:port; port 0 picks a free port (see --port_file).");
ABSL_FLAG(std::string, port_file, "", "If set, the bound host:port is written here once serving.");
ABSL_FLAG(std::string, http_listen, "127.0.0.1:0",
          "host:port of the HTTP server: the status page at / (followers redirect to the "
          "leader's) and Prometheus metrics at /metrics; port 0 picks a free port (see "
          "--http_port_file); empty turns HTTP off.");
ABSL_FLAG(std::string, http_port_file, "",
          "If set, the bound HTTP host:port is written here once serving.");
ABSL_FLAG(int64_t, datanode_dead_ms, 10000,
          "A datanode without a heartbeat for this long is considered dead.");
ABSL_FLAG(int, replication, 3, "Replicas per chunk (RF).");
ABSL_FLAG(uint64_t, seed, 0, "Seed for placement randomness; 0 draws one from entropy.");
ABSL_FLAG(std::vector<std::string>, peers, {},
          "Raft: every master of a new group, host:port, comma-separated, this one included. "
          "Empty: a group of one. Ignored once the group exists (membership lives in the log).");
ABSL_FLAG(bool, join, false,
          "Raft: start empty and wait to be added by the leader (dfsadmin raft add HOST:PORT).");
ABSL_FLAG(int, tick_ms, 50, "Raft tick; heartbeats go out every tick.");
ABSL_FLAG(int, election_ticks, 10, "Raft election timeout in ticks (randomized up to twice this).");
ABSL_FLAG(uint64_t, snapshot_every, 20000, "Raft: snapshot and compact the log every this many entries.");
ABSL_FLAG(bool, lease_reads, false,
          "Raft: serve reads under a leader lease instead of a ReadIndex round. Safe only while any "
          "two masters' clocks run at rates within 20% of each other over one election timeout.");
ABSL_FLAG(int, proposal_gather_us, 2000,
          "Raft: once a batch of proposals commits, the leader of a group of more than one waits "
          "up to this long (microseconds) for as many proposals as that batch had, so that the "
          "clients it answered share the next batch's replication round. 0: never wait.");
ABSL_FLAG(bool, root_squash, false,
          "Treat uid 0 stated by callers with a client credential as nobody (65534/65534), as "
          "NFS's root_squash; admin and node credentials keep root.");
ABSL_FLAG(bool, enable_test_hooks, false, "Allow test-only admin RPCs (Raft traffic filters).");
ABSL_FLAG(std::string, log_level, "info", "Lowest log level printed: debug, info, warning, error.");

namespace {
dfs::MasterServer* g_server = nullptr;
void HandleSignal(int) {
  // Shutdown is not async-signal-safe; hand it to a thread.
  std::thread([] { if (g_server) g_server->Shutdown(); }).detach();
}
}  // namespace

int main(int argc, char** argv) {
  dfs::ConfigureMalloc();  // before any thread starts (common/malloc_tuning.h says why)
  absl::SetProgramUsageMessage("dfs-master --data_dir DIR [--listen HOST:PORT] [flags]\n"
                               "Serves the dfs namespace and chunk map.");
  // --help would list only flags from a file named after the binary; ours live in these.
  absl::FlagsUsageConfig usage_config;
  usage_config.contains_help_flags = [](absl::string_view path) {
    return absl::EndsWith(path, "master/main.cc") ||
           absl::EndsWith(path, "master/maintenance_flags.cc") ||
           absl::EndsWith(path, "common/security_flags.cc");
  };
  usage_config.contains_helpshort_flags = usage_config.contains_help_flags;
  absl::SetFlagsUsageConfig(usage_config);
  absl::ParseCommandLine(argc, argv);
  dfs::SetLogComponent("master");
  if (!dfs::SetLogLevelFromName(absl::GetFlag(FLAGS_log_level))) {
    std::cerr << "dfs-master: bad --log_level\n";
    return 2;
  }
  dfs::MasterOptions options;
  options.data_dir = absl::GetFlag(FLAGS_data_dir);
  options.listen_address = absl::GetFlag(FLAGS_listen);
  options.port_file = absl::GetFlag(FLAGS_port_file);
  options.http_listen_address = absl::GetFlag(FLAGS_http_listen);
  options.http_port_file = absl::GetFlag(FLAGS_http_port_file);
  options.datanode_dead_ms = absl::GetFlag(FLAGS_datanode_dead_ms);
  options.replication = absl::GetFlag(FLAGS_replication);
  options.seed = absl::GetFlag(FLAGS_seed);
  options.maintenance = dfs::MaintenanceOptionsFromFlags();
  options.peers = absl::GetFlag(FLAGS_peers);
  options.join = absl::GetFlag(FLAGS_join);
  options.tick_ms = absl::GetFlag(FLAGS_tick_ms);
  options.election_ticks = absl::GetFlag(FLAGS_election_ticks);
  options.snapshot_every_entries = absl::GetFlag(FLAGS_snapshot_every);
  options.lease_reads = absl::GetFlag(FLAGS_lease_reads);
  options.proposal_gather_us = absl::GetFlag(FLAGS_proposal_gather_us);
  options.enable_test_hooks = absl::GetFlag(FLAGS_enable_test_hooks);
  options.root_squash = absl::GetFlag(FLAGS_root_squash);
  if (absl::Status s = options.Validate(); !s.ok()) {
    std::cerr << "dfs-master: " << s.message() << "\n";
    return 2;
  }
  if (absl::Status s = dfs::ConfigureRpcSecurity(dfs::RpcSecurityOptionsFromFlags()); !s.ok()) {
    std::cerr << "dfs-master: " << s.message() << "\n";
    return 2;
  }
  dfs::MasterServer server(options);
  if (absl::Status s = server.Start(); !s.ok()) {
    std::cerr << "dfs-master: " << s << "\n";
    return 1;
  }
  g_server = &server;
  std::signal(SIGTERM, HandleSignal);
  std::signal(SIGINT, HandleSignal);
  server.Wait();
  server.Shutdown();
  DFS_LOG(INFO) << "master stopped";
  return 0;
}
