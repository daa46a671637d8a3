#include "common/call_group.h"

#include <utility>

namespace dfs {

CallGroup::CallGroup() : counter_(std::make_shared<Counter>()) {}

std::function<void(grpc::Status)> CallGroup::Done(grpc::Status* status) {
  {
    absl::MutexLock lock(&counter_->mu);
    ++counter_->pending;
  }
  return [counter = counter_, status](grpc::Status result) {
    *status = std::move(result);
    absl::MutexLock lock(&counter->mu);
    --counter->pending;
  };
}

void CallGroup::Wait() {
  absl::MutexLock lock(&counter_->mu);
  counter_->mu.Await(absl::Condition(
      +[](int* pending) { return *pending == 0; }, &counter_->pending));
}

}  // namespace dfs
