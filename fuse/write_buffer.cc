#include "fuse/write_buffer.h"

#include <algorithm>
#include <cstring>
#include <iterator>

#include "common/status.h"

namespace dfs::fuse {

WrittenData SliceWritten(const WrittenData& data, uint64_t begin, uint64_t end,
                         std::set<uint64_t>* committed) {
  WrittenData slice;
  slice.length = end - begin;
  std::set<uint64_t> used;
  for (const Extent& extent : data.extents) {
    const uint64_t from = std::max(begin, extent.file_offset());
    const uint64_t to = std::min(end, extent.file_offset() + extent.length());
    if (from >= to) continue;
    Extent& piece = slice.extents.emplace_back();
    piece.set_file_offset(from - begin);
    piece.set_chunk_id(extent.chunk_id());
    piece.set_chunk_offset(extent.chunk_offset() + (from - extent.file_offset()));
    piece.set_length(to - from);
    used.insert(extent.chunk_id());
  }
  for (const ChunkInfo& chunk : data.chunks) {
    if (used.count(chunk.chunk_id()) && committed->insert(chunk.chunk_id()).second) {
      slice.chunks.push_back(chunk);
    }
  }
  return slice;
}

void Overlay::Apply(uint64_t offset, uint64_t length, std::string* data) const {
  uint64_t size = data->size();
  if (end_ > offset) size = std::max<uint64_t>(size, std::min(length, end_ - offset));
  data->resize(size, '\0');
  for (const auto& [range_offset, bytes] : ranges_) {
    std::memcpy(data->data() + (range_offset - offset), bytes.data(), bytes.size());
  }
}

absl::Status WriteBuffer::Write(bool append, uint64_t offset, absl::string_view data,
                                uint64_t commit_bytes) {
  if (data.empty()) return absl::OkStatus();
  // Appends land wherever the file ends at commit time, positional writes where they say:
  // one kind is committed before the other kind is buffered, so that the order holds.
  const bool buffered_appends = run_ != nullptr && run_append_;
  if (!empty() && append != buffered_appends) DFS_RETURN_IF_ERROR(Commit());
  const bool continues_run =
      run_ != nullptr && (append || offset == run_offset_ + run_length_);
  const bool starts_run = run_ == nullptr && ranges_.empty();
  if (continues_run || starts_run) {
    if (starts_run) {
      run_ = target_->NewWriter();
      run_append_ = append;
      run_offset_ = append ? 0 : offset;
      run_length_ = 0;
    }
    absl::Status status = run_->Append(data);
    if (!status.ok()) {
      // The writer is unusable and its bytes are lost; so is the rest, for simplicity of the
      // contract (the caller reports the loss).
      run_.reset();
      run_length_ = 0;
      ranges_.clear();
      range_bytes_ = 0;
      return status;
    }
    run_length_ += data.size();
    if (!append) CutRanges(offset, data.size());
  } else {
    AddRange(offset, data);
  }
  if (bytes() >= commit_bytes) return Commit();
  return absl::OkStatus();
}

void WriteBuffer::AddRange(uint64_t offset, absl::string_view data) {
  const uint64_t end = offset + data.size();
  // The first range that touches [offset, end]: the one before `offset` if it reaches it.
  auto first = ranges_.lower_bound(offset);
  if (first != ranges_.begin()) {
    auto previous = std::prev(first);
    if (previous->first + previous->second.size() >= offset) first = previous;
  }
  auto last = first;  // one past the last range that touches
  uint64_t merged_start = offset;
  uint64_t merged_end = end;
  for (; last != ranges_.end() && last->first <= end; ++last) {
    merged_start = std::min(merged_start, last->first);
    merged_end = std::max<uint64_t>(merged_end, last->first + last->second.size());
  }
  if (first != ranges_.end() && std::next(first) == last && first->first == merged_start &&
      first->first + first->second.size() == offset && merged_end == end) {
    // The common case of a range growing at its end: append in place.
    first->second.append(data.data(), data.size());
    range_bytes_ += data.size();
    return;
  }
  std::string merged(merged_end - merged_start, '\0');
  for (auto it = first; it != last; ++it) {
    std::memcpy(merged.data() + (it->first - merged_start), it->second.data(), it->second.size());
    range_bytes_ -= it->second.size();
  }
  ranges_.erase(first, last);
  std::memcpy(merged.data() + (offset - merged_start), data.data(), data.size());
  range_bytes_ += merged.size();
  ranges_.emplace(merged_start, std::move(merged));
}

void WriteBuffer::CutRanges(uint64_t offset, uint64_t length) {
  const uint64_t end = offset + length;
  auto it = ranges_.lower_bound(offset);
  if (it != ranges_.begin()) {
    auto previous = std::prev(it);
    if (previous->first + previous->second.size() > offset) it = previous;
  }
  while (it != ranges_.end() && it->first < end) {
    const uint64_t start = it->first;
    std::string bytes = std::move(it->second);
    range_bytes_ -= bytes.size();
    it = ranges_.erase(it);
    const uint64_t stop = start + bytes.size();
    if (start < offset) {
      std::string head = bytes.substr(0, offset - start);
      range_bytes_ += head.size();
      ranges_.emplace(start, std::move(head));
    }
    if (stop > end) {
      std::string tail = bytes.substr(end - start);
      range_bytes_ += tail.size();
      it = ranges_.emplace(end, std::move(tail)).first;
      ++it;
    }
  }
}

absl::Status WriteBuffer::Commit() {
  std::unique_ptr<ChunkWriter> run = std::move(run_);
  const bool run_append = run_append_;
  const uint64_t run_offset = run_offset_;
  std::map<uint64_t, std::string> ranges = std::move(ranges_);
  run_length_ = 0;
  ranges_.clear();
  range_bytes_ = 0;

  if (run != nullptr) {
    absl::StatusOr<WrittenData> written = run->Finish();
    if (!written.ok()) return written.status();
    if (written->length > 0) {
      DFS_RETURN_IF_ERROR(target_->Commit(run_append, run_offset, *written));
    }
  }
  if (ranges.empty()) return absl::OkStatus();
  // All ranges through one pipeline, then one commit each.
  std::unique_ptr<ChunkWriter> writer = target_->NewWriter();
  for (const auto& [offset, bytes] : ranges) DFS_RETURN_IF_ERROR(writer->Append(bytes));
  DFS_ASSIGN_OR_RETURN(WrittenData written, writer->Finish());
  std::set<uint64_t> committed;
  uint64_t position = 0;
  for (const auto& [offset, bytes] : ranges) {
    WrittenData slice = SliceWritten(written, position, position + bytes.size(), &committed);
    DFS_RETURN_IF_ERROR(target_->Commit(/*append=*/false, offset, slice));
    position += bytes.size();
  }
  return absl::OkStatus();
}

bool WriteBuffer::NeedsCommitToRead(uint64_t offset, uint64_t length) const {
  if (run_ == nullptr) return false;
  if (run_append_) return true;
  return offset < run_offset_ + run_length_ && run_offset_ < offset + length;
}

uint64_t WriteBuffer::SizeWith(uint64_t committed_size) const {
  uint64_t size = committed_size;
  if (run_ != nullptr) {
    size = run_append_ ? size + run_length_ : std::max(size, run_offset_ + run_length_);
  }
  if (!ranges_.empty()) {
    auto last = std::prev(ranges_.end());
    size = std::max<uint64_t>(size, last->first + last->second.size());
  }
  return size;
}

Overlay WriteBuffer::OverlayFor(uint64_t offset, uint64_t length) const {
  Overlay overlay;
  // The file reaches at least as far as the buffered run and ranges, even where the read
  // touches neither: the bytes in between are a hole.
  overlay.end_ = SizeWith(0);
  const uint64_t end = offset + length;
  auto it = ranges_.lower_bound(offset);
  if (it != ranges_.begin()) {
    auto previous = std::prev(it);
    if (previous->first + previous->second.size() > offset) it = previous;
  }
  for (; it != ranges_.end() && it->first < end; ++it) {
    const uint64_t from = std::max(offset, it->first);
    const uint64_t to = std::min<uint64_t>(end, it->first + it->second.size());
    overlay.ranges_.emplace_back(from, it->second.substr(from - it->first, to - from));
  }
  return overlay;
}

}  // namespace dfs::fuse
