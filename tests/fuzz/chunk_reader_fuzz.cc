// Fuzzes the chunk file reader: a chunk file made from the input is put where ChunkStore keeps
// chunk kFuzzChunk, the store is opened (its start-up scan checks every trailer and quarantines
// bad files) and the chunk is read through ChunkStore's read path (OpenReader + Read over ranges
// from the input, and VerifyStoredChunk). Whatever the bytes, the reader must answer with data
// or an error, never crash or read out of bounds; a chunk nobody touched must read back exactly.
//
// Input: a mode byte, then
//   raw (mode % 3 == 0):  a count of read ranges, the ranges, then the whole file's bytes;
//   built (1 and 2):      a data length and pattern, a valid chunk file is written with
//                         ChunkWriter, then damaged by edits from the input (flip a byte,
//                         truncate, append, rewrite a footer field or a block CRC and re-seal
//                         the footer CRC so the lie gets past the trailer check). Mode 1 damages
//                         the file before the store opens (start-up scan), mode 2 after (reads).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/crc32c.h"
#include "common/file_util.h"
#include "datanode/chunk_store.h"
#include "datanode/replication.h"
#include "tests/fuzz/fuzz_util.h"

namespace dfs {
namespace {

constexpr uint64_t kFuzzChunk = 0x00c0ffee0000012aull;
// Up to two and a bit CRC blocks: reads cross block boundaries, and runs stay quick.
constexpr uint64_t kMaxDataBytes = 2 * ChunkStore::kBlockBytes + 17;

void Fail(const std::string& what) {
  std::fprintf(stderr, "chunk_reader_fuzz: %s\n", what.c_str());
  std::abort();
}

std::string StoreDir() { return fuzz::ScratchDir() + "/store"; }

void PutLE(std::string* file, size_t at, uint64_t value, int bytes) {
  for (int i = 0; i < bytes && at + i < file->size(); ++i) {
    (*file)[at + i] = static_cast<char>(value >> (8 * i));
  }
}

uint64_t GetLE(const std::string& file, size_t at, int bytes) {
  uint64_t value = 0;
  for (int i = 0; i < bytes && at + i < file.size(); ++i) {
    value |= uint64_t{static_cast<uint8_t>(file[at + i])} << (8 * i);
  }
  return value;
}

// Recomputes the footer's own CRC over the CRC array and footer fields, as ChunkWriter does,
// wherever the (possibly edited) footer says the CRC array is. No-op if that is not in the file.
void ResealFooter(std::string* file) {
  if (file->size() < ChunkStore::kFooterBytes) return;
  const size_t footer = file->size() - ChunkStore::kFooterBytes;
  const uint64_t blocks = GetLE(*file, footer + 12, 4);
  const uint64_t length = GetLE(*file, footer + 24, 8);
  if (length > footer || 4 * blocks > file->size() - length) return;
  uint32_t crc = Crc32c(file->data() + length, 4 * blocks);
  crc = Crc32cExtend(crc, file->data() + footer, ChunkStore::kFooterBytes - 4);
  PutLE(file, footer + 36, crc, 4);
}

// Applies one edit from the input to a chunk file's bytes.
void Damage(fuzz::Input& input, std::string* file) {
  const uint8_t kind = input.Byte() % 5;
  const uint64_t where = input.Uint(4);
  const uint64_t value = input.Uint(8);
  switch (kind) {
    case 0:
      if (!file->empty()) (*file)[where % file->size()] ^= static_cast<char>(value | 1);
      break;
    case 1: file->resize(where % (file->size() + 1)); break;
    case 2: file->append(value % 64, static_cast<char>(where)); break;
    case 3: {  // a footer field: magic, version, block count, id, length, chunk CRC
      static constexpr int kOffset[] = {0, 8, 12, 16, 24, 32};
      static constexpr int kBytes[] = {8, 4, 4, 8, 8, 4};
      if (file->size() < ChunkStore::kFooterBytes) break;
      const int field = static_cast<int>(where % 6);
      PutLE(file, file->size() - ChunkStore::kFooterBytes + kOffset[field], value, kBytes[field]);
      ResealFooter(file);
      break;
    }
    case 4: {  // a block CRC
      if (file->size() < ChunkStore::kFooterBytes) break;
      const size_t footer = file->size() - ChunkStore::kFooterBytes;
      const uint64_t blocks = GetLE(*file, footer + 12, 4);
      const uint64_t length = GetLE(*file, footer + 24, 8);
      if (blocks == 0 || length > footer || 4 * blocks > footer - length) break;
      PutLE(file, length + 4 * (where % blocks), value, 4);
      ResealFooter(file);
      break;
    }
  }
}

absl::Status WriteWhole(const std::string& path, const std::string& bytes) {
  std::error_code ignored;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ignored);
  return WriteFileAtomic(path, bytes);
}

struct Range {
  uint64_t offset;
  uint64_t length;
};

void Check(ChunkStore* store, const std::vector<Range>& ranges, const std::string* intact) {
  if (!store->Contains(kFuzzChunk)) {
    if (intact != nullptr) Fail("an intact chunk was not loaded");
    return;
  }
  for (const Range& range : ranges) {
    auto reader = store->OpenReader(kFuzzChunk);
    if (!reader.ok()) {
      if (intact != nullptr) Fail("cannot open an intact chunk: " + reader.status().ToString());
      continue;
    }
    auto data = (*reader)->Read(range.offset, range.length);
    if (!data.ok()) {
      if (intact != nullptr && range.offset <= intact->size()) {
        Fail("cannot read an intact chunk: " + data.status().ToString());
      }
      continue;
    }
    const uint64_t length = (*reader)->length();
    if (range.offset > length) Fail("read past the end succeeded");
    if (data->size() != std::min(range.length, length - range.offset)) Fail("short read");
    if (intact != nullptr && *data != intact->substr(range.offset, data->size())) {
      Fail("an intact chunk read back different bytes");
    }
  }
  auto verified = VerifyStoredChunk(store, kFuzzChunk);
  if (intact != nullptr && (!verified.ok() || verified->length != intact->size() ||
                            verified->crc32c != Crc32c(*intact))) {
    Fail("an intact chunk does not verify");
  }
}

void RunOne(fuzz::Input& input) {
  static const std::string* const path = [] {
    auto store = ChunkStore::Open(StoreDir(), 1);  // creates the store (and its node id) once
    if (!store.ok()) Fail(store.status().ToString());
    return new std::string((*store)->ChunkPath(kFuzzChunk));
  }();
  // Back to an empty store: no chunk file, nothing quarantined.
  std::error_code ignored;
  std::filesystem::remove(*path, ignored);
  std::filesystem::remove_all(StoreDir() + "/corrupt", ignored);

  const uint8_t mode = input.Byte() % 3;
  std::vector<Range> ranges(input.Byte() % 8);
  for (Range& range : ranges) {
    range.offset = input.Uint(3);
    range.length = input.Uint(3);
  }
  std::string file;
  std::string data;
  int edits = 0;
  if (mode == 0) {
    file = std::string(input.Rest());
    if (!WriteWhole(*path, file).ok()) Fail("cannot write the chunk file");
  } else {
    const size_t length = input.Uint(3) % (kMaxDataBytes + 1);
    // 251 bytes (a prime) repeated, so no two blocks hold the same bytes; doubled by copying.
    const uint64_t pattern = input.Uint(8) | 1;
    for (size_t i = 0; i < 251; ++i) data.push_back(static_cast<char>((pattern * (i + 1)) >> 13));
    while (data.size() < length) data += data;
    data.resize(length);
    {
      auto store = ChunkStore::Open(StoreDir(), 1);
      if (!store.ok()) Fail(store.status().ToString());
      auto writer = (*store)->OpenWriter(kFuzzChunk);
      if (!writer.ok() || !(*writer)->Append(data).ok() || !(*writer)->Commit().ok()) {
        Fail("cannot write a chunk");
      }
    }
    auto written = ReadFile(*path);
    if (!written.ok()) Fail(written.status().ToString());
    file = *std::move(written);
    edits = input.Byte() % 4;
    if (mode == 1) {
      for (int i = 0; i < edits; ++i) Damage(input, &file);
      if (edits > 0 && !WriteWhole(*path, file).ok()) Fail("cannot write the chunk file");
    }
  }
  auto store = ChunkStore::Open(StoreDir(), 1);
  if (!store.ok()) Fail("store does not open: " + store.status().ToString());
  if (mode == 2) {
    for (int i = 0; i < edits; ++i) Damage(input, &file);
    // Behind the open store's back, as a failing disk would.
    if (edits > 0 && !WriteWhole(*path, file).ok()) Fail("cannot write the chunk file");
  }
  const bool intact = mode != 0 && edits == 0;
  Check(store->get(), ranges, intact ? &data : nullptr);
}

}  // namespace
}  // namespace dfs

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  dfs::fuzz::Input input(data, size);
  dfs::RunOne(input);
  return 0;
}
