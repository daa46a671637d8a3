#include "tests/testutil/files.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/random.h"
#include "datanode/chunk_store.h"
#include "tests/testutil/process.h"

namespace dfs::testing {

std::string RandomBytes(size_t n, uint64_t seed) {
  Random random(seed);
  std::string data(n, '\0');
  for (size_t i = 0; i < n; i += 8) {
    uint64_t word = random.Next();
    std::memcpy(&data[i], &word, std::min<size_t>(8, n - i));
  }
  return data;
}

void WriteRandomFile(const std::string& path, uint64_t size, uint64_t seed) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  std::vector<uint64_t> block(1 << 17);
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (uint64_t done = 0; done < size;) {
    for (auto& word : block) {  // xorshift64*
      x ^= x >> 12;
      x ^= x << 25;
      x ^= x >> 27;
      word = x * 0x2545F4914F6CDD1Dull;
    }
    size_t n = std::min<uint64_t>(size - done, block.size() * 8);
    if (std::fwrite(block.data(), 1, n, f) != n) std::abort();
    done += n;
  }
  std::fclose(f);
}

std::string Sha256(const std::string& path) {
  CommandResult r = RunCommand({"/usr/bin/sha256sum", path}, 120000);
  return r.exit_code == 0 ? r.out.substr(0, 64) : "error: " + r.err;
}

void FlipByte(const std::string& path, uint64_t offset) {
  int fd = ::open(path.c_str(), O_RDWR);
  if (fd < 0) std::abort();
  unsigned char byte;
  if (::pread(fd, &byte, 1, offset) != 1) std::abort();
  byte = ~byte;
  if (::pwrite(fd, &byte, 1, offset) != 1) std::abort();
  ::close(fd);
}

namespace {
std::map<uint64_t, StoredChunk> Survey(const std::string& datanode_dir) {
  absl::StatusOr<std::map<uint64_t, StoredChunk>> chunks = ChunkStore::Survey(datanode_dir);
  return chunks.ok() ? *std::move(chunks) : std::map<uint64_t, StoredChunk>{};
}
}  // namespace

bool ChunkStored(const std::string& datanode_dir, uint64_t chunk_id) {
  return Survey(datanode_dir).count(chunk_id) > 0;
}

void DamageChunk(const std::string& datanode_dir, uint64_t chunk_id, uint64_t offset) {
  std::map<uint64_t, StoredChunk> chunks = Survey(datanode_dir);
  auto it = chunks.find(chunk_id);
  if (it == chunks.end()) std::abort();
  FlipByte(it->second.path, it->second.data_offset + offset);
}

int StoredChunkCount(const std::string& datanode_dir) {
  return static_cast<int>(Survey(datanode_dir).size());
}

int SyncDir(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return errno;
  const int err = ::fsync(fd) == 0 ? 0 : errno;
  ::close(fd);
  return err;
}

}  // namespace dfs::testing
