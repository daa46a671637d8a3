// Limits on what one request may carry, and the field checks every service's request validation
// is built from (master/request_validation.h, datanode/request_validation.h). A request that
// breaks a limit is refused with InvalidArgument before it touches any state, so a hostile or
// buggy peer costs a bounded amount of work and can never reach an unchecked code path.
//
// Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace dfs {

// Largest file size and file offset: far beyond any real file, far below where offset + length
// could overflow a uint64 or an off_t.
inline constexpr uint64_t kMaxFileBytes = uint64_t{1} << 60;
// Largest chunk: the ceiling of the client's chunk_size_bytes option.
inline constexpr uint64_t kMaxChunkBytes = uint64_t{1} << 30;
// Datanode ids, rack labels and other short tokens.
inline constexpr size_t kMaxTokenBytes = 256;
// "host:port" addresses.
inline constexpr size_t kMaxAddressBytes = 256;
// Replicas of one chunk, datanodes in one write chain, sources of one copy.
inline constexpr int kMaxReplicas = 16;
// Supplementary groups of a request's caller (Linux's NGROUPS_MAX).
inline constexpr int kMaxCallerGroups = 65536;

// InvalidArgument "<what> must not be 0" if `value` is 0 (chunk and inode ids start at 1).
absl::Status CheckNonZero(uint64_t value, absl::string_view what);
// InvalidArgument if a repeated field has more than `max` elements.
absl::Status CheckCount(int count, int max, absl::string_view what);
// InvalidArgument unless offset + length neither overflows nor exceeds `limit`.
absl::Status CheckRange(uint64_t offset, uint64_t length, uint64_t limit, absl::string_view what);
// InvalidArgument unless a chunk's description is whole: a non-zero id, 1..kMaxChunkBytes bytes,
// and 1..kMaxReplicas datanodes (`nodes`, called `nodes_what`) that hold it or serve it.
absl::Status CheckChunk(uint64_t chunk_id, uint64_t length, int nodes,
                        absl::string_view nodes_what);
// InvalidArgument unless `value` is 1..max_bytes bytes without NUL or other control characters
// (ids and labels end up in keys, logs and status pages).
absl::Status CheckToken(absl::string_view value, size_t max_bytes, absl::string_view what);
// InvalidArgument unless `address` is "host:port" with a DNS name, an IPv4 address or a
// bracketed IPv6 address and a port in 1..65535. No URI schemes ("unix:", "dns:///"): a peer
// must not make a server dial a local socket or anything but another dfs process.
absl::Status CheckHostPort(absl::string_view address, absl::string_view what);

}  // namespace dfs
