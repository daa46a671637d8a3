// What the fuzz targets share: Input, a cursor over the fuzzer's bytes that hands out bytes,
// little-endian integers and length-prefixed records (2-byte little-endian length, then that many
// bytes; a last record that claims more than is left takes what is left), so one input carries a
// sequence of protobuf messages (tests/fuzz/make_corpus.py writes seeds in the same shape); and
// ScratchDir, where a target keeps its files.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

#include "common/logging.h"
#include "google/protobuf/stubs/logging.h"

namespace dfs::fuzz {

// Hostile inputs make protobuf (invalid UTF-8) and dfs (damaged chunks, refused requests) log on
// nearly every run; the noise would slow the fuzzers down and bury their reports, so both are
// silenced (a level above kError turns dfs logging off). Failures abort with their own message.
inline const bool kQuiet = [] {
  google::protobuf::SetLogHandler(nullptr);
  SetMinLogLevel(static_cast<LogLevel>(static_cast<int>(LogLevel::kError) + 1));
  return true;
}();

class Input {
 public:
  Input(const uint8_t* data, size_t size)
      : data_(reinterpret_cast<const char*>(data)), size_(size) {}

  bool empty() const { return pos_ >= size_; }

  // The next byte; 0 once the input is used up.
  uint8_t Byte() { return empty() ? 0 : static_cast<uint8_t>(data_[pos_++]); }

  // The next `bytes` bytes as a little-endian integer (missing bytes read as 0).
  uint64_t Uint(int bytes) {
    uint64_t value = 0;
    for (int i = 0; i < bytes; ++i) value |= uint64_t{Byte()} << (8 * i);
    return value;
  }

  // The next record; false once the input is used up.
  bool Record(std::string_view* record) {
    if (empty()) return false;
    const size_t length = Uint(2);
    const size_t take = length < size_ - pos_ ? length : size_ - pos_;
    *record = std::string_view(data_ + pos_, take);
    pos_ += take;
    return true;
  }

  // Whatever is left.
  std::string_view Rest() {
    std::string_view rest(data_ + pos_, size_ - pos_);
    pos_ = size_;
    return rest;
  }

 private:
  const char* data_;
  size_t size_;
  size_t pos_ = 0;
};

// A directory for one target's files, removed at exit: under $DFS_FUZZ_SCRATCH (tools/fuzz.sh
// sets it and removes it afterwards, since a crash skips exit handlers), else /dev/shm when there
// is one, since chunk writes fsync and a disk would make every execution cost milliseconds.
inline const std::string& ScratchDir() {
  static const std::string* dir = [] {
    std::error_code error;
    const char* scratch = std::getenv("DFS_FUZZ_SCRATCH");
    std::filesystem::path base =
        scratch != nullptr && *scratch != '\0'             ? std::filesystem::path(scratch)
        : std::filesystem::is_directory("/dev/shm", error) ? std::filesystem::path("/dev/shm")
                                                           : std::filesystem::temp_directory_path();
    std::string pattern = (base / "dfs-fuzz-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    auto* path = new std::string(pattern);
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(ScratchDir(), ignored);
    });
    return path;
  }();
  return *dir;
}

}  // namespace dfs::fuzz
