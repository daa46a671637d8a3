#include "datanode/datanode_options.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace dfs {

absl::Status ValidateHostPort(const std::string& address) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return absl::InvalidArgumentError(absl::StrCat("\"", address, "\" is not host:port"));
  }
  int port = -1;
  if (!absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("\"", address, "\" has no valid port"));
  }
  return absl::OkStatus();
}

absl::Status DatanodeOptions::Validate() const {
  if (data_dir.empty()) return absl::InvalidArgumentError("data_dir is required");
  absl::Status status = ValidateHostPort(listen_address);
  if (!status.ok()) return absl::InvalidArgumentError(absl::StrCat("listen: ", status.message()));
  if (!http_listen_address.empty()) {
    status = ValidateHostPort(http_listen_address);
    if (!status.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("http_listen: ", status.message()));
    }
  }
  for (const std::string& master : masters) {
    status = ValidateHostPort(master);
    if (!status.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("masters: ", status.message()));
    }
  }
  if (rack.empty()) return absl::InvalidArgumentError("rack must not be empty");
  if (heartbeat_interval_ms <= 0) {
    return absl::InvalidArgumentError("heartbeat_interval_ms must be positive");
  }
  if (shutdown_grace_ms < 0) return absl::InvalidArgumentError("shutdown_grace_ms must be >= 0");
  if (scrub_interval_ms < 0) return absl::InvalidArgumentError("scrub_interval_ms must be >= 0");
  return absl::OkStatus();
}

}  // namespace dfs
