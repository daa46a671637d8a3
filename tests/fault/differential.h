// Differential testing of a file system against a reference (a local directory): one seeded
// stream of file operations runs against both; each operation's result (errno, bytes, stat) and,
// every few operations, the two trees (type, size, mode, nlink, content, symlink target; not
// times or inode numbers) must agree. A mismatch is shrunk by delta debugging (re-running
// subsets of the operations against fresh directories) to a short reproducer.
//
// Operations name paths relative to a root, from a small pool (so they collide: writes to
// directories, renames over existing names, rmdir of non-empty directories...); any subset of a
// stream is itself a valid stream, which is what shrinking needs. Symlink targets stay inside
// the root.
//
// Thread-compatible; operations run with real system calls in the calling thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace dfs::fault {

struct FsOp {
  enum Kind {
    kCreate,     // open(O_CREAT | O_EXCL), close
    kWriteFile,  // open(O_CREAT | O_TRUNC), write `length` bytes, close
    kWrite,      // open(O_WRONLY), pwrite `length` bytes at `offset` (maybe past EOF), close
    kAppend,     // open(O_WRONLY | O_APPEND), write `length` bytes, close
    kTruncate,   // truncate(path, offset): up or down
    kRename,     // rename(path, path2)
    kLink,       // link(path, path2)
    kSymlink,    // symlink(target = path2, path)
    kUnlink,
    kMkdir,
    kRmdir,
    kChmod,            // chmod(path, mode)
    kRead,             // the whole content
    kStat,             // lstat
    kReaddir,          // the sorted names
    kUnlinkedWrite,    // open(O_RDWR), unlink, pwrite through the descriptor, read back, close
    kRenameNoReplace,  // renameat2(path, path2, RENAME_NOREPLACE)
    kWriteTruncate     // open(O_RDWR), pwrite at `offset`, ftruncate to `mode` bytes, read back,
                       // close: buffered writes meet a truncation through one descriptor
  };
  Kind kind = kStat;
  std::string path;
  std::string path2;
  int64_t offset = 0;
  int64_t length = 0;
  uint32_t mode = 0;
  uint64_t seed = 0;             // of the bytes written
  bool sync = false;             // fsync before close (writes)
  std::string ToString() const;  // "write d/a offset=4096 length=100 seed=7 fsync"
};

// `count` operations, a function of `seed`.
std::vector<FsOp> GenerateOps(uint64_t seed, int count);
// The bytes an operation writes.
std::string OpBytes(const FsOp& op);

// Runs `op` under `root` with system calls: "ok ..." with what it saw, or the errno's name
// ("ENOENT", or "close: EIO" for a later step of the operation).
std::string ApplyOp(const std::string& root, const FsOp& op);

// What a tree holds, by path relative to its root.
struct TreeEntry {
  char type = '?';  // 'f' file, 'd' directory, 'l' symlink
  int64_t size = 0;
  uint32_t mode = 0;  // permission bits
  int64_t nlink = 0;
  std::string content;  // a file's bytes, a symlink's target
};
using Tree = std::map<std::string, TreeEntry>;
absl::StatusOr<Tree> SnapshotTree(const std::string& root);
// Every difference, one readable line each ("d/a: size 10 (local) vs 12 (dfs)"); empty if none.
std::vector<std::string> CompareTrees(const Tree& a, const Tree& b, const std::string& a_name,
                                      const std::string& b_name);

// One side of a comparison: how to get a fresh empty root, and how to run an operation there.
struct FsSide {
  std::string name;
  std::function<absl::StatusOr<std::string>()> fresh_root;
  std::function<std::string(const std::string& root, const FsOp& op)> apply = ApplyOp;
  // Where the tree of `root` is read for comparison (e.g. the same directory through another
  // client); by default `root` itself.
  std::function<std::string(const std::string& root)> tree_root;
};

struct Mismatch {
  size_t op_index = 0;  // the operation after which it showed (ops.size(): at the final check)
  std::string description;
};

// Runs `ops` on fresh roots of both sides, comparing each result and the trees after every
// `check_every` operations and at the end. The first mismatch, if any. `results`, if given,
// counts what the operations returned ("rename ENOTEMPTY", "write ok"), to show that a stream
// exercised what it should.
std::optional<Mismatch> RunBoth(const std::vector<FsOp>& ops, const FsSide& a, const FsSide& b,
                                int check_every, std::map<std::string, int>* results = nullptr);

// Delta debugging (Zeller's ddmin, after trying ever longer tails of `ops`): a smallest
// subsequence of `ops` for which `fails` holds, 1-minimal unless `deadline` comes first (then
// the smallest found so far). `fails(ops)` must hold on entry.
std::vector<FsOp> Shrink(std::vector<FsOp> ops,
                         const std::function<bool(const std::vector<FsOp>&)>& fails,
                         absl::Time deadline);

// The operations one a line, each with what both sides returned when run once more.
std::string DescribeRun(const std::vector<FsOp>& ops, const FsSide& a, const FsSide& b);

}  // namespace dfs::fault
