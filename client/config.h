// Finding the cluster: where a client binary gets its list of masters (and optional tuning) from.
//
// Precedence, first found wins:
//   1. an explicit value (the --masters flag),
//   2. the environment variable DFS_MASTERS,
//   3. the config file named by the environment variable DFS_CONFIG,
//   4. ~/.config/dfs/client.conf.
// The credential and the TLS CA (common/rpc_security.h) are found each on its own, whatever
// named the masters: --secret_file / --tls_ca, then $DFS_SECRET_FILE / $DFS_TLS_CA, then the
// config file ($DFS_CONFIG's, else ~/.config/dfs/client.conf).
// The config file holds lines "key=value"; '#' starts a comment; blank lines are ignored. Keys:
//   masters           comma-separated host:port list
//   secret_file       optional: the credential file (client.key, admin.key or cluster.secret);
//                     a relative path is relative to the config file's directory
//   tls_ca            optional: CA certificate (PEM) to reach the cluster over TLS; same rule
//   chunk_size_bytes  optional, see ClientOptions
//   rpc_timeout_ms    optional
//   op_timeout_ms     optional
// Unknown keys are ignored so newer files work with older binaries.
//
// The environment is passed in as a value (MasterSources) so that discovery is a pure function
// and testable; MasterSourcesFromEnvironment() reads the real one. Thread-compatible.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/options.h"

namespace dfs {

// Raw inputs to discovery. An unset variable is nullopt; an empty one counts as unset.
struct MasterSources {
  std::optional<std::string> flag;         // --masters
  std::optional<std::string> env_masters;  // $DFS_MASTERS
  std::optional<std::string> env_config;   // $DFS_CONFIG
  std::optional<std::string> home;         // $HOME, for ~/.config/dfs/client.conf
  std::optional<std::string> secret_file_flag;  // --secret_file
  std::optional<std::string> env_secret_file;   // $DFS_SECRET_FILE
  std::optional<std::string> tls_ca_flag;       // --tls_ca
  std::optional<std::string> env_tls_ca;        // $DFS_TLS_CA
};

// `flag` plus the process environment.
MasterSources MasterSourcesFromEnvironment(std::optional<std::string> flag);

// What a config file says; unset fields keep ClientOptions defaults.
struct ClientConfig {
  std::vector<std::string> masters;
  std::optional<uint64_t> chunk_size_bytes;
  std::optional<int64_t> rpc_timeout_ms;
  std::optional<int64_t> op_timeout_ms;
  std::string secret_file;  // "" = none: calls carry no credential
  std::string tls_ca;       // "" = plaintext
};

// Parses "a:1, b:2" into validated addresses. InvalidArgument for an empty list or a bad entry.
absl::StatusOr<std::vector<std::string>> ParseMasterList(absl::string_view list);

// Parses config file text. InvalidArgument (with the line number) for malformed lines/values.
absl::StatusOr<ClientConfig> ParseClientConfig(absl::string_view text);

// The result of discovery: the configuration and where it came from (for messages).
struct DiscoveredConfig {
  ClientConfig config;
  std::string source;  // "--masters", "DFS_MASTERS", or the config file's path
};

// Applies the precedence above. NotFound when no source names any master; InvalidArgument when
// the winning source is malformed or DFS_CONFIG names a file that cannot be read (an explicit
// setting that does not work is an error, not a reason to silently fall through).
absl::StatusOr<DiscoveredConfig> DiscoverConfig(const MasterSources& sources);

// Copies what `config` sets into `options`.
void ApplyConfig(const ClientConfig& config, ClientOptions* options);

// Makes `config`'s credential and CA this process's RPC security (common/rpc_security.h). Call
// from main before the first RPC. InvalidArgument naming the file that does not work.
absl::Status ConfigureClientSecurity(const ClientConfig& config);

}  // namespace dfs
