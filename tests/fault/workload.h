// Workloads for fault runs: concurrent clients that keep operating on a cluster while the
// nemesis acts, each operation recorded with its invocation and completion times and outcome in
// a History (tests/fault/history.h), then judged after the cluster is healed:
//
//   NamespaceWorkload   create/rename/unlink/stat of a few names in one shared directory
//                       (dfs::Client, one master RPC each) -> DirectoryModel
//   RegisterWorkload    whole-file puts, gets and deletes of small files, each file a register
//                       (dfs::Client) -> RegisterModel
//   AppendWorkload      O_APPEND records to shared files through dfs-fuse mounts, each record
//                       acknowledged by fsync -> CheckAppends on the final contents
//   LargeFileWorkload   put/get of multi-chunk files, compared by digest -> CheckLargeFiles
//
// Outcomes: kOk for a result (including a semantic error such as ENOENT from a single master
// RPC, which is a result the master decided); kUnknown for anything that might have taken
// effect (timeouts, unavailable, any error of a multi-step operation); kFail only when the error
// proves nothing happened (never guessed).
//
// After Stop() and a heal, Finish() adds final reads of every object to the history (with a
// healthy cluster they must succeed: a failure is reported as lost data) and runs the checker.
//
// Thread-safety: Start/Stop/Finish from one test thread; the workload runs its own threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/client.h"
#include "common/random.h"
#include "tests/fault/history.h"
#include "tests/testutil/process.h"
#include "tests/testutil/temp_dir.h"

namespace dfs::fault {

struct WorkloadOptions {
  std::vector<std::string> masters;
  std::string dir;  // the workload's own directory in dfs, e.g. "/fault/names"
  int clients = 2;  // concurrent clients: processes 0..clients-1 of the history
  uint64_t seed = 1;
  // Short, so that faults leave operations of unknown outcome in the histories, not only slow
  // successes.
  int64_t rpc_timeout_ms = 1500;
  int64_t op_timeout_ms = 4000;
  // Pause between one client's operations (a uniform draw up to this), to keep 2 cores usable.
  int max_think_ms = 20;
};

struct WorkloadReport {
  bool ok = true;
  std::string verdict;                 // the checker's verdict, or what was checked
  std::vector<std::string> anomalies;  // one readable line each
  std::string Summary() const;
};

class Workload {
 public:
  Workload(std::string name, WorkloadOptions options);
  virtual ~Workload();

  const std::string& name() const { return name_; }
  const WorkloadOptions& options() const { return options_; }

  // Creates what the workload needs, before any fault: its clients and directory.
  virtual absl::Status Setup();
  // One thread per client, running operations until Stop().
  virtual void Start();
  // Stops the clients and waits for their last operations (bounded by the op timeouts).
  virtual void Stop();
  // Every operation recorded so far, in invocation order.
  virtual std::vector<Operation> Operations() const { return history_.Operations(); }
  // Final reads, then the checks. Call on a healed cluster.
  virtual WorkloadReport Finish() = 0;

  // "names: 812 ops (790 ok, 3 fail, 19 unknown)".
  std::string Counts() const;

 protected:
  // One operation of client `process` (records itself in history()).
  virtual void Step(int process, Random& random) = 0;
  History& history() { return history_; }
  // A client of the cluster with this workload's timeouts (one per thread: separate sessions).
  absl::StatusOr<std::unique_ptr<Client>> NewClient(uint64_t seed) const;
  Client& client(int process) { return *clients_[process]; }
  // The client used for setup and final reads (its own process id: options().clients).
  Client& admin_client() { return *clients_.back(); }
  int admin_process() const { return options_.clients; }
  uint64_t dir_inode() const { return dir_inode_; }  // options().dir, after Setup()
  // After the heal: one read of each key by the admin client, recorded as `kind` ("stat",
  // "read", "get"). `read` returns what the history shows, or NotFound for an absent name.
  // Returns a line for each read that still failed on the healthy cluster: lost data.
  std::vector<std::string> FinalReads(
      const std::string& kind, const std::vector<std::string>& keys,
      const std::function<absl::StatusOr<std::string>(const std::string&)>& read);

 private:
  const std::string name_;
  const WorkloadOptions options_;
  History history_;
  std::vector<std::unique_ptr<Client>> clients_;
  uint64_t dir_inode_ = 0;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

// Names n0..n{names-1} in options.dir.
class NamespaceWorkload : public Workload {
 public:
  NamespaceWorkload(WorkloadOptions options, int names = 6)
      : Workload("names", std::move(options)), names_(names) {}
  WorkloadReport Finish() override;

 protected:
  void Step(int process, Random& random) override;

 private:
  absl::StatusOr<std::string> Stat(Client& client, const std::string& name);  // "exists"
  const int names_;
};

// Registers r0..r{keys-1}: files in options.dir whose whole content encodes one value.
class RegisterWorkload : public Workload {
 public:
  RegisterWorkload(WorkloadOptions options, int keys = 4)
      : Workload("registers", std::move(options)), keys_(keys) {}
  WorkloadReport Finish() override;

  // The bytes of a register file holding `value` (a header with the value and size, then
  // filler that depends on both), and the inverse ("" if the bytes are not such a file).
  static std::string Encode(const std::string& value, size_t size);
  static std::string Decode(const std::string& content);

 protected:
  void Step(int process, Random& random) override;

 private:
  // The register's value, or "corrupt:<digest>" for bytes no write wrote.
  absl::StatusOr<std::string> ReadValue(Client& client, const std::string& key);
  const int keys_;
  std::atomic<int64_t> next_value_{0};
};

// O_APPEND records to files a0..a{files-1} in options.dir, written through the given dfs-fuse
// mount points by dfs-fault-appender processes (client i uses mounts[i % size]); each record is
// one write(2) then fsync. Processes, not threads: see workload_appender.cc.
class AppendWorkload : public Workload {
 public:
  AppendWorkload(WorkloadOptions options, std::vector<std::string> mounts, int files = 2)
      : Workload("appends", std::move(options)), mounts_(std::move(mounts)), files_(files) {}
  absl::Status Setup() override;
  void Start() override;
  // Also collects the appenders' histories (a missing one is reported by Finish()).
  void Stop() override;
  std::vector<Operation> Operations() const override { return operations_; }
  WorkloadReport Finish() override;

 protected:
  void Step(int process, Random& random) override {}

 private:
  const std::vector<std::string> mounts_;
  const int files_;
  TempDir work_;  // the stop file and the appenders' histories and logs
  std::vector<std::unique_ptr<testing::Process>> appenders_;
  std::vector<Operation> operations_;
  std::vector<std::string> problems_;  // appenders that failed
};

// Files L0..L{files-1} of 1..max_bytes, put whole (several chunks each with a small client
// chunk size) and read back whole; the history holds digests, not contents.
class LargeFileWorkload : public Workload {
 public:
  LargeFileWorkload(WorkloadOptions options, int files = 3, uint64_t max_bytes = 4ull << 20)
      : Workload("large", std::move(options)), files_(files), max_bytes_(max_bytes) {}
  WorkloadReport Finish() override;

  // "<size>:<crc32c>:<fnv64>" of `data`.
  static std::string Digest(absl::string_view data);

 protected:
  void Step(int process, Random& random) override;

 private:
  absl::StatusOr<std::string> ReadDigest(Client& client, const std::string& key);
  const int files_;
  const uint64_t max_bytes_;
};

// Reads the whole file `name` in directory `dir_inode`: NotFound ("ENOENT") if the name is
// absent at lookup. A file replaced between the lookup and the read is looked up again.
absl::StatusOr<std::string> ReadWholeFile(Client& client, uint64_t dir_inode,
                                          const std::string& name);
// How often ReadWholeFile found the inode gone after its lookup (Client::Get, which does not
// look again, would have answered ENOENT for a name that existed throughout).
int64_t ReadsOfVanishedInodes();

// "n0".."n{n-1}" for prefix "n".
std::vector<std::string> Keys(const std::string& prefix, int n);

// Outcome of a failed operation: a single-RPC namespace call's semantic error is a result
// ("ENOENT", "EEXIST", ...); everything else might have taken effect.
bool IsSemanticError(const absl::Status& status);
std::string ErrnoName(int err);

}  // namespace dfs::fault
