#include "tools/admin/raft.h"

#include <iostream>
#include <map>
#include <set>

#include "absl/strings/str_format.h"
#include "common/grpc_status.h"
#include "common/rpc.h"
#include "proto/master.grpc.pb.h"

namespace dfs {
namespace {

constexpr char kRaftUsage[] =
    "usage: dfsadmin raft status | add HOST:PORT | remove HOST:PORT | transfer HOST:PORT | snapshot\n";

absl::StatusOr<RaftStatusResponse> StatusOf(const std::string& address, int64_t timeout_ms) {
  grpc::ClientContext context;
  SetTimeout(&context, timeout_ms);
  RaftStatusResponse response;
  absl::Status s = FromGrpcStatus(
      AdminService::NewStub(GetChannel(address))->RaftStatus(&context, Empty(), &response));
  if (!s.ok()) return s;
  return response;
}

// The leader's address, asking the given masters until one knows it.
absl::StatusOr<std::string> FindLeader(const std::vector<std::string>& masters, int64_t timeout_ms) {
  absl::Status last = absl::UnavailableError("no master answered");
  for (const std::string& address : masters) {
    auto status = StatusOf(address, timeout_ms);
    if (!status.ok()) {
      last = status.status();
      continue;
    }
    if (!status->leader_address().empty()) return status->leader_address();
    last = absl::UnavailableError("no leader elected right now");
  }
  return last;
}

int Status(const std::vector<std::string>& masters, int64_t timeout_ms) {
  // Every member the configured masters know of, each asked for its own view.
  std::set<std::string> addresses(masters.begin(), masters.end());
  std::map<std::string, absl::StatusOr<RaftStatusResponse>> views;
  for (const std::string& address : masters) {
    views.emplace(address, StatusOf(address, timeout_ms));
    if (views.at(address).ok()) {
      for (const auto& m : views.at(address)->members()) addresses.insert(m.address());
    }
  }
  for (const std::string& address : addresses) {
    if (!views.count(address)) views.emplace(address, StatusOf(address, timeout_ms));
  }
  uint64_t leader_commit = 0;
  for (const auto& [address, view] : views) {
    if (view.ok() && view->role() == "leader") leader_commit = view->commit_index();
  }
  std::cout << absl::StrFormat("%-22s %-14s %6s %10s %10s %10s %8s\n", "MASTER", "ROLE", "TERM",
                               "COMMIT", "APPLIED", "SNAPSHOT", "LAG");
  int unreachable = 0;
  for (const auto& [address, view] : views) {
    if (!view.ok()) {
      std::cout << absl::StrFormat("%-22s %-14s  (%s)\n", address, "unreachable",
                                   view.status().message());
      ++unreachable;
      continue;
    }
    uint64_t lag = leader_commit > view->applied_index() ? leader_commit - view->applied_index() : 0;
    std::cout << absl::StrFormat("%-22s %-14s %6d %10d %10d %10d %8d\n", address, view->role(),
                                 view->term(), view->commit_index(), view->applied_index(),
                                 view->snapshot_index(), lag);
  }
  if (leader_commit == 0) {
    std::cout << "no leader\n";
    return 1;
  }
  return unreachable > 0 ? 1 : 0;
}

}  // namespace

int RaftCommand(const std::vector<std::string>& masters, int64_t timeout_ms,
                const std::vector<std::string>& args) {
  if (args.empty()) {
    std::cerr << kRaftUsage;
    return 2;
  }
  const std::string& verb = args[0];
  if (verb == "status" && args.size() == 1) return Status(masters, timeout_ms);
  const bool takes_address = verb == "add" || verb == "remove" || verb == "transfer";
  if (!(takes_address && args.size() == 2) && !(verb == "snapshot" && args.size() == 1)) {
    std::cerr << kRaftUsage;
    return 2;
  }
  auto leader = FindLeader(masters, timeout_ms);
  if (!leader.ok()) {
    std::cerr << "dfsadmin: raft " << verb << ": " << leader.status().message() << "\n";
    return 1;
  }
  auto stub = AdminService::NewStub(GetChannel(*leader));
  grpc::ClientContext context;
  SetTimeout(&context, timeout_ms);
  RaftMemberRequest request;
  if (takes_address) request.set_address(args[1]);
  Empty response;
  grpc::Status status;
  if (verb == "add") status = stub->RaftAddMember(&context, request, &response);
  if (verb == "remove") status = stub->RaftRemoveMember(&context, request, &response);
  if (verb == "transfer") status = stub->RaftTransferLeader(&context, request, &response);
  if (verb == "snapshot") status = stub->RaftSnapshot(&context, Empty(), &response);
  absl::Status s = FromGrpcStatus(status);
  if (!s.ok()) {
    std::cerr << "dfsadmin: raft " << verb << (takes_address ? " " + args[1] : "") << ": "
              << s.message() << "\n";
    return 1;
  }
  std::cout << "raft " << verb << (takes_address ? " " + args[1] : "") << ": done (leader was "
            << *leader << ")\n";
  return 0;
}

}  // namespace dfs
