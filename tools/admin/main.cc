// dfsadmin: cluster administration. Finds the cluster the way `dfs` does (client/config.h).
//
//   dfsadmin [--masters HOST:PORT,...] [--timeout SECONDS] COMMAND
//     status [--json]   cluster summary: applied index, inodes, chunks, datanodes, health
//     datanodes         every datanode: id, address, rack, live/dead, admin state, usage
//     decommission DN   drain a datanode (id or host:port); recommission DN undoes it
//     balance [--threshold F]  start the balancer now
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/config.h"
#include "tools/admin/raft.h"
#include "common/grpc_status.h"
#include "common/rpc.h"
#include "proto/master.grpc.pb.h"

namespace dfs {
namespace {

constexpr char kUsage[] =
    "usage: dfsadmin [--masters HOST:PORT,...] [--timeout SECONDS] COMMAND\n"
    "commands:\n"
    "  status [--json]   cluster summary and a one-line health verdict\n"
    "  datanodes         every datanode with liveness, admin state and usage\n"
    "  decommission DATANODE   drain a datanode (id or host:port): its chunks get RF replicas\n"
    "                    elsewhere; `datanodes` shows it decommissioned once safe to remove\n"
    "  recommission DATANODE   put a draining or drained datanode back in service\n"
    "  balance [--threshold F] move replicas until every datanode's utilization is within F\n"
    "                    (a fraction, default the master's) of the cluster's\n"
    "  raft status       every master's role, term, commit and applied index, and lag\n"
    "  raft add|remove|transfer HOST:PORT   change the masters' Raft group or its leader\n"
    "  raft snapshot     take a Raft snapshot now and compact the log\n"
    "The cluster is found from --masters, $DFS_MASTERS, $DFS_CONFIG or ~/.config/dfs/client.conf.\n";

int Usage(const std::string& why) {
  if (!why.empty()) std::cerr << "dfsadmin: " << why << "\n";
  std::cerr << kUsage;
  return 2;
}

std::string Bytes(uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = n;
  int u = 0;
  while (v >= 1024 && u < 4) v /= 1024, ++u;
  return absl::StrFormat("%.1f %s", v, units[u]);
}

// Calls `rpc` on the first master that answers.
template <typename Rpc>
absl::Status CallAny(const std::vector<std::string>& masters, int64_t timeout_ms, Rpc rpc) {
  absl::Status last = absl::UnavailableError("no masters");
  for (const std::string& address : masters) {
    auto stub = AdminService::NewStub(GetChannel(address));
    grpc::ClientContext context;
    SetTimeout(&context, timeout_ms);
    last = FromGrpcStatus(rpc(stub.get(), &context));
    if (last.ok() || !IsRetryable(last)) return last;
  }
  return last;
}

int Status(const std::vector<std::string>& masters, int64_t timeout_ms, bool json) {
  ClusterStatusResponse status;
  ListDatanodesResponse nodes;
  absl::Status s = CallAny(masters, timeout_ms, [&](AdminService::Stub* stub, grpc::ClientContext* c) {
    return stub->ClusterStatus(c, Empty(), &status);
  });
  if (s.ok()) {
    s = CallAny(masters, timeout_ms, [&](AdminService::Stub* stub, grpc::ClientContext* c) {
      return stub->ListDatanodes(c, Empty(), &nodes);
    });
  }
  if (!s.ok()) {
    std::cerr << "dfsadmin: status: cluster unreachable: " << s.message() << "\n";
    return 1;
  }
  uint64_t capacity = 0, used = 0;
  for (const auto& dn : nodes.datanodes()) {
    if (dn.live()) capacity += dn.capacity_bytes(), used += dn.used_bytes();
  }
  std::string verdict =
      status.live_datanodes() == 0 ? "UNAVAILABLE: no live datanodes"
      : status.missing_chunks() > 0
          ? absl::StrFormat("DATA UNAVAILABLE: %d chunks have no live replica",
                            status.missing_chunks())
      : status.under_replicated_chunks() > 0
          ? absl::StrFormat("DEGRADED: %d chunks are under-replicated (repair in progress)",
                            status.under_replicated_chunks())
      : status.dead_datanodes() > 0 ? "DEGRADED: some datanodes are dead"
                                    : "HEALTHY";
  if (json) {
    std::cout << absl::StrFormat(
        "{\"applied_index\":%d,\"inodes\":%d,\"chunks\":%d,\"live_datanodes\":%d,"
        "\"dead_datanodes\":%d,\"capacity_bytes\":%d,\"used_bytes\":%d,"
        "\"corrupt_replica_reports\":%d,\"missing_chunks\":%d,\"under_replicated_chunks\":%d,"
        "\"garbage_chunks\":%d,\"replications_done\":%d,\"replications_in_flight\":%d,"
        "\"health\":\"%s\"}\n",
        status.applied_index(), status.inodes(), status.chunks(), status.live_datanodes(),
        status.dead_datanodes(), capacity, used, status.corrupt_replica_reports(),
        status.missing_chunks(), status.under_replicated_chunks(), status.garbage_chunks(),
        status.replications_done(), status.replications_in_flight(), verdict);
    return 0;
  }
  std::cout << absl::StrFormat(
      "masters:          %s\napplied index:    %d\ninodes:           %d\nchunks:           %d\n"
      "datanodes:        %d live, %d dead\ncapacity:         %s (%s used by chunks)\n"
      "corrupt reports:  %d\nreplication:      %d under-replicated, %d missing, %d copies "
      "in flight, %d done\ngarbage:          %d chunks waiting, %d purged\n"
      "health:           %s\n",
      absl::StrJoin(masters, ","), status.applied_index(), status.inodes(), status.chunks(),
      status.live_datanodes(), status.dead_datanodes(), Bytes(capacity), Bytes(used),
      status.corrupt_replica_reports(), status.under_replicated_chunks(),
      status.missing_chunks(), status.replications_in_flight(), status.replications_done(),
      status.garbage_chunks(), status.garbage_chunks_purged(), verdict);
  return 0;
}

int Datanodes(const std::vector<std::string>& masters, int64_t timeout_ms) {
  ListDatanodesResponse nodes;
  absl::Status s = CallAny(masters, timeout_ms, [&](AdminService::Stub* stub, grpc::ClientContext* c) {
    return stub->ListDatanodes(c, Empty(), &nodes);
  });
  if (!s.ok()) {
    std::cerr << "dfsadmin: datanodes: cluster unreachable: " << s.message() << "\n";
    return 1;
  }
  std::cout << absl::StrFormat("%-34s %-22s %-10s %-5s %-15s %8s %12s %12s %s\n", "ID",
                               "ADDRESS", "RACK", "STATE", "ADMIN", "CHUNKS", "USED", "FREE",
                               "SCRUBBED");
  for (const auto& dn : nodes.datanodes()) {
    const char* admin = dn.admin_state() == DATANODE_DECOMMISSIONING  ? "decommissioning"
                        : dn.admin_state() == DATANODE_DECOMMISSIONED ? "decommissioned"
                                                                      : "in-service";
    std::cout << absl::StrFormat("%-34s %-22s %-10s %-5s %-15s %8d %12s %12s %d passes, %d bad\n",
                                 dn.node().id(), dn.node().address(), dn.node().rack(),
                                 dn.live() ? "live" : "dead", admin, dn.chunk_count(),
                                 Bytes(dn.used_bytes()), Bytes(dn.free_bytes()),
                                 dn.scrub().passes(), dn.scrub().corrupt_found());
  }
  return 0;
}

int SetDecommission(const std::vector<std::string>& masters, int64_t timeout_ms,
                    const std::string& datanode, bool decommission) {
  DecommissionRequest request;
  request.set_datanode(datanode);
  DecommissionResponse response;
  absl::Status s = CallAny(masters, timeout_ms, [&](AdminService::Stub* stub, grpc::ClientContext* c) {
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

int Balance(const std::vector<std::string>& masters, int64_t timeout_ms, double threshold) {
  BalanceRequest request;
  request.set_threshold(threshold);
  BalanceResponse response;
  absl::Status s = CallAny(masters, timeout_ms, [&](AdminService::Stub* stub, grpc::ClientContext* c) {
    return stub->Balance(c, request, &response);
  });
  if (!s.ok()) {
    std::cerr << "dfsadmin: balance: " << s.message() << "\n";
    return 1;
  }
  std::cout << response.message() << "\n";
  return 0;
}

int Main(int argc, char** argv) {
  std::optional<std::string> masters_flag;
  int64_t timeout_ms = 10000;
  int i = 1;
  for (; i < argc && absl::StartsWith(argv[i], "--"); ++i) {
    std::string arg = argv[i];
    std::string value;
    auto take = [&](const std::string& name) {
      if (absl::StartsWith(arg, name + "=")) return value = arg.substr(name.size() + 1), true;
      if (arg == name && i + 1 < argc) return value = argv[++i], true;
      return false;
    };
    if (arg == "--help") {
      std::cout << kUsage;
      return 0;
    } else if (take("--masters")) {
      masters_flag = value;
    } else if (take("--timeout")) {
      double seconds;
      if (!absl::SimpleAtod(value, &seconds) || seconds <= 0) return Usage("bad --timeout");
      timeout_ms = static_cast<int64_t>(seconds * 1000);
    } else {
      return Usage("unknown option " + arg);
    }
  }
  if (i >= argc) return Usage("no command");
  std::string command = argv[i++];
  std::vector<std::string> args(argv + i, argv + argc);
  if (command == "help") {
    std::cout << kUsage;
    return 0;
  }
  auto config = DiscoverConfig(MasterSourcesFromEnvironment(masters_flag));
  if (!config.ok()) {
    std::cerr << "dfsadmin: " << config.status().message()
              << "\n(start a local cluster with tools/dfs-cluster up, or pass --masters)\n";
    return 2;
  }
  const std::vector<std::string>& masters = config->config.masters;
  if (command == "status") {
    if (args.size() > 1 || (args.size() == 1 && args[0] != "--json")) return Usage("status [--json]");
    return Status(masters, timeout_ms, args.size() == 1);
  }
  if (command == "raft") return RaftCommand(masters, timeout_ms, args);
  if (command == "datanodes") {
    if (!args.empty()) return Usage("datanodes takes no arguments");
    return Datanodes(masters, timeout_ms);
  }
  if (command == "decommission" || command == "recommission") {
    if (args.size() != 1) return Usage(command + " takes one datanode id or host:port");
    return SetDecommission(masters, timeout_ms, args[0], command == "decommission");
  }
  if (command == "balance") {
    double threshold = 0;
    for (size_t k = 0; k < args.size(); ++k) {
      std::string value;
      if (args[k] == "--threshold" && k + 1 < args.size()) {
        value = args[++k];
      } else if (absl::StartsWith(args[k], "--threshold=")) {
        value = args[k].substr(12);
      } else {
        return Usage("balance [--threshold FRACTION]");
      }
      if (!absl::SimpleAtod(value, &threshold) || threshold <= 0 || threshold >= 1) {
        return Usage("--threshold must be a fraction between 0 and 1, e.g. 0.1");
      }
    }
    return Balance(masters, timeout_ms, threshold);
  }
  return Usage("unknown command " + command);
}

}  // namespace
}  // namespace dfs

int main(int argc, char** argv) { return dfs::Main(argc, argv); }
