// The checkers judged on hand-written histories whose verdict is known, on random histories
// made from real sequential executions (linearizable by construction, then broken on purpose),
// and against a brute-force search on small random histories.
#include "tests/fault/checker.h"

#include <unistd.h>

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/random.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fault/checker_files.h"
#include "tests/fault/history.h"
#include "tests/testutil/temp_dir.h"

namespace dfs::fault {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

// An operation that completed with `output` (times in arbitrary units).
Operation Ok(int process, std::string kind, std::string key, std::string input, std::string output,
             int64_t invoke, int64_t complete) {
  Operation op;
  op.process = process;
  op.kind = std::move(kind);
  op.key = std::move(key);
  op.input = std::move(input);
  op.output = std::move(output);
  op.outcome = Outcome::kOk;
  op.invoke_ns = invoke;
  op.complete_ns = complete;
  return op;
}
Operation Unknown(int process, std::string kind, std::string key, std::string input,
                  int64_t invoke) {
  Operation op = Ok(process, std::move(kind), std::move(key), std::move(input), "", invoke, kNever);
  op.outcome = Outcome::kUnknown;
  return op;
}
Operation Failed(int process, std::string kind, std::string key, std::string input, int64_t invoke,
                 int64_t complete) {
  Operation op =
      Ok(process, std::move(kind), std::move(key), std::move(input), "", invoke, complete);
  op.outcome = Outcome::kFail;
  return op;
}
Operation Write(int process, std::string key, std::string value, int64_t invoke, int64_t complete) {
  return Ok(process, "write", std::move(key), std::move(value), "", invoke, complete);
}
Operation Read(int process, std::string key, std::string value, int64_t invoke, int64_t complete) {
  return Ok(process, "read", std::move(key), "", std::move(value), invoke, complete);
}

CheckResult Check(const Model& model, const std::vector<Operation>& history,
                  const CheckOptions& options = {}) {
  absl::StatusOr<CheckResult> result = CheckLinearizable(model, history, options);
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? *result : CheckResult{};
}

// ---- history ----

TEST(HistoryTest, RecordsInvocationsAndCompletions) {
  History history;
  size_t a = history.Invoke(1, "write", "/r", "v1");
  size_t b = history.Invoke(2, "read", "/r", "");
  history.Complete(b, Outcome::kOk, "v1");
  history.Complete(a, Outcome::kUnknown);
  std::vector<Operation> ops = history.Operations();
  ASSERT_EQ(ops.size(), 2u);
  EXPECT_EQ(ops[0].kind, "write");
  EXPECT_EQ(ops[0].outcome, Outcome::kUnknown);
  EXPECT_EQ(ops[0].complete_ns, kNever);  // may still take effect
  EXPECT_LE(ops[0].invoke_ns, ops[1].invoke_ns);
  EXPECT_EQ(ops[1].output, "v1");
  EXPECT_GE(ops[1].complete_ns, ops[1].invoke_ns);
}

TEST(HistoryTest, ConcurrentRecordersKeepEveryOperation) {
  History history;
  std::vector<std::thread> threads;
  for (int p = 0; p < 4; ++p) {
    threads.emplace_back([&history, p] {
      for (int i = 0; i < 500; ++i) {
        size_t index = history.Invoke(p, "write", "/r", absl::StrCat(p, "-", i));
        history.Complete(index, Outcome::kOk);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  std::vector<Operation> ops = history.Operations();
  ASSERT_EQ(ops.size(), 2000u);
  for (size_t i = 1; i < ops.size(); ++i) EXPECT_LE(ops[i - 1].invoke_ns, ops[i].invoke_ns);
}

TEST(HistoryTest, TextRoundTripKeepsEveryByte) {
  std::vector<Operation> ops = {
      Write(1, "/r 3", "va\"lue\nwith\x01 bytes\\", 10, 20),
      Read(2, "/r 3", "", 15, 30),
      Unknown(3, "rename", "a", "b c", 16),
      Failed(4, "create", "x", "", 17, 40),
  };
  ops[1].output = std::string("\0\xff", 2);
  std::string text = HistoryToText(ops, {"seed=42", "workload=registers"});
  EXPECT_THAT(text, HasSubstr("# seed=42\n"));
  EXPECT_THAT(text, HasSubstr(" unknown 16 inf\n"));
  absl::StatusOr<SavedHistory> back = HistoryFromText(text);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->notes, (std::vector<std::string>{"seed=42", "workload=registers"}));
  ASSERT_EQ(back->operations.size(), ops.size());
  for (size_t i = 0; i < ops.size(); ++i) {
    const Operation& a = ops[i];
    const Operation& b = back->operations[i];
    EXPECT_EQ(std::tie(a.process, a.kind, a.key, a.input, a.output, a.invoke_ns, a.complete_ns),
              std::tie(b.process, b.kind, b.key, b.input, b.output, b.invoke_ns, b.complete_ns))
        << i;
    EXPECT_EQ(a.outcome, b.outcome) << i;
  }
  // Through a file, as a failing run keeps it.
  TempDir dir;
  std::string path = dir.path() + "/history.txt";
  ASSERT_TRUE(SaveHistory(path, ops, {"seed=7"}).ok());
  absl::StatusOr<SavedHistory> loaded = LoadHistory(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->notes, std::vector<std::string>{"seed=7"});
  EXPECT_EQ(loaded->operations.size(), ops.size());
  EXPECT_EQ(loaded->operations[0].input, ops[0].input);
}

TEST(HistoryTest, RejectsMalformedText) {
  EXPECT_FALSE(HistoryFromText("1 \"write\" \"/r\" \"v\" \"\" ok 1 2\n").ok());  // no header
  std::string header = "# dfs fault history v1\n";
  EXPECT_FALSE(HistoryFromText(header + "1 \"write\" \"/r\" \"v\" ok 1 2\n").ok());
  EXPECT_FALSE(HistoryFromText(header + "1 \"write\" \"/r\" \"v\" \"\" maybe 1 2\n").ok());
  EXPECT_FALSE(HistoryFromText(header + "1 \"write\" \"/r \"v\" \"\" ok 1 2\n").ok());
  EXPECT_FALSE(HistoryFromText(header + "x \"write\" \"/r\" \"v\" \"\" ok 1 2\n").ok());
  EXPECT_FALSE(LoadHistory("/nonexistent/history.txt").ok());
  EXPECT_TRUE(HistoryFromText(header).ok());
}

// ---- registers ----

TEST(RegisterTest, SequentialHistoryIsLinearizable) {
  std::vector<Operation> h = {
      Read(1, "/r", "ENOENT", 0, 5), Write(1, "/r", "v1", 10, 20), Read(2, "/r", "v1", 30, 40),
      Write(2, "/r", "v2", 50, 60),  Read(1, "/r", "v2", 70, 80),
  };
  CheckResult result = Check(RegisterModel(), h);
  EXPECT_EQ(result.verdict, Verdict::kLinearizable) << result.explanation;
  EXPECT_TRUE(result.explanation.empty());
  EXPECT_EQ(Check(RegisterModel(), {}).verdict, Verdict::kLinearizable);
}

TEST(RegisterTest, StaleReadAfterLeaderChangeIsCaught) {
  // Client 1's write of v2 is acknowledged (by the new leader); later client 2 reads v1 from
  // the deposed leader that still serves reads.
  std::vector<Operation> h = {
      Write(1, "/r3", "v1", 0, 10),
      Write(1, "/r3", "v2", 20, 30),
      Read(2, "/r3", "v1", 40, 50),
  };
  CheckResult result = Check(RegisterModel(), h);
  ASSERT_EQ(result.verdict, Verdict::kNotLinearizable);
  EXPECT_EQ(result.stuck.process, 2);
  EXPECT_EQ(result.stuck.kind, "read");
  EXPECT_EQ(result.partition, "key /r3");
  ASSERT_EQ(result.longest_prefix.size(), 2u);
  EXPECT_EQ(result.longest_prefix[1].input, "v2");
  EXPECT_THAT(result.explanation, HasSubstr("client 2 read /r3 -> 'v1'"));
  EXPECT_THAT(result.explanation, HasSubstr("the only states possible before it were 'v2'"));
  EXPECT_THAT(result.explanation, HasSubstr("which completed before it was invoked"));
  EXPECT_THAT(result.explanation, HasSubstr("the register held 'v2'"));
}

TEST(RegisterTest, ConcurrentWritesWithReadsConsistentWithSomeOrder) {
  // v1 and v2 overlap, so either order is fine, as long as every reader sees the same one.
  std::vector<Operation> h = {
      Write(1, "/r", "v1", 0, 100), Write(2, "/r", "v2", 10, 90),  Read(3, "/r", "v2", 20, 30),
      Read(4, "/r", "v1", 60, 95),  Read(3, "/r", "v1", 110, 120), Read(4, "/r", "v1", 130, 140),
  };
  CheckResult result = Check(RegisterModel(), h);
  EXPECT_EQ(result.verdict, Verdict::kLinearizable) << result.explanation;
  // v1, then v2, then v1 again is impossible with one write of each.
  h.insert(h.begin() + 2, Read(3, "/r", "v1", 12, 18));
  EXPECT_EQ(Check(RegisterModel(), h).verdict, Verdict::kNotLinearizable);
  // Two readers after both writes ended disagree: impossible, whether or not they overlap.
  std::vector<Operation> split = {
      Write(1, "/r", "v1", 0, 100),
      Write(2, "/r", "v2", 10, 90),
      Read(3, "/r", "v1", 110, 120),
      Read(4, "/r", "v2", 130, 140),
  };
  EXPECT_EQ(Check(RegisterModel(), split).verdict, Verdict::kNotLinearizable);
  split[3].invoke_ns = 115;
  EXPECT_EQ(Check(RegisterModel(), split).verdict, Verdict::kNotLinearizable);
}

TEST(RegisterTest, ReadOfAValueNeverWritten) {
  std::vector<Operation> h = {Write(1, "/r", "v1", 0, 10), Read(2, "/r", "v9", 5, 15)};
  CheckResult result = Check(RegisterModel(), h);
  ASSERT_EQ(result.verdict, Verdict::kNotLinearizable);
  EXPECT_THAT(result.explanation, HasSubstr("no operation ever wrote 'v9' to /r"));
  // A failed write does not take effect either.
  h.push_back(Failed(3, "write", "/r", "v9", 1, 2));
  result = Check(RegisterModel(), h);
  ASSERT_EQ(result.verdict, Verdict::kNotLinearizable);
  EXPECT_THAT(result.explanation, HasSubstr("written only by operations that failed"));
}

TEST(RegisterTest, NeverWrittenReadsEnoent) {
  std::vector<Operation> h = {Read(1, "/r", "ENOENT", 0, 10), Write(1, "/r", "v1", 20, 30),
                              Read(2, "/r", "ENOENT", 25, 35)};
  EXPECT_EQ(Check(RegisterModel(), h).verdict, Verdict::kLinearizable);
  h.push_back(Read(2, "/r", "ENOENT", 40, 50));
  CheckResult result = Check(RegisterModel(), h);
  ASSERT_EQ(result.verdict, Verdict::kNotLinearizable);
  EXPECT_THAT(result.explanation, HasSubstr("the register held 'v1'"));
}

TEST(RegisterTest, UnknownWriteMayTakeEffectLater) {
  // v2's write timed out; it shows up long after.
  std::vector<Operation> h = {
      Write(1, "/r", "v1", 0, 10),
      Unknown(2, "write", "/r", "v2", 20),
      Read(3, "/r", "v1", 30, 40),
      Read(3, "/r", "v2", 1000, 1010),
  };
  CheckResult result = Check(RegisterModel(), h);
  EXPECT_EQ(result.verdict, Verdict::kLinearizable) << result.explanation;
  // Once seen, it cannot be undone.
  h.push_back(Read(3, "/r", "v1", 1020, 1030));
  result = Check(RegisterModel(), h);
  EXPECT_EQ(result.verdict, Verdict::kNotLinearizable);
  // But not before it was invoked.
  std::vector<Operation> early = {Read(3, "/r", "v2", 0, 10), Unknown(2, "write", "/r", "v2", 20)};
  EXPECT_EQ(Check(RegisterModel(), early).verdict, Verdict::kNotLinearizable);
}

TEST(RegisterTest, UnknownWriteMayNeverTakeEffect) {
  std::vector<Operation> h = {
      Write(1, "/r", "v1", 0, 10),      Unknown(2, "write", "/r", "v2", 20),
      Unknown(2, "read", "/r", "", 25),  // an unknown read says nothing
      Read(3, "/r", "v1", 30, 40),      Read(3, "/r", "v1", 1000, 1010),
  };
  CheckResult result = Check(RegisterModel(), h);
  EXPECT_EQ(result.verdict, Verdict::kLinearizable) << result.explanation;
}

TEST(RegisterTest, Delete) {
  std::vector<Operation> h = {
      Write(1, "/r", "v1", 0, 10),
      Ok(2, "delete", "/r", "", "ok", 20, 30),
      Read(1, "/r", "ENOENT", 40, 50),
      Ok(2, "delete", "/r", "", "ENOENT", 60, 70),
  };
  EXPECT_EQ(Check(RegisterModel(), h).verdict, Verdict::kLinearizable);
  h.push_back(Read(1, "/r", "v1", 80, 90));
  EXPECT_EQ(Check(RegisterModel(), h).verdict, Verdict::kNotLinearizable);
}

TEST(RegisterTest, KeysAreCheckedApartAndTheBadOneIsNamed) {
  std::vector<Operation> h;
  for (int i = 0; i < 50; ++i) {
    std::string key = absl::StrCat("/r", i % 5);
    h.push_back(Write(i % 3, key, absl::StrCat("v", i), i * 10, i * 10 + 25));
  }
  h.push_back(Read(7, "/r2", "v7", 1000, 1010));  // the last write to /r2 was v47
  CheckResult result = Check(RegisterModel(), h);
  ASSERT_EQ(result.verdict, Verdict::kNotLinearizable);
  EXPECT_EQ(result.partitions, 5);
  EXPECT_EQ(result.partition, "key /r2");
  EXPECT_THAT(result.explanation, HasSubstr("'v47'"));
}

TEST(RegisterTest, GivesUpPastItsBudgetInsteadOfGuessing) {
  // n overlapping writes, each read once while all overlap: the read of v_k must follow the
  // write of v_k at once, and the search may have to try many subsets of writes.
  auto pairs = [](int n) {
    std::vector<Operation> h;
    for (int i = 0; i < n; ++i) {
      h.push_back(Write(i, "/r", absl::StrCat("v", i), 0, 100));
      h.push_back(Read(100 + i, "/r", absl::StrCat("v", n - 1 - i), 0, 100));
    }
    return h;
  };
  CheckOptions options;
  options.max_steps = 10;
  CheckResult result = Check(RegisterModel(), pairs(30), options);
  EXPECT_EQ(result.verdict, Verdict::kUnknown);
  EXPECT_THAT(result.explanation, HasSubstr("gave up on key /r"));
  EXPECT_THAT(result.explanation, HasSubstr("step budget"));
  options = CheckOptions{};
  options.time_limit = absl::Milliseconds(1);
  result = Check(RegisterModel(), pairs(30), options);
  EXPECT_EQ(result.verdict, Verdict::kUnknown);
  EXPECT_THAT(result.explanation, HasSubstr("time limit"));
  options = CheckOptions{};
  options.max_memo_bytes = 1000;
  EXPECT_EQ(Check(RegisterModel(), pairs(30), options).verdict, Verdict::kUnknown);
  // With room it decides.
  result = Check(RegisterModel(), pairs(6));
  EXPECT_EQ(result.verdict, Verdict::kLinearizable) << result.explanation;
  EXPECT_GT(result.steps, 10);
}

TEST(RegisterTest, RejectsMalformedHistories) {
  EXPECT_FALSE(CheckLinearizable(RegisterModel(), {Write(1, "/r", "v", 10, 5)}).ok());
  EXPECT_FALSE(CheckLinearizable(RegisterModel(), {Ok(1, "cas", "/r", "v", "", 0, 5)}).ok());
  Operation never = Write(1, "/r", "v", 0, kNever);
  EXPECT_FALSE(CheckLinearizable(RegisterModel(), {never}).ok());
  EXPECT_FALSE(CheckLinearizable(RegisterModel(), {Ok(1, "delete", "/r", "", "gone", 0, 5)}).ok());
}

// ---- a shared directory ----

Operation Dir(int process, std::string kind, std::string name, std::string output, int64_t invoke,
              int64_t complete, std::string input = "") {
  return Ok(process, std::move(kind), std::move(name), std::move(input), std::move(output), invoke,
            complete);
}

TEST(DirectoryTest, CreatingOneNameTwiceSucceedsOnce) {
  std::vector<Operation> twice = {Dir(1, "create", "a", "ok", 0, 10),
                                  Dir(2, "create", "a", "ok", 5, 15)};
  CheckResult result = Check(DirectoryModel(), twice);
  ASSERT_EQ(result.verdict, Verdict::kNotLinearizable);
  EXPECT_THAT(result.explanation, HasSubstr("'a' existed"));
  // The race with one EEXIST is fine either way round while they overlap.
  twice[1].output = "EEXIST";
  EXPECT_EQ(Check(DirectoryModel(), twice).verdict, Verdict::kLinearizable);
  std::swap(twice[0].output, twice[1].output);
  EXPECT_EQ(Check(DirectoryModel(), twice).verdict, Verdict::kLinearizable);
  // But EEXIST before anyone created it is not.
  std::vector<Operation> early = {Dir(2, "create", "a", "EEXIST", 0, 3),
                                  Dir(1, "create", "a", "ok", 5, 15)};
  EXPECT_EQ(Check(DirectoryModel(), early).verdict, Verdict::kNotLinearizable);
  // Unless it existed from the start (then the later ok is wrong).
  EXPECT_EQ(Check(DirectoryModel({"a"}), early).verdict, Verdict::kNotLinearizable);
  early.pop_back();
  EXPECT_EQ(Check(DirectoryModel({"a"}), early).verdict, Verdict::kLinearizable);
}

TEST(DirectoryTest, RenameThenStat) {
  std::vector<Operation> h = {
      Dir(1, "create", "a", "ok", 0, 10),           Dir(1, "rename", "a", "ok", 20, 30, "b"),
      Dir(2, "stat", "b", "exists", 40, 50),        Dir(2, "stat", "a", "ENOENT", 40, 50),
      Dir(3, "rename", "a", "ENOENT", 60, 70, "c"), Dir(3, "unlink", "b", "ok", 80, 90),
      Dir(2, "stat", "b", "ENOENT", 100, 110),
  };
  EXPECT_EQ(Check(DirectoryModel(), h).verdict, Verdict::kLinearizable);
  // A stat of the old name after the rename completed: not linearizable. Renames tie names
  // into one part, so this is seen although the rename's key is "a" and the stat's "b".
  std::vector<Operation> stale = {Dir(1, "create", "a", "ok", 0, 10),
                                  Dir(1, "rename", "a", "ok", 20, 30, "b"),
                                  Dir(2, "stat", "b", "ENOENT", 40, 50)};
  CheckResult result = Check(DirectoryModel(), stale);
  ASSERT_EQ(result.verdict, Verdict::kNotLinearizable);
  EXPECT_EQ(result.partition, "names {a, b}");
  EXPECT_THAT(result.explanation, HasSubstr("'b' existed (names then: {b})"));
  // A stat concurrent with the rename may see either side.
  stale[2].invoke_ns = 25;
  EXPECT_EQ(Check(DirectoryModel(), stale).verdict, Verdict::kLinearizable);
}

TEST(DirectoryTest, RenameReplacesItsTarget) {
  std::vector<Operation> h = {
      Dir(1, "create", "a", "ok", 0, 10),       Dir(1, "create", "b", "ok", 0, 10),
      Dir(1, "rename", "a", "ok", 20, 30, "b"), Dir(2, "create", "b", "EEXIST", 40, 50),
      Dir(2, "create", "a", "ok", 60, 70),
  };
  EXPECT_EQ(Check(DirectoryModel(), h).verdict, Verdict::kLinearizable);
  h.push_back(Dir(2, "unlink", "b", "ok", 80, 90));
  h.push_back(Dir(2, "unlink", "b", "ok", 100, 110));  // only one b to unlink
  EXPECT_EQ(Check(DirectoryModel(), h).verdict, Verdict::kNotLinearizable);
}

TEST(DirectoryTest, PartsFollowRenames) {
  std::vector<Operation> h = {
      Dir(1, "create", "a", "ok", 0, 10),           Dir(1, "rename", "a", "ok", 20, 30, "b"),
      Dir(1, "rename", "c", "ENOENT", 20, 30, "b"), Dir(2, "create", "x", "ok", 0, 10),
      Dir(2, "stat", "y", "ENOENT", 0, 10),
  };
  std::vector<Partition> parts = DirectoryModel().Split(h);
  ASSERT_EQ(parts.size(), 3u);
  std::vector<std::string> labels;
  for (const Partition& part : parts) labels.push_back(part.label);
  EXPECT_THAT(labels, ::testing::UnorderedElementsAre("names {a, b, c}", "names {x}", "names {y}"));
}

TEST(DirectoryTest, UnknownCreateThatAppears) {
  std::vector<Operation> h = {
      Unknown(1, "create", "a", "", 0),
      Dir(2, "stat", "a", "ENOENT", 10, 20),
      Dir(2, "stat", "a", "exists", 30, 40),
      Dir(3, "create", "a", "EEXIST", 50, 60),
  };
  EXPECT_EQ(Check(DirectoryModel(), h).verdict, Verdict::kLinearizable);
  h.push_back(Dir(2, "stat", "a", "ENOENT", 70, 80));  // and nobody unlinked it
  EXPECT_EQ(Check(DirectoryModel(), h).verdict, Verdict::kNotLinearizable);
}

// ---- appends ----

Operation Append(int process, int64_t seq, Outcome outcome, int64_t invoke, int64_t complete,
                 std::string file = "/log") {
  Operation op = Ok(process, "append", std::move(file), AppendRecord(process, seq, 40), "", invoke,
                    outcome == Outcome::kUnknown ? kNever : complete);
  op.outcome = outcome;
  return op;
}

AppendReport CheckAppendsOk(const std::vector<Operation>& h,
                            const std::map<std::string, std::string>& contents) {
  absl::StatusOr<AppendReport> report = CheckAppends(h, contents);
  EXPECT_TRUE(report.ok()) << report.status();
  return report.ok() ? *report : AppendReport{};
}

TEST(AppendTest, RecordsAreOneUniqueLine) {
  std::string r = AppendRecord(3, 17, 40);
  EXPECT_EQ(r.size(), 40u);
  EXPECT_EQ(r.rfind("p3 s17 ", 0), 0u);
  EXPECT_EQ(r.find('\n'), 39u);
  EXPECT_NE(r, AppendRecord(3, 18, 40));
  EXPECT_EQ(r, AppendRecord(3, 17, 40));
  EXPECT_EQ(AppendRecord(1, 2, 3), "p1 s2 \n");
}

TEST(AppendTest, EveryAcknowledgedRecordOnceUnknownAtMostOnce) {
  std::vector<Operation> h = {
      Append(1, 1, Outcome::kOk, 0, 10),      Append(2, 1, Outcome::kOk, 5, 15),
      Append(1, 2, Outcome::kUnknown, 20, 0), Append(2, 2, Outcome::kUnknown, 20, 0),
      Append(3, 1, Outcome::kFail, 20, 30),   Append(1, 3, Outcome::kOk, 40, 50),
  };
  // Concurrent ones in either order; one unknown made it, the other did not.
  std::string log = h[1].input + h[0].input + h[3].input + h[5].input;
  AppendReport report = CheckAppendsOk(h, {{"/log", log}});
  EXPECT_TRUE(report.ok) << report.Summary();
  EXPECT_EQ(report.acknowledged, 3);
  EXPECT_EQ(report.unknown_present, 1);
  EXPECT_EQ(report.unknown_absent, 1);
  EXPECT_THAT(report.Summary(), HasSubstr("ok: 3 acknowledged"));
}

TEST(AppendTest, MissingDuplicatedTornForeignFailedAndReordered) {
  std::vector<Operation> h = {
      Append(1, 1, Outcome::kOk, 0, 10),
      Append(2, 1, Outcome::kOk, 20, 30),
      Append(3, 1, Outcome::kUnknown, 20, 0),
      Append(4, 1, Outcome::kFail, 20, 25),
  };
  const std::string a = h[0].input, b = h[1].input, c = h[2].input, d = h[3].input;
  auto problems = [&](const std::string& log) {
    return CheckAppendsOk(h, {{"/log", log}}).Summary();
  };
  EXPECT_TRUE(CheckAppendsOk(h, {{"/log", a + b}}).ok);
  EXPECT_THAT(problems(a), HasSubstr("missing: client 2 append /log 'p2 s1"));
  EXPECT_THAT(problems(a + b + a), HasSubstr("duplicated: client 1 append"));
  EXPECT_THAT(problems(a + b + c + c), HasSubstr("duplicated: client 3 append"));
  EXPECT_THAT(problems(a + b + d), HasSubstr("failed but present: client 4"));
  EXPECT_THAT(problems(b + a), HasSubstr("out of order in /log"));
  // A record cut short and then the next one: the torn part is named, the whole one counted.
  std::string torn = problems(a + c.substr(0, 12) + b);
  EXPECT_THAT(torn, HasSubstr("torn or foreign: bytes [40, 52)"));
  EXPECT_THAT(torn, HasSubstr("the first 12 of 40 bytes of client 3"));
  EXPECT_THAT(torn, HasSubstr("1 problems"));
  // A tail without its newline.
  EXPECT_THAT(problems(a + b + c.substr(0, 39)), HasSubstr("the first 39 of 40 bytes"));
  EXPECT_THAT(problems(a + b + "garbage\n"), HasSubstr("no client appended them"));
  EXPECT_THAT(problems(a + b + std::string(100, '\0')), HasSubstr("no client appended them"));
  // In another file than its own.
  absl::StatusOr<AppendReport> moved = CheckAppends(h, {{"/log", a}, {"/other", b}});
  ASSERT_TRUE(moved.ok());
  EXPECT_THAT(moved->Summary(), HasSubstr("misplaced: client 2"));
}

TEST(AppendTest, RejectsRecordsThatAreNotLines) {
  std::vector<Operation> h = {Append(1, 1, Outcome::kOk, 0, 10)};
  h[0].input = "no newline";
  EXPECT_FALSE(CheckAppends(h, {}).ok());
  h[0].input = "two\nlines\n";
  EXPECT_FALSE(CheckAppends(h, {}).ok());
  h = {Append(1, 1, Outcome::kOk, 0, 10), Append(1, 1, Outcome::kOk, 20, 30)};
  EXPECT_FALSE(CheckAppends(h, {}).ok());
}

// ---- large files ----

Operation Put(int process, std::string path, std::string digest, Outcome outcome, int64_t invoke,
              int64_t complete) {
  Operation op = Ok(process, "put", std::move(path), std::move(digest), "", invoke,
                    outcome == Outcome::kUnknown ? kNever : complete);
  op.outcome = outcome;
  return op;
}

TEST(LargeFileTest, GetsSeeWholeSurvivingPuts) {
  std::vector<Operation> h = {
      Put(1, "/big", "sha-A", Outcome::kOk, 0, 100),
      Put(2, "/big", "sha-B", Outcome::kFail, 110, 200),  // leaves A
      Ok(3, "get", "/big", "", "sha-A", 210, 300),
      Put(1, "/big", "sha-C", Outcome::kUnknown, 310, 0),  // may or may not land
      Ok(3, "get", "/big", "", "sha-A", 400, 500),
      Ok(3, "get", "/big", "", "sha-C", 600, 700),
      Ok(2, "get", "/new", "", "ENOENT", 0, 10),
  };
  auto explain_violation = [](const std::vector<Operation>& history) -> std::string {
    absl::StatusOr<CheckResult> result = CheckLargeFiles(history);
    if (!result.ok()) return result.status().ToString();
    if (result->verdict != Verdict::kNotLinearizable) return "(no violation found)";
    return result->explanation;
  };
  absl::StatusOr<CheckResult> result = CheckLargeFiles(h);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->verdict, Verdict::kLinearizable) << result->explanation;

  std::vector<Operation> failed = h;
  failed[2].output = "sha-B";
  EXPECT_THAT(explain_violation(failed), HasSubstr("shows the content of a put that failed"));
  std::vector<Operation> torn = h;
  torn[4].output = "sha-mixed";
  EXPECT_THAT(explain_violation(torn), HasSubstr("no put to /big wrote (torn, mixed or corrupt)"));
  std::vector<Operation> stale = h;
  stale.push_back(Ok(3, "get", "/big", "", "sha-A", 800, 900));  // C was seen: A is gone
  EXPECT_THAT(explain_violation(stale), HasSubstr("the register held 'sha-C'"));
}

// ---- random histories ----

// A register history made from a real sequential execution: each operation takes effect at a
// point inside its [invoke, complete], and a process runs one operation at a time. Some writes
// end with an unknown outcome (they took effect or not, as `rng` says).
std::vector<Operation> RandomRegisterHistory(uint64_t seed, int processes, int keys, int count) {
  Random rng(seed);
  struct Planned {
    int process;
    int64_t point;
  };
  std::vector<Planned> plan(count);
  for (int i = 0; i < count; ++i) plan[i] = {static_cast<int>(rng.Uniform(processes)), i * 10};
  std::vector<int64_t> next_point(count, kNever);
  std::map<int, int64_t> later;
  for (int i = count - 1; i >= 0; --i) {
    auto it = later.find(plan[i].process);
    if (it != later.end()) next_point[i] = it->second;
    later[plan[i].process] = plan[i].point;
  }
  std::map<std::string, std::string> value;
  std::map<int, int64_t> free_at;  // when each process's previous operation completed
  std::vector<Operation> history;
  for (int i = 0; i < count; ++i) {
    const Planned& p = plan[i];
    int64_t earliest =
        std::max(free_at.count(p.process) ? free_at[p.process] + 1 : 0, p.point - 45);
    int64_t latest = std::min(next_point[i] == kNever ? kNever : next_point[i] - 1, p.point + 45);
    Operation op;
    op.process = p.process;
    op.key = absl::StrCat("/r", rng.Uniform(keys));
    op.invoke_ns = rng.Range(earliest, p.point);
    op.complete_ns = rng.Range(p.point, latest);
    op.outcome = Outcome::kOk;
    free_at[p.process] = op.complete_ns;
    if (rng.Chance(0.4)) {
      op.kind = "write";
      op.input = absl::StrCat("v", i);
      if (rng.Chance(0.15)) {
        op.outcome = Outcome::kUnknown;
        op.complete_ns = kNever;
        // A process whose call timed out gives up on it and goes on.
        if (rng.Chance(0.5)) {
          history.push_back(op);
          continue;  // never took effect
        }
      }
      value[op.key] = op.input;
    } else {
      op.kind = "read";
      auto it = value.find(op.key);
      op.output = it == value.end() ? "ENOENT" : it->second;
    }
    history.push_back(op);
  }
  std::sort(history.begin(), history.end(),
            [](const Operation& a, const Operation& b) { return a.invoke_ns < b.invoke_ns; });
  return history;
}

TEST(RandomizedTest, ExecutionsAreLinearizableAndImpossibleReadsAreNot) {
  int mutated = 0;
  for (uint64_t seed = 1; seed <= 300; ++seed) {
    std::vector<Operation> h =
        RandomRegisterHistory(seed, 2 + seed % 4, 1 + seed % 3, 40 + seed % 120);
    CheckResult result = Check(RegisterModel(), h);
    ASSERT_EQ(result.verdict, Verdict::kLinearizable) << "seed " << seed << "\n"
                                                      << result.explanation << HistoryToText(h);
    // Make one read return a value written only by a write invoked after the read completed.
    Random rng(seed * 7919);
    std::vector<size_t> candidates;
    std::map<size_t, std::string> future;
    for (size_t r = 0; r < h.size(); ++r) {
      if (h[r].kind != "read") continue;
      for (const Operation& w : h) {
        if (w.kind == "write" && w.key == h[r].key && w.invoke_ns > h[r].complete_ns) {
          candidates.push_back(r);
          future[r] = w.input;
          break;
        }
      }
    }
    if (candidates.empty()) continue;
    size_t r = candidates[rng.Uniform(candidates.size())];
    h[r].output = future[r];
    ++mutated;
    result = Check(RegisterModel(), h);
    ASSERT_EQ(result.verdict, Verdict::kNotLinearizable) << "seed " << seed << " read " << r << "\n"
                                                         << HistoryToText(h);
    EXPECT_FALSE(result.explanation.empty());
  }
  EXPECT_GT(mutated, 250);
}

// Brute force: tries every subset of unknown operations and every order that keeps real-time
// order, on the whole history at once (no parts). Only for a handful of operations.
bool BruteForceLinearizable(const Model& model, std::vector<Operation> ops) {
  ops.erase(std::remove_if(ops.begin(), ops.end(),
                           [&](const Operation& op) {
                             return op.outcome == Outcome::kFail ||
                                    (op.outcome == Outcome::kUnknown && model.ReadOnly(op));
                           }),
            ops.end());
  const int n = static_cast<int>(ops.size());
  std::vector<bool> placed(n, false);
  std::function<bool(const std::string&, int, uint32_t)> extend = [&](const std::string& state,
                                                                      int left, uint32_t skip) {
    if (left == 0) return true;
    for (int i = 0; i < n; ++i) {
      if (placed[i] || (skip >> i & 1)) continue;
      // Every unplaced op that completed before i was invoked must come first.
      bool ready = true;
      for (int j = 0; j < n && ready; ++j) {
        if (j != i && !placed[j] && !(skip >> j & 1) && ops[j].complete_ns < ops[i].invoke_ns) {
          ready = false;
        }
      }
      if (!ready) continue;
      std::string next;
      if (!model.Step(state, ops[i], &next)) continue;
      placed[i] = true;
      bool ok = extend(next, left - 1, skip);
      placed[i] = false;
      if (ok) return true;
    }
    return false;
  };
  std::vector<int> unknown;
  for (int i = 0; i < n; ++i) {
    if (ops[i].outcome == Outcome::kUnknown) unknown.push_back(i);
  }
  for (uint32_t mask = 0; mask < (1u << unknown.size()); ++mask) {
    uint32_t skip = 0;
    for (size_t k = 0; k < unknown.size(); ++k) {
      if (mask >> k & 1) skip |= 1u << unknown[k];
    }
    if (extend(model.Init(), n - __builtin_popcount(skip), skip)) return true;
  }
  return false;
}

// Small random histories with random results: the search and brute force must agree, and
// both verdicts must come up often enough to mean something.
template <typename MakeOp>
void CrossCheck(const Model& model, MakeOp make_op, uint64_t seeds) {
  uint64_t linearizable = 0;
  for (uint64_t seed = 1; seed <= seeds; ++seed) {
    Random rng(seed);
    std::vector<Operation> h;
    int count = 2 + static_cast<int>(rng.Uniform(6));
    for (int i = 0; i < count; ++i) {
      Operation op = make_op(rng, seed);
      op.process = i;
      op.invoke_ns = rng.Range(0, 60);
      op.complete_ns = op.invoke_ns + rng.Range(0, 30);
      int roll = static_cast<int>(rng.Uniform(10));
      op.outcome = roll == 0 ? Outcome::kUnknown : roll == 1 ? Outcome::kFail : Outcome::kOk;
      if (op.outcome == Outcome::kUnknown) op.complete_ns = kNever;
      h.push_back(op);
    }
    bool expected = BruteForceLinearizable(model, h);
    CheckResult result = Check(model, h);
    ASSERT_EQ(result.verdict, expected ? Verdict::kLinearizable : Verdict::kNotLinearizable)
        << "seed " << seed << "\n"
        << HistoryToText(h) << result.explanation;
    linearizable += expected;
  }
  EXPECT_GT(linearizable, seeds / 6);
  EXPECT_LT(linearizable, seeds - seeds / 6);
}

TEST(RandomizedTest, RegisterAgreesWithBruteForce) {
  CrossCheck(
      RegisterModel(),
      [](Random& rng, uint64_t seed) {
        Operation op;
        op.key = "/r";  // one register: the brute force knows no parts
        std::string value = absl::StrCat("v", rng.Uniform(3));
        if (rng.Chance(0.5)) {
          op.kind = "write";
          op.input = value;
        } else if (seed % 2 == 0 || rng.Chance(0.85)) {  // deletes in odd seeds (no pruning)
          op.kind = "read";
          op.output = rng.Chance(0.2) ? "ENOENT" : value;
        } else {
          op.kind = "delete";
          op.output = rng.Chance(0.5) ? "ok" : "ENOENT";
        }
        return op;
      },
      2000);
}

TEST(RandomizedTest, DirectoryAgreesWithBruteForce) {
  CrossCheck(
      DirectoryModel({"c"}),
      [](Random& rng, uint64_t seed) {
        static const char* kNames[] = {"a", "b", "c"};
        Operation op;
        op.key = kNames[rng.Uniform(3)];
        switch (rng.Uniform(4)) {
          case 0:
            op.kind = "create";
            op.output = rng.Chance(0.5) ? "ok" : "EEXIST";
            break;
          case 1:
            op.kind = "unlink";
            op.output = rng.Chance(0.5) ? "ok" : "ENOENT";
            break;
          case 2:
            op.kind = "rename";
            op.input = kNames[rng.Uniform(3)];
            op.output = rng.Chance(0.6) ? "ok" : "ENOENT";
            break;
          default:
            op.kind = "stat";
            op.output = rng.Chance(0.5) ? "exists" : "ENOENT";
        }
        return op;
      },
      2000);
}

}  // namespace
}  // namespace dfs::fault
