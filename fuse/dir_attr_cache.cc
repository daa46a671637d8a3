#include "fuse/dir_attr_cache.h"

namespace dfs::fuse {
namespace {

// Directories with a kept answer before a sweep of the stale ones.
constexpr size_t kSweepAbove = 1024;

}  // namespace

DirAttrCache::Ticket DirAttrCache::Begin(uint64_t dir) {
  absl::MutexLock lock(&mu_);
  Dir& state = dirs_[dir];
  Ticket ticket;
  ticket.dir = dir;
  ticket.seq = ++next_seq_;
  ticket.alone = state.in_flight == 0;
  ++state.in_flight;
  state.last_seq = ticket.seq;
  state.attr.reset();
  return ticket;
}

void DirAttrCache::End(const Ticket& ticket, const Attr* attr) {
  const int64_t now = clock_->MonotonicNanos();
  absl::MutexLock lock(&mu_);
  auto it = dirs_.find(ticket.dir);
  if (it == dirs_.end()) return;  // not begun: a bug of the caller, but harmless
  Dir& state = it->second;
  --state.in_flight;
  // Kept only when this change had the directory to itself from beginning to end.
  if (attr != nullptr && max_age_ms_ > 0 && ticket.alone && state.last_seq == ticket.seq) {
    state.attr = *attr;
    state.kept_ns = now;
    if (dirs_.size() > kSweepAbove) SweepLocked(now);
    return;
  }
  if (state.in_flight == 0 && !state.attr) dirs_.erase(it);
}

std::optional<Attr> DirAttrCache::Take(uint64_t dir) {
  const int64_t now = clock_->MonotonicNanos();
  absl::MutexLock lock(&mu_);
  auto it = dirs_.find(dir);
  if (it == dirs_.end() || !it->second.attr) return std::nullopt;
  std::optional<Attr> attr = std::move(it->second.attr);
  const bool fresh = now - it->second.kept_ns <= max_age_ms_ * 1000000;
  it->second.attr.reset();
  if (it->second.in_flight == 0) dirs_.erase(it);
  if (!fresh) return std::nullopt;
  return attr;
}

size_t DirAttrCache::size() {
  absl::MutexLock lock(&mu_);
  return dirs_.size();
}

void DirAttrCache::SweepLocked(int64_t now) {
  for (auto it = dirs_.begin(); it != dirs_.end();) {
    Dir& state = it->second;
    if (state.attr && now - state.kept_ns > max_age_ms_ * 1000000) state.attr.reset();
    if (state.in_flight == 0 && !state.attr) {
      dirs_.erase(it++);
    } else {
      ++it;
    }
  }
}

}  // namespace dfs::fuse
