#include "tests/fault/workload.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/crc32c.h"
#include "common/errors.h"
#include "common/status.h"
#include "tests/fault/checker.h"
#include "tests/fault/checker_files.h"
#include "tests/testutil/files.h"

namespace dfs::fault {
namespace {

// Directory operations are tried again for this long during setup and final reads, when the
// cluster is healthy but may still be settling (a leader election, a datanode rejoining).
constexpr auto kSettle = std::chrono::seconds(60);

absl::StatusOr<uint64_t> MakeDir(Client& client, const std::string& dir) {
  auto deadline = std::chrono::steady_clock::now() + kSettle;
  absl::StatusOr<Attr> attr;
  do {
    attr = client.MkdirAll(dir);
    if (attr.ok()) return attr->inode();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  } while (std::chrono::steady_clock::now() < deadline);
  return attr.status();
}

// Retries `fn` while it fails with something other than a semantic error, up to kSettle.
template <typename Fn>
auto Settled(Fn fn) -> decltype(fn()) {
  auto deadline = std::chrono::steady_clock::now() + kSettle;
  for (;;) {
    auto result = fn();
    if (result.ok() || IsSemanticError(result.status()) ||
        std::chrono::steady_clock::now() > deadline) {
      return result;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

uint64_t Fnv64(absl::string_view data) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : data) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace

bool IsSemanticError(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kFailedPrecondition: break;
    default: return false;
  }
  // Only the errors a namespace operation decides; anything else is not a result.
  switch (ErrnoOf(status)) {
    case ENOENT:
    case EEXIST:
    case ENOTEMPTY:
    case ENOTDIR:
    case EISDIR: return true;
    default: return false;
  }
}

std::string ErrnoName(int err) {
  switch (err) {
    case ENOENT: return "ENOENT";
    case EEXIST: return "EEXIST";
    case ENOTEMPTY: return "ENOTEMPTY";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case EIO: return "EIO";
    case ETIMEDOUT: return "ETIMEDOUT";
    case ENOSPC: return "ENOSPC";
    default: return absl::StrCat("errno", err);
  }
}

namespace {
std::atomic<int64_t> g_reads_of_vanished_inodes{0};
}  // namespace

int64_t ReadsOfVanishedInodes() { return g_reads_of_vanished_inodes; }

absl::StatusOr<std::string> ReadWholeFile(Client& client, uint64_t dir_inode,
                                          const std::string& name) {
  for (int attempt = 0;; ++attempt) {
    DFS_ASSIGN_OR_RETURN(Attr attr, client.Lookup(dir_inode, name));
    std::string out;
    absl::StatusOr<uint64_t> read =
        client.ReadStream(attr.inode(), 0, kToEnd, [&](absl::string_view data) {
          out.append(data.data(), data.size());
          return absl::OkStatus();
        });
    if (read.ok()) return out;
    // The inode went away after the lookup (the name was replaced or removed meanwhile): look
    // again rather than answer "no such file" for a name that may exist throughout.
    if (!absl::IsNotFound(read.status()) || attempt >= 5) {
      return absl::UnavailableError(absl::StrCat("read of ", name, ": ", read.status().ToString()));
    }
    g_reads_of_vanished_inodes++;
  }
}

std::string WorkloadReport::Summary() const {
  std::string text = absl::StrCat(ok ? "ok" : "FAILED", ": ", verdict);
  for (const std::string& anomaly : anomalies) absl::StrAppend(&text, "\n  ", anomaly);
  return text;
}

// ---- Workload ----

Workload::Workload(std::string name, WorkloadOptions options)
    : name_(std::move(name)), options_(std::move(options)) {}

Workload::~Workload() { Stop(); }

absl::StatusOr<std::unique_ptr<Client>> Workload::NewClient(uint64_t seed) const {
  ClientOptions client_options;
  client_options.masters = options_.masters;
  client_options.rpc_timeout_ms = options_.rpc_timeout_ms;
  client_options.op_timeout_ms = options_.op_timeout_ms;
  client_options.write_retry_deadline_ms = options_.op_timeout_ms;
  // Small chunks: a few MiB already make several chunks and pipelines.
  client_options.chunk_size_bytes = 1ull << 20;
  DFS_RETURN_IF_ERROR(client_options.Validate());
  return std::make_unique<Client>(client_options, seed);
}

absl::Status Workload::Setup() {
  for (int p = 0; p <= options_.clients; ++p) {
    DFS_ASSIGN_OR_RETURN(std::unique_ptr<Client> c, NewClient(options_.seed * 1000 + p + 1));
    clients_.push_back(std::move(c));
  }
  DFS_ASSIGN_OR_RETURN(dir_inode_, MakeDir(admin_client(), options_.dir));
  return absl::OkStatus();
}

void Workload::Start() {
  stop_ = false;
  for (int p = 0; p < options_.clients; ++p) {
    threads_.emplace_back([this, p] {
      Random random(options_.seed * 7919 + p);
      while (!stop_) {
        Step(p, random);
        if (options_.max_think_ms > 0) {
          std::this_thread::sleep_for(
              std::chrono::milliseconds(random.Uniform(options_.max_think_ms + 1)));
        }
      }
    });
  }
}

void Workload::Stop() {
  stop_ = true;
  for (auto& thread : threads_) thread.join();
  threads_.clear();
}

std::string Workload::Counts() const {
  int64_t ok = 0, fail = 0, unknown = 0;
  for (const Operation& op : Operations()) {
    (op.outcome == Outcome::kOk ? ok : op.outcome == Outcome::kFail ? fail : unknown)++;
  }
  return absl::StrFormat("%s: %d ops (%d ok, %d fail, %d unknown)", name_, ok + fail + unknown, ok,
                         fail, unknown);
}

namespace {

// Completes a mutation that is one master RPC: a semantic error is its result.
void CompleteMutation(History& history, size_t op, const absl::Status& s) {
  if (s.ok()) {
    history.Complete(op, Outcome::kOk, "ok");
  } else if (IsSemanticError(s)) {
    history.Complete(op, Outcome::kOk, ErrnoName(ErrnoOf(s)));
  } else {
    history.Complete(op, Outcome::kUnknown, s.ToString());
  }
}

// Completes a read: `output` (the value the history shows), "ENOENT" for a name the master said
// is absent, unknown for anything else.
void CompleteRead(History& history, size_t op, const absl::StatusOr<std::string>& output) {
  if (output.ok()) {
    history.Complete(op, Outcome::kOk, *output);
  } else if (absl::IsNotFound(output.status()) && ErrnoOf(output.status()) == ENOENT) {
    history.Complete(op, Outcome::kOk, "ENOENT");
  } else {
    history.Complete(op, Outcome::kUnknown, output.status().ToString());
  }
}

// A whole-file put that replaces any existing file. Several steps (chunks, then one create):
// any error may or may not have landed.
void PutWhole(History& history, size_t op, Client& client, const std::string& path,
              const std::string& content) {
  std::istringstream in(content);
  PutOptions put;
  put.overwrite = true;
  absl::Status s = client.Put(in, path, put).status();
  history.Complete(op, s.ok() ? Outcome::kOk : Outcome::kUnknown, s.ok() ? "" : s.ToString());
}

WorkloadReport FromCheck(const absl::StatusOr<CheckResult>& result, std::vector<std::string> lost) {
  WorkloadReport report;
  report.anomalies = std::move(lost);
  report.ok = report.anomalies.empty();
  if (!result.ok()) {
    report.ok = false;
    report.verdict = absl::StrCat("checker error: ", result.status().ToString());
    return report;
  }
  report.verdict = absl::StrCat(VerdictName(result->verdict), " (", result->partitions, " parts, ",
                                result->steps, " steps)");
  if (result->verdict == Verdict::kNotLinearizable) {
    report.ok = false;
    report.anomalies.push_back(result->explanation);
  } else if (result->verdict == Verdict::kUnknown) {
    // The search gave up: not a failure of dfs, but nothing was proven either; say so.
    report.anomalies.push_back(absl::StrCat("checker gave up: ", result->explanation));
  }
  return report;
}

}  // namespace

std::vector<std::string> Workload::FinalReads(
    const std::string& kind, const std::vector<std::string>& keys,
    const std::function<absl::StatusOr<std::string>(const std::string&)>& read) {
  std::vector<std::string> lost;
  for (const std::string& key : keys) {
    size_t op = history_.Invoke(admin_process(), kind, key, "");
    absl::StatusOr<std::string> output = Settled([&] { return read(key); });
    CompleteRead(history_, op, output);
    if (!output.ok() && !absl::IsNotFound(output.status())) {
      lost.push_back(absl::StrCat("final ", kind, " of ", key,
                                  " failed on a healed cluster: ", output.status().ToString()));
    }
  }
  return lost;
}

std::vector<std::string> Keys(const std::string& prefix, int n) {
  std::vector<std::string> keys;
  for (int i = 0; i < n; ++i) keys.push_back(absl::StrCat(prefix, i));
  return keys;
}

// ---- NamespaceWorkload ----

absl::StatusOr<std::string> NamespaceWorkload::Stat(Client& client, const std::string& name) {
  DFS_RETURN_IF_ERROR(client.Lookup(dir_inode(), name).status());
  return std::string("exists");
}

void NamespaceWorkload::Step(int process, Random& random) {
  const std::string name = absl::StrCat("n", random.Uniform(names_));
  const uint64_t roll = random.Uniform(100);
  Client& c = client(process);
  if (roll < 30) {
    size_t op = history().Invoke(process, "create", name, "");
    CreateOptions create;
    create.exclusive = true;
    CompleteMutation(history(), op, c.Create(dir_inode(), name, create).status());
  } else if (roll < 50) {
    std::string to = absl::StrCat("n", random.Uniform(names_));
    if (to == name) to = absl::StrCat("n", (std::stoi(name.substr(1)) + 1) % names_);
    size_t op = history().Invoke(process, "rename", name, to);
    CompleteMutation(history(), op, c.Rename(dir_inode(), name, dir_inode(), to));
  } else if (roll < 70) {
    size_t op = history().Invoke(process, "unlink", name, "");
    CompleteMutation(history(), op, c.Unlink(dir_inode(), name));
  } else {
    size_t op = history().Invoke(process, "stat", name, "");
    CompleteRead(history(), op, Stat(c, name));
  }
}

WorkloadReport NamespaceWorkload::Finish() {
  std::vector<std::string> lost =
      FinalReads("stat", Keys("n", names_),
                 [&](const std::string& name) { return Stat(admin_client(), name); });
  return FromCheck(CheckLinearizable(DirectoryModel(), Operations()), std::move(lost));
}

// ---- RegisterWorkload ----

std::string RegisterWorkload::Encode(const std::string& value, size_t size) {
  std::string content = absl::StrCat(value, " ", size, "\n");
  if (content.size() < size) {
    content += testing::RandomBytes(size - content.size(), Fnv64(value) ^ size);
  }
  return content;
}

std::string RegisterWorkload::Decode(const std::string& content) {
  size_t space = content.find(' ');
  size_t newline = content.find('\n');
  size_t size = 0;
  if (space == std::string::npos || newline == std::string::npos || space > newline ||
      !absl::SimpleAtoi(content.substr(space + 1, newline - space - 1), &size)) {
    return "";
  }
  std::string value = content.substr(0, space);
  return Encode(value, size) == content ? value : "";
}

absl::StatusOr<std::string> RegisterWorkload::ReadValue(Client& client, const std::string& key) {
  DFS_ASSIGN_OR_RETURN(std::string content, ReadWholeFile(client, dir_inode(), key));
  // Bytes that are no register content at all (torn, mixed, foreign) show as their digest, which
  // no write wrote.
  std::string value = Decode(content);
  return value.empty() ? absl::StrCat("corrupt:", LargeFileWorkload::Digest(content)) : value;
}

void RegisterWorkload::Step(int process, Random& random) {
  const std::string key = absl::StrCat("r", random.Uniform(keys_));
  const uint64_t roll = random.Uniform(100);
  Client& c = client(process);
  if (roll < 45) {
    const std::string value = absl::StrCat("p", process, "-", next_value_++);
    // Mostly small, sometimes past one 1 MiB chunk.
    const size_t size =
        random.Chance(0.1) ? random.Range(1 << 20, 3 << 20) : random.Range(1, 64 << 10);
    size_t op = history().Invoke(process, "write", key, value);
    PutWhole(history(), op, c, options().dir + "/" + key, Encode(value, size));
  } else if (roll < 90) {
    size_t op = history().Invoke(process, "read", key, "");
    CompleteRead(history(), op, ReadValue(c, key));
  } else {
    size_t op = history().Invoke(process, "delete", key, "");
    CompleteMutation(history(), op, c.Unlink(dir_inode(), key));
  }
}

WorkloadReport RegisterWorkload::Finish() {
  std::vector<std::string> lost = FinalReads("read", Keys("r", keys_), [&](const std::string& key) {
    return ReadValue(admin_client(), key);
  });
  return FromCheck(CheckLinearizable(RegisterModel(), Operations()), std::move(lost));
}

// ---- AppendWorkload ----

absl::Status AppendWorkload::Setup() {
  DFS_RETURN_IF_ERROR(Workload::Setup());
  for (int f = 0; f < files_; ++f) {
    CreateOptions create;
    absl::Status s = admin_client().Create(dir_inode(), absl::StrCat("a", f), create).status();
    if (!s.ok() && !absl::IsAlreadyExists(s)) return s;
  }
  return absl::OkStatus();
}

void AppendWorkload::Start() {
  ::unlink((work_.path() + "/stop").c_str());
  for (int p = 0; p < options().clients; ++p) {
    auto appender = std::make_unique<testing::Process>();
    absl::Status s = appender->Start(
        {testing::BinDir() + "/dfs-fault-appender", "--mount=" + mounts_[p % mounts_.size()],
         "--dir=" + options().dir, absl::StrCat("--files=", files_), absl::StrCat("--process=", p),
         absl::StrCat("--seed=", options().seed * 7919 + p),
         "--stop_file=" + work_.path() + "/stop",
         absl::StrCat("--history=", work_.path(), "/history-", p),
         absl::StrCat("--max_think_ms=", options().max_think_ms)},
        absl::StrCat(work_.path(), "/appender-", p, ".log"));
    if (!s.ok())
      problems_.push_back(absl::StrCat("appender ", p, " did not start: ", s.ToString()));
    appenders_.push_back(std::move(appender));
  }
}

void AppendWorkload::Stop() {
  if (appenders_.empty()) return;
  { std::ofstream(work_.path() + "/stop") << "stop\n"; }
  for (size_t p = 0; p < appenders_.size(); ++p) {
    // An appender finishes its last record first: bounded by dfs-fuse's operation deadline.
    absl::StatusOr<int> code = appenders_[p]->Wait(60000);
    if (!code.ok()) {
      appenders_[p]->Kill();
      problems_.push_back(absl::StrCat("appender ", p, " did not stop within 60 s"));
      continue;
    }
    if (*code != 0) problems_.push_back(absl::StrCat("appender ", p, " exited with ", *code));
    absl::StatusOr<SavedHistory> saved = LoadHistory(absl::StrCat(work_.path(), "/history-", p));
    if (!saved.ok()) {
      problems_.push_back(absl::StrCat("appender ", p, ": ", saved.status().ToString()));
      continue;
    }
    for (Operation& op : saved->operations) operations_.push_back(std::move(op));
  }
  appenders_.clear();
  std::stable_sort(
      operations_.begin(), operations_.end(),
      [](const Operation& a, const Operation& b) { return a.invoke_ns < b.invoke_ns; });
}

WorkloadReport AppendWorkload::Finish() {
  WorkloadReport report;
  std::map<std::string, std::string> contents;
  for (int f = 0; f < files_; ++f) {
    const std::string name = absl::StrCat("a", f);
    absl::StatusOr<std::string> content =
        Settled([&] { return ReadWholeFile(admin_client(), dir_inode(), name); });
    if (!content.ok()) {
      report.ok = false;
      report.anomalies.push_back(absl::StrCat(
          "final read of ", name, " failed on a healed cluster: ", content.status().ToString()));
      continue;
    }
    contents[absl::StrCat(options().dir, "/", name)] = *content;
  }
  for (const std::string& problem : problems_) {
    report.ok = false;
    report.anomalies.push_back(problem);
  }
  absl::StatusOr<AppendReport> check = CheckAppends(Operations(), contents);
  if (!check.ok()) {
    report.ok = false;
    report.verdict = absl::StrCat("checker error: ", check.status().ToString());
    return report;
  }
  report.verdict = check->Summary();
  report.ok = report.ok && check->ok;
  for (const std::string& problem : check->problems) report.anomalies.push_back(problem);
  return report;
}

// ---- LargeFileWorkload ----

std::string LargeFileWorkload::Digest(absl::string_view data) {
  return absl::StrFormat("%d:%08x:%016x", data.size(), Crc32c(data.data(), data.size()),
                         Fnv64(data));
}

absl::StatusOr<std::string> LargeFileWorkload::ReadDigest(Client& client, const std::string& key) {
  DFS_ASSIGN_OR_RETURN(std::string content, ReadWholeFile(client, dir_inode(), key));
  return Digest(content);
}

void LargeFileWorkload::Step(int process, Random& random) {
  const std::string key = absl::StrCat("L", random.Uniform(files_));
  Client& c = client(process);
  if (random.Chance(0.5)) {
    const std::string content = testing::RandomBytes(random.Range(1, max_bytes_), random.Next());
    size_t op = history().Invoke(process, "put", key, Digest(content));
    PutWhole(history(), op, c, options().dir + "/" + key, content);
  } else {
    size_t op = history().Invoke(process, "get", key, "");
    CompleteRead(history(), op, ReadDigest(c, key));
  }
}

WorkloadReport LargeFileWorkload::Finish() {
  std::vector<std::string> lost = FinalReads("get", Keys("L", files_), [&](const std::string& key) {
    return ReadDigest(admin_client(), key);
  });
  return FromCheck(CheckLargeFiles(Operations()), std::move(lost));
}

}  // namespace dfs::fault
