// CRC32C (Castagnoli), as used by iSCSI, ext4 and LevelDB; computed by ISA-L (libisal), which
// uses the fastest instructions the CPU has. Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace dfs {

// Extends `crc` (the CRC32C of some prefix) with `data`. Crc32c(0, all) == Extend(Crc32c(0, a), b).
uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t size);

inline uint32_t Crc32c(const void* data, size_t size) { return Crc32cExtend(0, data, size); }
inline uint32_t Crc32c(std::string_view data) { return Crc32c(data.data(), data.size()); }

}  // namespace dfs
