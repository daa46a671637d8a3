// How dfsadmin talks to the masters' AdminService: every master's Raft view, the leader, and
// calls that must reach the leader (only it knows datanode liveness and runs the background
// tasks; followers answer UNAVAILABLE to admin changes).
//
// Thread-compatible: plain functions over a Target.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "common/grpc_status.h"
#include "common/rpc.h"
#include "proto/master.grpc.pb.h"

namespace dfs::admin {

// The cluster as given on the command line.
struct Target {
  std::vector<std::string> masters;
  int64_t timeout_ms = 10000;  // per RPC; CallLeader keeps trying this long in all
};

// Calls `rpc(stub, context)` on the master at `address` with the target's timeout.
template <typename Rpc>
absl::Status CallAt(const Target& target, const std::string& address, Rpc rpc) {
  auto stub = AdminService::NewStub(GetChannel(address));
  grpc::ClientContext context;
  SetTimeout(&context, target.timeout_ms);
  return FromGrpcStatus(rpc(stub.get(), &context));
}

// One master's RaftStatus.
absl::StatusOr<RaftStatusResponse> RaftStatusOf(const Target& target, const std::string& address);

// Every member the configured masters know of (the configured ones first asked, then members
// they name), each asked for its own view; an unreachable one maps to its error.
std::map<std::string, absl::StatusOr<RaftStatusResponse>> RaftViews(const Target& target);

// The leader among `views`: the reachable master that says it leads, with the highest term if
// a deposed leader has not noticed yet. "" if none.
std::string LeaderOf(const std::map<std::string, absl::StatusOr<RaftStatusResponse>>& views);

// The leader's address, asking the configured masters until one knows it.
absl::StatusOr<std::string> FindLeader(const Target& target);

// Calls `rpc` on the leader; when there is none yet, or it changed under the call (UNAVAILABLE,
// DEADLINE_EXCEEDED), looks for it again until target.timeout_ms has passed. Use only for calls
// that may be repeated. Sets *leader to where it last called.
template <typename Rpc>
absl::Status CallLeader(const Target& target, Rpc rpc, std::string* leader = nullptr) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(target.timeout_ms);
  absl::Status last;
  for (;;) {
    absl::StatusOr<std::string> address = FindLeader(target);
    if (address.ok()) {
      if (leader != nullptr) *leader = *address;
      last = CallAt(target, *address, rpc);
      if (!IsRetryable(last)) return last;
    } else {
      last = address.status();
    }
    if (std::chrono::steady_clock::now() >= deadline) return last;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

}  // namespace dfs::admin
