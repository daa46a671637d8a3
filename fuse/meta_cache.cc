#include "fuse/meta_cache.h"

#include <algorithm>
#include <tuple>

#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"

namespace dfs::fuse {
namespace {

// Keys of what the feed touches, hashed (a collision only drops an answer).
uint64_t InodeKey(uint64_t inode) { return absl::Hash<std::tuple<char, uint64_t>>{}({'I', inode}); }
uint64_t EntryKey(uint64_t parent, absl::string_view name) {
  return absl::Hash<std::tuple<char, uint64_t, absl::string_view>>{}({'D', parent, name});
}
// Any entry of a directory (what a listing describes).
uint64_t ListingKey(uint64_t dir) { return absl::Hash<std::tuple<char, uint64_t>>{}({'L', dir}); }

}  // namespace

MetaCache::MetaCache(const MetaCacheOptions& options, Clock* clock)
    : options_(options), clock_(clock) {}

void MetaCache::Connected() { Restart(/*connected=*/true); }
void MetaCache::Disconnected() { Restart(/*connected=*/false); }

void MetaCache::Restart(bool connected) {
  absl::MutexLock lock(&mu_);
  ClearLocked();
  ++generation_;  // answers asked for before do not belong to the new stream
  connected_ = connected;
  synced_at_ns_ = 0;
  feed_index_ = 0;
}

void MetaCache::ClearLocked() {
  attrs_.clear();
  dirs_.clear();
  names_ = 0;
}

void MetaCache::SetNameLocked(Dir& dir, absl::string_view name, uint64_t inode) {
  auto [it, added] = dir.names.try_emplace(std::string(name), inode);
  if (added) {
    ++names_;
  } else {
    it->second = inode;
  }
}

void MetaCache::TouchLocked(uint64_t key) {
  touched_.emplace_back(seq_, key);
  while (touched_.size() > options_.touched_ring) {
    forgotten_seq_ = std::max(forgotten_seq_, touched_.front().first);
    touched_.pop_front();
  }
}

void MetaCache::LimitLocked() {
  if (attrs_.size() + names_ > options_.max_entries) ClearLocked();
}

void MetaCache::Apply(const WatchEvent& event) {
  absl::MutexLock lock(&mu_);
  if (!connected_) return;
  ++seq_;
  for (const Change& change : event.changes()) {
    feed_index_ = std::max(feed_index_, change.index());
    // Entries first: a complete directory's new entry brings its inode's attributes in.
    absl::flat_hash_set<uint64_t> named;
    for (const DirentChange& d : change.dirents()) {
      TouchLocked(EntryKey(d.parent(), d.name()));
      TouchLocked(ListingKey(d.parent()));
      auto dir = dirs_.find(d.parent());
      if (dir == dirs_.end()) continue;
      if (dir->second.complete || dir->second.names.contains(d.name())) {
        SetNameLocked(dir->second, d.name(), d.inode());
        if (d.inode() != 0) named.insert(d.inode());
      }
    }
    for (const InodeChange& i : change.inodes()) {
      TouchLocked(InodeKey(i.inode()));
      if (i.deleted()) {
        attrs_.erase(i.inode());
        if (auto dir = dirs_.find(i.inode()); dir != dirs_.end()) {
          names_ -= dir->second.names.size();
          dirs_.erase(dir);
        }
        continue;
      }
      auto attr = attrs_.find(i.inode());
      if (attr != attrs_.end()) {
        attr->second = i.attr();
      } else if (named.contains(i.inode())) {
        attrs_.emplace(i.inode(), i.attr());
      }
    }
  }
  feed_index_ = std::max(feed_index_, event.applied_index());
  if (event.synced_index() != 0) {
    feed_index_ = std::max(feed_index_, event.synced_index());
    synced_at_ns_ = clock_->MonotonicNanos();
  }
  LimitLocked();
}

MetaCache::Ticket MetaCache::Begin() {
  absl::MutexLock lock(&mu_);
  return Ticket{generation_, seq_};
}

bool MetaCache::FreshLocked(const Ticket& ticket, const std::vector<uint64_t>& keys) {
  if (!connected_ || ticket.generation != generation_) return false;
  if (forgotten_seq_ > ticket.seq) {
    ++stats_.inserts_dropped;
    return false;
  }
  for (auto it = touched_.rbegin(); it != touched_.rend() && it->first > ticket.seq; ++it) {
    if (std::find(keys.begin(), keys.end(), it->second) != keys.end()) {
      ++stats_.inserts_dropped;
      return false;
    }
  }
  return true;
}

void MetaCache::InsertLookup(const Ticket& ticket, uint64_t parent, absl::string_view name,
                             const Attr* attr) {
  absl::MutexLock lock(&mu_);
  std::vector<uint64_t> keys = {EntryKey(parent, name)};
  if (attr != nullptr) keys.push_back(InodeKey(attr->inode()));
  if (!FreshLocked(ticket, keys)) return;
  SetNameLocked(dirs_[parent], name, attr != nullptr ? attr->inode() : 0);
  if (attr != nullptr) attrs_[attr->inode()] = *attr;
  LimitLocked();
}

void MetaCache::InsertAttr(const Ticket& ticket, const Attr& attr) {
  absl::MutexLock lock(&mu_);
  if (!FreshLocked(ticket, {InodeKey(attr.inode())})) return;
  attrs_[attr.inode()] = attr;
  LimitLocked();
}

void MetaCache::InsertListing(const Ticket& ticket, uint64_t dir,
                              const std::vector<DirEntry>& entries) {
  absl::MutexLock lock(&mu_);
  std::vector<uint64_t> keys = {ListingKey(dir)};
  for (const DirEntry& e : entries) keys.push_back(InodeKey(e.attr().inode()));
  if (!FreshLocked(ticket, keys)) return;
  Dir& kept = dirs_[dir];
  names_ -= kept.names.size();
  kept.names.clear();
  for (const DirEntry& e : entries) {
    SetNameLocked(kept, e.name(), e.attr().inode());
    attrs_[e.attr().inode()] = e.attr();
  }
  kept.complete = true;
  LimitLocked();
}

void MetaCache::InsertNewDir(const Ticket& ticket, const Attr& attr) {
  InsertListing(ticket, attr.inode(), {});
  InsertAttr(ticket, attr);
}

void MetaCache::MarkLarge(uint64_t dir) {
  absl::MutexLock lock(&mu_);
  if (connected_) dirs_[dir].large = true;
}

void MetaCache::MarkHuge(uint64_t dir) {
  absl::MutexLock lock(&mu_);
  if (!connected_) return;
  Dir& kept = dirs_[dir];
  kept.large = true;
  kept.huge = true;
}

bool MetaCache::UsableLocked(uint64_t own_index) {
  return connected_ && synced_at_ns_ != 0 &&
         clock_->MonotonicNanos() - synced_at_ns_ < options_.grace_ms * 1000000 &&
         feed_index_ >= own_index;
}

MetaCache::LookupResult MetaCache::Lookup(uint64_t parent, absl::string_view name,
                                          uint64_t own_index) {
  absl::MutexLock lock(&mu_);
  LookupResult result;
  if (!UsableLocked(own_index)) return result;
  auto dir = dirs_.find(parent);
  if (dir == dirs_.end()) {
    result.listable = true;
  } else if (auto it = dir->second.names.find(name); it != dir->second.names.end()) {
    if (it->second == 0) {
      result.found = Found::kAbsent;
    } else if (auto attr = attrs_.find(it->second); attr != attrs_.end()) {
      result.found = Found::kPresent;
      result.attr = attr->second;
    }
  } else if (dir->second.complete) {
    result.found = Found::kAbsent;
  } else if (!dir->second.large) {
    result.listable = true;
  } else if (!dir->second.huge && ++dir->second.misses >= options_.list_after_misses) {
    dir->second.misses = 0;
    result.list_whole = true;
  }
  ++(result.found == Found::kUnknown ? stats_.misses : stats_.hits);
  return result;
}

std::optional<Attr> MetaCache::GetAttr(uint64_t inode, uint64_t own_index) {
  absl::MutexLock lock(&mu_);
  if (!UsableLocked(own_index)) return std::nullopt;
  auto attr = attrs_.find(inode);
  if (attr == attrs_.end()) {
    ++stats_.misses;
    return std::nullopt;
  }
  ++stats_.hits;
  return attr->second;
}

std::optional<bool> MetaCache::IsEmptyDir(uint64_t dir, uint64_t own_index) {
  absl::MutexLock lock(&mu_);
  if (!UsableLocked(own_index)) return std::nullopt;
  auto it = dirs_.find(dir);
  if (it == dirs_.end() || !it->second.complete) return std::nullopt;
  for (const auto& [name, inode] : it->second.names) {
    if (inode != 0) return false;
  }
  return true;
}

std::optional<uint64_t> MetaCache::FeedIndex() {
  absl::MutexLock lock(&mu_);
  if (!UsableLocked(0)) return std::nullopt;
  return feed_index_;
}

MetaCache::Stats MetaCache::stats() {
  absl::MutexLock lock(&mu_);
  Stats stats = stats_;
  stats.entries = attrs_.size() + names_;
  stats.usable = UsableLocked(0);
  stats.feed_index = feed_index_;
  return stats;
}

}  // namespace dfs::fuse
