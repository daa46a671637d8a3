// A full check of the invariants the state machine keeps across its store (key layout in
// master/keys.h): the namespace is a tree whose link counts match its entries, every extent lies
// inside a recorded chunk, files' extents are sorted, disjoint and inside the file, every chunk's
// reference count is the number of extents that use it, and the counters agree with the records.
//
// It reads every key, so it is for tests and fuzzers after each command, and for tools; never
// for a serving path. Call it between applies (not concurrently with Apply).
#pragma once

#include "absl/status/status.h"
#include "master/meta_store.h"

namespace dfs {

// OK, or Internal naming the first broken invariant found.
absl::Status CheckConsistency(MetaStore* store);

}  // namespace dfs
