// Metrics for every gRPC server of a dfs process, from one server interceptor that
// ConfigureServerBuilder (common/rpc.h) installs:
//   dfs_grpc_server_handled_total{service,method,code}  RPCs finished, by status code
//   dfs_grpc_server_handling_seconds{service,method}    time from the call's arrival to its
//                                                       status (whole stream for streaming RPCs)
// `service` is the full proto service name ("dfs.MasterService"), `method` the bare method name.
#pragma once

#include <memory>

#include "grpcpp/support/server_interceptor.h"

namespace dfs {

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
NewRpcMetricsInterceptorFactory();

}  // namespace dfs
