#include "master/raft/storage.h"

#include "absl/strings/str_cat.h"
#include "common/crc32c.h"
#include "common/status.h"

namespace dfs::raft {

absl::Status SnapshotWriter::Append(absl::string_view data) {
  DFS_CHECK(!finished_);
  DFS_RETURN_IF_ERROR(Write(data));
  size_ += data.size();
  crc_ = Crc32cExtend(crc_, data.data(), data.size());
  return absl::OkStatus();
}

absl::Status CheckEntriesFollow(uint64_t snapshot_index, uint64_t last_index,
                                const std::vector<Entry>& entries) {
  if (entries.empty()) return absl::OkStatus();
  const uint64_t from = entries.front().index();
  if (from > snapshot_index && from <= last_index + 1) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("raft log: entries from ", from,
                                                 " do not follow [", snapshot_index + 1, ",",
                                                 last_index, "]"));
}

absl::Status FillSnapshotChunk(Storage& storage, Message& message) {
  if (message.type() != MSG_SNAP) return absl::OkStatus();
  SnapshotChunk* chunk = message.mutable_snapshot();
  if (chunk->length() == 0) return absl::OkStatus();
  DFS_ASSIGN_OR_RETURN(std::string data,
                       storage.ReadSnapshotData(chunk->metadata().index(), chunk->offset(),
                                                chunk->length()));
  if (data.size() != chunk->length()) {
    return absl::DataLossError(absl::StrCat("snapshot ", chunk->metadata().index(), ": read ",
                                            data.size(), " of ", chunk->length(), " bytes at ",
                                            chunk->offset()));
  }
  chunk->set_data(std::move(data));
  return absl::OkStatus();
}

namespace {

// Keeps what it is given in memory, as MemoryStorage keeps everything.
class MemorySnapshotWriter : public SnapshotWriter {
 public:
  absl::Status Finish() override {
    finished_ = true;
    return absl::OkStatus();
  }
  std::string& data() { return data_; }

 protected:
  absl::Status Write(absl::string_view data) override {
    data_.append(data.data(), data.size());
    return absl::OkStatus();
  }

 private:
  std::string data_;
};

}  // namespace

void MemoryStorage::ApplyOp(const Op& op, State* state) {
  PersistentState& ps = state->persistent;
  if (op.snapshot.has_value()) {
    const uint64_t index = op.snapshot->metadata().index();
    if (op.compact) {
      std::vector<Entry> kept;
      for (Entry& e : ps.entries) {
        if (e.index() > index) kept.push_back(std::move(e));
      }
      ps.entries = std::move(kept);
    } else {
      ps.entries.clear();
    }
    ps.snapshot = op.snapshot->metadata();
    ps.snapshot_bytes = op.snapshot->data().size();
    state->snapshot_data = op.snapshot->data();
  }
  if (!op.entries.empty()) {
    const uint64_t from = op.entries.front().index();
    while (!ps.entries.empty() && ps.entries.back().index() >= from) ps.entries.pop_back();
    const uint64_t expected =
        ps.entries.empty() ? ps.snapshot.index() + 1 : ps.entries.back().index() + 1;
    DFS_CHECK(from == expected);
    for (const Entry& e : op.entries) ps.entries.push_back(e);
  }
  if (op.hard_state.has_value()) ps.hard_state = *op.hard_state;
}

absl::StatusOr<PersistentState> MemoryStorage::Load() {
  State state = durable_;
  for (const Op& op : pending_) ApplyOp(op, &state);
  return state.persistent;
}

absl::Status MemoryStorage::Save(const std::optional<HardState>& hard_state,
                                 const std::optional<Snapshot>& snapshot,
                                 const std::vector<Entry>& entries, bool sync) {
  if (failed_) return absl::InternalError("memory storage: injected write failure");
  if (!hard_state && !snapshot && entries.empty()) return absl::OkStatus();
  Op op{hard_state, snapshot, false, entries};
  if (!sync) {
    pending_.push_back(std::move(op));
    return absl::OkStatus();
  }
  // An fsync makes everything written before it durable too.
  for (const Op& p : pending_) ApplyOp(p, &durable_);
  pending_.clear();
  ApplyOp(op, &durable_);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<SnapshotWriter>> MemoryStorage::NewSnapshotWriter(uint64_t) {
  return std::make_unique<MemorySnapshotWriter>();
}

absl::Status MemoryStorage::Compact(const SnapshotMetadata& metadata, SnapshotWriter& data) {
  if (failed_) return absl::InternalError("memory storage: injected write failure");
  DFS_CHECK(data.finished());
  for (const Op& p : pending_) ApplyOp(p, &durable_);
  pending_.clear();
  if (metadata.index() <= durable_.persistent.snapshot.index()) return absl::OkStatus();
  Op op{std::nullopt, Snapshot(), true, {}};
  *op.snapshot->mutable_metadata() = metadata;
  op.snapshot->set_data(std::move(static_cast<MemorySnapshotWriter&>(data).data()));
  ApplyOp(op, &durable_);
  return absl::OkStatus();
}

absl::StatusOr<std::string> MemoryStorage::ReadSnapshotData(uint64_t index, uint64_t offset,
                                                            uint64_t length) {
  // The newest snapshot, synced or not: what the node was built from or handed out last.
  uint64_t stored = durable_.persistent.snapshot.index();
  const std::string* data = &durable_.snapshot_data;
  for (const Op& op : pending_) {
    if (op.snapshot.has_value()) {
      stored = op.snapshot->metadata().index();
      data = &op.snapshot->data();
    }
  }
  if (stored != index) {
    return absl::FailedPreconditionError(absl::StrCat("snapshot ", index, " replaced by ", stored));
  }
  if (offset > data->size()) return absl::OutOfRangeError("offset past the snapshot's end");
  return data->substr(offset, length);
}

}  // namespace dfs::raft
