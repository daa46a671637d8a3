// File helpers for tests: random content, hashes, byte flips, stored chunks, directory syncs.
#pragma once

#include <cstdint>
#include <string>

namespace dfs::testing {

// `n` pseudo-random bytes, a function of `seed`.
std::string RandomBytes(size_t n, uint64_t seed);
// Writes `size` pseudo-random bytes (a function of `seed`) to `path`.
void WriteRandomFile(const std::string& path, uint64_t size, uint64_t seed);
// Hex SHA-256 of a file's content (via coreutils' sha256sum).
std::string Sha256(const std::string& path);
// Inverts every bit of the byte at `offset`.
void FlipByte(const std::string& path, uint64_t offset);
// Whether a datanode stores a chunk now, in a file of its own or in its chunk log
// (datanode/chunk_store.h's layout, read by ChunkStore::Survey).
bool ChunkStored(const std::string& datanode_dir, uint64_t chunk_id);
// Inverts every bit of byte `offset` of a stored chunk's data, wherever it lies.
void DamageChunk(const std::string& datanode_dir, uint64_t chunk_id, uint64_t offset);
// How many chunks a datanode stores now.
int StoredChunkCount(const std::string& datanode_dir);
// fsync(2) of a directory: its name changes are durable, and at the master (dfs-fuse answers
// some before, fuse/write_behind.h). Returns errno, 0 on success.
int SyncDir(const std::string& path);

}  // namespace dfs::testing
