#include "common/rpc_security.h"

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <atomic>
#include <mutex>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/file_util.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "common/status.h"

namespace dfs {
namespace {

// ---- Authorization ----

using RoleSet = unsigned;
constexpr RoleSet Bit(Role role) { return 1u << static_cast<unsigned>(role); }
constexpr RoleSet kNodeOnly = Bit(Role::kNode);
constexpr RoleSet kAdminOrNode = Bit(Role::kAdmin) | Bit(Role::kNode);
constexpr RoleSet kAnyRole = Bit(Role::kClient) | Bit(Role::kAdmin) | Bit(Role::kNode);

struct MethodRule {
  const char* method;  // a full method name, or a whole service: "/package.Service/"
  RoleSet roles;
};

// First match wins, so single methods come before their service. docs/DESIGN.md has this table.
constexpr MethodRule kMethodRules[] = {
    // Reading the cluster's state is harmless and `dfsadmin status` is useful to anyone.
    {"/dfs.AdminService/RaftStatus", kAnyRole},
    {"/dfs.AdminService/ListDatanodes", kAnyRole},
    {"/dfs.AdminService/ClusterStatus", kAnyRole},
    {"/dfs.AdminService/ChunkReplicas", kAnyRole},
    {"/dfs.AdminService/", kAdminOrNode},
    {"/dfs.MasterService/", kAnyRole},
    // Copies and deletions are the master's and the pipeline's business, never a user's.
    {"/dfs.DatanodeService/ReplicateChunk", kNodeOnly},
    {"/dfs.DatanodeService/DeleteChunks", kNodeOnly},
    {"/dfs.DatanodeService/", kAnyRole},
    {"/dfs.DatanodeRegistry/", kNodeOnly},
    {"/dfs.raft.RaftService/", kNodeOnly},
};

// ---- Process default ----

std::mutex default_mu;
std::shared_ptr<const RpcSecurity>& DefaultSlot() {
  static auto* slot = new std::shared_ptr<const RpcSecurity>(std::make_shared<RpcSecurity>());
  return *slot;
}

absl::StatusOr<std::string> ReadPem(const std::string& path, const char* flag) {
  absl::StatusOr<std::string> pem = ReadFile(path);
  if (!pem.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": cannot read ", path, ": ", pem.status().message()));
  }
  if (!absl::StrContains(*pem, "-----BEGIN ")) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": ", path, " is not a PEM file"));
  }
  return pem;
}

// gRPC reports a bad certificate or key only as a port it cannot open; say what is wrong.
absl::Status CheckKeyPair(const std::string& cert_pem, const std::string& key_pem) {
  BIO* cert_bio = BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size()));
  BIO* key_bio = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
  X509* cert = PEM_read_bio_X509(cert_bio, nullptr, nullptr, nullptr);
  EVP_PKEY* key = PEM_read_bio_PrivateKey(key_bio, nullptr, nullptr, nullptr);
  absl::Status status;
  if (cert == nullptr) {
    status = absl::InvalidArgumentError("--tls_cert holds no PEM certificate");
  } else if (key == nullptr) {
    status = absl::InvalidArgumentError("--tls_key holds no PEM private key");
  } else if (X509_check_private_key(cert, key) != 1) {
    status = absl::InvalidArgumentError("--tls_key is not the key of --tls_cert");
  }
  EVP_PKEY_free(key);
  X509_free(cert);
  BIO_free(key_bio);
  BIO_free(cert_bio);
  return status;
}

// ---- Client side ----

class AuthInterceptor : public grpc::experimental::Interceptor {
 public:
  AuthInterceptor(std::shared_ptr<const RpcSecurity> security, const char* method)
      : security_(std::move(security)), method_(method != nullptr ? method : "") {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      methods->GetSendInitialMetadata()->emplace(
          kAuthMetadataKey,
          MakeAuthToken(*security_->credential, method_, absl::ToUnixSeconds(absl::Now())));
    }
    methods->Proceed();
  }

 private:
  const std::shared_ptr<const RpcSecurity> security_;
  const std::string method_;
};

class AuthInterceptorFactory : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit AuthInterceptorFactory(std::shared_ptr<const RpcSecurity> security)
      : security_(std::move(security)) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo* info) override {
    return new AuthInterceptor(security_, info->method());
  }

 private:
  const std::shared_ptr<const RpcSecurity> security_;
};

// ---- Server side ----

absl::string_view SliceView(const grpc_slice& slice) {
  return absl::string_view(reinterpret_cast<const char*>(GRPC_SLICE_START_PTR(slice)),
                           GRPC_SLICE_LENGTH(slice));
}

// One WARNING line per refused call, at most one a second; the rest are counted into the next.
void LogRefusal(absl::string_view method, absl::string_view token, const absl::Status& status) {
  static std::atomic<int64_t> last_log_second{0};
  static std::atomic<int64_t> unlogged{0};
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  int64_t last = last_log_second.load();
  if (now == last || !last_log_second.compare_exchange_strong(last, now)) {
    unlogged.fetch_add(1);
    return;
  }
  const int64_t skipped = unlogged.exchange(0);
  // Only the claimed role, never the rest of a token; both are the caller's bytes, so escaped.
  const absl::string_view role = token.substr(0, std::min<size_t>(token.find('.'), 16));
  const std::string who = token.empty()
                              ? " without a credential"
                              : absl::StrCat(" claiming role '", absl::CHexEscape(role), "'");
  // gRPC 1.51 tells the auth processor nothing about the connection, so no peer address.
  DFS_LOG(WARNING) << "refused call to "
                   << (method.empty() ? "?" : absl::CHexEscape(method.substr(0, 128))) << who
                   << ": " << status
                   << (skipped > 0 ? absl::StrCat(" (", skipped, " earlier refusals not logged)")
                                   : "");
}

metrics::Counter* RefusedCounter(absl::StatusCode code) {
  static auto* family = metrics::Registry::Default().Counter(
      "dfs_grpc_server_refused_total",
      "gRPC calls refused before their handler ran: no, bad or stale credential "
      "(UNAUTHENTICATED) or a role the method does not admit (PERMISSION_DENIED).",
      {"code"});
  return family->WithLabels(
      {code == absl::StatusCode::kPermissionDenied ? "PERMISSION_DENIED" : "UNAUTHENTICATED"});
}

// The C processor gRPC core calls for every call on a secured port, before the handler. It
// answers at once (checking a token is two HMACs), so it needs no thread of its own.
// The auth context property through which the processor tells handlers the verified role.
constexpr char kRoleProperty[] = "dfs-role";

void ProcessAuthMetadata(void* state, grpc_auth_context* context, const grpc_metadata* md,
                         size_t num_md, grpc_process_auth_metadata_done_cb done,
                         void* user_data) {
  const auto* verifier = static_cast<const TokenVerifier*>(state);
  absl::string_view method;
  absl::string_view token;
  const grpc_metadata* token_md = nullptr;
  for (size_t i = 0; i < num_md; ++i) {
    absl::string_view key = SliceView(md[i].key);
    if (key == ":path") {
      method = SliceView(md[i].value);
    } else if (key == kAuthMetadataKey) {
      token = SliceView(md[i].value);
      token_md = &md[i];
    }
  }
  absl::Status status = CheckCall(*verifier, token, method, absl::ToUnixSeconds(absl::Now()));
  if (status.ok()) {
    // CheckCall verified the role the token names (its first field); handlers read it back
    // with CallerRole.
    const std::string role(token.substr(0, token.find('.')));
    if (context != nullptr) {
      grpc_auth_context_add_cstring_property(context, kRoleProperty, role.c_str());
    }
    // Consumed: handlers never see the token.
    done(user_data, token_md, 1, nullptr, 0, GRPC_STATUS_OK, nullptr);
    return;
  }
  RefusedCounter(status.code())->Increment();
  LogRefusal(method, token, status);
  const std::string message(status.message());
  done(user_data, nullptr, 0, nullptr, 0, static_cast<grpc_status_code>(status.code()),
       message.c_str());
}

void DestroyVerifier(void* state) { delete static_cast<TokenVerifier*>(state); }

// gRPC 1.51's C++ InsecureServerCredentials aborts when given an auth metadata processor, and
// the C++ wrappers do not expose the core credentials; so every listening port is made from core
// credentials through this small adapter.
class CoreServerCredentials : public grpc::ServerCredentials {
 public:
  // The base class has initialized gRPC by the time the body runs, as core calls require.
  explicit CoreServerCredentials(const RpcSecurity& security) {
    if (security.tls_server()) {
      grpc_ssl_pem_key_cert_pair pair = {security.tls_key_pem.c_str(),
                                         security.tls_cert_pem.c_str()};
      // Clients are not asked for certificates: the dfs-auth token says who they are.
      credentials_ = grpc_ssl_server_credentials_create_ex(
          nullptr, &pair, 1, GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE, nullptr);
    } else {
      credentials_ = grpc_insecure_server_credentials_create();
    }
    if (credentials_ != nullptr && security.credential) {
      grpc_auth_metadata_processor processor;
      processor.process = ProcessAuthMetadata;
      processor.destroy = DestroyVerifier;
      processor.state = new TokenVerifier(security.credential->secret);
      grpc_server_credentials_set_auth_metadata_processor(credentials_, processor);
    }
  }
  ~CoreServerCredentials() override {
    if (credentials_ != nullptr) grpc_server_credentials_release(credentials_);
  }

  bool ok() const { return credentials_ != nullptr; }

  void SetAuthMetadataProcessor(
      const std::shared_ptr<grpc::AuthMetadataProcessor>& /*processor*/) override {
    DFS_CHECK(false);  // The constructor installs the one processor.
  }

 private:
  int AddPortToServer(const std::string& address, grpc_server* server) override {
    return grpc_server_add_http2_port(server, address.c_str(), credentials_);
  }

  grpc_server_credentials* credentials_ = nullptr;
};

}  // namespace

absl::StatusOr<std::shared_ptr<const RpcSecurity>> LoadRpcSecurity(
    const RpcSecurityOptions& options) {
  auto security = std::make_shared<RpcSecurity>();
  if (!options.secret_file.empty()) {
    absl::StatusOr<Credential> credential = LoadCredentialFile(options.secret_file);
    if (!credential.ok()) return absl::InvalidArgumentError(credential.status().message());
    security->credential = *std::move(credential);
  }
  if (options.tls_cert.empty() != options.tls_key.empty()) {
    return absl::InvalidArgumentError("--tls_cert and --tls_key go together");
  }
  if (!options.tls_cert.empty() && options.tls_ca.empty()) {
    return absl::InvalidArgumentError(
        "--tls_cert needs --tls_ca too: a server also calls its peers over TLS");
  }
  if (!options.tls_ca.empty()) {
    DFS_ASSIGN_OR_RETURN(security->tls_ca_pem, ReadPem(options.tls_ca, "--tls_ca"));
  }
  if (!options.tls_cert.empty()) {
    DFS_ASSIGN_OR_RETURN(security->tls_cert_pem, ReadPem(options.tls_cert, "--tls_cert"));
    DFS_ASSIGN_OR_RETURN(security->tls_key_pem, ReadPem(options.tls_key, "--tls_key"));
    DFS_RETURN_IF_ERROR(CheckKeyPair(security->tls_cert_pem, security->tls_key_pem));
  }
  return std::shared_ptr<const RpcSecurity>(std::move(security));
}

absl::Status ConfigureRpcSecurity(const RpcSecurityOptions& options) {
  DFS_ASSIGN_OR_RETURN(std::shared_ptr<const RpcSecurity> security, LoadRpcSecurity(options));
  std::lock_guard<std::mutex> lock(default_mu);
  DefaultSlot() = std::move(security);
  return absl::OkStatus();
}

std::shared_ptr<const RpcSecurity> DefaultRpcSecurity() {
  std::lock_guard<std::mutex> lock(default_mu);
  return DefaultSlot();
}

std::shared_ptr<grpc::ChannelCredentials> ChannelCredentialsFor(const RpcSecurity& security) {
  if (!security.tls_channels()) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = security.tls_ca_pem;
  return grpc::SslCredentials(ssl);
}

std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
ClientInterceptorsFor(const std::shared_ptr<const RpcSecurity>& security) {
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> result;
  if (security->credential) result.push_back(std::make_unique<AuthInterceptorFactory>(security));
  return result;
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFor(
    const RpcSecurity& security) {
  if (security.credential && security.credential->role != Role::kNode) {
    return absl::FailedPreconditionError(absl::StrCat(
        "a server needs the cluster secret (", kClusterSecretFile, ") as --secret_file, not a ",
        RoleName(security.credential->role), " key"));
  }
  auto credentials = std::make_shared<CoreServerCredentials>(security);
  if (!credentials->ok()) return absl::InvalidArgumentError("bad TLS certificate or key");
  return std::shared_ptr<grpc::ServerCredentials>(std::move(credentials));
}

std::optional<Role> CallerRole(const grpc::ServerContext& context) {
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (auth == nullptr) return std::nullopt;
  for (const grpc::string_ref& value : auth->FindPropertyValues(kRoleProperty)) {
    return ParseRole(absl::string_view(value.data(), value.size()));
  }
  return std::nullopt;
}

absl::Status AuthorizeCall(Role role, absl::string_view method) {
  RoleSet allowed = kNodeOnly;
  for (const MethodRule& rule : kMethodRules) {
    absl::string_view name = rule.method;
    if (name.back() == '/' ? absl::StartsWith(method, name) : method == name) {
      allowed = rule.roles;
      break;
    }
  }
  if ((allowed & Bit(role)) != 0) return absl::OkStatus();
  return absl::PermissionDeniedError(
      absl::StrCat("role ", RoleName(role), " may not call ", method,
                   role == Role::kClient ? " (it needs the cluster's admin.key)" : ""));
}

absl::Status CheckCall(const TokenVerifier& verifier, absl::string_view token,
                       absl::string_view method, int64_t now_unix_seconds) {
  if (token.empty()) {
    return absl::UnauthenticatedError(
        "this cluster requires a credential: give the client its key file (--secret_file or "
        "DFS_SECRET_FILE)");
  }
  absl::StatusOr<Role> role = verifier.Verify(token, method, now_unix_seconds);
  if (!role.ok()) return role.status();
  return AuthorizeCall(*role, method);
}

}  // namespace dfs
