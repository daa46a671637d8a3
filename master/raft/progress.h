// Progress: the leader's view of one member's log (after etcd-io/raft's tracker.Progress).
//
//   kProbe      one append in flight at a time until the member's log position is found
//               (after election, after a rejection, after a restart);
//   kReplicate  appends are pipelined: `next` advances optimistically as they are sent, with at
//               most max_inflight unacknowledged appends;
//   kSnapshot   the member needs entries that were compacted: a snapshot is streamed in chunks,
//               one unacknowledged chunk at a time.
//
// Part of RaftNode; not thread-safe.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>

namespace dfs::raft {

class Progress {
 public:
  enum class State { kProbe, kReplicate, kSnapshot };

  Progress(uint64_t next, int max_inflight) : next(next), max_inflight_(max_inflight) {}

  uint64_t match = 0;
  uint64_t next = 1;
  State state = State::kProbe;
  bool probe_sent = false;     // kProbe: an append is outstanding
  bool recent_active = false;  // heard from since the last check-quorum round
  uint64_t acked_seq = 0;      // highest heartbeat round it acknowledged (ReadIndex, leases)

  // kSnapshot.
  uint64_t pending_snapshot = 0;  // index of the snapshot being sent
  uint64_t snapshot_offset = 0;   // bytes the member acknowledged
  int snapshot_idle_ticks = 0;    // ticks since the last chunk was sent or acknowledged
  // kReplicate: ticks with appends in flight but no acknowledgement (a lost append stalls the
  // pipeline; after a while the leader probes again from match + 1).
  int stall_ticks = 0;

  bool IsPaused() const {
    switch (state) {
      case State::kProbe: return probe_sent;
      case State::kReplicate: return static_cast<int>(inflight_.size()) >= max_inflight_;
      case State::kSnapshot: return true;
    }
    return true;
  }

  void BecomeProbe() {
    if (state == State::kSnapshot) {
      next = std::max(match + 1, pending_snapshot + 1);
    } else {
      next = match + 1;
    }
    ResetState(State::kProbe);
  }
  void BecomeReplicate() {
    next = match + 1;
    ResetState(State::kReplicate);
  }
  void BecomeSnapshot(uint64_t snapshot_index) {
    ResetState(State::kSnapshot);
    pending_snapshot = snapshot_index;
  }

  // A successful append response for `index`. Returns whether match advanced.
  bool MaybeUpdate(uint64_t index) {
    bool updated = false;
    if (index > match) {
      match = index;
      updated = true;
      probe_sent = false;
      stall_ticks = 0;
    }
    next = std::max(next, index + 1);
    while (!inflight_.empty() && inflight_.front() <= index) inflight_.pop_front();
    return updated;
  }

  // A rejection of the append after `rejected`, with the member's hint of where logs may match.
  // Returns false for a stale rejection.
  bool MaybeDecrTo(uint64_t rejected, uint64_t match_hint) {
    if (state == State::kReplicate) {
      if (rejected <= match) return false;
      next = match + 1;
      return true;
    }
    if (next - 1 != rejected) return false;
    next = std::max(std::min(rejected, match_hint + 1), match + 1);
    probe_sent = false;
    return true;
  }

  // An append carrying entries up to `last` was sent.
  void SentEntries(uint64_t last) {
    if (state == State::kReplicate) {
      next = last + 1;
      inflight_.push_back(last);
    } else if (state == State::kProbe) {
      probe_sent = true;
    }
  }
  int inflight() const { return static_cast<int>(inflight_.size()); }

 private:
  void ResetState(State s) {
    state = s;
    probe_sent = false;
    pending_snapshot = 0;
    snapshot_offset = 0;
    snapshot_idle_ticks = 0;
    stall_ticks = 0;
    inflight_.clear();
  }

  int max_inflight_;
  std::deque<uint64_t> inflight_;  // last index of each unacknowledged append
};

}  // namespace dfs::raft
