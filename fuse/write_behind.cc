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

void WriteBehind::Enqueue(BatchOp op, Effects effects) {
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
  unanswered_.push_back(std::move(touched));
  queue_.push_back(std::move(op));
  ++stats_.queued;
}

void WriteBehind::Run() {
  NameThisThread("dfs-wbehind");
  for (;;) {
    std::vector<BatchOp> batch;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](WriteBehind* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
            return self->stop_ || !self->queue_.empty();
          },
          this));
      if (queue_.empty()) return;  // stopping, with everything sent
      while (!queue_.empty() && batch.size() < options_.max_batch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    absl::StatusOr<Answer> answer = sender_(batch);
    if (answer.ok() && answer->results.size() != batch.size()) {
      answer = absl::InternalError("the master answered a batch with a wrong number of results");
    }
    std::vector<uint64_t> dirs;
    {
      absl::MutexLock lock(&mu_);
      ++stats_.batches;
      for (size_t i = 0; i < batch.size(); ++i) {
        const absl::Status& status = answer.ok() ? answer->results[i] : answer.status();
        if (status.ok()) continue;
        ++stats_.failed;
        DFS_LOG(WARNING) << "write-behind: the " << Describe(batch[i])
                         << " answered earlier failed at the master: " << status;
        if (error_.ok()) {
          error_ = FsError(EIO, absl::StrCat("a change answered earlier failed: ",
                                             Describe(batch[i]), ": ", status.message()));
        }
      }
      dirs = AnsweredLocked(batch.size(), answer);
    }
    // Before Drain returns: what fsync promises includes the kernel being told.
    if (!dirs.empty() && dirs_answered_) dirs_answered_(dirs);
    absl::MutexLock lock(&mu_);
    answered_seq_ += batch.size();
  }
}

std::vector<uint64_t> WriteBehind::AnsweredLocked(size_t count,
                                                  const absl::StatusOr<Answer>& answer) {
  const uint64_t index = answer.ok() ? answer->index : 0;
  for (size_t i = 0; i < count; ++i) {
    Touched touched = std::move(unanswered_.front());
    unanswered_.pop_front();
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
  const uint64_t target = queued_seq_;
  if (answered_seq_ >= target) return;
  ++stats_.drains;
  std::pair<WriteBehind*, uint64_t> wait(this, target);
  mu_.Await(absl::Condition(
      +[](std::pair<WriteBehind*, uint64_t>* arg) ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return arg->first->answered_seq_ >= arg->second;
      },
      &wait));
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
