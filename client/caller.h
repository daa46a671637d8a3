// Who the client library says it acts for (the Caller in proto/common.proto, which the master
// checks permissions against).
//
// Every checked request carries a caller, chosen in this order:
//   1. the innermost ScopedCaller on the calling thread (dfs-fuse names each kernel request's
//      process this way, or no caller at all for work on an already opened file, which the
//      kernel checked at open as Linux does);
//   2. ClientOptions::caller, the process's own identity unless the binary changed it.
#pragma once

#include <optional>

#include "proto/common.pb.h"

namespace dfs {

// This process's real uid, gid and supplementary groups.
Caller ProcessCaller();

// Makes requests sent from this thread, while it lives, carry `caller` (nullopt: none).
// Scopes nest; not movable, and must end on the thread that made it.
class ScopedCaller {
 public:
  explicit ScopedCaller(std::optional<Caller> caller);
  ~ScopedCaller();
  ScopedCaller(const ScopedCaller&) = delete;
  ScopedCaller& operator=(const ScopedCaller&) = delete;

  // The innermost scope on this thread, or null outside every scope.
  static const ScopedCaller* Current();
  const std::optional<Caller>& caller() const { return caller_; }

 private:
  std::optional<Caller> caller_;
  const ScopedCaller* outer_;
};

}  // namespace dfs
