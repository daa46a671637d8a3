#include "master/raft/raft_log.h"

#include <algorithm>

#include "common/status.h"

namespace dfs::raft {

Configuration ConfigurationOf(const Entry& entry) {
  ConfChangeRecord record;
  DFS_CHECK(entry.type() == ENTRY_CONF_CHANGE);
  DFS_CHECK(record.ParseFromString(entry.data()));
  return record.configuration();
}

bool HasMember(const Configuration& conf, uint64_t id) {
  for (const Member& m : conf.members()) {
    if (m.id() == id) return true;
  }
  return false;
}

RaftLog::RaftLog() = default;

void RaftLog::Reset(const SnapshotMetadata& snapshot, uint64_t snapshot_bytes,
                    std::vector<Entry> entries, uint64_t committed, uint64_t applied) {
  snapshot_ = snapshot;
  snapshot_bytes_ = snapshot_bytes;
  pending_snapshot_ = false;
  entries_.clear();
  conf_history_.clear();
  uint64_t next = snapshot_index() + 1;
  for (Entry& e : entries) {
    DFS_CHECK(e.index() == next);
    ++next;
    entries_.push_back(std::move(e));
    NoteAppended(entries_.back());
  }
  stable_ = last_index();
  applied_ = std::max(applied, snapshot_index());
  committed_ = std::max(committed, applied_);
  DFS_CHECK(committed_ <= last_index());
}

uint64_t RaftLog::last_term() const {
  return entries_.empty() ? snapshot_term() : entries_.back().term();
}

std::optional<uint64_t> RaftLog::Term(uint64_t index) const {
  if (index == snapshot_index()) return snapshot_term();
  if (index < snapshot_index() || index > last_index()) return std::nullopt;
  return entries_[index - snapshot_index() - 1].term();
}

bool RaftLog::MatchTerm(uint64_t index, uint64_t term) const {
  std::optional<uint64_t> t = Term(index);
  return t.has_value() && *t == term;
}

bool RaftLog::IsUpToDate(uint64_t index, uint64_t term) const {
  uint64_t lt = last_term();
  return term > lt || (term == lt && index >= last_index());
}

const Entry& RaftLog::At(uint64_t index) const {
  DFS_CHECK(index > snapshot_index() && index <= last_index());
  return entries_[index - snapshot_index() - 1];
}

std::vector<Entry> RaftLog::Slice(uint64_t lo, uint64_t hi, uint64_t max_bytes) const {
  std::vector<Entry> out;
  uint64_t bytes = 0;
  for (uint64_t i = lo; i <= hi; ++i) {
    const Entry& e = At(i);
    bytes += e.ByteSizeLong();
    if (!out.empty() && bytes > max_bytes) break;
    out.push_back(e);
  }
  return out;
}

std::pair<uint64_t, uint64_t> RaftLog::FindConflictByTerm(uint64_t index, uint64_t term) const {
  index = std::min(index, last_index());
  for (; index > 0; --index) {
    std::optional<uint64_t> t = Term(index);
    if (!t.has_value()) return {index, 0};
    if (*t <= term) return {index, *t};
  }
  return {0, 0};
}

void RaftLog::NoteAppended(const Entry& entry) {
  if (entry.type() == ENTRY_CONF_CHANGE) {
    conf_history_.emplace_back(entry.index(), ConfigurationOf(entry));
  }
}

void RaftLog::TruncateFrom(uint64_t index) {
  DFS_CHECK(index > committed_);
  DFS_CHECK(index > snapshot_index());
  while (last_index() >= index) entries_.pop_back();
  while (!conf_history_.empty() && conf_history_.back().first >= index) conf_history_.pop_back();
  stable_ = std::min(stable_, index - 1);
}

void RaftLog::Append(Entry entry) {
  DFS_CHECK(entry.index() == last_index() + 1);
  entries_.push_back(std::move(entry));
  NoteAppended(entries_.back());
}

uint64_t RaftLog::MaybeAppend(uint64_t prev_index,
                              const google::protobuf::RepeatedPtrField<Entry>& entries) {
  uint64_t last_new = prev_index + entries.size();
  for (int i = 0; i < entries.size(); ++i) {
    const Entry& e = entries[i];
    DFS_CHECK(e.index() == prev_index + 1 + i);
    if (e.index() <= snapshot_index()) continue;  // already covered by our snapshot
    if (e.index() <= last_index()) {
      if (At(e.index()).term() == e.term()) continue;
      TruncateFrom(e.index());  // aborts if committed: that would break Raft's safety
    }
    Append(e);
  }
  return last_new;
}

void RaftLog::CommitTo(uint64_t index) {
  if (index <= committed_) return;
  DFS_CHECK(index <= last_index());
  committed_ = index;
}

void RaftLog::AppliedTo(uint64_t index) {
  if (index == 0) return;
  DFS_CHECK(index <= committed_);
  applied_ = std::max(applied_, index);
}

std::vector<Entry> RaftLog::UnstableEntries() const {
  std::vector<Entry> out;
  for (uint64_t i = std::max(stable_, snapshot_index()) + 1; i <= last_index(); ++i) {
    out.push_back(At(i));
  }
  return out;
}

std::vector<Entry> RaftLog::NextCommittedEntries(uint64_t max_bytes) const {
  uint64_t lo = std::max(applied_, snapshot_index()) + 1;
  if (lo > committed_) return {};
  return Slice(lo, committed_, max_bytes);
}

bool RaftLog::HasNextCommittedEntries() const {
  return std::max(applied_, snapshot_index()) < committed_;
}

void RaftLog::SnapshotApplied() {
  pending_snapshot_ = false;
  applied_ = std::max(applied_, snapshot_index());
}

void RaftLog::Restore(const SnapshotMetadata& snapshot, uint64_t snapshot_bytes) {
  DFS_CHECK(snapshot.index() > committed_);
  snapshot_ = snapshot;
  snapshot_bytes_ = snapshot_bytes;
  pending_snapshot_ = true;
  entries_.clear();
  conf_history_.clear();
  committed_ = snapshot_index();
  stable_ = snapshot_index();
}

absl::Status RaftLog::CompactTo(uint64_t index, uint64_t data_bytes) {
  if (index <= snapshot_index()) {
    return absl::FailedPreconditionError("already compacted past this index");
  }
  if (index > applied_) return absl::InvalidArgumentError("cannot compact past the applied index");
  if (pending_snapshot_) return absl::FailedPreconditionError("a snapshot is being installed");
  DFS_CHECK(index <= stable_);
  SnapshotMetadata snap;
  snap.set_index(index);
  snap.set_term(*Term(index));
  *snap.mutable_configuration() = ConfigurationAt(index);
  while (!entries_.empty() && entries_.front().index() <= index) entries_.pop_front();
  conf_history_.erase(std::remove_if(conf_history_.begin(), conf_history_.end(),
                                     [index](const auto& c) { return c.first <= index; }),
                      conf_history_.end());
  snapshot_ = std::move(snap);
  snapshot_bytes_ = data_bytes;
  return absl::OkStatus();
}

const Configuration& RaftLog::configuration() const {
  return conf_history_.empty() ? snapshot_.configuration() : conf_history_.back().second;
}

uint64_t RaftLog::last_conf_index() const {
  return conf_history_.empty() ? snapshot_index() : conf_history_.back().first;
}

Configuration RaftLog::ConfigurationAt(uint64_t index) const {
  const Configuration* conf = &snapshot_.configuration();
  for (const auto& [i, c] : conf_history_) {
    if (i > index) break;
    conf = &c;
  }
  return *conf;
}

}  // namespace dfs::raft
