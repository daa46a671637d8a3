#include "tests/fault/differential.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <iterator>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/random.h"

namespace dfs::fault {
namespace {

// Paths collide on purpose: directory-like and file-like names are used for both.
const char* const kPaths[] = {"a", "b", "c", "d", "e", "d/a", "d/b", "d/e", "d/e/a", "e/a", "e/d"};
const char* const kFilePaths[] = {"a", "b", "c", "d/a", "d/b", "e/a", "d/e/a"};
const char* const kDirPaths[] = {"d", "e", "d/e", "e/d", "d/b"};
const char* const kLinkTargets[] = {"a", "b", "d", "e/a", "missing"};
// Modes keep the owner's rwx, so that permission checks never differ between a local file
// system and dfs-fuse, which checks permissions only with -o default_permissions.
const uint32_t kModes[] = {0700, 0755, 0750, 0711};

const char* KindName(FsOp::Kind kind) {
  // In Kind's order.
  static const char* const kNames[] = {"create",
                                       "writefile",
                                       "write",
                                       "append",
                                       "truncate",
                                       "rename",
                                       "link",
                                       "symlink",
                                       "unlink",
                                       "mkdir",
                                       "rmdir",
                                       "chmod",
                                       "read",
                                       "stat",
                                       "readdir",
                                       "unlinked-write",
                                       "rename-noreplace",
                                       "write-truncate"};
  static_assert(std::size(kNames) == FsOp::kWriteTruncate + 1, "a name for every kind");
  return kNames[kind];
}

std::string ErrnoName(int err) {
  const char* name = strerrorname_np(err);
  return name != nullptr ? name : absl::StrCat("errno ", err);
}

std::string Failed(const char* step, int err) {
  return step == nullptr ? ErrnoName(err) : absl::StrCat(step, ": ", ErrnoName(err));
}

uint64_t Fnv(absl::string_view bytes) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (unsigned char c : bytes) hash = (hash ^ c) * 0x100000001b3ULL;
  return hash;
}

std::string Content(absl::string_view bytes) {
  return absl::StrFormat("size=%d fnv=%016x", bytes.size(), Fnv(bytes));
}

std::string ModeString(uint32_t mode) { return absl::StrFormat("0%o", mode & 07777); }

bool WriteAll(int fd, absl::string_view data, int64_t offset, bool positional) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = positional ? ::pwrite(fd, data.data() + done, data.size() - done, offset + done)
                           : ::write(fd, data.data() + done, data.size() - done);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      if (n == 0) errno = EIO;
      return false;
    }
    done += n;
  }
  return true;
}

// The whole content of `fd`, read with pread from offset 0; false (errno set) on error.
bool ReadAll(int fd, std::string* out) {
  out->clear();
  char buffer[65536];
  for (;;) {
    ssize_t n = ::pread(fd, buffer, sizeof(buffer), out->size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (n == 0) return true;
    out->append(buffer, n);
  }
}

// Runs an operation that opens `path`, does `body` with the descriptor, and closes it; the
// close's error counts (dfs-fuse commits buffered writes at close).
std::string WithFile(const std::string& path, int flags,
                     const std::function<std::string(int fd)>& body) {
  int fd = ::open(path.c_str(), flags, 0644);
  if (fd < 0) return Failed(nullptr, errno);
  std::string result = body(fd);
  if (::close(fd) != 0 && absl::StartsWith(result, "ok")) return Failed("close", errno);
  return result;
}

std::string Sys(int rc) { return rc == 0 ? "ok" : Failed(nullptr, errno); }

// A rough guess of what exists, kept while generating, to aim most operations at names that
// exist. A wrong guess costs nothing but a less useful operation (symlinks are not followed).
class Guess {
 public:
  // An existing file or directory, or "" if there is none.
  std::string PickFile(Random& rng) const { return Pick(files_, rng); }
  std::string PickDir(Random& rng) const { return Pick(dirs_, rng); }

  void Apply(const FsOp& op) {
    const std::string& a = op.path;
    const std::string& b = op.path2;
    switch (op.kind) {
      case FsOp::kCreate:
      case FsOp::kWriteFile:
        if (Free(a)) files_.insert(a);
        break;
      case FsOp::kMkdir:
        if (Free(a)) dirs_.insert(a);
        break;
      case FsOp::kUnlink:
      case FsOp::kUnlinkedWrite:
        files_.erase(a);
        break;
      case FsOp::kRmdir:
        if (!HasChildren(a)) dirs_.erase(a);
        break;
      case FsOp::kLink:
        if (files_.count(a) > 0 && Free(b)) files_.insert(b);
        break;
      case FsOp::kRename:
      case FsOp::kRenameNoReplace:
        if (a == b || !ParentExists(b) || absl::StartsWith(b, a + "/")) break;
        if (files_.count(a) > 0 && dirs_.count(b) == 0 &&
            (op.kind == FsOp::kRename || files_.count(b) == 0)) {
          files_.erase(a);
          files_.insert(b);
        } else if (dirs_.count(a) > 0 && files_.count(b) == 0 && !HasChildren(b) &&
                   (op.kind == FsOp::kRename || dirs_.count(b) == 0)) {
          Move(&files_, a, b);
          Move(&dirs_, a, b);
        }
        break;
      default:
        break;
    }
  }

 private:
  static std::string Pick(const std::set<std::string>& names, Random& rng) {
    if (names.empty()) return "";
    auto it = names.begin();
    std::advance(it, rng.Uniform(names.size()));
    return *it;
  }
  bool ParentExists(const std::string& path) const {
    size_t slash = path.rfind('/');
    return slash == std::string::npos || dirs_.count(path.substr(0, slash)) > 0;
  }
  bool Free(const std::string& path) const {
    return ParentExists(path) && files_.count(path) == 0 && dirs_.count(path) == 0;
  }
  bool HasChildren(const std::string& dir) const {
    for (const auto* names : {&files_, &dirs_}) {
      auto it = names->lower_bound(dir + "/");
      if (it != names->end() && absl::StartsWith(*it, dir + "/")) return true;
    }
    return false;
  }
  // Renames `from` and everything under it to `to` (a directory's subtree moves with it).
  static void Move(std::set<std::string>* names, const std::string& from, const std::string& to) {
    std::set<std::string> moved;
    for (auto it = names->begin(); it != names->end();) {
      if (*it == from || absl::StartsWith(*it, from + "/")) {
        moved.insert(to + it->substr(from.size()));
        it = names->erase(it);
      } else {
        ++it;
      }
    }
    names->insert(moved.begin(), moved.end());
  }

  std::set<std::string> files_;
  std::set<std::string> dirs_;
};

}  // namespace

std::string FsOp::ToString() const {
  std::string text = absl::StrCat(KindName(kind), " ", path);
  switch (kind) {
    case kRename:
    case kRenameNoReplace:
    case kLink:
      absl::StrAppend(&text, " ", path2);
      break;
    case kSymlink:
      absl::StrAppend(&text, " -> ", path2);
      break;
    case kWriteFile:
    case kAppend:
      absl::StrAppend(&text, " length=", length, " seed=", seed);
      break;
    case kWrite:
    case kUnlinkedWrite:
      absl::StrAppend(&text, " offset=", offset, " length=", length, " seed=", seed);
      break;
    case kWriteTruncate:
      absl::StrAppend(&text, " offset=", offset, " length=", length, " seed=", seed,
                      " then size=", mode);
      break;
    case kTruncate:
      absl::StrAppend(&text, " size=", offset);
      break;
    case kChmod:
      absl::StrAppend(&text, " ", ModeString(mode));
      break;
    default:
      break;
  }
  if (sync) absl::StrAppend(&text, " fsync");
  return text;
}

std::vector<FsOp> GenerateOps(uint64_t seed, int count) {
  Random rng(seed);
  // Kinds by weight: enough creation that the tree grows, enough removal that it churns.
  const std::vector<std::pair<FsOp::Kind, int>> weights = {
      {FsOp::kCreate, 6},
      {FsOp::kWriteFile, 8},
      {FsOp::kWrite, 10},
      {FsOp::kAppend, 5},
      {FsOp::kTruncate, 6},
      {FsOp::kRename, 10},
      {FsOp::kLink, 4},
      {FsOp::kSymlink, 3},
      {FsOp::kUnlink, 6},
      {FsOp::kMkdir, 9},
      {FsOp::kRmdir, 6},
      {FsOp::kChmod, 3},
      {FsOp::kRead, 8},
      {FsOp::kStat, 6},
      {FsOp::kReaddir, 4},
      {FsOp::kUnlinkedWrite, 3},
      {FsOp::kRenameNoReplace, 3},
      {FsOp::kWriteTruncate, 3},
  };
  int total = 0;
  for (const auto& [kind, weight] : weights) total += weight;
  auto any_path = [&] { return std::string(kPaths[rng.Uniform(std::size(kPaths))]); };
  auto dir_path = [&] { return std::string(kDirPaths[rng.Uniform(std::size(kDirPaths))]); };
  auto file_path = [&] { return std::string(kFilePaths[rng.Uniform(std::size(kFilePaths))]); };
  auto length = [&]() -> int64_t {
    uint64_t roll = rng.Uniform(100);
    if (roll < 3) return rng.Range(1200 << 10, 1600 << 10);  // past a 1 MiB buffer commit
    if (roll < 15) return rng.Range(8192, 70000);
    return rng.Range(1, 8192);
  };
  auto offset = [&]() -> int64_t {
    uint64_t roll = rng.Uniform(10);
    if (roll < 3) return 0;
    if (roll < 8) return rng.Range(0, 20000);
    return rng.Range(0, 300000);  // far past the end: a hole
  };
  Guess guess;
  std::vector<FsOp> ops;
  for (int i = 0; i < count; ++i) {
    int pick = static_cast<int>(rng.Uniform(total));
    FsOp op;
    for (const auto& [kind, weight] : weights) {
      if (pick < weight) {
        op.kind = kind;
        break;
      }
      pick -= weight;
    }
    // Mostly names that exist, or of the right kind to be made, so that most operations
    // succeed; the rest collide.
    bool makes = op.kind == FsOp::kCreate || op.kind == FsOp::kWriteFile ||
                 op.kind == FsOp::kMkdir || op.kind == FsOp::kSymlink;
    bool dirish = op.kind == FsOp::kMkdir || op.kind == FsOp::kRmdir || op.kind == FsOp::kReaddir;
    bool renames = op.kind == FsOp::kRename || op.kind == FsOp::kRenameNoReplace;
    if (!makes && rng.Chance(0.7)) {
      op.path = dirish || (renames && rng.Chance(0.4)) ? guess.PickDir(rng) : guess.PickFile(rng);
    }
    if (op.path.empty()) {
      op.path = !rng.Chance(0.8) ? any_path() : dirish ? dir_path() : file_path();
    }
    op.seed = rng.Next() % 1000000;
    switch (op.kind) {
      case FsOp::kRename:
      case FsOp::kRenameNoReplace:
      case FsOp::kLink:
        op.path2 = rng.Chance(0.3) ? dir_path() : any_path();
        break;
      case FsOp::kSymlink:
        op.path2 = kLinkTargets[rng.Uniform(std::size(kLinkTargets))];
        break;
      case FsOp::kWriteFile:
      case FsOp::kAppend:
        op.length = length();
        op.sync = rng.Chance(0.2);
        break;
      case FsOp::kWrite:
        op.offset = offset();
        op.length = length();
        op.sync = rng.Chance(0.2);
        break;
      case FsOp::kUnlinkedWrite:
        op.offset = offset();
        op.length = length();
        break;
      case FsOp::kWriteTruncate:
        op.offset = offset();
        op.length = length();
        op.mode = static_cast<uint32_t>(rng.Chance(0.5) ? offset() : op.offset + op.length / 2);
        break;
      case FsOp::kTruncate:
        op.offset = rng.Chance(0.3) ? 0 : offset();
        break;
      case FsOp::kChmod:
        op.mode = kModes[rng.Uniform(std::size(kModes))];
        break;
      default:
        break;
    }
    guess.Apply(op);
    ops.push_back(op);
  }
  return ops;
}

std::string OpBytes(const FsOp& op) {
  std::string bytes(op.length, '\0');
  uint64_t x = op.seed * 0x9e3779b97f4a7c15ULL + 1;
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (i % 8 == 0) x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    bytes[i] = static_cast<char>(x >> (8 * (i % 8)));
  }
  return bytes;
}

std::string ApplyOp(const std::string& root, const FsOp& op) {
  const std::string path = root + "/" + op.path;
  const std::string path2 = root + "/" + op.path2;
  switch (op.kind) {
    case FsOp::kCreate:
      return WithFile(path, O_WRONLY | O_CREAT | O_EXCL, [](int) { return std::string("ok"); });
    case FsOp::kWriteFile:
    case FsOp::kWrite:
    case FsOp::kAppend: {
      int flags = op.kind == FsOp::kWriteFile ? O_WRONLY | O_CREAT | O_TRUNC
                  : op.kind == FsOp::kAppend  ? O_WRONLY | O_APPEND
                                              : O_WRONLY;
      return WithFile(path, flags, [&](int fd) {
        if (!WriteAll(fd, OpBytes(op), op.offset, op.kind == FsOp::kWrite)) {
          return Failed("write", errno);
        }
        if (op.sync && ::fsync(fd) != 0) return Failed("fsync", errno);
        return std::string("ok");
      });
    }
    case FsOp::kWriteTruncate:
      return WithFile(path, O_RDWR, [&](int fd) {
        if (!WriteAll(fd, OpBytes(op), op.offset, true)) return Failed("write", errno);
        if (::ftruncate(fd, op.mode) != 0) return Failed("ftruncate", errno);
        std::string content;
        if (!ReadAll(fd, &content)) return Failed("read", errno);
        return absl::StrCat("ok ", Content(content));
      });
    case FsOp::kTruncate:
      return Sys(::truncate(path.c_str(), op.offset));
    case FsOp::kRename: {
      std::string result = Sys(::rename(path.c_str(), path2.c_str()));
      // POSIX lets a rename onto a non-empty directory fail with either.
      return result == "EEXIST" ? "ENOTEMPTY" : result;
    }
    case FsOp::kRenameNoReplace:
      return Sys(::renameat2(AT_FDCWD, path.c_str(), AT_FDCWD, path2.c_str(), RENAME_NOREPLACE));
    case FsOp::kLink:
      return Sys(::link(path.c_str(), path2.c_str()));
    case FsOp::kSymlink:
      return Sys(::symlink(op.path2.c_str(), path.c_str()));
    case FsOp::kUnlink:
      return Sys(::unlink(path.c_str()));
    case FsOp::kMkdir:
      return Sys(::mkdir(path.c_str(), 0755));
    case FsOp::kRmdir: {
      std::string result = Sys(::rmdir(path.c_str()));
      return result == "EEXIST" ? "ENOTEMPTY" : result;  // as for rename
    }
    case FsOp::kChmod:
      return Sys(::chmod(path.c_str(), op.mode));
    case FsOp::kRead:
      return WithFile(path, O_RDONLY, [](int fd) {
        std::string content;
        if (!ReadAll(fd, &content)) return Failed("read", errno);
        return absl::StrCat("ok ", Content(content));
      });
    case FsOp::kStat: {
      struct stat st;
      if (::lstat(path.c_str(), &st) != 0) return Failed(nullptr, errno);
      char type = S_ISREG(st.st_mode)   ? 'f'
                  : S_ISDIR(st.st_mode) ? 'd'
                  : S_ISLNK(st.st_mode) ? 'l'
                                        : '?';
      std::string result = absl::StrCat("ok type=", std::string(1, type));
      if (type != 'd') absl::StrAppend(&result, " size=", st.st_size);
      if (type != 'l') absl::StrAppend(&result, " mode=", ModeString(st.st_mode));
      absl::StrAppend(&result, " nlink=", st.st_nlink);
      return result;
    }
    case FsOp::kReaddir: {
      DIR* dir = ::opendir(path.c_str());
      if (dir == nullptr) return Failed(nullptr, errno);
      std::vector<std::string> names;
      errno = 0;
      while (struct dirent* entry = ::readdir(dir)) {
        std::string name = entry->d_name;
        if (name != "." && name != "..") names.push_back(name);
      }
      int err = errno;
      ::closedir(dir);
      if (err != 0) return Failed("readdir", err);
      std::sort(names.begin(), names.end());
      return absl::StrCat("ok [", absl::StrJoin(names, " "), "]");
    }
    case FsOp::kUnlinkedWrite:
      return WithFile(path, O_RDWR, [&](int fd) {
        if (::unlink(path.c_str()) != 0) return Failed("unlink", errno);
        if (!WriteAll(fd, OpBytes(op), op.offset, true)) return Failed("write", errno);
        struct stat st;
        if (::fstat(fd, &st) != 0) return Failed("fstat", errno);
        std::string content;
        if (!ReadAll(fd, &content)) return Failed("read", errno);
        return absl::StrCat("ok st_size=", st.st_size, " ", Content(content));
      });
  }
  return "unknown operation";
}

absl::StatusOr<Tree> SnapshotTree(const std::string& root) {
  Tree tree;
  std::vector<std::string> pending = {""};
  while (!pending.empty()) {
    std::string relative = pending.back();
    pending.pop_back();
    std::string dir_path = relative.empty() ? root : root + "/" + relative;
    DIR* dir = ::opendir(dir_path.c_str());
    if (dir == nullptr) {
      return absl::InternalError(absl::StrCat("opendir ", dir_path, ": ", ErrnoName(errno)));
    }
    std::vector<std::string> names;
    while (struct dirent* entry = ::readdir(dir)) {
      std::string name = entry->d_name;
      if (name != "." && name != "..") names.push_back(name);
    }
    ::closedir(dir);
    for (const std::string& name : names) {
      std::string rel = relative.empty() ? name : relative + "/" + name;
      std::string full = root + "/" + rel;
      struct stat st;
      if (::lstat(full.c_str(), &st) != 0) {
        return absl::InternalError(absl::StrCat("lstat ", full, ": ", ErrnoName(errno)));
      }
      TreeEntry entry;
      entry.mode = st.st_mode & 07777;
      entry.nlink = st.st_nlink;
      entry.size = st.st_size;
      if (S_ISDIR(st.st_mode)) {
        entry.type = 'd';
        pending.push_back(rel);
      } else if (S_ISLNK(st.st_mode)) {
        entry.type = 'l';
        char target[4096];
        ssize_t n = ::readlink(full.c_str(), target, sizeof(target));
        if (n < 0) {
          return absl::InternalError(absl::StrCat("readlink ", full, ": ", ErrnoName(errno)));
        }
        entry.content.assign(target, n);
      } else if (S_ISREG(st.st_mode)) {
        entry.type = 'f';
        int fd = ::open(full.c_str(), O_RDONLY);
        if (fd < 0 || !ReadAll(fd, &entry.content)) {
          int err = errno;
          if (fd >= 0) ::close(fd);
          return absl::InternalError(absl::StrCat("read ", full, ": ", ErrnoName(err)));
        }
        ::close(fd);
      }
      tree[rel] = std::move(entry);
    }
  }
  return tree;
}

std::vector<std::string> CompareTrees(const Tree& a, const Tree& b, const std::string& a_name,
                                      const std::string& b_name) {
  std::vector<std::string> diffs;
  auto versus = [&](const std::string& path, const char* what, const std::string& x,
                    const std::string& y) {
    diffs.push_back(
        absl::StrCat(path, ": ", what, " ", x, " (", a_name, ") vs ", y, " (", b_name, ")"));
  };
  for (const auto& [path, x] : a) {
    auto it = b.find(path);
    if (it == b.end()) {
      diffs.push_back(
          absl::StrCat(path, ": only in ", a_name, " (type ", std::string(1, x.type), ")"));
      continue;
    }
    const TreeEntry& y = it->second;
    if (x.type != y.type) {
      versus(path, "type", std::string(1, x.type), std::string(1, y.type));
      continue;
    }
    if (x.type != 'd' && x.size != y.size) {
      versus(path, "size", absl::StrCat(x.size), absl::StrCat(y.size));
    }
    if (x.type != 'l' && x.mode != y.mode)
      versus(path, "mode", ModeString(x.mode), ModeString(y.mode));
    if (x.nlink != y.nlink) versus(path, "nlink", absl::StrCat(x.nlink), absl::StrCat(y.nlink));
    if (x.content != y.content) {
      size_t at = 0;
      while (at < x.content.size() && at < y.content.size() && x.content[at] == y.content[at]) {
        ++at;
      }
      diffs.push_back(absl::StrCat(path, x.type == 'l' ? ": target differs" : ": content differs",
                                   " from byte ", at, " (", a_name, " ", Content(x.content), ", ",
                                   b_name, " ", Content(y.content), ")"));
    }
  }
  for (const auto& [path, y] : b) {
    if (a.count(path) == 0) {
      diffs.push_back(
          absl::StrCat(path, ": only in ", b_name, " (type ", std::string(1, y.type), ")"));
    }
  }
  return diffs;
}

namespace {

// The trees of both roots, compared; "" if they agree.
std::string CompareRoots(const std::string& root_a, const FsSide& a, const std::string& root_b,
                         const FsSide& b) {
  absl::StatusOr<Tree> tree_a = SnapshotTree(a.tree_root ? a.tree_root(root_a) : root_a);
  absl::StatusOr<Tree> tree_b = SnapshotTree(b.tree_root ? b.tree_root(root_b) : root_b);
  if (!tree_a.ok())
    return absl::StrCat("cannot read the ", a.name, " tree: ", tree_a.status().message());
  if (!tree_b.ok())
    return absl::StrCat("cannot read the ", b.name, " tree: ", tree_b.status().message());
  std::vector<std::string> diffs = CompareTrees(*tree_a, *tree_b, a.name, b.name);
  if (diffs.empty()) return "";
  return absl::StrCat("trees differ:\n  ", absl::StrJoin(diffs, "\n  "));
}

}  // namespace

std::optional<Mismatch> RunBoth(const std::vector<FsOp>& ops, const FsSide& a, const FsSide& b,
                                int check_every, std::map<std::string, int>* results) {
  absl::StatusOr<std::string> root_a = a.fresh_root();
  absl::StatusOr<std::string> root_b = b.fresh_root();
  if (!root_a.ok() || !root_b.ok()) {
    return Mismatch{0, absl::StrCat("cannot make fresh roots: ", root_a.status().ToString(), " ",
                                    root_b.status().ToString())};
  }
  for (size_t i = 0; i < ops.size(); ++i) {
    std::string result_a = a.apply(*root_a, ops[i]);
    std::string result_b = b.apply(*root_b, ops[i]);
    if (results != nullptr) {
      // "ok", or the errno: the last word ("read: EISDIR").
      bool ok = absl::StartsWith(result_a, "ok");
      ++(*results)[absl::StrCat(KindName(ops[i].kind), " ",
                                ok ? "ok" : result_a.substr(result_a.rfind(' ') + 1))];
    }
    if (result_a != result_b) {
      return Mismatch{
          i, absl::StrCat("operation ", i + 1, " (", ops[i].ToString(), "): ", a.name, " says '",
                          result_a, "', ", b.name, " says '", result_b, "'")};
    }
    if (check_every > 0 && (i + 1) % check_every == 0) {
      std::string diff = CompareRoots(*root_a, a, *root_b, b);
      if (!diff.empty()) {
        return Mismatch{
            i, absl::StrCat("after operation ", i + 1, " (", ops[i].ToString(), "): ", diff)};
      }
    }
  }
  std::string diff = CompareRoots(*root_a, a, *root_b, b);
  if (!diff.empty()) return Mismatch{ops.size(), absl::StrCat("at the end: ", diff)};
  return std::nullopt;
}

std::vector<FsOp> Shrink(std::vector<FsOp> ops,
                         const std::function<bool(const std::vector<FsOp>&)>& fails,
                         absl::Time deadline) {
  size_t n = 2;
  auto slice = [&](size_t begin, size_t end, bool complement) {
    std::vector<FsOp> out;
    for (size_t i = 0; i < ops.size(); ++i) {
      if ((i >= begin && i < end) != complement) out.push_back(ops[i]);
    }
    return out;
  };
  // Bugs tend to need only the last few operations before the mismatch: try short tails
  // first (doubling), which costs little next to replaying long candidates.
  for (size_t tail = 1; tail < ops.size() && absl::Now() < deadline; tail *= 2) {
    std::vector<FsOp> candidate(ops.end() - tail, ops.end());
    if (fails(candidate)) {
      ops = std::move(candidate);
      break;
    }
  }
  while (ops.size() >= 2 && absl::Now() < deadline) {
    size_t chunk = (ops.size() + n - 1) / n;
    bool reduced = false;
    // Complements first: a reproducer usually needs a few operations spread over the stream,
    // so removing one chunk succeeds far more often than keeping one.
    for (int pass = 0; pass < 2 && !reduced; ++pass) {
      for (size_t begin = 0; begin < ops.size() && !reduced; begin += chunk) {
        if (absl::Now() >= deadline) return ops;
        std::vector<FsOp> candidate = slice(begin, begin + chunk, /*complement=*/pass == 0);
        if (candidate.empty() || candidate.size() == ops.size()) continue;
        if (fails(candidate)) {
          ops = std::move(candidate);
          n = pass == 0 ? std::max<size_t>(n - 1, 2) : 2;
          reduced = true;
        }
      }
    }
    if (!reduced) {
      if (n >= ops.size()) break;  // single operations are all needed: 1-minimal
      n = std::min(n * 2, ops.size());
    }
  }
  return ops;
}

std::string DescribeRun(const std::vector<FsOp>& ops, const FsSide& a, const FsSide& b) {
  absl::StatusOr<std::string> root_a = a.fresh_root();
  absl::StatusOr<std::string> root_b = b.fresh_root();
  if (!root_a.ok() || !root_b.ok()) return "(cannot make fresh roots)";
  std::string text;
  for (size_t i = 0; i < ops.size(); ++i) {
    std::string result_a = a.apply(*root_a, ops[i]);
    std::string result_b = b.apply(*root_b, ops[i]);
    absl::StrAppend(&text, "  ", i + 1, ". ", ops[i].ToString(), "  -> ", a.name, ": ", result_a);
    if (result_b != result_a)
      absl::StrAppend(&text, ", ", b.name, ": ", result_b, "   <-- differs");
    absl::StrAppend(&text, "\n");
  }
  std::string diff = CompareRoots(*root_a, a, *root_b, b);
  if (!diff.empty()) absl::StrAppend(&text, "  then ", diff, "\n");
  return text;
}

}  // namespace dfs::fault
