#include "tests/fault/history.h"

#include <chrono>
#include <fstream>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace dfs::fault {

constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

size_t History::Invoke(int process, std::string kind, std::string key, std::string input) {
  Operation op;
  op.process = process;
  op.kind = std::move(kind);
  op.key = std::move(key);
  op.input = std::move(input);
  // Read the clock under the lock so that invocation order and invoke_ns agree.
  std::lock_guard<std::mutex> lock(mu_);
  op.invoke_ns = NowNs();
  ops_.push_back(std::move(op));
  return ops_.size() - 1;
}

void History::Complete(size_t index, Outcome outcome, std::string output) {
  int64_t now = NowNs();
  std::lock_guard<std::mutex> lock(mu_);
  Operation& op = ops_.at(index);
  op.outcome = outcome;
  op.output = std::move(output);
  // An unknown outcome may take effect at any later time: it never completes.
  op.complete_ns = outcome == Outcome::kUnknown ? kNever : now;
}

std::vector<Operation> History::Operations() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ops_;
}

int64_t History::NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

const char* OutcomeName(Outcome outcome) {
  static const char* const kNames[] = {"ok", "fail", "unknown"};  // in Outcome's order
  return kNames[static_cast<int>(outcome)];
}

namespace {

std::string Millis(int64_t ns, int64_t base_ns) {
  if (ns == kNever) return "inf";
  return absl::StrFormat("%.3f", static_cast<double>(ns - base_ns) / 1e6);
}

absl::StatusOr<Outcome> ParseOutcome(absl::string_view word) {
  if (word == "ok") return Outcome::kOk;
  if (word == "fail") return Outcome::kFail;
  if (word == "unknown") return Outcome::kUnknown;
  return absl::InvalidArgumentError(absl::StrCat("unknown outcome '", word, "'"));
}

// Splits one history line into its fields: bare words, or C-escaped strings in double quotes.
absl::StatusOr<std::vector<std::string>> SplitFields(absl::string_view line) {
  std::vector<std::string> fields;
  size_t i = 0;
  while (i < line.size()) {
    if (line[i] == ' ') {
      ++i;
      continue;
    }
    if (line[i] != '"') {
      size_t end = line.find(' ', i);
      if (end == absl::string_view::npos) end = line.size();
      absl::string_view word = line.substr(i, end - i);
      if (word.find('"') != absl::string_view::npos) {
        return absl::InvalidArgumentError(absl::StrCat("stray quote in '", word, "'"));
      }
      fields.emplace_back(word);
      i = end;
      continue;
    }
    // A quoted string ends at the first '"' not escaped by a backslash.
    size_t j = i + 1;
    while (j < line.size() && line[j] != '"') j += line[j] == '\\' ? 2 : 1;
    if (j >= line.size()) return absl::InvalidArgumentError("unterminated string");
    std::string value;
    std::string error;
    if (!absl::CUnescape(line.substr(i + 1, j - i - 1), &value, &error)) {
      return absl::InvalidArgumentError(absl::StrCat("bad escape: ", error));
    }
    fields.push_back(std::move(value));
    i = j + 1;
    if (i < line.size() && line[i] != ' ') {
      return absl::InvalidArgumentError("a quoted string runs into the next field");
    }
  }
  return fields;
}

absl::StatusOr<int64_t> ParseTime(absl::string_view word) {
  if (word == "inf") return kNever;
  int64_t value;
  if (!absl::SimpleAtoi(word, &value)) {
    return absl::InvalidArgumentError(absl::StrCat("bad time '", word, "'"));
  }
  return value;
}

absl::StatusOr<Operation> ParseOperation(absl::string_view line) {
  absl::StatusOr<std::vector<std::string>> fields = SplitFields(line);
  if (!fields.ok()) return fields.status();
  if (fields->size() != 8) {
    return absl::InvalidArgumentError(absl::StrCat("expected 8 fields, found ", fields->size()));
  }
  const std::vector<std::string>& f = *fields;
  Operation op;
  if (!absl::SimpleAtoi(f[0], &op.process)) {
    return absl::InvalidArgumentError(absl::StrCat("bad process '", f[0], "'"));
  }
  op.kind = f[1];
  op.key = f[2];
  op.input = f[3];
  op.output = f[4];
  absl::StatusOr<Outcome> outcome = ParseOutcome(f[5]);
  if (!outcome.ok()) return outcome.status();
  op.outcome = *outcome;
  absl::StatusOr<int64_t> invoke = ParseTime(f[6]);
  if (!invoke.ok()) return invoke.status();
  absl::StatusOr<int64_t> complete = ParseTime(f[7]);
  if (!complete.ok()) return complete.status();
  op.invoke_ns = *invoke;
  op.complete_ns = *complete;
  return op;
}

constexpr absl::string_view kHeader = "# dfs fault history v1";
constexpr absl::string_view kColumns =
    "# process kind key input output outcome invoke_ns complete_ns";

}  // namespace

std::string FormatOperation(const Operation& op, int64_t base_ns) {
  std::string line = absl::StrCat("client ", op.process, " ", op.kind, " ", op.key);
  if (!op.input.empty()) absl::StrAppend(&line, " '", absl::CHexEscape(op.input), "'");
  switch (op.outcome) {
    case Outcome::kOk:
      if (!op.output.empty())
        absl::StrAppend(&line, " -> '", absl::CHexEscape(op.output), "'");
      else
        absl::StrAppend(&line, " -> ok");
      break;
    case Outcome::kFail:
      absl::StrAppend(&line, " -> failed");
      break;
    case Outcome::kUnknown:
      absl::StrAppend(&line, " -> unknown");
      break;
  }
  absl::StrAppend(&line, " [", Millis(op.invoke_ns, base_ns), ", ", Millis(op.complete_ns, base_ns),
                  " ms]");
  return line;
}

std::string HistoryToText(const std::vector<Operation>& operations,
                          const std::vector<std::string>& notes) {
  std::string text = absl::StrCat(kHeader, "\n");
  for (const std::string& note : notes) {
    absl::StrAppend(&text, "# ", absl::StrReplaceAll(note, {{"\n", " "}}), "\n");
  }
  absl::StrAppend(&text, kColumns, "\n");
  for (const Operation& op : operations) {
    absl::StrAppend(&text, op.process, " \"", absl::CHexEscape(op.kind), "\" \"",
                    absl::CHexEscape(op.key), "\" \"", absl::CHexEscape(op.input), "\" \"",
                    absl::CHexEscape(op.output), "\" ", OutcomeName(op.outcome), " ", op.invoke_ns,
                    " ", op.complete_ns == kNever ? "inf" : absl::StrCat(op.complete_ns), "\n");
  }
  return text;
}

absl::StatusOr<SavedHistory> HistoryFromText(absl::string_view text) {
  SavedHistory saved;
  int line_number = 0;
  bool header_seen = false;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    if (line.empty()) continue;
    if (absl::ConsumePrefix(&line, "#")) {
      if (absl::StrCat("#", line) == kHeader) {
        header_seen = true;
      } else if (absl::StrCat("#", line) != kColumns) {
        absl::ConsumePrefix(&line, " ");
        saved.notes.emplace_back(line);
      }
      continue;
    }
    if (!header_seen) return absl::InvalidArgumentError("not a dfs fault history (no header)");
    absl::StatusOr<Operation> op = ParseOperation(line);
    if (!op.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", line_number, ": ", op.status().message()));
    }
    saved.operations.push_back(*std::move(op));
  }
  if (!header_seen) return absl::InvalidArgumentError("not a dfs fault history (no header)");
  return saved;
}

absl::Status SaveHistory(const std::string& path, const std::vector<Operation>& operations,
                         const std::vector<std::string>& notes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return absl::UnavailableError(absl::StrCat("cannot create ", path));
  out << HistoryToText(operations, notes);
  out.close();
  if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

absl::StatusOr<SavedHistory> LoadHistory(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<SavedHistory> saved = HistoryFromText(text.str());
  if (!saved.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", saved.status().message()));
  }
  return saved;
}

}  // namespace dfs::fault
