// CallGroup: waits for gRPC callback-API calls started together, such as one request fanned out
// to several servers:
//
//   CallGroup group;
//   for (i...) stub[i]->async()->Method(&context[i], &request, &response[i], group.Done(&status[i]));
//   group.Wait();
//
// Thread-safe. The callbacks share the group's counter, which gRPC runs on its own threads: one
// may still be leaving the mutex when Wait returns, so the counter outlives the group if need be.
#pragma once

#include <functional>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"

namespace dfs {

class CallGroup {
 public:
  CallGroup();

  // The completion callback of one more call in flight: it stores the call's status in `*status`
  // (which must outlive Wait) and counts the call done.
  std::function<void(grpc::Status)> Done(grpc::Status* status);

  // Returns once every call given a Done callback has completed.
  void Wait();

 private:
  struct Counter {
    absl::Mutex mu;
    int pending ABSL_GUARDED_BY(mu) = 0;
  };
  std::shared_ptr<Counter> counter_;
};

}  // namespace dfs
