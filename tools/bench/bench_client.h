// Client options for the benchmark programs in tools/bench (dfs-meta-load, dfs-many-files,
// dfs-failover-probe): the cluster from --masters, the credential and CA from the flags or as
// for `dfs` ($DFS_SECRET_FILE, $DFS_TLS_CA, client.conf). Call from main() before any thread.
#ifndef DFS_TOOLS_BENCH_BENCH_CLIENT_H_
#define DFS_TOOLS_BENCH_BENCH_CLIENT_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "client/options.h"

namespace dfs::bench {

// Discovers the configuration and sets up client security (process-wide); the options returned
// build any number of Clients.
absl::StatusOr<ClientOptions> ClientOptionsFor(const std::string& masters,
                                               const std::optional<std::string>& secret_file,
                                               const std::optional<std::string>& tls_ca);

}  // namespace dfs::bench

#endif  // DFS_TOOLS_BENCH_BENCH_CLIENT_H_
