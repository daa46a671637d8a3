// Key layout of the master's metadata store (one LevelDB). Every key starts with a one-byte
// table tag; integers are big-endian so that byte order is numeric order and scans are ordered.
//
//   M<name>                    metadata: applied index, id counters, inode count, safe mode
//   I<inode>                   Attr
//   D<parent><name>            directory entry -> child inode (8 bytes)
//   K<dir>                     how many entries directory <dir> has (8 bytes); kept for the
//                              directories made since it existed, others are counted by a scan
//   E<inode><file offset>      Extent (chunk id, chunk offset, length)
//   C<chunk>                   ChunkRecord
//   G<chunk>                   GarbageRecord
//   O<inode>                   orphan: an inode at zero links kept while a client has it open
//   S<client id><seq>          session record: the CommandResult of that command
//   N<datanode id>             DecommissionRecord: a datanode being drained
#pragma once

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"

#include "common/keycoding.h"

namespace dfs::keys {

inline constexpr char kAppliedIndex[] = "Mapplied_index";
inline constexpr char kNextInode[] = "Mnext_inode";
inline constexpr char kNextChunk[] = "Mnext_chunk";
inline constexpr char kInodeCount[] = "Minode_count";
inline constexpr char kSafeMode[] = "Msafe_mode";  // SafeModeRecord, present while on

inline constexpr uint64_t kRootInode = 1;

inline std::string Tagged(char tag, uint64_t a) {
  std::string key(1, tag);
  PutFixed64BE(&key, a);
  return key;
}
inline std::string Tagged(char tag, uint64_t a, uint64_t b) {
  std::string key = Tagged(tag, a);
  PutFixed64BE(&key, b);
  return key;
}

inline std::string Inode(uint64_t inode) { return Tagged('I', inode); }
inline std::string DirPrefix(uint64_t parent) { return Tagged('D', parent); }
inline std::string Dirent(uint64_t parent, absl::string_view name) {
  return DirPrefix(parent) + std::string(name);
}
inline std::string EntryCount(uint64_t dir) { return Tagged('K', dir); }
inline std::string ExtentPrefix(uint64_t inode) { return Tagged('E', inode); }
inline std::string Extent(uint64_t inode, uint64_t offset) { return Tagged('E', inode, offset); }
inline std::string Chunk(uint64_t chunk) { return Tagged('C', chunk); }
inline std::string Garbage(uint64_t chunk) { return Tagged('G', chunk); }
inline std::string GarbagePrefix() { return "G"; }
inline std::string ChunkPrefix() { return "C"; }
inline std::string Orphan(uint64_t inode) { return Tagged('O', inode); }
inline std::string Session(uint64_t client, uint64_t seq) { return Tagged('S', client, seq); }
inline std::string Decommission(absl::string_view datanode_id) {
  return "N" + std::string(datanode_id);
}
inline std::string DecommissionPrefix() { return "N"; }

// Decoders for keys produced above (the caller knows the table).
inline uint64_t ExtentOffset(absl::string_view key) { return DecodeFixed64BE(key.substr(9)); }
inline absl::string_view DirentName(absl::string_view key) { return key.substr(9); }
inline uint64_t TaggedId(absl::string_view key) { return DecodeFixed64BE(key.substr(1)); }

}  // namespace dfs::keys
