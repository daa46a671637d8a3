#include "common/validation.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace dfs {

absl::Status CheckNonZero(uint64_t value, absl::string_view what) {
  if (value == 0) return absl::InvalidArgumentError(absl::StrCat(what, " must not be 0"));
  return absl::OkStatus();
}

absl::Status CheckCount(int count, int max, absl::string_view what) {
  if (count > max) {
    return absl::InvalidArgumentError(
        absl::StrCat("too many ", what, ": ", count, " (at most ", max, ")"));
  }
  return absl::OkStatus();
}

absl::Status CheckRange(uint64_t offset, uint64_t length, uint64_t limit, absl::string_view what) {
  if (offset > limit || length > limit - offset) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " [", offset, ", +", length, ") goes past the limit of ", limit));
  }
  return absl::OkStatus();
}

absl::Status CheckChunk(uint64_t chunk_id, uint64_t length, int nodes,
                        absl::string_view nodes_what) {
  if (chunk_id == 0 || length == 0 || length > kMaxChunkBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("chunk ", chunk_id, " of ", length,
                     " bytes: ids start at 1, lengths at 1 and end at ", kMaxChunkBytes));
  }
  if (nodes == 0)
    return absl::InvalidArgumentError(absl::StrCat("chunk ", chunk_id, " has no ", nodes_what));
  return CheckCount(nodes, kMaxReplicas, nodes_what);
}

absl::Status CheckToken(absl::string_view value, size_t max_bytes, absl::string_view what) {
  if (value.empty()) return absl::InvalidArgumentError(absl::StrCat(what, " is empty"));
  if (value.size() > max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is ", value.size(), " bytes (at most ", max_bytes, ")"));
  }
  for (char c : value) {
    if (absl::ascii_iscntrl(static_cast<unsigned char>(c))) {
      return absl::InvalidArgumentError(absl::StrCat(what, " contains a control character"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckHostPort(absl::string_view address, absl::string_view what) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " '", address.substr(0, 64), "' is not host:port: ", why));
  };
  if (address.empty() || address.size() > kMaxAddressBytes) return bad("empty or too long");
  const size_t colon = address.rfind(':');
  if (colon == absl::string_view::npos) return bad("no port");
  absl::string_view host = address.substr(0, colon);
  absl::string_view port = address.substr(colon + 1);
  uint32_t port_number = 0;
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](char c) { return absl::ascii_isdigit(c); }) ||
      !absl::SimpleAtoi(port, &port_number) || port_number == 0 || port_number > 65535) {
    return bad("bad port");
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    for (char c : host.substr(1, host.size() - 2)) {
      if (!absl::ascii_isxdigit(c) && c != ':' && c != '.') return bad("bad IPv6 address");
    }
    return absl::OkStatus();
  }
  if (host.empty()) return bad("no host");
  for (char c : host) {
    if (!absl::ascii_isalnum(c) && c != '.' && c != '-' && c != '_') return bad("bad host name");
  }
  return absl::OkStatus();
}

}  // namespace dfs
