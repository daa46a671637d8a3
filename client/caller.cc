#include "client/caller.h"

#include <unistd.h>

#include <vector>

namespace dfs {
namespace {

thread_local const ScopedCaller* current_scope = nullptr;

}  // namespace

Caller ProcessCaller() {
  Caller caller;
  caller.set_uid(::getuid());
  caller.set_gid(::getgid());
  int count = ::getgroups(0, nullptr);
  if (count > 0) {
    std::vector<gid_t> groups(static_cast<size_t>(count));
    count = ::getgroups(count, groups.data());
    for (int i = 0; i < count; ++i) {
      if (groups[i] != caller.gid()) caller.add_groups(groups[i]);
    }
  }
  return caller;
}

ScopedCaller::ScopedCaller(std::optional<Caller> caller)
    : caller_(std::move(caller)), outer_(current_scope) {
  current_scope = this;
}

ScopedCaller::~ScopedCaller() { current_scope = outer_; }

const ScopedCaller* ScopedCaller::Current() { return current_scope; }

}  // namespace dfs
