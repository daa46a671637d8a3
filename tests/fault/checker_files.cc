#include "tests/fault/checker_files.h"

#include <algorithm>
#include <limits>
#include <set>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace dfs::fault {
namespace {

constexpr size_t kProblemsShown = 30;
constexpr size_t kSnippetBytes = 60;

// A short, printable view of some bytes of a file.
std::string Snippet(absl::string_view bytes) {
  std::string shown = absl::CHexEscape(bytes.substr(0, kSnippetBytes));
  if (bytes.size() > kSnippetBytes) absl::StrAppend(&shown, "...");
  return absl::StrCat("'", shown, "'");
}

uint64_t SplitMix(uint64_t* x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

struct Occurrence {
  std::string file;
  size_t offset;
};

}  // namespace

std::string AppendRecord(int process, int64_t seq, size_t size_bytes) {
  std::string record = absl::StrCat("p", process, " s", seq, " ");
  uint64_t x = (static_cast<uint64_t>(process) << 40) ^ static_cast<uint64_t>(seq);
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  while (record.size() + 1 < size_bytes) record += kAlphabet[SplitMix(&x) % 36];
  record += '\n';
  return record;
}

std::string AppendReport::Summary() const {
  if (ok) {
    return absl::StrCat("ok: ", acknowledged,
                        " acknowledged records each present once; of unknown "
                        "outcome ",
                        unknown_present, " present, ", unknown_absent, " absent");
  }
  std::string text = absl::StrCat(problems.size(), " problems:\n");
  for (size_t i = 0; i < problems.size() && i < kProblemsShown; ++i) {
    absl::StrAppend(&text, "  ", problems[i], "\n");
  }
  if (problems.size() > kProblemsShown) {
    absl::StrAppend(&text, "  ... and ", problems.size() - kProblemsShown, " more\n");
  }
  return text;
}

absl::StatusOr<AppendReport> CheckAppends(const std::vector<Operation>& history,
                                          const std::map<std::string, std::string>& contents) {
  std::vector<const Operation*> appends;
  absl::flat_hash_map<std::string, size_t> by_record;  // record -> index into appends
  std::set<size_t> lengths;
  std::set<std::string> files;
  int64_t base_ns = std::numeric_limits<int64_t>::max();
  for (const Operation& op : history) {
    if (op.kind != "append") continue;
    const std::string& record = op.input;
    if (record.empty() || record.back() != '\n' || record.find('\n') != record.size() - 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("a record is one line ending in a newline: ", FormatOperation(op)));
    }
    if (!by_record.emplace(record, appends.size()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("two appends of the same record: ", FormatOperation(op)));
    }
    appends.push_back(&op);
    lengths.insert(record.size());
    files.insert(op.key);
    base_ns = std::min(base_ns, op.invoke_ns);
  }
  for (const auto& [file, unused] : contents) files.insert(file);
  auto show = [&](size_t i) { return FormatOperation(*appends[i], base_ns); };

  AppendReport report;
  std::vector<std::vector<Occurrence>> found(appends.size());
  // Per file, the records found in file order, for the real-time order check.
  std::map<std::string, std::vector<size_t>> order;
  auto found_at = [&](size_t i, const std::string& file, size_t offset) {
    found[i].push_back(Occurrence{file, offset});
    order[file].push_back(i);
  };
  // Bytes that are no whole record: say what they look like.
  auto junk = [&](const std::string& file, size_t offset, absl::string_view bytes) {
    std::string problem =
        absl::StrCat("torn or foreign: bytes [", offset, ", ", offset + bytes.size(), ") of ", file,
                     " ", Snippet(bytes), " are not a whole record");
    for (size_t i = 0; i < appends.size(); ++i) {
      absl::string_view record = appends[i]->input;
      if (record.size() > bytes.size() && record.substr(0, bytes.size()) == bytes) {
        absl::StrAppend(&problem, ": the first ", bytes.size(), " of ", record.size(), " bytes of ",
                        show(i));
        report.problems.push_back(std::move(problem));
        return;
      }
      if (record.size() > bytes.size() && record.substr(record.size() - bytes.size()) == bytes) {
        absl::StrAppend(&problem, ": the last ", bytes.size(), " of ", record.size(), " bytes of ",
                        show(i));
        report.problems.push_back(std::move(problem));
        return;
      }
    }
    absl::StrAppend(&problem, ": no client appended them");
    report.problems.push_back(std::move(problem));
  };

  for (const std::string& file : files) {
    auto it = contents.find(file);
    absl::string_view content = it == contents.end() ? absl::string_view() : it->second;
    size_t offset = 0;
    while (offset < content.size()) {
      size_t end = content.find('\n', offset);
      if (end == absl::string_view::npos) {
        junk(file, offset, content.substr(offset));  // a tail without its newline
        break;
      }
      absl::string_view line = content.substr(offset, end + 1 - offset);
      auto hit = by_record.find(line);
      if (hit != by_record.end()) {
        found_at(hit->second, file, offset);
      } else {
        // A torn record followed by a whole one shares its line: find the whole one at the end.
        bool split = false;
        for (size_t length : lengths) {
          if (length >= line.size()) break;
          auto tail = by_record.find(line.substr(line.size() - length));
          if (tail == by_record.end()) continue;
          junk(file, offset, line.substr(0, line.size() - length));
          found_at(tail->second, file, offset + line.size() - length);
          split = true;
          break;
        }
        if (!split) junk(file, offset, line);
      }
      offset = end + 1;
    }
  }

  for (size_t i = 0; i < appends.size(); ++i) {
    const Operation& op = *appends[i];
    const std::vector<Occurrence>& at = found[i];
    std::vector<std::string> where;
    for (const Occurrence& o : at) {
      where.push_back(absl::StrCat(o.file, " at byte ", o.offset));
      if (o.file != op.key) {
        report.problems.push_back(
            absl::StrCat("misplaced: ", show(i), " found in ", o.file, " at byte ", o.offset));
      }
    }
    switch (op.outcome) {
      case Outcome::kOk:
        ++report.acknowledged;
        if (at.empty()) {
          report.problems.push_back(absl::StrCat("missing: ", show(i),
                                                 " was acknowledged but is "
                                                 "not in ",
                                                 op.key));
        }
        break;
      case Outcome::kUnknown:
        ++(at.empty() ? report.unknown_absent : report.unknown_present);
        break;
      case Outcome::kFail:
        if (!at.empty()) {
          report.problems.push_back(
              absl::StrCat("failed but present: ", show(i), " is in ", absl::StrJoin(where, ", ")));
        }
        break;
    }
    if (at.size() > 1) {
      report.problems.push_back(absl::StrCat("duplicated: ", show(i), " appears ", at.size(),
                                             " times: ", absl::StrJoin(where, ", ")));
    }
  }

  // Real-time order: walking a file backwards, the earliest completion among the acknowledged
  // records after this one must not precede this one's invocation.
  for (const auto& [file, records] : order) {
    int64_t min_complete = std::numeric_limits<int64_t>::max();
    size_t min_index = 0;
    for (size_t k = records.size(); k-- > 0;) {
      size_t i = records[k];
      const Operation& op = *appends[i];
      if (min_complete < op.invoke_ns) {
        report.problems.push_back(absl::StrCat("out of order in ", file, ": ", show(min_index),
                                               " completed before ", show(i),
                                               " was invoked, but comes after it"));
      }
      if (op.outcome == Outcome::kOk && op.complete_ns < min_complete) {
        min_complete = op.complete_ns;
        min_index = i;
      }
    }
  }
  report.ok = report.problems.empty();
  return report;
}

absl::StatusOr<CheckResult> CheckLargeFiles(const std::vector<Operation>& history,
                                            const CheckOptions& options) {
  std::vector<Operation> ops;
  for (const Operation& op : history) {
    if (op.kind == "put" || op.kind == "get" || op.kind == "delete") ops.push_back(op);
  }
  // First the content itself: what a get saw must be some put's whole content.
  std::map<std::string, std::set<std::string>> written;  // by puts that did not fail
  std::map<std::string, std::set<std::string>> failed;
  int64_t base_ns = std::numeric_limits<int64_t>::max();
  for (const Operation& op : ops) {
    base_ns = std::min(base_ns, op.invoke_ns);
    if (op.kind != "put") continue;
    (op.outcome == Outcome::kFail ? failed : written)[op.key].insert(op.input);
  }
  std::vector<std::string> bad;
  for (const Operation& op : ops) {
    if (op.kind != "get" || op.outcome != Outcome::kOk || op.output == "ENOENT") continue;
    if (written[op.key].count(op.output) > 0) continue;
    if (failed[op.key].count(op.output) > 0) {
      bad.push_back(
          absl::StrCat(FormatOperation(op, base_ns), " shows the content of a put that failed"));
    } else {
      bad.push_back(absl::StrCat(FormatOperation(op, base_ns), " shows content that no put to ",
                                 op.key, " wrote (torn, mixed or corrupt)"));
    }
  }
  if (!bad.empty()) {
    CheckResult result;
    result.verdict = Verdict::kNotLinearizable;
    result.partition = "content";
    result.explanation = absl::StrCat("wrong content:\n  ", absl::StrJoin(bad, "\n  "), "\n");
    return result;
  }
  // Then versions: puts and gets behave as a register per path.
  return CheckLinearizable(RegisterModel(), ops, options);
}

}  // namespace dfs::fault
