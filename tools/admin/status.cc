#include "tools/admin/status.h"

#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/human_bytes.h"
#include "google/protobuf/util/json_util.h"

namespace dfs::admin {
namespace {

std::string Count(uint64_t n, const char* noun) {
  return absl::StrCat(n, " ", noun, n == 1 ? "" : "s");
}

void PrintText(const StatusReport& report) {
  const ClusterStatusResponse& cluster = report.cluster();
  const DatanodeSummary& dn = report.datanodes();
  std::cout << "health:       " << report.verdict() << "\n";
  std::cout << "leader:       "
            << (report.leader().empty()
                    ? std::string("none")
                    : absl::StrCat(report.leader(), " (term ", report.term(), ")"))
            << "\n";
  std::cout << "safe mode:    " << (report.safe_mode() ? "ON (the namespace is read-only)" : "OFF")
            << "\n";
  std::cout << "masters:\n";
  std::cout << absl::StrFormat("  %-22s %-14s %6s %10s %10s %10s %8s\n", "ADDRESS", "ROLE", "TERM",
                               "COMMIT", "APPLIED", "SNAPSHOT", "LAG");
  for (const MasterReport& m : report.masters()) {
    if (!m.reachable()) {
      std::cout << absl::StrFormat("  %-22s %-14s  (%s)\n", m.address(), "unreachable", m.error());
      continue;
    }
    std::cout << absl::StrFormat("  %-22s %-14s %6d %10d %10d %10d %8d\n", m.address(), m.role(),
                                 m.term(), m.commit_index(), m.applied_index(), m.snapshot_index(),
                                 m.lag());
  }
  if (report.leader().empty()) return;  // what follows comes from the leader
  std::cout << absl::StrFormat(
      "datanodes:    %d live, %d dead, %d decommissioning, %d decommissioned\n", dn.live(),
      dn.dead(), dn.decommissioning(), dn.decommissioned());
  std::cout << "capacity:     " << HumanBytes(dn.capacity_bytes()) << " on live datanodes, "
            << HumanBytes(dn.used_bytes()) << " used by chunks, "
            << HumanBytes(dn.free_bytes()) << " free\n";
  std::cout << absl::StrFormat("namespace:    %d inodes, %d chunks, %d garbage chunks waiting\n",
                               cluster.inodes(), cluster.chunks(), cluster.garbage_chunks());
  std::cout << absl::StrFormat(
      "chunks:       %d under-replicated, %d over-replicated, %d missing, %d corrupt%s\n",
      cluster.under_replicated_chunks(), cluster.over_replicated_chunks(), cluster.missing_chunks(),
      cluster.corrupt_chunks(),
      cluster.maintenance_active() ? "" : " (not yet scanned by this leader)");
  std::cout << absl::StrFormat(
      "repairs:      %d copies in flight, %d done, %d extra replicas trimmed, %d bad replicas "
      "reported\n",
      cluster.replications_in_flight(), cluster.replications_done(), cluster.replicas_trimmed(),
      cluster.corrupt_replica_reports());
}

}  // namespace

StatusReport BuildStatusReport(const Target& target) {
  StatusReport report;
  auto views = RaftViews(target);
  const std::string leader = LeaderOf(views);
  const uint64_t leader_commit = leader.empty() ? 0 : views.at(leader)->commit_index();
  MasterReport* leader_report = nullptr;
  for (const auto& [address, view] : views) {
    MasterReport* m = report.add_masters();
    m->set_address(address);
    m->set_reachable(view.ok());
    if (!view.ok()) {
      m->set_error(std::string(view.status().message()));
      continue;
    }
    m->set_role(view->role());
    m->set_term(view->term());
    m->set_commit_index(view->commit_index());
    m->set_applied_index(view->applied_index());
    m->set_snapshot_index(view->snapshot_index());
    m->set_lag(leader_commit > view->applied_index() ? leader_commit - view->applied_index() : 0);
    if (address == leader) leader_report = m;
  }
  if (leader.empty()) {
    SetVerdict(&report);
    return report;
  }
  ListDatanodesResponse nodes;
  absl::Status s = CallAt(target, leader, [&](AdminService::Stub* stub, grpc::ClientContext* c) {
    return stub->ClusterStatus(c, Empty(), report.mutable_cluster());
  });
  if (s.ok()) {
    s = CallAt(target, leader, [&](AdminService::Stub* stub, grpc::ClientContext* c) {
      return stub->ListDatanodes(c, Empty(), &nodes);
    });
  }
  if (!s.ok()) {
    // A leader that cannot say how the cluster is might as well not lead.
    leader_report->set_error(absl::StrCat("leads, but status failed: ", s.message()));
    SetVerdict(&report);
    return report;
  }
  report.set_leader(leader);
  report.set_term(views.at(leader)->term());
  report.set_safe_mode(report.cluster().safe_mode());
  DatanodeSummary* dn = report.mutable_datanodes();
  for (const DatanodeStatus& node : nodes.datanodes()) {
    *dn->add_nodes() = node;
    if (node.admin_state() == DATANODE_DECOMMISSIONING)
      dn->set_decommissioning(dn->decommissioning() + 1);
    if (node.admin_state() == DATANODE_DECOMMISSIONED)
      dn->set_decommissioned(dn->decommissioned() + 1);
    if (!node.live()) {
      dn->set_dead(dn->dead() + 1);
      continue;
    }
    dn->set_live(dn->live() + 1);
    dn->set_capacity_bytes(dn->capacity_bytes() + node.capacity_bytes());
    dn->set_used_bytes(dn->used_bytes() + node.used_bytes());
    dn->set_free_bytes(dn->free_bytes() + node.free_bytes());
  }
  SetVerdict(&report);
  return report;
}

void SetVerdict(StatusReport* report) {
  if (report->leader().empty()) {
    int reachable = 0;
    for (const MasterReport& m : report->masters()) reachable += m.reachable() ? 1 : 0;
    report->set_health("NO_LEADER");
    report->set_verdict(absl::StrFormat("NO LEADER: no master leads (%d of %d masters reachable)",
                                        reachable, report->masters_size()));
    return;
  }
  const ClusterStatusResponse& cluster = report->cluster();
  std::vector<std::string> at_risk, degraded;
  if (cluster.missing_chunks() > 0)
    at_risk.push_back(Count(cluster.missing_chunks(), "missing chunk"));
  if (cluster.corrupt_chunks() > 0)
    at_risk.push_back(Count(cluster.corrupt_chunks(), "corrupt chunk"));
  if (report->datanodes().live() == 0 && cluster.chunks() > 0)
    at_risk.push_back("no live datanode");
  // The scan counts missing (and corrupt: it cannot tell) chunks among the under-replicated.
  const uint64_t unreadable = cluster.missing_chunks() + cluster.corrupt_chunks();
  const uint64_t short_readable =
      cluster.under_replicated_chunks() - std::min(cluster.under_replicated_chunks(), unreadable);
  if (short_readable > 0) degraded.push_back(Count(short_readable, "under-replicated chunk"));
  if (report->datanodes().dead() > 0)
    degraded.push_back(Count(report->datanodes().dead(), "dead datanode"));
  int unreachable = 0;
  for (const MasterReport& m : report->masters()) unreachable += m.reachable() ? 0 : 1;
  if (unreachable > 0) {
    degraded.push_back(
        absl::StrFormat("%d of %d masters unreachable", unreachable, report->masters_size()));
  }
  std::vector<std::string> problems = at_risk;
  problems.insert(problems.end(), degraded.begin(), degraded.end());
  std::string verdict;
  if (!at_risk.empty()) {
    report->set_health("AT_RISK");
    verdict = "AT RISK: " + absl::StrJoin(problems, ", ");
  } else if (!degraded.empty()) {
    report->set_health("DEGRADED");
    verdict = "DEGRADED: " + absl::StrJoin(problems, ", ");
  } else {
    report->set_health("HEALTHY");
    verdict = "HEALTHY";
  }
  if (!cluster.maintenance_active()) {
    absl::StrAppend(&verdict, " (the leader has not finished its first replication scan)");
  }
  if (report->safe_mode()) absl::StrAppend(&verdict, "; SAFE MODE: the namespace is read-only");
  report->set_verdict(verdict);
}

int StatusCommand(const Target& target, bool json) {
  StatusReport report = BuildStatusReport(target);
  if (json) {
    google::protobuf::util::JsonPrintOptions options;
    options.always_print_primitive_fields = true;
    options.preserve_proto_field_names = true;
    std::string out;
    auto status = google::protobuf::util::MessageToJsonString(report, &out, options);
    if (!status.ok()) {
      std::cerr << "dfsadmin: status: " << status.ToString() << "\n";
      return 1;
    }
    std::cout << out << "\n";
  } else {
    PrintText(report);
  }
  return report.leader().empty() ? 1 : 0;
}

}  // namespace dfs::admin
