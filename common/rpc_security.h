// How a dfs process secures its gRPC traffic: which credential its calls carry (common/auth.h),
// who may call which method on its servers, and optional TLS. common/rpc.h's GetChannel and
// StartServer apply it; nothing else makes channels or listening ports.
//
//   - Calls: a client interceptor adds the "dfs-auth" token to every call on every channel.
//     (gRPC does not send call credentials on insecure channels, hence an interceptor.)
//   - Servers: with a cluster secret, an auth metadata processor on the listening port checks
//     every call before its handler runs: no token, a bad one or a stale one -> UNAUTHENTICATED;
//     a role the method's table entry does not admit -> PERMISSION_DENIED; either way one
//     rate-limited WARNING line and nothing else happens. gRPC 1.51's server interceptors
//     cannot fail a call, so the check sits in the credentials rather than beside the metrics
//     interceptor. Without a secret a server accepts every call and says so in its log.
//   - TLS: with a CA, channels use TLS and trust only that CA; with a certificate and key,
//     servers accept only TLS.
//
// The process default is set once from main (ConfigureRpcSecurity) before any channel or server
// exists; tests set it again for each cluster (channels made earlier keep their settings).
// Thread-safe.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/auth.h"
#include "grpcpp/grpcpp.h"

namespace dfs {

// File paths, as given by flags, the environment or a config file; "" = not set.
struct RpcSecurityOptions {
  std::string secret_file;  // cluster.secret (servers need this one), admin.key or client.key
  std::string tls_cert;     // PEM certificate chain this process serves with
  std::string tls_key;      // its PEM private key
  std::string tls_ca;       // PEM CA certificate(s) channels trust; set: channels use TLS
};

// The loaded settings. Immutable.
struct RpcSecurity {
  std::optional<Credential> credential;
  std::string tls_ca_pem;
  std::string tls_cert_pem;
  std::string tls_key_pem;

  bool tls_channels() const { return !tls_ca_pem.empty(); }
  bool tls_server() const { return !tls_cert_pem.empty(); }
};

// Reads the files `options` names. InvalidArgument (naming the file or flag) for unreadable or
// malformed files, a certificate without its key or the other way round, or a certificate
// without a CA (a server also calls its peers, and must trust their certificates).
absl::StatusOr<std::shared_ptr<const RpcSecurity>> LoadRpcSecurity(
    const RpcSecurityOptions& options);

// Loads `options` and makes them the process default for GetChannel and StartServer.
absl::Status ConfigureRpcSecurity(const RpcSecurityOptions& options);
// The process default; no credential and no TLS until configured.
std::shared_ptr<const RpcSecurity> DefaultRpcSecurity();

// For common/rpc.cc: what a channel and a listening port are made with.
std::shared_ptr<grpc::ChannelCredentials> ChannelCredentialsFor(const RpcSecurity& security);
std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
ClientInterceptorsFor(const std::shared_ptr<const RpcSecurity>& security);
// FailedPrecondition if the credential is not the cluster secret: only the secret can check
// every role's tokens.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFor(
    const RpcSecurity& security);

// The authorization table: OK if `role` may call `method` ("/dfs.AdminService/Decommission"),
// else PermissionDenied. Methods not in the table admit only nodes.
absl::Status AuthorizeCall(Role role, absl::string_view method);

// The role a secured server verified for the call being handled (a handler's context);
// nullopt on a server without a secret, which checks nothing.
std::optional<Role> CallerRole(const grpc::ServerContext& context);

// What a secured server decides for one call: Unauthenticated for a missing or bad `token`,
// PermissionDenied for a role `method` does not admit, else OK.
absl::Status CheckCall(const TokenVerifier& verifier, absl::string_view token,
                       absl::string_view method, int64_t now_unix_seconds);

}  // namespace dfs
