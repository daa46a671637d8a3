// Fixed-width integers. Big-endian for keys (byte order of keys is numeric order); little-endian
// for the datanode's on-disk formats (chunk trailers, the chunk log).
#pragma once

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"

namespace dfs {

inline void PutFixed64BE(std::string* out, uint64_t value) {
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>(value >> shift));
}

inline void PutFixed32BE(std::string* out, uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>(value >> shift));
}

// Reads 4 bytes at `in` (which must hold at least 4).
inline uint32_t DecodeFixed32BE(absl::string_view in) {
  uint32_t value = 0;
  for (int i = 0; i < 4; ++i) value = (value << 8) | static_cast<uint8_t>(in[i]);
  return value;
}

// Reads 8 bytes at `in` (which must hold at least 8).
inline uint64_t DecodeFixed64BE(absl::string_view in) {
  uint64_t value = 0;
  for (int i = 0; i < 8; ++i) value = (value << 8) | static_cast<uint8_t>(in[i]);
  return value;
}

inline void PutFixed32LE(std::string* out, uint32_t value) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>(value >> (8 * i)));
}
inline void PutFixed64LE(std::string* out, uint64_t value) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>(value >> (8 * i)));
}
// Read 4 / 8 bytes at `in`, which must hold them.
inline uint32_t DecodeFixed32LE(const char* in) {
  uint32_t value = 0;
  for (int i = 3; i >= 0; --i) value = (value << 8) | static_cast<uint8_t>(in[i]);
  return value;
}
inline uint64_t DecodeFixed64LE(const char* in) {
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | static_cast<uint8_t>(in[i]);
  return value;
}

}  // namespace dfs
