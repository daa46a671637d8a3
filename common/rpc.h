// gRPC plumbing shared by every process: channels and servers with the same limits.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"

namespace dfs {

// Largest gRPC message any dfs service sends or accepts. Data moves in pieces of kDataPieceBytes,
// metadata messages are far smaller; the limit is set on purpose rather than left at defaults.
inline constexpr int kMaxMessageBytes = 16 << 20;
inline constexpr size_t kDataPieceBytes = 1 << 20;

// A channel to `address` ("host:port") with dfs's message limits. Channels are cached per address
// and shared: gRPC multiplexes calls over one connection. Thread-safe.
std::shared_ptr<grpc::Channel> GetChannel(const std::string& address);

// Applies dfs's limits to a server builder.
void ConfigureServerBuilder(grpc::ServerBuilder* builder);

// Builds and starts a server listening on `listen_address` (port 0 picks a free port). Returns the
// server and sets *bound_address to the address clients should use.
absl::StatusOr<std::unique_ptr<grpc::Server>> StartServer(
    grpc::ServerBuilder* builder, const std::string& listen_address, std::string* bound_address);

// `listen_address` with a concrete port: port 0 is replaced by a port that is free right now
// (for servers whose address must be known before they start, like Raft members).
absl::StatusOr<std::string> ResolveListenAddress(const std::string& listen_address);

// Sets a deadline `timeout_ms` from now on `context`.
void SetTimeout(grpc::ClientContext* context, int64_t timeout_ms);

}  // namespace dfs
