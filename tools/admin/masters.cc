#include "tools/admin/masters.h"

#include <set>

namespace dfs::admin {

absl::StatusOr<RaftStatusResponse> RaftStatusOf(const Target& target, const std::string& address) {
  RaftStatusResponse response;
  absl::Status s = CallAt(target, address, [&](AdminService::Stub* stub, grpc::ClientContext* c) {
    return stub->RaftStatus(c, Empty(), &response);
  });
  if (!s.ok()) return s;
  return response;
}

std::map<std::string, absl::StatusOr<RaftStatusResponse>> RaftViews(const Target& target) {
  std::set<std::string> addresses(target.masters.begin(), target.masters.end());
  std::map<std::string, absl::StatusOr<RaftStatusResponse>> views;
  for (const std::string& address : target.masters) {
    if (views.count(address)) continue;
    auto view = views.emplace(address, RaftStatusOf(target, address)).first;
    if (view->second.ok()) {
      for (const auto& m : view->second->members()) addresses.insert(m.address());
    }
  }
  for (const std::string& address : addresses) {
    if (!views.count(address)) views.emplace(address, RaftStatusOf(target, address));
  }
  return views;
}

std::string LeaderOf(const std::map<std::string, absl::StatusOr<RaftStatusResponse>>& views) {
  std::string leader;
  uint64_t term = 0;
  for (const auto& [address, view] : views) {
    if (view.ok() && view->role() == "leader" && (leader.empty() || view->term() > term)) {
      leader = address;
      term = view->term();
    }
  }
  return leader;
}

absl::StatusOr<std::string> FindLeader(const Target& target) {
  absl::Status last = absl::UnavailableError("no master answered");
  for (const std::string& address : target.masters) {
    auto status = RaftStatusOf(target, address);
    if (!status.ok()) {
      last = absl::Status(status.status().code(),
                          address + ": " + std::string(status.status().message()));
      continue;
    }
    if (status->role() == "leader") return address;
    if (!status->leader_address().empty()) return status->leader_address();
    last = absl::UnavailableError("no leader elected right now");
  }
  return last;
}

}  // namespace dfs::admin
