// dfsadmin: cluster administration. Finds the cluster the way `dfs` does (client/config.h), then
// runs one command from the table below; `dfsadmin help` lists them, `dfsadmin COMMAND --help`
// describes one. Exit codes: 0 success, 1 failure (or, for fsck and status, an unhealthy answer),
// 2 a usage error.
#include <time.h>

#include <cstdio>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/config.h"
#include "common/auth.h"
#include "common/human_bytes.h"
#include "common/logging.h"
#include "tools/admin/fsck.h"
#include "tools/admin/masters.h"
#include "tools/admin/raft.h"
#include "tools/admin/status.h"
#include "tools/cli/format.h"

namespace dfs::admin {
namespace {

constexpr int kExitUsage = 2;

constexpr char kGlobalUsage[] =
    "usage: dfsadmin [--masters HOST:PORT,...] [--timeout SECONDS] [--secret_file PATH]\n"
    "                [--tls_ca PATH] COMMAND [ARGS]\n"
    "The cluster is found from --masters, $DFS_MASTERS, $DFS_CONFIG or ~/.config/dfs/client.conf.\n"
    "--timeout bounds each call to a master (default 10 s).\n"
    "--secret_file names the credential (admin.key from `dfsadmin init`; a client.key may only\n"
    "read status), --tls_ca the CA to reach a TLS cluster; else $DFS_SECRET_FILE, $DFS_TLS_CA,\n"
    "or the config file's secret_file= and tls_ca=.\n"
    "Exit codes: 0 success, 1 failure, 2 usage error; `dfsadmin COMMAND --help` says more.\n"
    "commands:\n";

// A command's arguments: --flags (bare, or with a value as "--name V" or "--name=V") and
// operands, in any order; "--" ends the flags.
struct Args {
  std::set<std::string> flags;
  std::map<std::string, std::string> values;
  std::vector<std::string> operands;
};

struct Command {
  std::string name;
  std::string synopsis;  // after "dfsadmin "
  std::string summary;   // one line, for the command list
  std::string help;      // what `dfsadmin NAME --help` adds below the synopsis
  std::set<std::string> bool_flags;
  std::set<std::string> value_flags;
  size_t min_operands = 0;
  size_t max_operands = 0;
  std::function<int(const Target&, const ClientOptions&, const Args&)> run;
  // Checks operands and flag values before the cluster is looked for; null: nothing to check.
  std::function<absl::Status(const Args&)> check = nullptr;
  // False for commands that run without a cluster (init): no discovery, an empty Target.
  bool needs_cluster = true;
};

int UsageError(const Command& command, const std::string& why) {
  std::cerr << "dfsadmin: " << command.name << ": " << why << "\nusage: dfsadmin "
            << command.synopsis << "\nTry 'dfsadmin " << command.name << " --help'.\n";
  return kExitUsage;
}

absl::StatusOr<Args> ParseArgs(const Command& command, const std::vector<std::string>& argv) {
  Args args;
  bool options_done = false;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& arg = argv[i];
    if (options_done || arg == "-" || !absl::StartsWith(arg, "-")) {
      args.operands.push_back(arg);
      continue;
    }
    if (arg == "--") {
      options_done = true;
      continue;
    }
    const size_t eq = arg.find('=');
    const std::string name = arg.substr(0, eq);
    if (command.bool_flags.count(name)) {
      if (eq != std::string::npos) return absl::InvalidArgumentError(name + " takes no value");
      args.flags.insert(name);
    } else if (command.value_flags.count(name)) {
      if (eq != std::string::npos) {
        args.values[name] = arg.substr(eq + 1);
      } else if (i + 1 < argv.size()) {
        args.values[name] = argv[++i];
      } else {
        return absl::InvalidArgumentError(name + " needs a value");
      }
    } else {
      return absl::InvalidArgumentError("unknown option " + arg);
    }
  }
  if (args.operands.size() < command.min_operands) {
    return absl::InvalidArgumentError("missing operand");
  }
  if (args.operands.size() > command.max_operands) {
    return absl::InvalidArgumentError("unexpected operand " + args.operands[command.max_operands]);
  }
  return args;
}

std::string ShortDate(int64_t ns) { return cli::FullTime(ns).substr(0, 19); }

// ---- the commands that fit in a few lines ----

int Datanodes(const Target& target) {
  ListDatanodesResponse nodes;
  absl::Status s = CallLeader(target, [&](AdminService::Stub* stub, grpc::ClientContext* c) {
    return stub->ListDatanodes(c, Empty(), &nodes);
  });
  if (!s.ok()) {
    std::cerr << "dfsadmin: datanodes: " << s.message() << "\n";
    return 1;
  }
  std::cout << absl::StrFormat("%-34s %-22s %-10s %-5s %-15s %8s %12s %12s %s\n", "ID", "ADDRESS",
                               "RACK", "STATE", "ADMIN", "CHUNKS", "USED", "FREE", "SCRUBBED");
  for (const auto& dn : nodes.datanodes()) {
    const char* admin = dn.admin_state() == DATANODE_DECOMMISSIONING  ? "decommissioning"
                        : dn.admin_state() == DATANODE_DECOMMISSIONED ? "decommissioned"
                                                                      : "in-service";
    std::cout << absl::StrFormat("%-34s %-22s %-10s %-5s %-15s %8d %12s %12s %d passes, %d bad\n",
                                 dn.node().id(), dn.node().address(), dn.node().rack(),
                                 dn.live() ? "live" : "dead", admin, dn.chunk_count(),
                                 HumanBytes(dn.used_bytes()), HumanBytes(dn.free_bytes()),
                                 dn.scrub().passes(), dn.scrub().corrupt_found());
  }
  return 0;
}

int SetDecommission(const Target& target, const std::string& datanode, bool decommission) {
  DecommissionRequest request;
  request.set_datanode(datanode);
  DecommissionResponse response;
  absl::Status s = CallLeader(target, [&](AdminService::Stub* stub, grpc::ClientContext* c) {
    return decommission ? stub->Decommission(c, request, &response)
                        : stub->Recommission(c, request, &response);
  });
  const char* command = decommission ? "decommission" : "recommission";
  if (!s.ok()) {
    std::cerr << "dfsadmin: " << command << ": " << datanode << ": " << s.message() << "\n";
    return 1;
  }
  if (decommission) {
    std::cout << "datanode " << response.datanode_id()
              << ": decommissioning; it gets no new chunks while its chunks are copied elsewhere."
              << "\n`dfsadmin datanodes` shows it decommissioned once it is safe to remove.\n";
  } else {
    std::cout << "datanode " << response.datanode_id() << ": in service\n";
  }
  return 0;
}

int Balance(const Target& target, double threshold) {
  BalanceRequest request;
  request.set_threshold(threshold);
  BalanceResponse response;
  absl::Status s = CallLeader(target, [&](AdminService::Stub* stub, grpc::ClientContext* c) {
    return stub->Balance(c, request, &response);
  });
  if (!s.ok()) {
    std::cerr << "dfsadmin: balance: " << s.message() << "\n";
    return 1;
  }
  std::cout << response.message() << "\n";
  return 0;
}

int Merge(const Target& target) {
  MergeResponse response;
  absl::Status s = CallLeader(target, [&](AdminService::Stub* stub, grpc::ClientContext* c) {
    return stub->Merge(c, Empty(), &response);
  });
  if (!s.ok()) {
    std::cerr << "dfsadmin: merge: " << s.message() << "\n";
    return 1;
  }
  std::cout << response.message()
            << "\n`dfsadmin status` counts the files merged (merges_done in --json).\n";
  return 0;
}

int SafeMode(const Target& target, const std::string& verb) {
  SafeModeRequest request;
  request.set_action(verb == "enter"   ? SafeModeRequest::ENTER
                     : verb == "leave" ? SafeModeRequest::LEAVE
                                       : SafeModeRequest::GET);
  SafeModeResponse response;
  absl::Status s = CallLeader(target, [&](AdminService::Stub* stub, grpc::ClientContext* c) {
    return stub->SafeMode(c, request, &response);
  });
  if (!s.ok()) {
    std::cerr << "dfsadmin: safemode " << verb << ": " << s.message() << "\n";
    return 1;
  }
  if (response.on()) {
    std::cout << "Safe mode is ON (since " << ShortDate(response.since_ns())
              << "): the namespace is read-only\n";
  } else {
    std::cout << "Safe mode is OFF\n";
  }
  return 0;
}

int Init(const std::string& dir) {
  if (absl::Status s = InitClusterCredentials(dir); !s.ok()) {
    std::cerr << "dfsadmin: init: " << s.message() << "\n";
    return 1;
  }
  std::cout << "wrote " << dir << "/" << kClusterSecretFile
            << ": give it to every master and datanode (--secret_file)\n"
            << "wrote " << dir << "/" << kAdminKeyFile << ": for dfsadmin\n"
            << "wrote " << dir << "/" << kClientKeyFile << ": for dfs and dfs-fuse\n";
  return 0;
}

std::vector<Command> Commands() {
  std::vector<Command> commands;
  commands.push_back(
      {"init",
       "init --dir DIR",
       "create a new cluster's secret and keys",
       "Writes DIR/cluster.secret (32 random bytes, hex) for the masters and datanodes, and two\n"
       "keys derived from it: DIR/admin.key for dfsadmin and DIR/client.key for dfs and dfs-fuse\n"
       "(each given as --secret_file, $DFS_SECRET_FILE or secret_file= in client.conf). A client\n"
       "key cannot change the cluster's configuration. Files are mode 0600; existing ones are\n"
       "never overwritten. Needs no running cluster.\n",
       {},
       {"--dir"},
       0,
       0,
       [](const Target&, const ClientOptions&, const Args& a) {
         return Init(a.values.at("--dir"));
       },
       [](const Args& a) {
         auto it = a.values.find("--dir");
         if (it == a.values.end() || it->second.empty()) {
           return absl::InvalidArgumentError("--dir DIR is required");
         }
         return absl::OkStatus();
       },
       /*needs_cluster=*/false});
  commands.push_back(
      {"status",
       "status [--json]",
       "cluster summary and a one-line health verdict",
       "Asks every master for its Raft view (role, term, commit and applied index, lag behind the\n"
       "leader's commit index; a master that does not answer is shown unreachable), then the\n"
       "leader for datanodes (live, dead, decommissioning; capacity and usage), chunk counts,\n"
       "replication health and safe mode, and ends in a verdict, worst first:\n"
       "  NO LEADER   no master leads;\n"
       "  AT RISK     some data cannot be read: missing or corrupt chunks;\n"
       "  DEGRADED    all data readable, but chunks under-replicated, datanodes dead or masters\n"
       "              unreachable;\n"
       "  HEALTHY.\n"
       "  --json   print proto/admin.proto's StatusReport as JSON (proto field names, every field\n"
       "           present; 64-bit numbers are strings) for scripts.\n"
       "Exit code 0, or 1 when there is no leader.\n",
       {"--json"},
       {},
       0,
       0,
       [](const Target& t, const ClientOptions&, const Args& a) {
         return StatusCommand(t, a.flags.count("--json") > 0);
       }});
  commands.push_back(
      {"datanodes",
       "datanodes",
       "every datanode with liveness, admin state and usage",
       "One line per datanode the leader knows: id, address, rack, live or dead, admin state\n"
       "(in-service, decommissioning, decommissioned), chunks, bytes used and free, scrubber\n"
       "passes and damaged chunks found.\n",
       {},
       {},
       0,
       0,
       [](const Target& t, const ClientOptions&, const Args&) { return Datanodes(t); }});
  commands.push_back(
      {"fsck",
       "fsck [--verify] [PATH]",
       "check the files under PATH for missing or bad chunks",
       "Walks the namespace under PATH (default /; symlinks are not followed) and lists every\n"
       "file with a chunk that is MISSING (no live replica), CORRUPT (only damaged replicas\n"
       "left) or UNDER-REPLICATED (fewer good replicas than the replication factor), with each\n"
       "replica's state, then a summary: files, directories, chunks by health, bytes.\n"
       "  --verify  also read every live replica of every chunk and check its CRC32C; a damaged\n"
       "            replica is listed and reported to the master, which drops it and has the\n"
       "            replicator copy a good one. Reads all the data: slow on a big cluster.\n"
       "Exit codes (as HDFS: only data that cannot be read fails the check):\n"
       "  0  every chunk has a good replica (under-replicated ones are listed, not failures);\n"
       "  1  some chunk is MISSING or CORRUPT;\n"
       "  2  usage error (bad flag, PATH does not exist);\n"
       "  3  the check could not finish (cluster unreachable, no leader).\n",
       {"--verify"},
       {},
       0,
       1,
       [](const Target& t, const ClientOptions& client, const Args& a) {
         FsckOptions options;
         if (!a.operands.empty()) options.path = a.operands[0];
         options.verify = a.flags.count("--verify") > 0;
         return FsckCommand(t, client, options);
       }});
  commands.push_back(
      {"decommission",
       "decommission DATANODE",
       "drain a datanode before removing it",
       "DATANODE is an id or the host:port of its DatanodeService. The node gets no new chunks\n"
       "and its replicas stop counting, so every chunk it holds is copied elsewhere;\n"
       "`dfsadmin datanodes` shows it decommissioned once it is safe to remove. Survives\n"
       "failover (a command in the log).\n",
       {},
       {},
       1,
       1,
       [](const Target& t, const ClientOptions&, const Args& a) {
         return SetDecommission(t, a.operands[0], true);
       }});
  commands.push_back(
      {"recommission",
       "recommission DATANODE",
       "put a draining or drained datanode back",
       "DATANODE is an id or host:port. Its replicas count again; extra copies are trimmed.\n",
       {},
       {},
       1,
       1,
       [](const Target& t, const ClientOptions&, const Args& a) {
         return SetDecommission(t, a.operands[0], false);
       }});
  commands.push_back(
      {"balance",
       "balance [--threshold F]",
       "move replicas from full datanodes to empty ones",
       "Starts the balancer now; it moves replicas (never reducing a chunk's rack spread) until\n"
       "every datanode's utilization is within F of the cluster's, after any repairs.\n"
       "  --threshold F  a fraction in (0, 1), e.g. 0.05; default: the master's\n"
       "                 --balancer_threshold.\n"
       "Refused in safe mode.\n",
       {},
       {"--threshold"},
       0,
       0,
       [](const Target& t, const ClientOptions&, const Args& a) {
         double threshold = 0;
         if (a.values.count("--threshold")) {
           absl::SimpleAtod(a.values.at("--threshold"), &threshold);
         }
         return Balance(t, threshold);
       },
       [](const Args& a) {
         double threshold = 0;
         auto it = a.values.find("--threshold");
         if (it != a.values.end() &&
             (!absl::SimpleAtod(it->second, &threshold) || threshold <= 0 || threshold >= 1)) {
           return absl::InvalidArgumentError(
               "--threshold must be a fraction between 0 and 1, e.g. 0.1");
         }
         return absl::OkStatus();
       }});
  commands.push_back(
      {"merge",
       "merge",
       "start a merger pass now",
       "Starts a pass of the merger now (also when the master runs it on no schedule,\n"
       "--merge_interval_ms=0): cold files whose data sits in small or half-empty chunks are\n"
       "packed into new chunks (see the master's --merge_* flags). Returns at once; `dfsadmin\n"
       "status --json` counts merged files (merges_done). Refused in safe mode.\n",
       {},
       {},
       0,
       0,
       [](const Target& t, const ClientOptions&, const Args&) { return Merge(t); }});
  commands.push_back(
      {"snapshot",
       "snapshot",
       "take a Raft snapshot on the leader now",
       "The leader writes a snapshot of its metadata and compacts its Raft log (as it does every\n"
       "--snapshot_every entries); prints the snapshot's index. Same as `raft snapshot`.\n",
       {},
       {},
       0,
       0,
       [](const Target& t, const ClientOptions&, const Args&) { return SnapshotCommand(t); }});
  commands.push_back(
      {"safemode",
       "safemode enter|leave|get",
       "make the namespace read-only for maintenance",
       "  enter  every namespace change (create, mkdir, write, rename, unlink, setattr, link,\n"
       "         symlink, ...) fails: `dfs` says \"cluster is in safe mode (read-only)\", FUSE\n"
       "         mounts get EROFS; reads work. The GC, trash expiry, merger and balancer pause;\n"
       "         the replicator keeps repairing lost replicas (that changes no file).\n"
       "  leave  writable again.\n"
       "  get    print \"Safe mode is ON\" or \"Safe mode is OFF\" (exit 0 either way).\n"
       "A command in the Raft log: it survives failover and restarts.\n",
       {},
       {},
       1,
       1,
       [](const Target& t, const ClientOptions&, const Args& a) {
         return SafeMode(t, a.operands[0]);
       },
       [](const Args& a) {
         const std::string& verb = a.operands[0];
         if (verb == "enter" || verb == "leave" || verb == "get") return absl::OkStatus();
         return absl::InvalidArgumentError("unknown action " + verb + " (enter, leave or get)");
       }});
  commands.push_back(
      {"raft",
       "raft status | add HOST:PORT | remove HOST:PORT | transfer HOST:PORT | snapshot",
       "the masters' Raft group: status, add, remove, transfer, snapshot",
       "  status     every master's role, term, commit, applied and snapshot index, and lag\n"
       "             (exit 1 when a master is unreachable or there is no leader)\n"
       "  add        add a master started with --join to the group\n"
       "  remove     remove a master from the group; it stops by itself once the\n"
       "             leader refuses it (its data directory is then stale: delete it)\n"
       "  transfer   hand leadership to that master\n"
       "  snapshot   take a snapshot on the leader now (as `dfsadmin snapshot`)\n",
       {},
       {},
       1,
       2,
       [](const Target& t, const ClientOptions&, const Args& a) {
         return RaftCommand(t, a.operands);
       },
       [](const Args& a) { return CheckRaftArgs(a.operands); }});
  return commands;
}

std::string Usage(const std::vector<Command>& commands) {
  std::string out = kGlobalUsage;
  for (const Command& c : commands) {
    const std::string shown = c.synopsis.size() <= 26 ? c.synopsis : c.name + " ...";
    absl::StrAppend(&out, absl::StrFormat("  %-26s %s\n", shown, c.summary));
  }
  return out;
}

std::string CommandHelp(const Command& c) {
  return absl::StrCat("usage: dfsadmin ", c.synopsis, "\n", c.summary, ".\n", c.help);
}

int Main(int argc, char** argv) {
  SetLogComponent("dfsadmin");
  SetMinLogLevel(LogLevel::kError);
  const std::vector<Command> commands = Commands();
  auto find = [&](const std::string& name) -> const Command* {
    for (const Command& c : commands) {
      if (c.name == name) return &c;
    }
    return nullptr;
  };
  auto usage_error = [&](const std::string& why) {
    std::cerr << "dfsadmin: " << why << "\n" << Usage(commands);
    return kExitUsage;
  };

  std::optional<std::string> masters_flag;
  std::optional<std::string> secret_file_flag;
  std::optional<std::string> tls_ca_flag;
  int64_t timeout_ms = 10000;
  int i = 1;
  for (; i < argc && absl::StartsWith(argv[i], "-"); ++i) {
    std::string arg = argv[i];
    std::string value;
    auto take = [&](const std::string& name) {
      if (absl::StartsWith(arg, name + "=")) return value = arg.substr(name.size() + 1), true;
      if (arg == name && i + 1 < argc) return value = argv[++i], true;
      return false;
    };
    if (arg == "--help" || arg == "-h") {
      std::cout << Usage(commands);
      return 0;
    } else if (take("--masters")) {
      masters_flag = value;
    } else if (take("--secret_file")) {
      secret_file_flag = value;
    } else if (take("--tls_ca")) {
      tls_ca_flag = value;
    } else if (take("--timeout")) {
      double seconds;
      if (!absl::SimpleAtod(value, &seconds) || seconds <= 0) return usage_error("bad --timeout");
      timeout_ms = static_cast<int64_t>(seconds * 1000);
    } else {
      return usage_error("unknown option " + arg);
    }
  }
  if (i >= argc) return usage_error("no command");
  const std::string name = argv[i++];
  std::vector<std::string> rest(argv + i, argv + argc);
  if (name == "help") {
    if (rest.empty()) {
      std::cout << Usage(commands);
      return 0;
    }
    const Command* command = find(rest[0]);
    if (command == nullptr) return usage_error("no command " + rest[0]);
    std::cout << CommandHelp(*command);
    return 0;
  }
  const Command* command = find(name);
  if (command == nullptr) return usage_error("unknown command " + name);
  for (const std::string& arg : rest) {
    if (arg == "--") break;
    if (arg == "--help" || arg == "-h") {
      std::cout << CommandHelp(*command);
      return 0;
    }
  }
  absl::StatusOr<Args> args = ParseArgs(*command, rest);
  if (args.ok() && command->check) {
    if (absl::Status s = command->check(*args); !s.ok()) args = s;
  }
  if (!args.ok()) return UsageError(*command, std::string(args.status().message()));

  if (!command->needs_cluster) return command->run(Target(), ClientOptions(), *args);

  MasterSources sources = MasterSourcesFromEnvironment(masters_flag);
  sources.secret_file_flag = secret_file_flag;
  sources.tls_ca_flag = tls_ca_flag;
  auto config = DiscoverConfig(sources);
  if (!config.ok()) {
    std::cerr << "dfsadmin: " << config.status().message()
              << "\n(start a local cluster with tools/dfs-cluster up, or pass --masters)\n";
    return kExitUsage;
  }
  if (absl::Status s = ConfigureClientSecurity(config->config); !s.ok()) {
    std::cerr << "dfsadmin: " << s.message() << "\n";
    return kExitUsage;
  }
  Target target;
  target.masters = config->config.masters;
  target.timeout_ms = timeout_ms;
  ClientOptions client_options;
  ApplyConfig(config->config, &client_options);
  client_options.rpc_timeout_ms = timeout_ms;
  return command->run(target, client_options, *args);
}

}  // namespace
}  // namespace dfs::admin

int main(int argc, char** argv) { return dfs::admin::Main(argc, argv); }
