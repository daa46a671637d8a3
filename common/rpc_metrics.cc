#include "common/rpc_metrics.h"

#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "common/metrics.h"

namespace dfs {
namespace {

const char* CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED: return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "UNKNOWN";
  }
}

metrics::CounterFamily* Handled() {
  static auto* family = metrics::Registry::Default().Counter(
      "dfs_grpc_server_handled_total", "gRPC calls this process served, by status code.",
      {"service", "method", "code"});
  return family;
}

metrics::HistogramFamily* Latency() {
  static auto* family = metrics::Registry::Default().Histogram(
      "dfs_grpc_server_handling_seconds",
      "Seconds from a gRPC call's arrival to its status (streams: the whole stream).",
      {"service", "method"});
  return family;
}

// One per call: created when the call arrives, records when its status goes out (or, if it
// never does, as CANCELLED when the call is torn down).
class RpcMetricsInterceptor : public grpc::experimental::Interceptor {
 public:
  explicit RpcMetricsInterceptor(grpc::experimental::ServerRpcInfo* info) {
    // "/dfs.MasterService/Create" -> service "dfs.MasterService", method "Create".
    absl::string_view full = info->method() != nullptr ? info->method() : "";
    if (!full.empty() && full[0] == '/') full.remove_prefix(1);
    size_t slash = full.rfind('/');
    service_ = std::string(slash == absl::string_view::npos ? "" : full.substr(0, slash));
    method_ = std::string(slash == absl::string_view::npos ? full : full.substr(slash + 1));
    timer_.emplace(Latency()->WithLabels({service_, method_}));
  }
  ~RpcMetricsInterceptor() override {
    if (!recorded_) Record(grpc::StatusCode::CANCELLED);
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      Record(methods->GetSendStatus().error_code());
    }
    methods->Proceed();
  }

 private:
  void Record(grpc::StatusCode code) {
    recorded_ = true;
    timer_.reset();  // observes the latency
    Handled()->WithLabels({service_, method_, CodeName(code)})->Increment();
  }

  std::string service_;
  std::string method_;
  std::optional<metrics::ScopedTimer> timer_;
  bool recorded_ = false;
};

class RpcMetricsFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new RpcMetricsInterceptor(info);
  }
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
NewRpcMetricsInterceptorFactory() {
  return std::make_unique<RpcMetricsFactory>();
}

}  // namespace dfs
