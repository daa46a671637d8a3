#include "fuse/write_behind.h"

#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/logging.h"
#include "common/thread_name.h"

namespace dfs::fuse {
namespace {

std::string Describe(const BatchOp& op) {
  switch (op.op_case()) {
    case BatchOp::kUnlink:
      return absl::StrCat("unlink of '", op.unlink().name(), "' in directory ",
                          op.unlink().parent());
    case BatchOp::kRmdir:
      return absl::StrCat("rmdir of '", op.rmdir().name(), "' in directory ", op.rmdir().parent());
    case BatchOp::kCreate:
      return absl::StrCat("create of '", op.create().name(), "' in directory ",
                          op.create().parent());
    case BatchOp::kMkdir:
      return absl::StrCat("mkdir of '", op.mkdir().name(), "' in directory ", op.mkdir().parent());
    case BatchOp::kRename:
      return absl::StrCat("rename of '", op.rename().name(), "' in directory ",
                          op.rename().parent(), " to '", op.rename().new_name(),
                          "' in directory ", op.rename().new_parent());
    case BatchOp::OP_NOT_SET:
      break;
  }
  return "empty change";
}

}  // namespace

WriteBehind::WriteBehind(const WriteBehindOptions& options, Sender sender, FeedIndex feed_index,
                         DirsAnswered dirs_answered)
    : options_(options),
      sender_(std::move(sender)),
      feed_index_(std::move(feed_index)),
      dirs_answered_(std::move(dirs_answered)) {
  if (options_.enabled) sender_thread_ = std::thread([this] { Run(); });
}

WriteBehind::~WriteBehind() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (sender_thread_.joinable()) sender_thread_.join();
}

uint64_t WriteBehind::Enqueue(BatchOp op, Effects effects, bool hold) {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](WriteBehind* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
        return self->queue_.size() < self->options_.max_pending;
      },
      this));
  Touched touched{.seq = ++queued_seq_};
  for (Effects::Name& name : effects.names) {
    NameKey key(name.parent, std::move(name.name));
    names_[key] = Kept{.seq = touched.seq, .attr = std::move(name.attr)};
    touched.names.push_back(std::move(key));
  }
  for (Attr& dir : effects.dirs) {
    const uint64_t inode = dir.inode();
    dirs_[inode] = Kept{.seq = touched.seq, .attr = std::move(dir)};
    touched.dirs.push_back(inode);
  }
  const uint64_t seq = touched.seq;
  unanswered_.push_back(std::move(touched));
  if (hold && held_++ == 0) hold_until_ = absl::Now() + options_.hold;
  queue_.push_back(Queued{.op = std::move(op), .seq = seq, .held = hold});
  ++stats_.queued;
  return seq;
}

bool WriteBehind::Amend(uint64_t seq, absl::FunctionRef<void(BatchOp&)> amend) {
  absl::MutexLock lock(&mu_);
  for (Queued& queued : queue_) {
    if (queued.seq != seq) continue;
    if (!queued.held) return false;
    amend(queued.op);
    queued.held = false;
    --held_;
    awaited_[seq];
    ++stats_.amended;
    return true;
  }
  return false;
}

absl::StatusOr<Attr> WriteBehind::Wait(uint64_t seq) {
  absl::MutexLock lock(&mu_);
  auto it = awaited_.find(seq);
  if (it == awaited_.end()) return absl::InternalError("waiting for a change that was not amended");
  AwaitAnsweredLocked(seq);
  it = awaited_.find(seq);
  absl::StatusOr<Attr> answer = *std::move(it->second);
  awaited_.erase(it);
  return answer;
}

bool WriteBehind::AwaitBatchLocked() {
  // A waiting caller may be sending a batch itself (AwaitAnsweredLocked): one at a time.
  auto ready = +[](WriteBehind* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
    return !self->sending_ &&
           (self->stop_ || (!self->queue_.empty() && (self->held_ == 0 || self->flush_)));
  };
  for (;;) {
    mu_.Await(absl::Condition(
        +[](WriteBehind* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
          return !self->sending_ && (self->stop_ || !self->queue_.empty());
        },
        this));
    if (queue_.empty()) return false;  // stopping, with everything sent
    // A held create waits for its content, for someone to wait, or for its time to pass.
    mu_.AwaitWithDeadline(absl::Condition(ready, this), hold_until_);
    if (!sending_ && !queue_.empty()) return true;
  }
}

void WriteBehind::Run() {
  NameThisThread("dfs-wbehind");
  absl::MutexLock lock(&mu_);
  while (AwaitBatchLocked()) SendBatchLocked();
}

void WriteBehind::SendBatchLocked() {
  sending_ = true;
  std::vector<BatchOp> batch;
  const uint64_t first_seq = queue_.front().seq;
  while (!queue_.empty() && batch.size() < options_.max_batch) {
    if (queue_.front().held) --held_;
    batch.push_back(std::move(queue_.front().op));
    queue_.pop_front();
  }
  if (queue_.empty()) flush_ = false;
  mu_.Unlock();
  absl::StatusOr<Answer> answer = sender_(batch);
  if (answer.ok() && answer->results.size() != batch.size()) {
    answer = absl::InternalError("the master answered a batch with a wrong number of results");
  }
  mu_.Lock();
  ++stats_.batches;
  for (size_t i = 0; i < batch.size(); ++i) {
    const absl::Status& status = answer.ok() ? answer->results[i] : answer.status();
    if (status.ok()) continue;
    ++stats_.failed;
    DFS_LOG(WARNING) << "write-behind: the " << Describe(batch[i])
                     << " answered earlier failed at the master: " << status;
    // An op someone waits for is reported to them (Wait).
    if (error_.ok() && !awaited_.contains(first_seq + i)) {
      error_ = FsError(EIO, absl::StrCat("a change answered earlier failed: ",
                                         Describe(batch[i]), ": ", status.message()));
    }
  }
  std::vector<uint64_t> dirs = AnsweredLocked(batch.size(), answer);
  // Before Drain returns: what fsync promises includes the kernel being told.
  if (!dirs.empty() && dirs_answered_) {
    mu_.Unlock();
    dirs_answered_(dirs);
    mu_.Lock();
  }
  answered_seq_ += batch.size();
  sending_ = false;
}

void WriteBehind::AwaitAnsweredLocked(uint64_t seq) {
  if (answered_seq_ >= seq) return;
  if (!queue_.empty()) flush_ = true;
  std::pair<WriteBehind*, uint64_t> wait(this, seq);
  auto answered_or_idle =
      +[](std::pair<WriteBehind*, uint64_t>* arg) ABSL_NO_THREAD_SAFETY_ANALYSIS {
        WriteBehind* self = arg->first;
        return self->answered_seq_ >= arg->second || (!self->sending_ && !self->queue_.empty());
      };
  for (;;) {
    mu_.Await(absl::Condition(answered_or_idle, &wait));
    if (answered_seq_ >= seq) return;
    // Nothing in flight: send it from here rather than wake the sender's thread and wait for it
    // (two thread switches fewer per wait).
    SendBatchLocked();
  }
}

std::vector<uint64_t> WriteBehind::AnsweredLocked(size_t count,
                                                  const absl::StatusOr<Answer>& answer) {
  const uint64_t index = answer.ok() ? answer->index : 0;
  for (size_t i = 0; i < count; ++i) {
    Touched touched = std::move(unanswered_.front());
    unanswered_.pop_front();
    if (auto it = awaited_.find(touched.seq); it != awaited_.end()) {
      if (!answer.ok()) {
        it->second = answer.status();
      } else if (!answer->results[i].ok()) {
        it->second = answer->results[i];
      } else {
        it->second = i < answer->attrs.size() ? answer->attrs[i] : Attr();
      }
    }
    if (!answer.ok() || !answer->results[i].ok()) {
      ForgetLocked(touched);
      continue;
    }
    touched.index = index;
    for (const NameKey& key : touched.names) {
      if (auto it = names_.find(key); it != names_.end() && it->second.seq == touched.seq) {
        it->second.index = index;
      }
    }
    for (uint64_t dir : touched.dirs) {
      if (auto it = dirs_.find(dir); it != dirs_.end() && it->second.seq == touched.seq) {
        it->second.index = index;
      }
    }
    answered_.push_back(std::move(touched));
  }
  // What the master says of a directory replaces what this mount guessed, unless a change not
  // yet answered guessed again on top.
  std::vector<uint64_t> replaced;
  if (!answer.ok()) return replaced;
  for (const Attr& dir : answer->dir_attrs) {
    auto it = dirs_.find(dir.inode());
    if (it == dirs_.end() || it->second.index == 0) continue;
    it->second.attr = dir;
    replaced.push_back(dir.inode());
  }
  return replaced;
}

void WriteBehind::ForgetLocked(const Touched& touched) {
  for (const NameKey& key : touched.names) {
    if (auto it = names_.find(key); it != names_.end() && it->second.seq == touched.seq) {
      names_.erase(it);
    }
  }
  for (uint64_t dir : touched.dirs) {
    if (auto it = dirs_.find(dir); it != dirs_.end() && it->second.seq == touched.seq) {
      dirs_.erase(it);
    }
  }
}

bool WriteBehind::ExpireLocked() {
  if (answered_.empty()) return true;
  const std::optional<uint64_t> feed = feed_index_();
  while (!answered_.empty() && (!feed || answered_.front().index <= *feed)) {
    ForgetLocked(answered_.front());
    answered_.pop_front();
  }
  return feed.has_value();
}

WriteBehind::Found WriteBehind::Lookup(uint64_t parent, absl::string_view name, Attr* attr) {
  absl::MutexLock lock(&mu_);
  if (names_.empty()) return Found::kUnknown;
  ExpireLocked();
  auto it = names_.find(NameKey(parent, std::string(name)));
  if (it == names_.end()) return Found::kUnknown;
  if (!it->second.attr) return Found::kAbsent;
  *attr = *it->second.attr;
  return Found::kPresent;
}

std::optional<Attr> WriteBehind::DirAttr(uint64_t inode) {
  absl::MutexLock lock(&mu_);
  if (dirs_.empty()) return std::nullopt;
  ExpireLocked();
  auto it = dirs_.find(inode);
  if (it == dirs_.end()) return std::nullopt;
  return it->second.attr;
}

bool WriteBehind::AddsNamesIn(uint64_t dir) {
  absl::MutexLock lock(&mu_);
  ExpireLocked();
  for (const auto& [key, kept] : names_) {
    if (key.first == dir && kept.attr) return true;
  }
  return false;
}

void WriteBehind::Drain() {
  absl::MutexLock lock(&mu_);
  if (answered_seq_ >= queued_seq_) return;
  ++stats_.drains;
  AwaitAnsweredLocked(queued_seq_);
}

absl::Status WriteBehind::TakeError() {
  absl::MutexLock lock(&mu_);
  return std::exchange(error_, absl::OkStatus());
}

WriteBehind::Stats WriteBehind::stats() {
  absl::MutexLock lock(&mu_);
  return stats_;
}

}  // namespace dfs::fuse
