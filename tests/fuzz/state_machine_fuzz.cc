// Fuzzes the command decoder and StateMachine::Apply: every record of the input is a log
// entry's bytes, decoded and applied (StateMachine::ApplyEncoded) in order to a fresh state
// machine in memory (LevelDB over a MemEnv), seeded with a small namespace (directories, files
// sharing chunks, a hole, a symlink, a hard link, an orphan, a garbage chunk, a draining
// datanode) so that mutations have something to hit. After every entry: the applied index
// advanced by one, the result code is canonical and CheckConsistency holds. At the end the same
// entries replayed on a second state machine must give a byte-identical store (Apply is
// deterministic).
//
// A command from the log must never crash a replica: anything malformed is a result.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "google/protobuf/text_format.h"
#include "leveldb/env.h"
#include "leveldb/helpers/memenv.h"
#include "master/consistency_check.h"
#include "master/state_machine.h"
#include "tests/fuzz/fuzz_util.h"

namespace dfs {
namespace {

constexpr int kMaxCommands = 64;

void Fail(const std::string& what) {
  std::fprintf(stderr, "state_machine_fuzz: %s\n", what.c_str());
  std::abort();
}

// A state machine on its own in-memory Env.
struct Machine {
  std::unique_ptr<leveldb::Env> env{leveldb::NewMemEnv(leveldb::Env::Default())};
  std::unique_ptr<StateMachine> sm;

  Machine() {
    auto opened = StateMachine::Open("/fuzz/meta", env.get());
    if (!opened.ok()) Fail(opened.status().ToString());
    sm = *std::move(opened);
  }
  ~Machine() { sm.reset(); }  // the DB goes before its Env
};

// The starting namespace: inodes 2..8 and chunks 1..3 in use, ids up to 64 reserved, so fuzzed
// commands can both hit existing things and create new ones.
constexpr const char* kBaseCommands[] = {
    "reserve_ids { kind: KIND_INODE count: 64 }",
    "reserve_ids { kind: KIND_CHUNK count: 64 }",
    R"(mkdir { parent: 1 name: "d" inode: 2 mode: 493 })",
    R"(mkdir { parent: 2 name: "e" inode: 3 mode: 493 })",
    // /f: 100 bytes in chunk 1.
    R"(create { parent: 1 name: "f" inode: 4 mode: 420 size: 100
       extents { file_offset: 0 chunk_id: 1 chunk_offset: 0 length: 100 }
       new_chunks { chunk_id: 1 length: 100 crc32c: 11 replicas: "dn1" replicas: "dn2"
                    replicas: "dn3" } })",
    // /d/g: two pieces of chunk 2, a hole between them, and size 300.
    R"(create { parent: 2 name: "g" inode: 5 mode: 384 size: 300
       extents { file_offset: 0 chunk_id: 2 chunk_offset: 0 length: 50 }
       extents { file_offset: 100 chunk_id: 2 chunk_offset: 50 length: 150 }
       new_chunks { chunk_id: 2 length: 200 crc32c: 22 replicas: "dn1" replicas: "dn2"
                    replicas: "dn3" } })",
    R"(symlink { parent: 1 name: "s" inode: 6 target: "d/e" })",
    R"(link { inode: 4 new_parent: 2 new_name: "f2" })",
    // /o, unlinked while open: an orphan.
    R"(create { parent: 1 name: "o" inode: 7 })",
    R"(unlink { parent: 1 name: "o" keep_orphan: true })",
    // /gone with chunk 3, removed: chunk 3 is garbage.
    R"(create { parent: 1 name: "gone" inode: 8 size: 10
       extents { file_offset: 0 chunk_id: 3 chunk_offset: 0 length: 10 }
       new_chunks { chunk_id: 3 length: 10 replicas: "dn1" } })",
    R"(unlink { parent: 1 name: "gone" })",
    R"(set_decommission { datanode_id: "dn3" decommission: true })",
};

// The base namespace, built and checked once; each run starts from a copy (Restore).
struct BaseState {
  uint64_t index = 0;
  std::string snapshot;
};

const BaseState& Base() {
  static const BaseState* base = [] {
    Machine m;
    auto* out = new BaseState;
    for (const char* text : kBaseCommands) {
      Command command;
      if (!google::protobuf::TextFormat::ParseFromString(text, &command)) Fail(text);
      command.set_client_id(7);
      command.set_seq(out->index + 1);
      command.set_timestamp_ns(1000 * (out->index + 1));
      CommandResult result = m.sm->Apply(++out->index, command);
      if (result.code() != 0) Fail("base command failed: " + result.message());
    }
    if (absl::Status s = CheckConsistency(m.sm->store()); !s.ok()) Fail(s.ToString());
    out->snapshot = m.sm->Snapshot();
    return out;
  }();
  return *base;
}

// Applies `entries` (serialized commands, as in the log) after the base namespace, checking
// every invariant on the way; returns the final store.
std::string Run(const std::vector<std::string>& entries, bool check) {
  Machine m;
  uint64_t index = Base().index;
  if (absl::Status s = m.sm->Restore(index, Base().snapshot); !s.ok()) Fail(s.ToString());
  for (const std::string& entry : entries) {
    CommandResult result = m.sm->ApplyEncoded(++index, entry);
    if (!check) continue;
    if (m.sm->applied_index() != index) Fail("applied index did not advance");
    if (result.code() < 0 || result.code() > static_cast<int>(absl::StatusCode::kUnauthenticated)) {
      Fail("result code out of range");
    }
    if (absl::Status s = CheckConsistency(m.sm->store()); !s.ok()) {
      Command command;
      command.ParseFromString(entry);
      Fail(s.ToString() + "\nafter: " + command.ShortDebugString());
    }
  }
  return m.sm->Snapshot();
}

}  // namespace
}  // namespace dfs

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  dfs::fuzz::Input input(data, size);
  std::vector<std::string> entries;
  std::string_view record;
  while (entries.size() < dfs::kMaxCommands && input.Record(&record)) {
    entries.emplace_back(record);
  }
  const std::string first = dfs::Run(entries, /*check=*/true);
  if (dfs::Run(entries, /*check=*/false) != first) dfs::Fail("replay gave a different store");
  return 0;
}
