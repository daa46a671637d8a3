// Cluster identity: the cluster secret, the role credentials derived from it, and the token every
// RPC carries to prove one of them (common/rpc_security.h attaches and checks it).
//
// The cluster secret is 32 random bytes that masters and datanodes hold. Each role has its own
// key, HMAC-SHA256(secret, "dfs-role:" + role); users get a role's key, never the secret, so a
// client key cannot be turned into an admin key. The node role's key, too, is derived, but only
// holders of the secret use it: a server needs the secret to check every role's tokens.
//
// Files (one line each, hex, mode 0600):
//   cluster.secret  the secret itself: role node
//   admin.key       "admin:<key>"
//   client.key      "client:<key>"
//
// Token (the value of the "dfs-auth" metadata):
//   <role>.<unix seconds>.<hex HMAC-SHA256(role key, full method name + "." + seconds)>
// e.g. "client.1700000000.3f9a...". Binding the method stops a token for a read being replayed
// as a write; the time bounds replay to kTokenMaxSkewSeconds either way. Without TLS a token can
// still be observed and replayed for the same method inside that window.
//
// Pure functions and immutable values; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace dfs {

enum class Role { kNode, kAdmin, kClient };

inline constexpr char kAuthMetadataKey[] = "dfs-auth";
inline constexpr int64_t kTokenMaxSkewSeconds = 300;
inline constexpr size_t kClusterSecretBytes = 32;

// File names written by InitClusterCredentials.
inline constexpr char kClusterSecretFile[] = "cluster.secret";
inline constexpr char kAdminKeyFile[] = "admin.key";
inline constexpr char kClientKeyFile[] = "client.key";

const char* RoleName(Role role);
std::optional<Role> ParseRole(absl::string_view name);

// HMAC-SHA256(secret, "dfs-role:" + role), raw bytes.
std::string DeriveRoleKey(absl::string_view secret, Role role);

// What a process proves on its calls: a role and that role's key. A node credential also holds
// the cluster secret, from which servers derive every role's key to check tokens.
struct Credential {
  Role role = Role::kClient;
  std::string key;     // raw bytes
  std::string secret;  // raw bytes; only for role node
};

// A node credential from the cluster secret.
Credential NodeCredential(absl::string_view secret);
// Parses a credential file's text: 64 hex digits (the cluster secret) or "<role>:<64 hex>" for
// admin and client. InvalidArgument otherwise.
absl::StatusOr<Credential> ParseCredential(absl::string_view text);
// Reads and parses a credential file; the error names the file.
absl::StatusOr<Credential> LoadCredentialFile(const std::string& path);

// Creates dir (if needed) and writes cluster.secret from 32 fresh random bytes, then admin.key
// and client.key derived from it, each mode 0600. AlreadyExists, writing nothing, if any of the
// three exists.
absl::Status InitClusterCredentials(const std::string& dir);

// The token for one call of `method` ("/dfs.MasterService/Lookup") at `unix_seconds`.
std::string MakeAuthToken(const Credential& credential, absl::string_view method,
                          int64_t unix_seconds);

// Checks tokens against one cluster secret. Immutable once built; thread-safe.
class TokenVerifier {
 public:
  explicit TokenVerifier(absl::string_view secret);

  // The role `token` proves for a call of `method` at `now_unix_seconds`. Unauthenticated, with
  // the reason, for a malformed token, an unknown role, a wrong MAC (compared in constant time)
  // or a time more than kTokenMaxSkewSeconds from now.
  absl::StatusOr<Role> Verify(absl::string_view token, absl::string_view method,
                              int64_t now_unix_seconds) const;

 private:
  std::string keys_[3];  // indexed by Role
};

}  // namespace dfs
