// A history of operations recorded by concurrent clients during a fault run, and what the checkers
// need to judge it. Workloads append to a History (thread-safe); checkers read the finished list.
//
// Times are nanoseconds on one monotonic clock shared by every recorder of a run (the test process),
// so "a completed before b was invoked" is a.complete_ns < b.invoke_ns.
#pragma once

#include <cstdint>
#include <limits>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace dfs::fault {

enum class Outcome {
  kOk,       // the operation took effect and returned `output`
  kFail,     // it certainly did not take effect (e.g. refused before any state changed)
  kUnknown,  // it may or may not have taken effect (timeout, crash, lost reply)
};

struct Operation {
  int process = 0;          // the client that issued it; a client has one operation at a time
  std::string kind;         // workload-specific: "read", "write", "create", "rename", "append", ...
  std::string key;          // the object it acts on (a path, a register name)
  std::string input;        // value written, rename target, record appended, ...
  std::string output;       // value read, stat result, errno name; meaningful when kOk
  Outcome outcome = Outcome::kUnknown;
  int64_t invoke_ns = 0;
  // For kUnknown: the operation may take effect at any time after invoke_ns (Knossos/Porcupine
  // treat it as completing at +infinity).
  int64_t complete_ns = std::numeric_limits<int64_t>::max();
};

class History {
 public:
  // Returns the index of the new operation; call Complete() with it when the result is known.
  size_t Invoke(int process, std::string kind, std::string key, std::string input);
  void Complete(size_t index, Outcome outcome, std::string output = "");

  std::vector<Operation> Operations() const;  // a copy, in invocation order
  static int64_t NowNs();                     // the shared monotonic clock

 private:
  mutable std::mutex mu_;
  std::vector<Operation> ops_;
};

// "ok", "fail", "unknown".
const char* OutcomeName(Outcome outcome);

// One operation as a line for people: "client 2 read /r3 -> 'v5' [1.204, 1.350 ms]", times in
// milliseconds after `base_ns` (the history's first invocation, say). Values are C-escaped.
std::string FormatOperation(const Operation& op, int64_t base_ns = 0);

// A history as a text file, so a failing run can be kept with its seed and checked again.
// One operation a line, fields separated by a space, strings C-escaped in double quotes, "inf"
// for a complete time that never came:
//   # dfs fault history v1
//   # seed=1234                      (notes: any lines starting with "# ")
//   1 "write" "/r3" "v5" "" ok 1000 2000
struct SavedHistory {
  std::vector<std::string> notes;  // without the "# " (no line breaks inside one)
  std::vector<Operation> operations;
};
std::string HistoryToText(const std::vector<Operation>& operations,
                          const std::vector<std::string>& notes = {});
absl::StatusOr<SavedHistory> HistoryFromText(absl::string_view text);
absl::Status SaveHistory(const std::string& path, const std::vector<Operation>& operations,
                         const std::vector<std::string>& notes = {});
absl::StatusOr<SavedHistory> LoadHistory(const std::string& path);

}  // namespace dfs::fault
