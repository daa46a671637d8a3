#include "master/id_allocator.h"

#include "common/status.h"

namespace dfs {

absl::StatusOr<uint64_t> IdAllocator::Next() {
  std::lock_guard<std::mutex> lock(mu_);
  if (next_ == end_) {
    Command command;
    command.mutable_reserve_ids()->set_kind(kind_);
    command.mutable_reserve_ids()->set_count(block_size_);
    DFS_ASSIGN_OR_RETURN(CommandResult result, log_->Propose(command));
    DFS_RETURN_IF_ERROR(ResultStatus(result));
    next_ = result.first_id();
    end_ = next_ + block_size_;
  }
  return next_++;
}

void IdAllocator::Reset() {
  std::lock_guard<std::mutex> lock(mu_);
  next_ = end_ = 0;
}

}  // namespace dfs
