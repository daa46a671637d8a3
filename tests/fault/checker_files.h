// Checkers for file contents after a fault run, beside the linearizability checker (checker.h):
//
//   - appends: records appended concurrently to shared files (kind "append", key: the file,
//     input: the record) against the files' final contents: every acknowledged record present
//     exactly once and whole, unknown ones at most once, failed ones never, nothing torn,
//     duplicated or never appended, and real-time order kept (a record acknowledged before
//     another was invoked comes first in the file);
//   - large files: whole-file puts and gets compared by a digest of the content (sha256 hex, or
//     the seed and size it was made from): a get returns the content of some put that did not
//     fail, whole, and puts and gets are linearizable as a register per path.
//
// Pure functions; thread-compatible.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tests/fault/checker.h"
#include "tests/fault/history.h"

namespace dfs::fault {

// A record for the append workload: one line, "p<process> s<seq> " then filler that is a
// function of (process, seq), then "\n"; `size_bytes` long in all (at least the header).
// Unique per (process, seq), so a torn or foreign line never passes for a record.
std::string AppendRecord(int process, int64_t seq, size_t size_bytes);

struct AppendReport {
  bool ok = true;
  std::vector<std::string> problems;  // one readable line per problem
  int64_t acknowledged = 0;           // kOk appends
  int64_t unknown_present = 0;        // kUnknown appends found (once)
  int64_t unknown_absent = 0;         // kUnknown appends not found
  // "ok: 120 acknowledged, ..." or every problem, one a line.
  std::string Summary() const;
};

// `history`: the "append" operations (others are ignored); each input a line ending in '\n' with
// no other '\n', all distinct. `contents`: each file's final bytes (a file absent from the map
// is taken as empty). An error only for inputs that break those rules.
absl::StatusOr<AppendReport> CheckAppends(const std::vector<Operation>& history,
                                          const std::map<std::string, std::string>& contents);

// `history`: "put" (key: path, input: digest of the content), "get" (output: digest, or
// "ENOENT"), and "delete" (output "ok" or "ENOENT") operations. kNotLinearizable with an
// explanation if a get saw content no surviving put wrote (torn, mixed, corrupt, or a failed
// put's) or an older version than the register semantics allow.
absl::StatusOr<CheckResult> CheckLargeFiles(const std::vector<Operation>& history,
                                            const CheckOptions& options = {});

}  // namespace dfs::fault
