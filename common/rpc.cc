#include "common/rpc.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace dfs {

std::shared_ptr<grpc::Channel> GetChannel(const std::string& address) {
  static std::mutex mu;
  static auto* channels = new std::map<std::string, std::shared_ptr<grpc::Channel>>;
  std::lock_guard<std::mutex> lock(mu);
  auto& channel = (*channels)[address];
  if (!channel) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(kMaxMessageBytes);
    args.SetMaxSendMessageSize(kMaxMessageBytes);
    // Fail fast and reconnect quickly when a peer restarts.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
    channel = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
  }
  return channel;
}

void ConfigureServerBuilder(grpc::ServerBuilder* builder) {
  builder->SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder->SetMaxSendMessageSize(kMaxMessageBytes);
}

absl::StatusOr<std::unique_ptr<grpc::Server>> StartServer(
    grpc::ServerBuilder* builder, const std::string& listen_address, std::string* bound_address) {
  int port = 0;
  builder->AddListeningPort(listen_address, grpc::InsecureServerCredentials(), &port);
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
