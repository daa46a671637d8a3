#include "fuse/file_reader.h"

#include <algorithm>
#include <utility>
#include <vector>

namespace dfs::fuse {

FileReader::FileReader(std::shared_ptr<RangeSource> source, ThreadPool* pool,
                       const ReaderOptions& options)
    : source_(std::move(source)),
      pool_(pool),
      options_(options),
      max_window_blocks_(
          options.block_bytes == 0 ? 0 : options.readahead_bytes / options.block_bytes) {}

size_t FileReader::cached_blocks() {
  absl::MutexLock lock(&mu_);
  return blocks_.size();
}

void FileReader::Fetch(RangeSource* source, Block* block, uint64_t offset, uint64_t length) {
  // Whoever comes first fetches: a pool thread for a prefetch, or the reader itself when it
  // needs a block whose prefetch is still queued behind other files' work.
  {
    absl::MutexLock lock(&block->mu);
    if (block->started) return;
    block->started = true;
  }
  absl::StatusOr<std::string> data = source->ReadRange(offset, length);
  absl::MutexLock lock(&block->mu);
  if (data.ok()) {
    block->data = *std::move(data);
  } else {
    block->status = data.status();
  }
  block->done = true;
}

absl::StatusOr<std::string> FileReader::Read(uint64_t offset, uint64_t size, uint64_t version) {
  if (size == 0) return std::string();
  const uint64_t block_bytes = options_.block_bytes;
  std::vector<std::pair<uint64_t, std::shared_ptr<Block>>> needed;
  std::vector<std::pair<uint64_t, std::shared_ptr<Block>>> ahead;
  {
    absl::MutexLock lock(&mu_);
    if (version != version_) {
      blocks_.clear();
      version_ = version;
      window_blocks_ = 0;
    }
    const uint64_t first = offset / block_bytes;
    const uint64_t last = (offset + size - 1) / block_bytes;
    // The kernel's parallel readahead requests may arrive out of order: a block of slack either
    // way still counts as sequential.
    const bool sequential = max_window_blocks_ > 0 && offset + block_bytes >= next_offset_ &&
                            offset <= next_offset_ + block_bytes;
    const bool first_request = next_offset_ == 0 && blocks_.empty();
    next_offset_ = offset + size;
    bool all_cached = true;
    for (uint64_t i = first; i <= last && all_cached; ++i) all_cached = blocks_.count(i) > 0;
    if (!sequential) {
      window_blocks_ = 0;
      if (!all_cached) {
        // A random reader: what was read ahead is of no use any more.
        blocks_.clear();
        needed.clear();
      }
    } else if (!first_request) {
      // Grow only from the second sequential request, so a file read once in one request (most
      // small files) costs no fetches beyond its end.
      window_blocks_ = std::min(max_window_blocks_, std::max<uint64_t>(2, window_blocks_ * 2));
    }
    if (sequential || all_cached) {
      for (uint64_t i = first; i <= last; ++i) {
        std::shared_ptr<Block>& block = blocks_[i];
        if (!block) block = std::make_shared<Block>();
        needed.emplace_back(i, block);
      }
      for (uint64_t i = last + 1; i <= last + window_blocks_; ++i) {
        std::shared_ptr<Block>& block = blocks_[i];
        if (block) continue;
        block = std::make_shared<Block>();
        ahead.emplace_back(i, block);
      }
      // Keep one block behind the reader (for out-of-order requests), drop the rest.
      while (!blocks_.empty() && blocks_.begin()->first + 1 < first) blocks_.erase(blocks_.begin());
    }
  }
  if (needed.empty()) return source_->ReadRange(offset, size);

  for (auto& [index, block] : ahead) {
    pool_->Schedule([source = source_, block = block, offset = index * block_bytes,
                     length = block_bytes] { Fetch(source.get(), block.get(), offset, length); });
  }
  std::string out;
  out.reserve(size);
  for (auto& [index, block] : needed) {
    Fetch(source_.get(), block.get(), index * block_bytes, block_bytes);
    absl::Status status;
    bool end_of_file = false;
    {
      absl::MutexLock lock(&block->mu);
      block->mu.Await(absl::Condition(&block->done));
      status = block->status;
      if (status.ok()) {
        const uint64_t block_start = index * block_bytes;
        const uint64_t from = std::max(offset, block_start) - block_start;
        const uint64_t to = std::min(offset + size, block_start + block_bytes) - block_start;
        const std::string& data = block->data;
        if (from < data.size()) out.append(data, from, std::min<uint64_t>(to, data.size()) - from);
        // A short block: the file ends inside it.
        end_of_file = data.size() < block_bytes;
      }
    }
    if (!status.ok()) {
      // Forget the failed block so that the next read tries again.
      absl::MutexLock lock(&mu_);
      auto it = blocks_.find(index);
      if (it != blocks_.end() && it->second == block) blocks_.erase(it);
      return status;
    }
    if (end_of_file) break;
  }
  return out;
}

}  // namespace dfs::fuse
