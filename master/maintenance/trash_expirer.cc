#include "master/maintenance/trash_expirer.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status.h"
#include "master/keys.h"

namespace dfs {
namespace {

constexpr size_t kPage = 1000;

absl::Status Unavailable() { return absl::UnavailableError("no longer the leader"); }

}  // namespace

void TrashExpirer::RunOnce() {
  if (!ctx_->IsLeader()) return;
  const uint64_t term = ctx_->term();
  if (!ctx_->log()->ReadBarrier().ok()) return;
  absl::StatusOr<Attr> trash = ctx_->sm()->Lookup(keys::kRootInode, kTrashDir);
  if (!trash.ok() || trash->type() != FILE_TYPE_DIRECTORY) return;
  const int64_t cutoff = ctx_->clock()->NowNanos() - ctx_->options().trash_retention_ms * 1000000;
  bool has_more = true;
  std::string after;
  std::vector<StateMachine::DirEntry> expired;
  while (has_more) {
    auto page = ctx_->sm()->ReadDir(trash->inode(), after, kPage, &has_more);
    if (!page.ok() || page->empty()) break;
    after = page->back().name;
    for (auto& entry : *page) {
      if (entry.attr.mtime_ns() < cutoff) expired.push_back(std::move(entry));
    }
  }
  for (const auto& entry : expired) {
    if (!ctx_->StillLeading(term)) return;
    absl::Status status;
    Command command;
    if (entry.attr.type() == FILE_TYPE_DIRECTORY) {
      status = EmptyDirectory(entry.attr.inode(), term);
      command.mutable_rmdir()->set_parent(trash->inode());
      command.mutable_rmdir()->set_name(entry.name);
    } else {
      command.mutable_unlink()->set_parent(trash->inode());
      command.mutable_unlink()->set_name(entry.name);
    }
    if (status.ok()) {
      auto result = ctx_->Propose(command);
      status = result.ok() ? ResultStatus(*result) : result.status();
    }
    if (status.ok() || absl::IsNotFound(status)) {
      DFS_LOG(INFO) << "trash: expired /" << kTrashDir << "/" << entry.name;
    } else {
      DFS_LOG(WARNING) << "trash: cannot expire /" << kTrashDir << "/" << entry.name << ": "
                       << status;
    }
  }
}

absl::Status TrashExpirer::EmptyDirectory(uint64_t dir, uint64_t term) {
  // Each page is removed before the next is read, so the listing restarts from the beginning.
  for (;;) {
    if (!ctx_->StillLeading(term)) return Unavailable();
    bool has_more = false;
    auto page = ctx_->sm()->ReadDir(dir, "", kPage, &has_more);
    if (!page.ok()) return page.status();
    if (page->empty()) return absl::OkStatus();
    std::vector<Command> commands;
    for (const auto& entry : *page) {
      Command command;
      if (entry.attr.type() == FILE_TYPE_DIRECTORY) {
        DFS_RETURN_IF_ERROR(EmptyDirectory(entry.attr.inode(), term));
        command.mutable_rmdir()->set_parent(dir);
        command.mutable_rmdir()->set_name(entry.name);
      } else {
        command.mutable_unlink()->set_parent(dir);
        command.mutable_unlink()->set_name(entry.name);
      }
      commands.push_back(std::move(command));
    }
    for (const auto& result : ctx_->ProposeAll(commands)) {
      if (!result.ok()) return result.status();
      absl::Status status = ResultStatus(*result);
      if (!status.ok() && !absl::IsNotFound(status)) return status;
    }
  }
}

}  // namespace dfs
