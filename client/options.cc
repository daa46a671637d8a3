#include "client/options.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/validation.h"

namespace dfs {

absl::Status ValidateHostPort(const std::string& address) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad address '", address, "': expected host:port"));
  }
  std::string host = address.substr(0, colon);
  if (host.front() == '[' && host.back() != ']') {
    return absl::InvalidArgumentError(absl::StrCat("bad address '", address, "': unclosed '['"));
  }
  if (host.front() != '[' && host.find(':') != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad address '", address, "': write IPv6 hosts as [addr]:port"));
  }
  int port = 0;
  if (!absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 1 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("bad address '", address, "': bad port"));
  }
  return absl::OkStatus();
}

absl::Status ClientOptions::Validate() const {
  if (masters.empty()) return absl::InvalidArgumentError("no masters given");
  for (const std::string& master : masters) {
    absl::Status status = ValidateHostPort(master);
    if (!status.ok()) return status;
  }
  if (rpc_timeout_ms <= 0) return absl::InvalidArgumentError("rpc_timeout_ms must be positive");
  if (op_timeout_ms <= 0) return absl::InvalidArgumentError("op_timeout_ms must be positive");
  // Anything below a few KiB only produces absurd numbers of chunks; the datanode refuses more
  // than its maximum, which is 64 MiB unless configured otherwise.
  if (chunk_size_bytes < 4096 || chunk_size_bytes > (1ull << 30)) {
    return absl::InvalidArgumentError("chunk_size_bytes must be in [4 KiB, 1 GiB]");
  }
  if (chunk_reserve_count < 0 || chunk_reserve_count > 64) {
    return absl::InvalidArgumentError("chunk_reserve_count must be in [0, 64]");
  }
  if (chunk_reserve_ttl_ms < 0) {
    return absl::InvalidArgumentError("chunk_reserve_ttl_ms must not be negative");
  }
  if (caller && caller->groups_size() > kMaxCallerGroups) {
    return absl::InvalidArgumentError("caller has too many supplementary groups");
  }
  return absl::OkStatus();
}

}  // namespace dfs
