#include "tools/bench/bench_client.h"

#include "client/config.h"
#include "common/status.h"

namespace dfs::bench {

absl::StatusOr<ClientOptions> ClientOptionsFor(const std::string& masters,
                                               const std::optional<std::string>& secret_file,
                                               const std::optional<std::string>& tls_ca) {
  MasterSources sources = MasterSourcesFromEnvironment(masters);
  sources.secret_file_flag = secret_file;
  sources.tls_ca_flag = tls_ca;
  DFS_ASSIGN_OR_RETURN(DiscoveredConfig config, DiscoverConfig(sources));
  DFS_RETURN_IF_ERROR(ConfigureClientSecurity(config.config));
  ClientOptions options;
  ApplyConfig(config.config, &options);
  return options;
}

}  // namespace dfs::bench
