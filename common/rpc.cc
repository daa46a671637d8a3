#include "common/rpc.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/logging.h"
#include "common/rpc_metrics.h"
#include "common/rpc_security.h"

namespace dfs {
namespace {

// gRPC completes a connection attempt only while some thread polls. A process without a server
// (dfs-fuse, the CLI) may have none: a channel in TRANSIENT_FAILURE fails calls at once, so the
// callers go back to sleeping in their retry backoff and every reconnect times out unnoticed
// ("tcp handshaker shutdown") until gRPC's backup poller happens to run, every 5 s by default.
// Polling every 50 ms lets a mount reconnect to a restarted master within its next attempt.
// Set before main, while the process has one thread, before gRPC reads it; an operator's own
// setting wins.
[[maybe_unused]] const bool kBackupPollingSet = [] {
  setenv("GRPC_CLIENT_CHANNEL_BACKUP_POLL_INTERVAL_MS", "50", /*overwrite=*/0);
  return true;
}();

}  // namespace

std::shared_ptr<grpc::Channel> GetChannel(const std::string& address) {
  return GetChannel(address, DefaultRpcSecurity());
}

std::shared_ptr<grpc::Channel> GetChannel(const std::string& address,
                                          const std::shared_ptr<const RpcSecurity>& security) {
  static std::mutex mu;
  // Keyed by the settings too: tests call one address with several credentials. The map holds
  // the settings, so a key's pointer is never reused.
  using Key = std::pair<std::string, std::shared_ptr<const RpcSecurity>>;
  static auto* channels = new std::map<Key, std::shared_ptr<grpc::Channel>>;
  std::lock_guard<std::mutex> lock(mu);
  auto& channel = (*channels)[Key(address, security)];
  if (!channel) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(kMaxMessageBytes);
    args.SetMaxSendMessageSize(kMaxMessageBytes);
    args.SetInt(GRPC_ARG_MAX_METADATA_SIZE, kMaxMetadataBytes);
    // Reconnect quickly when a peer restarts. (MIN_RECONNECT_BACKOFF is the shortest time a
    // connection attempt may take, handshake included: a refused connect fails at once anyway,
    // and a loaded peer's TLS handshake needs more than 100 ms.)
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 1000);
    channel = grpc::experimental::CreateCustomChannelWithInterceptors(
        address, ChannelCredentialsFor(*security), args, ClientInterceptorsFor(security));
  }
  return channel;
}

void ConfigureServerBuilder(grpc::ServerBuilder* builder) {
  builder->SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder->SetMaxSendMessageSize(kMaxMessageBytes);
  // A hostile or runaway client gets a bounded share of a server (see rpc.h).
  builder->AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, kMaxConcurrentStreams);
  builder->AddChannelArgument(GRPC_ARG_MAX_METADATA_SIZE, kMaxMetadataBytes);
  // The sync server starts a thread whenever its pollers all turn to work and ends any thread
  // that finds more than MAX_POLLERS idle ones. At the default of 2, every burst of calls that
  // block (a create waits for its Raft commit) started and ended a thread per call or two. Idle
  // pollers cost nothing but a stack, so keep enough of them.
  builder->SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MIN_POLLERS, 2);
  builder->SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS,
                               kMaxIdleServerThreads);
  // Every service of every process gets RPC counts and latencies (common/rpc_metrics.h).
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(NewRpcMetricsInterceptorFactory());
  builder->experimental().SetInterceptorCreators(std::move(interceptors));
}

absl::StatusOr<std::unique_ptr<grpc::Server>> StartServer(
    grpc::ServerBuilder* builder, const std::string& listen_address, std::string* bound_address) {
  std::shared_ptr<const RpcSecurity> security = DefaultRpcSecurity();
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      ServerCredentialsFor(*security);
  if (!credentials.ok()) return credentials.status();
  if (!security->credential) {
    DFS_LOG(WARNING) << "serving " << listen_address
                     << " WITHOUT authentication: anyone who can connect may call anything; "
                        "give --secret_file (dfsadmin init writes one)";
  }
  int port = 0;
  builder->AddListeningPort(listen_address, *credentials, &port);
  ConfigureServerBuilder(builder);
  std::unique_ptr<grpc::Server> server = builder->BuildAndStart();
  if (!server || port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", listen_address));
  }
  std::string host = listen_address.substr(0, listen_address.rfind(':'));
  if (host.empty() || host == "0.0.0.0" || host == "[::]") host = "127.0.0.1";
  *bound_address = absl::StrCat(host, ":", port);
  return server;
}

absl::StatusOr<std::string> ResolveListenAddress(const std::string& listen_address) {
  size_t colon = listen_address.rfind(':');
  if (colon == std::string::npos) return absl::InvalidArgumentError("address must be host:port");
  std::string host = listen_address.substr(0, colon);
  if (listen_address.substr(colon + 1) != "0") return listen_address;
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::InternalError("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  if (::inet_pton(AF_INET, host.empty() || host == "0.0.0.0" ? "127.0.0.1" : host.c_str(),
                  &addr.sin_addr) != 1 ||
      ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return absl::InvalidArgumentError("cannot bind " + listen_address);
  }
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return absl::StrCat(host.empty() ? "127.0.0.1" : host, ":", ntohs(addr.sin_port));
}

void SetTimeout(grpc::ClientContext* context, int64_t timeout_ms) {
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
}

}  // namespace dfs
