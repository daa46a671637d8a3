// gRPC plumbing shared by every process: channels and servers with the same limits.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"

namespace dfs {

struct RpcSecurity;

// Largest gRPC message any dfs service sends or accepts. Data moves in pieces of kDataPieceBytes,
// metadata messages are far smaller; the limit is set on purpose rather than left at defaults.
inline constexpr int kMaxMessageBytes = 16 << 20;
inline constexpr size_t kDataPieceBytes = 1 << 20;
// Per-connection limits, also on purpose: calls one connection may run at once (gRPC's default is
// unbounded; a client past the limit queues its calls, it does not fail them), and the metadata
// of one call (credentials, leader hints, bad-source lists) in each direction.
inline constexpr int kMaxConcurrentStreams = 1024;
inline constexpr int kMaxMetadataBytes = 16 << 10;
// Threads a server keeps waiting for calls once a burst is over (see ConfigureServerBuilder).
inline constexpr int kMaxIdleServerThreads = 64;

// A channel to `address` ("host:port") with dfs's message limits, carrying this process's
// credential and using TLS as configured (common/rpc_security.h). Channels are cached per address
// and shared: gRPC multiplexes calls over one connection. Thread-safe.
std::shared_ptr<grpc::Channel> GetChannel(const std::string& address);
// The same with explicit settings instead of the process default (tests acting as other users).
std::shared_ptr<grpc::Channel> GetChannel(const std::string& address,
                                          const std::shared_ptr<const RpcSecurity>& security);

// Applies dfs's limits to a server builder and installs the RPC metrics interceptor.
void ConfigureServerBuilder(grpc::ServerBuilder* builder);

// Builds and starts a server listening on `listen_address` (port 0 picks a free port), secured
// as the process default says: with a cluster secret it refuses calls without a valid credential
// for the method; with a TLS certificate it accepts only TLS. Returns the server and sets
// *bound_address to the address clients should use.
absl::StatusOr<std::unique_ptr<grpc::Server>> StartServer(
    grpc::ServerBuilder* builder, const std::string& listen_address, std::string* bound_address);

// `listen_address` with a concrete port: port 0 is replaced by a port that is free right now
// (for servers whose address must be known before they start, like Raft members).
absl::StatusOr<std::string> ResolveListenAddress(const std::string& listen_address);

// Sets a deadline `timeout_ms` from now on `context`.
void SetTimeout(grpc::ClientContext* context, int64_t timeout_ms);

}  // namespace dfs
