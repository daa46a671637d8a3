// Linearizability checking of a recorded History against a sequential model.
//
// The search is Wing & Gong's, with Lowe's memoization (as in Knossos and Porcupine): walk the
// invocation and completion events in time order; at each point try to linearize any operation
// that has been invoked and not yet linearized (if the model accepts it in the current state);
// an operation's completion reached before it was linearized means backtracking. A configuration
// (set of linearized operations, model state) seen before is never explored again, which makes
// the search polynomial for most real histories.
//
//   - kFail operations are dropped: they certainly did not take effect.
//   - kUnknown operations may take effect at any time after their invocation, or never; their
//     output is not checked. Unknown read-only operations are dropped (they constrain nothing).
//   - A model may split a history into independent parts (P-compositionality: a history is
//     linearizable iff each part is), e.g. registers by key; each part is searched alone.
//   - The search has a budget; past it the verdict is kUnknown, never a guess.
//   - A violation is explained: the longest linearizable prefix found, the operation that could
//     not be placed after it, and the states it was tried in.
//
// Thread-compatible: a Model is immutable once built and may be shared; checks are pure functions.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/fault/history.h"

namespace dfs::fault {

// Operations that can be checked apart from all others (indices into the history).
struct Partition {
  std::string label;  // for people: "key /r3", "names {a, b}"
  std::vector<size_t> ops;
};

// A sequential specification. States are strings in a canonical encoding: two states are the
// same exactly when their encodings are equal (the search memoizes on them).
class Model {
 public:
  virtual ~Model() = default;
  virtual std::string Name() const = 0;
  // The state before any operation.
  virtual std::string Init() const = 0;
  // Rejects an operation the model has no rule for (unknown kind, impossible output).
  virtual absl::Status Validate(const Operation& op) const { return absl::OkStatus(); }
  // Whether `op` can take effect in `state`, and if so the state after it. For kOk, whether it
  // returns op.output there; for kUnknown (output unknown), whether it can happen at all.
  virtual bool Step(const std::string& state, const Operation& op, std::string* next) const = 0;
  // Operations that never change the state: with an unknown outcome they are dropped.
  virtual bool ReadOnly(const Operation& op) const { return false; }
  // Removes operations of one part that cannot change its verdict (e.g. unknown writes nobody
  // observed), before the search; each one kept costs up to a doubling of the search.
  virtual void Prune(std::vector<Operation>* ops) const {}
  // Independent parts of `ops`; by default one part with everything.
  virtual std::vector<Partition> Split(const std::vector<Operation>& ops) const;
  // A state for people: "'v7'", "{a, b}".
  virtual std::string DescribeState(const std::string& state) const;
  // Why `op` cannot take effect in `state` (Step returned false), for people.
  virtual std::string WhyNot(const std::string& state, const Operation& op) const;
  // Anything else worth saying about an operation that could not be placed, given every
  // operation of its part (e.g. "no operation ever wrote 'v9'"); "" if nothing.
  virtual std::string Diagnose(const std::vector<Operation>& ops, const Operation& stuck) const {
    return "";
  }
};

// One part per distinct key: for objects that are independent per key (registers).
std::vector<Partition> PartitionByKey(const std::vector<Operation>& ops);

// Registers, one per key (a whole file): "write" (input: value; output ignored), "read" (output:
// the value, or "ENOENT" if never written or deleted), "delete" (output "ok" or "ENOENT").
// "put" and "get" are accepted as other names of "write" and "read".
class RegisterModel : public Model {
 public:
  std::string Name() const override { return "register"; }
  std::string Init() const override;
  absl::Status Validate(const Operation& op) const override;
  bool Step(const std::string& state, const Operation& op, std::string* next) const override;
  bool ReadOnly(const Operation& op) const override;
  void Prune(std::vector<Operation>* ops) const override;
  std::vector<Partition> Split(const std::vector<Operation>& ops) const override {
    return PartitionByKey(ops);
  }
  std::string DescribeState(const std::string& state) const override;
  std::string WhyNot(const std::string& state, const Operation& op) const override;
  std::string Diagnose(const std::vector<Operation>& ops, const Operation& stuck) const override;
};

// The names in one shared directory (the state is the set of names that exist):
// "create" (key: name; output "ok" or "EEXIST"), "unlink" (output "ok" or "ENOENT"),
// "rename" (key: from, input: to; output "ok" or "ENOENT"; replaces `to`), "stat" (output
// "exists" or "ENOENT"). Parts: names joined by renames (a rename ties its two names together,
// so names are independent only across the connected components that renames make).
class DirectoryModel : public Model {
 public:
  explicit DirectoryModel(std::set<std::string> initial_names = {})
      : initial_(std::move(initial_names)) {}
  std::string Name() const override { return "directory"; }
  std::string Init() const override;
  absl::Status Validate(const Operation& op) const override;
  bool Step(const std::string& state, const Operation& op, std::string* next) const override;
  bool ReadOnly(const Operation& op) const override { return op.kind == "stat"; }
  std::vector<Partition> Split(const std::vector<Operation>& ops) const override;
  std::string DescribeState(const std::string& state) const override;
  std::string WhyNot(const std::string& state, const Operation& op) const override;

 private:
  std::set<std::string> initial_;
};

struct CheckOptions {
  // Search steps (one candidate tried or one backtrack) over all parts, then kUnknown.
  int64_t max_steps = 20'000'000;
  // Memory for remembered configurations of one part, then kUnknown.
  int64_t max_memo_bytes = int64_t{1} << 30;
  absl::Duration time_limit = absl::InfiniteDuration();
};

enum class Verdict { kLinearizable, kNotLinearizable, kUnknown };
const char* VerdictName(Verdict verdict);

struct CheckResult {
  Verdict verdict = Verdict::kLinearizable;
  // Empty when linearizable; else a readable account of the violation, or of why it gave up.
  std::string explanation;
  // For kNotLinearizable: the part that failed, the longest linearizable order found of its
  // operations, and the operation that could not be placed after it.
  std::string partition;
  std::vector<Operation> longest_prefix;
  Operation stuck;
  int64_t steps = 0;  // search steps taken, all parts
  int partitions = 0;
};

// Judges `history` against `model`. An error only for a malformed history (an operation that
// completes before it is invoked, or that the model rejects).
absl::StatusOr<CheckResult> CheckLinearizable(const Model& model,
                                              const std::vector<Operation>& history,
                                              const CheckOptions& options = {});

}  // namespace dfs::fault
