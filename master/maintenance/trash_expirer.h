// TrashExpirer: empties old trash. `dfs rm` moves what it removes into a checkpoint directory
// /.Trash/<time>/ (client/trash.h); a checkpoint whose last change (its mtime, the master's
// clock) is older than trash_retention_ms is deleted with ordinary Unlink and Rmdir commands,
// deepest entries first. The chunks freed become garbage for the GC.
//
// RunOnce() runs on Maintenance's janitor thread only.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "master/maintenance/context.h"

namespace dfs {

// The trash lives here; client/trash.h uses the same name.
inline constexpr char kTrashDir[] = ".Trash";

class TrashExpirer {
 public:
  explicit TrashExpirer(MaintenanceContext* ctx) : ctx_(ctx) {}

  void RunOnce();

 private:
  // Deletes everything below directory `dir` (not `dir` itself).
  absl::Status EmptyDirectory(uint64_t dir, uint64_t term);

  MaintenanceContext* const ctx_;
};

}  // namespace dfs
