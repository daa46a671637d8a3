#include "master/consistency_check.h"

#include <map>
#include <memory>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/keycoding.h"
#include "common/status.h"
#include "master/keys.h"
#include "master/ops.h"
#include "proto/command.pb.h"

namespace dfs {
namespace {

absl::Status Broken(absl::string_view what) {
  return absl::InternalError(absl::StrCat("inconsistent store: ", what));
}

// Everything read from one pass over the store.
struct Tables {
  std::map<uint64_t, Attr> inodes;
  std::map<uint64_t, uint64_t> entries_to;                 // inode -> directory entries naming it
  std::map<uint64_t, uint64_t> subdirs;                    // directory -> subdirectories in it
  std::map<uint64_t, uint64_t> entries_in;                 // directory -> entries in it
  std::map<uint64_t, uint64_t> entry_counts;               // directory -> its K record
  std::map<uint64_t, std::map<uint64_t, Extent>> extents;  // inode -> file offset -> extent
  std::map<uint64_t, ChunkRecord> chunks;
  std::set<uint64_t> garbage;
  std::set<uint64_t> orphans;
};

absl::Status CheckInodes(const Tables& t, uint64_t next_inode, uint64_t inode_count) {
  auto root = t.inodes.find(keys::kRootInode);
  if (root == t.inodes.end() || root->second.type() != FILE_TYPE_DIRECTORY ||
      root->second.parent() != keys::kRootInode) {
    return Broken("no root directory");
  }
  if (t.inodes.size() != inode_count) {
    return Broken(absl::StrCat(t.inodes.size(), " inodes, the counter says ", inode_count));
  }
  for (const auto& [id, attr] : t.inodes) {
    if (id >= next_inode) return Broken(absl::StrCat("inode ", id, " was never reserved"));
    auto named = t.entries_to.find(id);
    const uint64_t names = named == t.entries_to.end() ? 0 : named->second;
    const bool orphan = t.orphans.count(id) > 0;
    if (attr.type() == FILE_TYPE_DIRECTORY) {
      auto sub = t.subdirs.find(id);
      const uint64_t subdirs = sub == t.subdirs.end() ? 0 : sub->second;
      if (names != (id == keys::kRootInode ? 0u : 1u) || attr.nlink() != 2 + subdirs) {
        return Broken(absl::StrCat("directory ", id, " has ", names, " names, ", subdirs,
                                   " subdirectories and nlink ", attr.nlink()));
      }
      if (t.inodes.count(attr.parent()) == 0) {
        return Broken(absl::StrCat("directory ", id, " has no parent ", attr.parent()));
      }
      if (auto count = t.entry_counts.find(id); count != t.entry_counts.end()) {
        auto in = t.entries_in.find(id);
        const uint64_t entries = in == t.entries_in.end() ? 0 : in->second;
        if (count->second != entries) {
          return Broken(absl::StrCat("directory ", id, " has ", entries,
                                     " entries, its count says ", count->second));
        }
      }
      continue;
    }
    if (attr.type() != FILE_TYPE_REGULAR && attr.type() != FILE_TYPE_SYMLINK) {
      return Broken(absl::StrCat("inode ", id, " has type ", attr.type()));
    }
    if (attr.nlink() != names || (names == 0 && !orphan)) {
      return Broken(absl::StrCat("inode ", id, " has ", names, " names but nlink ", attr.nlink(),
                                 orphan ? " (orphan)" : ""));
    }
    if (attr.type() == FILE_TYPE_SYMLINK && attr.size() != attr.symlink_target().size()) {
      return Broken(absl::StrCat("symlink ", id, " size differs from its target's"));
    }
  }
  for (const auto& [id, count] : t.entry_counts) {
    auto attr = t.inodes.find(id);
    if (attr == t.inodes.end() || attr->second.type() != FILE_TYPE_DIRECTORY) {
      return Broken(absl::StrCat("entry count of ", id, ", which is not a directory"));
    }
  }
  for (uint64_t id : t.orphans) {
    auto attr = t.inodes.find(id);
    if (attr == t.inodes.end() || attr->second.type() != FILE_TYPE_REGULAR) {
      return Broken(absl::StrCat("orphan ", id, " is not a regular file"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckExtents(const Tables& t, std::map<uint64_t, uint64_t>* refs) {
  for (const auto& [inode, extents] : t.extents) {
    auto attr = t.inodes.find(inode);
    if (attr == t.inodes.end() || attr->second.type() != FILE_TYPE_REGULAR) {
      return Broken(absl::StrCat("extents of inode ", inode, ", which is not a regular file"));
    }
    uint64_t previous_end = 0;
    for (const auto& [offset, e] : extents) {
      if (e.length() == 0 || offset < previous_end || e.length() > attr->second.size() ||
          offset > attr->second.size() - e.length()) {
        return Broken(absl::StrCat("extent at ", offset, " of inode ", inode,
                                   " is empty, overlaps another or ends past the file"));
      }
      previous_end = offset + e.length();
      auto chunk = t.chunks.find(e.chunk_id());
      if (chunk == t.chunks.end()) {
        return Broken(absl::StrCat("inode ", inode, " uses unrecorded chunk ", e.chunk_id()));
      }
      const uint64_t chunk_length = chunk->second.info().length();
      if (e.chunk_offset() > chunk_length || e.length() > chunk_length - e.chunk_offset()) {
        return Broken(absl::StrCat("extent at ", offset, " of inode ", inode, " exceeds chunk ",
                                   e.chunk_id()));
      }
      ++(*refs)[e.chunk_id()];
    }
  }
  return absl::OkStatus();
}

absl::Status CheckChunks(const Tables& t, const std::map<uint64_t, uint64_t>& refs,
                         uint64_t next_chunk) {
  for (const auto& [id, record] : t.chunks) {
    auto used = refs.find(id);
    const uint64_t uses = used == refs.end() ? 0 : used->second;
    if (record.info().chunk_id() != id || id == 0 || id >= next_chunk) {
      return Broken(absl::StrCat("chunk record ", id, " has a bad id"));
    }
    if (record.refs() != uses || uses == 0) {
      return Broken(absl::StrCat("chunk ", id, " has ", record.refs(), " references recorded, ",
                                 uses, " extents use it"));
    }
    if (record.info().replicas().empty())
      return Broken(absl::StrCat("chunk ", id, " has no replica"));
    if (t.garbage.count(id)) return Broken(absl::StrCat("chunk ", id, " is also garbage"));
  }
  for (uint64_t id : t.garbage) {
    if (id == 0 || id >= next_chunk) return Broken(absl::StrCat("garbage chunk ", id, " bad id"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckConsistency(MetaStore* store) {
  Tables t;
  std::unique_ptr<leveldb::Iterator> it(store->db()->NewIterator(leveldb::ReadOptions()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::string key = it->key().ToString();
    const std::string value = it->value().ToString();
    const char tag = key[0];
    if (tag == 'M' || tag == 'S' || tag == 'N') continue;
    if (key.size() < 9) return Broken(absl::StrCat("short key with tag ", std::string(1, tag)));
    const uint64_t id = keys::TaggedId(key);
    switch (tag) {
      case 'I': {
        Attr attr;
        if (!attr.ParseFromString(value) || attr.inode() != id || key.size() != 9) {
          return Broken(absl::StrCat("inode record ", id));
        }
        t.inodes[id] = attr;
        break;
      }
      case 'D': {
        const absl::string_view name = keys::DirentName(key);
        if (!ValidateName(name).ok() || value.size() != 8) {
          return Broken(absl::StrCat("entry '", name, "' in directory ", id));
        }
        const uint64_t child = DecodeFixed64BE(value);
        ++t.entries_to[child];
        ++t.entries_in[id];
        Attr dir, attr;
        if (!store->GetProto(keys::Inode(id), &dir).ok() || dir.type() != FILE_TYPE_DIRECTORY) {
          return Broken(absl::StrCat("entry '", name, "' in ", id, ", not a directory"));
        }
        if (!store->GetProto(keys::Inode(child), &attr).ok()) {
          return Broken(absl::StrCat("entry '", name, "' in ", id, " names no inode"));
        }
        if (attr.type() == FILE_TYPE_DIRECTORY) {
          if (attr.parent() != id) {
            return Broken(absl::StrCat("directory ", child, " is in ", id, " but its parent is ",
                                       attr.parent()));
          }
          ++t.subdirs[id];
        }
        break;
      }
      case 'E': {
        Extent e;
        if (key.size() != 17 || !e.ParseFromString(value)) {
          return Broken(absl::StrCat("extent record of inode ", id));
        }
        t.extents[id][keys::ExtentOffset(key)] = e;
        break;
      }
      case 'C': {
        ChunkRecord record;
        if (key.size() != 9 || !record.ParseFromString(value)) {
          return Broken(absl::StrCat("chunk record ", id));
        }
        t.chunks[id] = record;
        break;
      }
      case 'K': {
        if (key.size() != 9 || value.size() != 8) {
          return Broken(absl::StrCat("entry count of directory ", id));
        }
        t.entry_counts[id] = DecodeFixed64BE(value);
        break;
      }
      case 'G': t.garbage.insert(id); break;
      case 'O': t.orphans.insert(id); break;
      default: return Broken(absl::StrCat("unknown key tag ", std::string(1, tag)));
    }
  }
  if (!it->status().ok()) return absl::InternalError(it->status().ToString());
  DFS_RETURN_IF_ERROR(
      CheckInodes(t, store->GetCounter(keys::kNextInode), store->GetCounter(keys::kInodeCount)));
  std::map<uint64_t, uint64_t> refs;
  DFS_RETURN_IF_ERROR(CheckExtents(t, &refs));
  return CheckChunks(t, refs, store->GetCounter(keys::kNextChunk));
}

}  // namespace dfs
