#include "client/chunk_writer.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/crc32c.h"
#include "common/errors.h"
#include "common/logging.h"
#include "common/status.h"

namespace dfs {

ChunkWriter::ChunkWriter(ChunkAllocator* allocator, const ChunkWriterOptions& options,
                         Clock* clock)
    : allocator_(allocator), options_(options), clock_(clock) {}

absl::Status ChunkWriter::Append(absl::string_view data) {
  if (!broken_.ok()) return broken_;
  if (finished_) return absl::FailedPreconditionError("ChunkWriter::Append after Finish");
  // Time between calls is the producer's, not a stall of the cluster.
  progress_ns_ = clock_->MonotonicNanos();
  while (!data.empty()) {
    size_t room = options_.chunk_size_bytes - buffer_.size();
    size_t take = std::min(room, data.size());
    buffer_.append(data.data(), take);
    data.remove_prefix(take);
    absl::Status status =
        buffer_.size() == options_.chunk_size_bytes ? SealChunk() : Pump(/*flush=*/false);
    if (!status.ok()) {
      broken_ = status;
      return status;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<WrittenData> ChunkWriter::Finish() {
  if (!broken_.ok()) return broken_;
  if (finished_) return absl::FailedPreconditionError("ChunkWriter::Finish called twice");
  finished_ = true;
  progress_ns_ = clock_->MonotonicNanos();
  if (!buffer_.empty()) {
    absl::Status status = SealChunk();
    if (!status.ok()) {
      broken_ = status;
      return status;
    }
  }
  return std::move(written_);
}

absl::Status ChunkWriter::OpenPipeline(bool final_size_known) {
  // Placement wants to know how big the chunk will be; until the producer is done we only know
  // the upper bound.
  uint64_t size_hint = final_size_known ? buffer_.size() : options_.chunk_size_bytes;
  absl::StatusOr<std::unique_ptr<ChunkPipeline>> pipeline = allocator_->Open(size_hint, exclude_);
  if (!pipeline.ok()) return pipeline.status();
  pipeline_ = *std::move(pipeline);
  sent_ = 0;
  return absl::OkStatus();
}

absl::Status ChunkWriter::Pump(bool flush) {
  for (;;) {
    size_t unsent = buffer_.size() - sent_;
    if (unsent == 0 || (!flush && unsent < options_.piece_bytes)) return absl::OkStatus();
    absl::Status status;
    if (!pipeline_) {
      // A failed allocation is no pipeline failure: there is nothing to exclude, but it still
      // uses an attempt so that a cluster without datanodes does not loop forever.
      status = OpenPipeline(/*final_size_known=*/flush);
      // A read-only cluster (safe mode) refuses every allocation: trying again cannot help.
      if (ErrnoOf(status) == EROFS) return status;
      if (!status.ok()) {
        DFS_LOG(WARNING) << "allocating a chunk failed: " << status;
        // Perhaps the exclusions left the master too few datanodes; they may be back by now.
        exclude_.clear();
        DFS_RETURN_IF_ERROR(Recover(status));
        continue;
      }
    }
    size_t piece = std::min(unsent, options_.piece_bytes);
    status = pipeline_->Write(absl::string_view(buffer_).substr(sent_, piece),
                              /*last=*/flush && piece == unsent);
    if (!status.ok()) {
      DFS_RETURN_IF_ERROR(Recover(status));
      continue;
    }
    sent_ += piece;
    progress_ns_ = clock_->MonotonicNanos();
  }
}

absl::Status ChunkWriter::SealChunk() {
  for (;;) {
    DFS_RETURN_IF_ERROR(Pump(/*flush=*/true));
    absl::StatusOr<SealedChunk> sealed = pipeline_->Finish();
    absl::Status status = sealed.status();
    if (status.ok()) {
      // The datanodes checked every piece's CRC; this checks that they kept all of them, in
      // order, which is what the master will promise to readers.
      uint32_t crc = Crc32c(buffer_);
      if (sealed->length != buffer_.size() || sealed->crc32c != crc) {
        status = absl::DataLossError(absl::StrCat(
            "chunk ", pipeline_->chunk_id(), " sealed with length ", sealed->length, " crc ",
            sealed->crc32c, ", sent length ", buffer_.size(), " crc ", crc));
      } else if (sealed->stored_on.empty()) {
        status = absl::InternalError(
            absl::StrCat("chunk ", pipeline_->chunk_id(), " sealed on no datanode"));
      }
    }
    if (!status.ok()) {
      DFS_RETURN_IF_ERROR(Recover(status));
      continue;
    }
    Extent* extent = &written_.extents.emplace_back();
    extent->set_file_offset(written_.length);
    extent->set_chunk_id(pipeline_->chunk_id());
    extent->set_chunk_offset(0);
    extent->set_length(buffer_.size());
    ChunkInfo* chunk = &written_.chunks.emplace_back();
    chunk->set_chunk_id(pipeline_->chunk_id());
    chunk->set_length(sealed->length);
    chunk->set_crc32c(sealed->crc32c);
    for (std::string& id : sealed->stored_on) chunk->add_replicas(std::move(id));
    written_.length += buffer_.size();
    buffer_.clear();
    sent_ = 0;
    pipeline_.reset();
    progress_ns_ = clock_->MonotonicNanos();
    // Exclusions outlive the chunk: a node that just died stays dead for the next one too.
    attempts_ = 0;
    return absl::OkStatus();
  }
}

absl::Status ChunkWriter::Recover(const absl::Status& error) {
  ++attempts_;
  const bool out_of_time =
      options_.retry_deadline_ms > 0 &&
      clock_->MonotonicNanos() - progress_ns_ >= options_.retry_deadline_ms * 1000000;
  if (pipeline_) {
    DFS_LOG(WARNING) << "pipeline of chunk " << pipeline_->chunk_id() << " failed (attempt "
                     << attempts_ << "): " << error;
    for (std::string& id : allocator_->Suspects(*pipeline_, error)) {
      if (std::find(exclude_.begin(), exclude_.end(), id) == exclude_.end()) {
        exclude_.push_back(std::move(id));
      }
    }
    pipeline_.reset();
  }
  sent_ = 0;
  if (attempts_ >= options_.max_attempts_per_chunk || out_of_time) {
    // Keeps the errno (ENOSPC from a full cluster, say) for the caller.
    return PrefixMessage(
        absl::StrCat("writing a chunk failed ", attempts_, " times; last error: "), error);
  }
  allocator_->Pause(attempts_);
  return absl::OkStatus();
}

}  // namespace dfs
