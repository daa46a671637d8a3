#include "client/master_client.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/backoff.h"
#include "common/grpc_status.h"
#include "common/logging.h"
#include "common/rpc.h"
#include "common/status.h"

namespace dfs {
namespace {

constexpr int64_t kInitialBackoffMs = 50;
constexpr int64_t kMaxBackoffMs = 1000;

std::string LeaderHint(const grpc::ClientContext& context) {
  const auto& trailers = context.GetServerTrailingMetadata();
  auto it = trailers.find(kLeaderHintKey);
  if (it == trailers.end()) return "";
  return std::string(it->second.data(), it->second.size());
}

// The applied index a definite error reflects (kAppliedIndexKey); 0 if the master sent none.
uint64_t AppliedIndexOfError(const grpc::ClientContext& context) {
  const auto& trailers = context.GetServerTrailingMetadata();
  auto it = trailers.find(kAppliedIndexKey);
  uint64_t index = 0;
  if (it == trailers.end() ||
      !absl::SimpleAtoi(absl::string_view(it->second.data(), it->second.size()), &index)) {
    return 0;
  }
  return index;
}

}  // namespace

MasterClient::MasterClient(const ClientOptions& options, uint64_t seed)
    : options_(options), random_(seed) {
  DFS_CHECK(!options_.masters.empty());
}

const Caller* MasterClient::CallerForThisCall() const {
  if (const ScopedCaller* scope = ScopedCaller::Current()) {
    return scope->caller() ? &*scope->caller() : nullptr;
  }
  return options_.caller ? &*options_.caller : nullptr;
}

std::string MasterClient::MastersString() const { return absl::StrJoin(options_.masters, ","); }

std::string MasterClient::leader() const {
  absl::MutexLock lock(&mu_);
  return leader_;
}

MasterService::Stub* MasterClient::StubFor(const std::string& address) {
  absl::MutexLock lock(&mu_);
  auto& stub = stubs_[address];
  if (!stub) stub = MasterService::NewStub(GetChannel(address));
  return stub.get();
}

std::string MasterClient::CurrentTarget() {
  absl::MutexLock lock(&mu_);
  if (!leader_.empty()) return leader_;
  return options_.masters[rotation_ % options_.masters.size()];
}

void MasterClient::NoteSuccess(const std::string& address) {
  absl::MutexLock lock(&mu_);
  leader_ = address;
}

void MasterClient::NoteFailure(const std::string& address) {
  absl::MutexLock lock(&mu_);
  if (leader_ == address) leader_.clear();
  // Move past the master that failed; a hinted address outside the list just advances.
  auto it = std::find(options_.masters.begin(), options_.masters.end(), address);
  if (it != options_.masters.end()) {
    size_t index = it - options_.masters.begin();
    if (rotation_ % options_.masters.size() == index) rotation_ = index + 1;
  } else {
    ++rotation_;
  }
}

uint64_t MasterClient::NextSeed() {
  absl::MutexLock lock(&mu_);
  return random_.Next();
}

MasterClient::SessionLease MasterClient::AcquireSession() {
  absl::MutexLock lock(&mu_);
  if (idle_sessions_.empty()) {
    uint64_t client_id = 0;
    while (client_id == 0) client_id = random_.Next();
    idle_sessions_.emplace_back(client_id, 0);
  }
  auto [client_id, last_seq] = idle_sessions_.back();
  idle_sessions_.pop_back();
  return SessionLease{client_id, last_seq + 1};
}

void MasterClient::ReleaseSession(const SessionLease& lease) {
  absl::MutexLock lock(&mu_);
  idle_sessions_.emplace_back(lease.client_id, lease.seq);
}

void MasterClient::NoteApplied(uint64_t index) {
  uint64_t seen = newest_applied_.load();
  while (index > seen && !newest_applied_.compare_exchange_weak(seen, index)) {
  }
}

absl::Status MasterClient::Watch(grpc::ClientContext* context,
                                 const std::function<bool(const WatchEvent&)>& on_event) {
  const std::string target = CurrentTarget();
  std::unique_ptr<grpc::ClientReader<WatchEvent>> reader =
      StubFor(target)->Watch(context, WatchRequest());
  WatchEvent event;
  bool heard = false;
  while (reader->Read(&event)) {
    if (!heard) NoteSuccess(target);
    heard = true;
    if (!on_event(event)) {
      context->TryCancel();
      break;
    }
  }
  absl::Status status = FromGrpcStatus(reader->Finish());
  if (!heard && IsRetryable(status)) {
    NoteFailure(target);
    const std::string hint = absl::IsUnavailable(status) ? LeaderHint(*context) : "";
    if (!hint.empty() && hint != target) NoteSuccess(hint);  // tried first next time
  }
  return status;
}

absl::Status MasterClient::Run(Attempt attempt) {
  using Steady = std::chrono::steady_clock;
  const Steady::time_point deadline =
      Steady::now() + std::chrono::milliseconds(options_.op_timeout_ms);
  Backoff backoff(kInitialBackoffMs, kMaxBackoffMs, NextSeed());
  // Hints are followed without delay, but a bounded number of times, so that two masters that
  // name each other cannot make us spin.
  int hints_left = static_cast<int>(options_.masters.size()) + 2;
  std::string target = CurrentTarget();
  absl::Status last;
  for (int attempt_number = 1;; ++attempt_number) {
    auto remaining =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Steady::now()).count();
    if (remaining <= 0) break;
    grpc::ClientContext context;
    SetTimeout(&context, std::min<int64_t>(options_.rpc_timeout_ms, remaining));
    absl::Status status = FromGrpcStatus(attempt(StubFor(target), &context));
    if (status.ok()) {
      NoteSuccess(target);
      return status;
    }
    if (!IsRetryable(status)) {
      // The master that answered is alive and was willing to decide: it leads.
      NoteSuccess(target);
      NoteApplied(AppliedIndexOfError(context));
      return status;
    }
    last = status;
    std::string hint = absl::IsUnavailable(status) ? LeaderHint(context) : "";
    DFS_LOG(DEBUG) << "master " << target << " attempt " << attempt_number << ": " << status
                   << (hint.empty() ? "" : " (leader hint " + hint + ")");
    NoteFailure(target);
    if (!hint.empty() && hint != target && hints_left > 0) {
      --hints_left;
      target = hint;
      continue;
    }
    target = CurrentTarget();
    auto delay = backoff.Next();
    remaining =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Steady::now()).count();
    if (remaining <= 0) break;
    std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(
        delay, std::chrono::milliseconds(remaining)));
  }
  if (last.ok()) last = absl::DeadlineExceededError("deadline exceeded before the first attempt");
  return absl::Status(last.code(), absl::StrCat("cluster unreachable (masters: ", MastersString(),
                                                "): ", last.message()));
}

}  // namespace dfs
