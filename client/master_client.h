// MasterClient: the one place where the client talks to the masters. It runs any MasterService
// RPC with
//   - a deadline per attempt (ClientOptions::rpc_timeout_ms),
//   - retries of retryable failures (UNAVAILABLE, DEADLINE_EXCEEDED) with exponential backoff and
//     jitter, under an overall deadline (ClientOptions::op_timeout_ms),
//   - leader tracking: the last master that answered is tried first; a "dfs-leader" hint on an
//     UNAVAILABLE answer is followed at once; without a hint the next configured master is tried,
//   - the caller: every request type with a `caller` field gets the one client/caller.h says,
//   - sessions for mutations: every request type with a `session` field gets (client_id, seq)
//     filled in, and every retry of that call reuses the same pair, so the master applies a
//     retried mutation once and returns the recorded result.
//
// Sessions: the master remembers results per (client_id, seq). To stay correct even when the
// master keeps only the latest result per client (as in the Raft thesis, one outstanding request
// per session), a session is used by one call at a time: concurrent mutations draw distinct
// sessions from a small pool, each with its own random nonzero client_id and a seq that increases
// by one per mutation. A single-threaded user (the CLI) therefore uses exactly one client_id.
//
// Thread-safe: any number of threads may call Call() at once.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "client/caller.h"
#include "client/options.h"
#include "common/random.h"
#include "grpcpp/grpcpp.h"
#include "proto/master.grpc.pb.h"

namespace dfs {

class MasterClient {
 public:
  // A synchronous stub method, e.g. &MasterService::Stub::Lookup.
  template <typename Request, typename Response>
  using Method = grpc::Status (MasterService::Stub::*)(grpc::ClientContext*, const Request&,
                                                       Response*);

  // `seed` drives session ids and backoff jitter.
  MasterClient(const ClientOptions& options, uint64_t seed);
  MasterClient(const MasterClient&) = delete;
  MasterClient& operator=(const MasterClient&) = delete;

  // Runs `method` with the retry policy above. A mutation's session field is overwritten. On
  // giving up after retryable failures the status keeps the last failure's code and says
  // "cluster unreachable (masters: ...)"; other failures come back as the master sent them (with
  // the errno payload, see common/grpc_status.h).
  template <typename Request, typename Response>
  absl::StatusOr<Response> Call(Method<Request, Response> method, Request request) {
    Response response;
    auto attempt = [&](MasterService::Stub* stub, grpc::ClientContext* context) {
      response.Clear();
      return (stub->*method)(context, request, &response);
    };
    if constexpr (requires(Request r) { r.mutable_caller(); }) {
      if (const Caller* caller = CallerForThisCall()) {
        *request.mutable_caller() = *caller;
      } else {
        request.clear_caller();
      }
    }
    absl::Status status;
    if constexpr (requires(Request r) { r.mutable_session(); }) {
      SessionLease lease = AcquireSession();
      request.mutable_session()->set_client_id(lease.client_id);
      request.mutable_session()->set_seq(lease.seq);
      status = Run(attempt);
      ReleaseSession(lease);
    } else {
      status = Run(attempt);
    }
    if (!status.ok()) return status;
    if constexpr (requires(Response r) { r.applied_index(); }) NoteApplied(response.applied_index());
    return response;
  }

  // Follows the master's change feed (MasterService.Watch) at the master believed to lead:
  // calls `on_event` with every event until the stream ends or `on_event` returns false, and
  // returns how it ended. One attempt: a NOT_LEADER answer moves the next attempt to the hinted
  // leader, and the caller decides when to try again. `context` lets another thread cancel it.
  absl::Status Watch(grpc::ClientContext* context,
                     const std::function<bool(const WatchEvent&)>& on_event);

  // The highest log index of an answer this client got (`applied_index`: where its mutation was
  // applied, or the state a read reflected); 0 before the first.
  uint64_t newest_applied_index() const { return newest_applied_.load(); }

  // Who a request sent from this thread now acts for (client/caller.h); null for none. Call
  // puts it in every request type with a `caller` field.
  const Caller* CallerForThisCall() const;

  // The configured masters, comma-separated (for messages).
  std::string MastersString() const;

  // The master believed to lead, or "" if unknown.
  std::string leader() const;

 private:
  struct SessionLease {
    uint64_t client_id;
    uint64_t seq;
  };
  using Attempt = absl::FunctionRef<grpc::Status(MasterService::Stub*, grpc::ClientContext*)>;

  // The retry loop shared by every RPC.
  absl::Status Run(Attempt attempt);

  MasterService::Stub* StubFor(const std::string& address);
  std::string CurrentTarget();
  void NoteSuccess(const std::string& address);
  void NoteFailure(const std::string& address);
  uint64_t NextSeed();

  SessionLease AcquireSession();
  void ReleaseSession(const SessionLease& lease);
  void NoteApplied(uint64_t index);

  const ClientOptions options_;

  mutable absl::Mutex mu_;
  std::string leader_ ABSL_GUARDED_BY(mu_);
  size_t rotation_ ABSL_GUARDED_BY(mu_) = 0;
  Random random_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::unique_ptr<MasterService::Stub>> stubs_ ABSL_GUARDED_BY(mu_);
  // Idle sessions: client_id -> last seq used.
  std::vector<std::pair<uint64_t, uint64_t>> idle_sessions_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> newest_applied_{0};
};

}  // namespace dfs
