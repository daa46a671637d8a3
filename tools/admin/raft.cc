#include "tools/admin/raft.h"

#include <iostream>

#include "absl/strings/str_format.h"

namespace dfs::admin {
namespace {

int Status(const Target& target) {
  auto views = RaftViews(target);
  const std::string leader = LeaderOf(views);
  const uint64_t leader_commit = leader.empty() ? 0 : views.at(leader)->commit_index();
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
    uint64_t lag =
        leader_commit > view->applied_index() ? leader_commit - view->applied_index() : 0;
    std::cout << absl::StrFormat("%-22s %-14s %6d %10d %10d %10d %8d\n", address, view->role(),
                                 view->term(), view->commit_index(), view->applied_index(),
                                 view->snapshot_index(), lag);
  }
  if (leader.empty()) {
    std::cout << "no leader\n";
    return 1;
  }
  return unreachable > 0 ? 1 : 0;
}

}  // namespace

int SnapshotCommand(const Target& target) {
  std::string leader;
  absl::Status s = CallLeader(
      target,
      [](AdminService::Stub* stub, grpc::ClientContext* c) {
        Empty response;
        return stub->RaftSnapshot(c, Empty(), &response);
      },
      &leader);
  if (!s.ok()) {
    std::cerr << "dfsadmin: snapshot: " << s.message() << "\n";
    return 1;
  }
  auto status = RaftStatusOf(target, leader);
  std::cout << "snapshot taken on " << leader;
  if (status.ok()) std::cout << " at index " << status->snapshot_index();
  std::cout << "\n";
  return 0;
}

absl::Status CheckRaftArgs(const std::vector<std::string>& args) {
  const std::string verb = args.empty() ? "" : args[0];
  const bool takes_address = verb == "add" || verb == "remove" || verb == "transfer";
  if (verb.empty()) return absl::InvalidArgumentError("no action");
  if (takes_address) {
    return args.size() == 2 ? absl::OkStatus()
                            : absl::InvalidArgumentError(verb + " takes one HOST:PORT");
  }
  if (verb != "status" && verb != "snapshot") {
    return absl::InvalidArgumentError("unknown action " + verb);
  }
  return args.size() == 1 ? absl::OkStatus()
                          : absl::InvalidArgumentError(verb + " takes no operand");
}

int RaftCommand(const Target& target, const std::vector<std::string>& args) {
  const std::string& verb = args[0];
  if (verb == "status") return Status(target);
  if (verb == "snapshot") return SnapshotCommand(target);
  // Membership changes are not repeated on a timeout: a repeat could act twice.
  auto leader = FindLeader(target);
  if (!leader.ok()) {
    std::cerr << "dfsadmin: raft " << verb << ": " << leader.status().message() << "\n";
    return 1;
  }
  RaftMemberRequest request;
  request.set_address(args[1]);
  absl::Status s = CallAt(target, *leader, [&](AdminService::Stub* stub, grpc::ClientContext* c) {
    Empty response;
    if (verb == "add") return stub->RaftAddMember(c, request, &response);
    if (verb == "remove") return stub->RaftRemoveMember(c, request, &response);
    return stub->RaftTransferLeader(c, request, &response);
  });
  if (!s.ok()) {
    std::cerr << "dfsadmin: raft " << verb << " " << args[1] << ": " << s.message() << "\n";
    return 1;
  }
  std::cout << "raft " << verb << " " << args[1] << ": done (leader was " << *leader << ")\n";
  return 0;
}

}  // namespace dfs::admin
