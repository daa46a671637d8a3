// dfs-lossyfs: a FUSE pass-through file system for crash tests that loses, on command, every
// write a power cut would lose. Servers keep their data directories on it; a test SIGKILLs a
// server, tells lossyfs to "crash", restarts the server on what is left, and checks that nothing
// the server had acknowledged is gone.
//
//   dfs-lossyfs [--names=strict|journal] BACKING_DIR MOUNTPOINT
//
// The tree lives in BACKING_DIR/live (so reads and writes behave as usual); BACKING_DIR/blobs
// keeps the durable content of each file. What survives a crash, exactly:
//   - a file's bytes and size as of its last fsync/fdatasync (any handle); nothing written after;
//   - names: with --names=strict (POSIX, the default) a directory's entries as of its last
//     fsync(dir) — a created, renamed or unlinked name not yet synced in its directory reverts,
//     and a new directory whose parent was never synced vanishes with everything in it; with
//     --names=journal (ext4 data=ordered-like) every fsync of anything also makes every name
//     change made before it durable (a journal commit), but file bytes still need their own fsync.
// Modes, owners and times are not modelled (they survive as they are).
//
// Control: the file "/.lossyfs" exists at the root for lookups but is not listed. Writing
// "crash" to it throws away everything not durable (the tree is rebuilt from the durable state;
// handles opened before it fail with EIO from then on) and returns when done; reading it gives
// counters ("crashes=1 file_syncs=... dir_syncs=... dropped_bytes=... dropped_names=...
// resurrected_names=...").
//
// Why FUSE rather than an LD_PRELOAD shim: the servers are real, unmodified binaries whose
// LevelDB and chunk store do I/O through many paths (write, pwrite, mmap reads, rename, fsync
// on directories); intercepting them at the VFS sees every one, including those libc makes on
// the program's behalf, and the state survives the SIGKILL of the server by construction.
#define FUSE_USE_VERSION 35

#include <dirent.h>
#include <fcntl.h>
#include <fuse.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

constexpr uint64_t kRootId = 1;
constexpr uint64_t kToEnd = ~0ull;
constexpr char kControlPath[] = "/.lossyfs";

enum class Kind { kFile, kDir, kSymlink };

// Marks members that need mu_ held (documentation only: std::mutex has no annotations).
#define REQUIRES_MU

// One inode, live (in the tree now) or only durable (named by the durable state).
struct Node {
  Kind kind = Kind::kFile;
  mode_t mode = 0644;
  std::string target;  // a symlink's target
  // Durable content is blobs/<id> if has_blob, else empty.
  bool has_blob = false;
  std::map<uint64_t, uint64_t> dirty;  // byte ranges [start, end) changed since the last fsync
  ino_t ino = 0;                       // backing inode while live
  bool live = false;
  bool unlinked = false;  // no live name left; forgotten at the last close
  int open = 0;
  int durable_refs = 0;  // durable directory entries naming it
};

struct Handle {
  int fd = -1;
  uint64_t id = 0;
  uint64_t epoch = 0;
  bool control = false;
};

class LossyFs {
 public:
  LossyFs(std::string backing, bool journal)
      : live_(backing + "/live"),
        blobs_(backing + "/blobs"),
        backing_(std::move(backing)),
        journal_(journal) {}

  int Init();

  // ---- operations (FUSE callbacks; negative errno on failure) ----
  int GetAttr(const char* path, struct stat* st, fuse_file_info* fi);
  int ReadLink(const char* path, char* buf, size_t size);
  int Mknod(const char* path, mode_t mode, dev_t dev);
  int Mkdir(const char* path, mode_t mode);
  int Unlink(const char* path);
  int Rmdir(const char* path);
  int Symlink(const char* target, const char* path);
  int Rename(const char* from, const char* to, unsigned int flags);
  int Link(const char* from, const char* to);
  int Chmod(const char* path, mode_t mode, fuse_file_info* fi);
  int Chown(const char* path, uid_t uid, gid_t gid, fuse_file_info* fi);
  int Truncate(const char* path, off_t size, fuse_file_info* fi);
  int Open(const char* path, fuse_file_info* fi);
  int Create(const char* path, mode_t mode, fuse_file_info* fi);
  int Read(char* buf, size_t size, off_t offset, fuse_file_info* fi);
  int Write(const char* buf, size_t size, off_t offset, fuse_file_info* fi);
  int StatFs(struct statvfs* st);
  int Release(fuse_file_info* fi);
  int Fsync(fuse_file_info* fi);
  int OpenDir(const char* path, fuse_file_info* fi);
  int ReadDir(void* buf, fuse_fill_dir_t fill, fuse_file_info* fi);
  int ReleaseDir(fuse_file_info* fi);
  int FsyncDir(fuse_file_info* fi);
  int Access(const char* path, int mask);
  int Utimens(const char* path, const timespec tv[2], fuse_file_info* fi);
  int Fallocate(int mode, off_t offset, off_t length, fuse_file_info* fi);

 private:
  std::string Live(const char* path) const { return live_ + path; }
  std::string Blob(uint64_t id) const { return blobs_ + "/" + std::to_string(id); }
  Handle* HandleOf(fuse_file_info* fi) const { return reinterpret_cast<Handle*>(fi->fh); }
  bool Stale(const Handle* h) const { return h->epoch != epoch_; }

  // The node of a live backing inode, registered if new (everything found at start-up or made
  // by an operation is registered; an unknown inode means a reused number, so it is fresh).
  uint64_t IdOf(const struct stat& st, const std::string& path) REQUIRES_MU;
  uint64_t NewNode(const struct stat& st, const std::string& path) REQUIRES_MU;
  // The live name at `path` went away (unlink, rmdir, replaced by rename); `st` is its lstat
  // from before.
  void NameRemoved(const struct stat& st) REQUIRES_MU;
  void Forget(uint64_t id) REQUIRES_MU;
  void MaybeFree(uint64_t id) REQUIRES_MU;
  void AddDirty(Node& node, uint64_t start, uint64_t end) REQUIRES_MU;
  int SyncFile(uint64_t id, int fd) REQUIRES_MU;
  // Makes the live entries of directory `id` at `path` its durable entries.
  int SnapshotDir(uint64_t id, const std::string& path) REQUIRES_MU;
  // Journal mode: every directory in the tree.
  int SnapshotTree(uint64_t id, const std::string& path) REQUIRES_MU;
  int Crash() REQUIRES_MU;
  // Registers an open backing descriptor for `path` (a new file if `created`) as fi's handle.
  int NewHandle(int fd, const std::string& path, bool created, fuse_file_info* fi) REQUIRES_MU;
  // Runs `make` (returns 0 or -1 with errno, like mkdir) to create the live name `path` and
  // registers what it made.
  template <typename Fn>
  int MakeName(const char* path, Fn make) {
    std::lock_guard<std::mutex> lock(mu_);
    const std::string p = Live(path);
    if (make(p.c_str()) != 0) return -errno;
    struct stat st;
    if (::lstat(p.c_str(), &st) == 0) NewNode(st, p);
    names_changed_ = true;
    return 0;
  }
  // Runs `remove` (like unlink) on the live name `path`, and forgets the inode if that was its
  // last name.
  template <typename Fn>
  int RemoveName(const char* path, Fn remove) {
    std::lock_guard<std::mutex> lock(mu_);
    const std::string p = Live(path);
    struct stat st;
    if (::lstat(p.c_str(), &st) != 0 || remove(p.c_str()) != 0) return -errno;
    NameRemoved(st);
    names_changed_ = true;
    return 0;
  }
  // Creates the durable entries of directory `dir` under `path`, recursively. `made` maps files
  // that already exist (earlier in the new tree, or unchanged in the old one) to a path to link.
  int Materialize(uint64_t dir, const std::string& path,
                  std::map<uint64_t, std::string>* made) REQUIRES_MU;
  // Adds to the counters what a crash now would lose under `dir` (names, then file bytes), and
  // notes for each file under it a path if it is unchanged since its last sync ("" if not).
  void CountNameDrift(uint64_t dir, const std::string& path,
                      std::map<uint64_t, std::string>* clean) REQUIRES_MU;
  std::string Stats() REQUIRES_MU;

  const std::string live_;
  const std::string blobs_;
  const std::string backing_;
  const bool journal_;

  std::mutex mu_;
  uint64_t epoch_ = 1;
  uint64_t next_id_ = kRootId + 1;
  std::map<uint64_t, Node> nodes_;
  std::unordered_map<ino_t, uint64_t> by_ino_;
  std::map<uint64_t, std::map<std::string, uint64_t>> durable_;  // directory -> name -> node
  bool names_changed_ = false;                                   // since the last journal commit

  // Counters for the control file.
  uint64_t crashes_ = 0, file_syncs_ = 0, dir_syncs_ = 0;
  uint64_t dropped_bytes_ = 0, dropped_names_ = 0, resurrected_names_ = 0;
};

// ---- small helpers ----

int CopyRange(int from, int to, uint64_t start, uint64_t end) {
  std::vector<char> buffer(1 << 20);
  while (start < end) {
    size_t want = std::min<uint64_t>(buffer.size(), end - start);
    ssize_t n = ::pread(from, buffer.data(), want, start);
    if (n < 0) return -errno;
    if (n == 0) break;  // past the end: the caller truncates
    for (ssize_t done = 0; done < n;) {
      ssize_t w = ::pwrite(to, buffer.data() + done, n - done, start + done);
      if (w < 0) return -errno;
      done += w;
    }
    start += n;
  }
  return 0;
}

int RemoveTree(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return errno == ENOENT ? 0 : -errno;
  if (S_ISDIR(st.st_mode)) {
    DIR* dir = ::opendir(path.c_str());
    if (dir == nullptr) return -errno;
    std::vector<std::string> names;
    while (dirent* e = ::readdir(dir)) {
      if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
        names.push_back(e->d_name);
      }
    }
    ::closedir(dir);
    for (const auto& name : names) {
      if (int rc = RemoveTree(path + "/" + name); rc != 0) return rc;
    }
    return ::rmdir(path.c_str()) == 0 ? 0 : -errno;
  }
  return ::unlink(path.c_str()) == 0 ? 0 : -errno;
}

std::vector<std::string> ListNames(const std::string& path) {
  std::vector<std::string> names;
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) return names;
  while (dirent* e = ::readdir(dir)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
      names.push_back(e->d_name);
    }
  }
  ::closedir(dir);
  return names;
}

Kind KindOf(mode_t mode) {
  if (S_ISDIR(mode)) return Kind::kDir;
  if (S_ISLNK(mode)) return Kind::kSymlink;
  return Kind::kFile;
}

// ---- state ----

uint64_t LossyFs::NewNode(const struct stat& st, const std::string& path) {
  if (auto it = by_ino_.find(st.st_ino); it != by_ino_.end()) {
    // The backing file system reused the number of an inode we missed the end of.
    Forget(it->second);
  }
  uint64_t id = next_id_++;
  Node& node = nodes_[id];
  node.kind = KindOf(st.st_mode);
  node.mode = st.st_mode & 07777;
  node.ino = st.st_ino;
  node.live = true;
  if (node.kind == Kind::kSymlink) {
    char buf[PATH_MAX];
    ssize_t n = ::readlink(path.c_str(), buf, sizeof(buf));
    if (n > 0) node.target.assign(buf, n);
  }
  if (node.kind == Kind::kFile) AddDirty(node, 0, kToEnd);  // never synced: durable is empty
  by_ino_[st.st_ino] = id;
  return id;
}

uint64_t LossyFs::IdOf(const struct stat& st, const std::string& path) {
  auto it = by_ino_.find(st.st_ino);
  if (it != by_ino_.end() && nodes_.count(it->second) &&
      nodes_[it->second].kind == KindOf(st.st_mode)) {
    return it->second;
  }
  return NewNode(st, path);
}

void LossyFs::Forget(uint64_t id) {
  auto it = nodes_.find(id);
  if (it == nodes_.end()) return;
  if (it->second.live) {
    auto ino = by_ino_.find(it->second.ino);
    if (ino != by_ino_.end() && ino->second == id) by_ino_.erase(ino);
  }
  it->second.live = false;
  MaybeFree(id);
}

void LossyFs::NameRemoved(const struct stat& st) {
  auto it = by_ino_.find(st.st_ino);
  if (it == by_ino_.end()) return;
  const uint64_t id = it->second;
  Node& node = nodes_[id];
  if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) return;  // other names remain
  node.unlinked = true;
  if (node.open == 0) Forget(id);
}

void LossyFs::MaybeFree(uint64_t id) {
  auto it = nodes_.find(id);
  if (it == nodes_.end() || it->second.live || it->second.durable_refs > 0 || id == kRootId) return;
  if (it->second.has_blob) ::unlink(Blob(id).c_str());
  nodes_.erase(it);
  auto dir = durable_.find(id);
  if (dir == durable_.end()) return;
  std::map<std::string, uint64_t> entries = std::move(dir->second);
  durable_.erase(dir);
  for (const auto& [name, child] : entries) {
    auto c = nodes_.find(child);
    if (c == nodes_.end()) continue;
    --c->second.durable_refs;
    MaybeFree(child);
  }
}

void LossyFs::AddDirty(Node& node, uint64_t start, uint64_t end) {
  if (start >= end) return;
  auto it = node.dirty.upper_bound(start);
  if (it != node.dirty.begin()) {
    auto prev = std::prev(it);
    if (prev->second >= start) {
      start = prev->first;
      end = std::max(end, prev->second);
      it = node.dirty.erase(prev);
    }
  }
  while (it != node.dirty.end() && it->first <= end) {
    end = std::max(end, it->second);
    it = node.dirty.erase(it);
  }
  node.dirty[start] = end;
}

int LossyFs::SyncFile(uint64_t id, int fd) {
  Node& node = nodes_[id];
  ++file_syncs_;
  if (!node.dirty.empty()) {
    // Read through a fresh descriptor: the handle may be write-only.
    int from = ::open(("/proc/self/fd/" + std::to_string(fd)).c_str(), O_RDONLY | O_CLOEXEC);
    if (from < 0) return -errno;
    struct stat st;
    int to = ::open(Blob(id).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    int rc = 0;
    if (to < 0 || ::fstat(from, &st) != 0) rc = -errno;
    const uint64_t size = rc == 0 ? st.st_size : 0;
    for (auto [start, end] : node.dirty) {
      if (rc != 0 || start >= size) break;
      rc = CopyRange(from, to, start, std::min(end, size));
    }
    if (rc == 0 && ::ftruncate(to, size) != 0) rc = -errno;
    ::close(from);
    if (to >= 0) ::close(to);
    if (rc != 0) return rc;
    node.has_blob = true;
    node.dirty.clear();
  }
  if (journal_ && names_changed_) return SnapshotTree(kRootId, live_);
  return 0;
}

int LossyFs::SnapshotDir(uint64_t id, const std::string& path) {
  std::map<std::string, uint64_t> entries;
  for (const std::string& name : ListNames(path)) {
    struct stat st;
    const std::string child = path + "/" + name;
    if (::lstat(child.c_str(), &st) != 0) return -errno;
    entries[name] = IdOf(st, child);
  }
  for (const auto& [name, child] : entries) ++nodes_[child].durable_refs;
  std::map<std::string, uint64_t> old = std::move(durable_[id]);
  durable_[id] = std::move(entries);
  for (const auto& [name, child] : old) {
    auto c = nodes_.find(child);
    if (c == nodes_.end()) continue;
    --c->second.durable_refs;
    MaybeFree(child);
  }
  return 0;
}

int LossyFs::SnapshotTree(uint64_t id, const std::string& path) {
  if (id == kRootId) names_changed_ = false;
  if (int rc = SnapshotDir(id, path); rc != 0) return rc;
  for (const auto& [name, child] : durable_[id]) {
    if (nodes_[child].kind != Kind::kDir) continue;
    if (int rc = SnapshotTree(child, path + "/" + name); rc != 0) return rc;
  }
  return 0;
}

int LossyFs::Init() {
  if (::mkdir(backing_.c_str(), 0755) != 0 && errno != EEXIST) return -errno;
  if (::mkdir(live_.c_str(), 0755) != 0 && errno != EEXIST) return -errno;
  if (int rc = RemoveTree(blobs_); rc != 0) return rc;
  if (::mkdir(blobs_.c_str(), 0700) != 0) return -errno;
  std::lock_guard<std::mutex> lock(mu_);
  struct stat st;
  if (::lstat(live_.c_str(), &st) != 0) return -errno;
  Node& root = nodes_[kRootId];
  root.kind = Kind::kDir;
  root.mode = st.st_mode & 07777;
  root.ino = st.st_ino;
  root.live = true;
  root.durable_refs = 1;  // pinned
  by_ino_[st.st_ino] = kRootId;
  // Whatever is there already counts as durable: names now, contents copied to blobs.
  if (int rc = SnapshotTree(kRootId, live_); rc != 0) return rc;
  std::vector<std::pair<uint64_t, std::string>> stack = {{kRootId, live_}};
  while (!stack.empty()) {
    auto [dir, path] = stack.back();
    stack.pop_back();
    for (const auto& [name, id] : durable_[dir]) {
      const std::string child = path + "/" + name;
      Node& node = nodes_[id];
      if (node.kind == Kind::kDir) {
        stack.push_back({id, child});
      } else if (node.kind == Kind::kFile && !node.dirty.empty()) {
        int fd = ::open(child.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) return -errno;
        int rc = SyncFile(id, fd);
        ::close(fd);
        if (rc != 0) return rc;
      }
    }
  }
  file_syncs_ = 0;
  return 0;
}

// ---- crash ----

int LossyFs::Materialize(uint64_t dir, const std::string& path,
                         std::map<uint64_t, std::string>* made) {
  for (const auto& [name, id] : durable_[dir]) {
    Node& node = nodes_[id];
    const std::string child = path + "/" + name;
    if (node.kind == Kind::kDir) {
      if (::mkdir(child.c_str(), node.mode) != 0) return -errno;
    } else if (node.kind == Kind::kSymlink) {
      if (::symlink(node.target.c_str(), child.c_str()) != 0) return -errno;
    } else if (auto it = made->find(id); it != made->end()) {
      if (::link(it->second.c_str(), child.c_str()) != 0) return -errno;
    } else {
      int to = ::open(child.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, node.mode);
      if (to < 0) return -errno;
      int rc = 0;
      if (node.has_blob) {
        int from = ::open(Blob(id).c_str(), O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (from < 0 || ::fstat(from, &st) != 0) {
          rc = -errno;
        } else {
          rc = CopyRange(from, to, 0, st.st_size);
          if (rc == 0 && ::ftruncate(to, st.st_size) != 0) rc = -errno;
        }
        if (from >= 0) ::close(from);
      }
      ::close(to);
      if (rc != 0) return rc;
      (*made)[id] = child;
    }
    struct stat st;
    if (::lstat(child.c_str(), &st) != 0) return -errno;
    node.ino = st.st_ino;
    node.live = true;
    by_ino_[st.st_ino] = id;
    if (node.kind == Kind::kDir) {
      if (int rc = Materialize(id, child, made); rc != 0) return rc;
    }
  }
  return 0;
}

void LossyFs::CountNameDrift(uint64_t dir, const std::string& path,
                             std::map<uint64_t, std::string>* clean) {
  std::set<std::string> live_names;
  const auto& durable = durable_[dir];
  for (const std::string& name : ListNames(path)) {
    live_names.insert(name);
    struct stat st;
    const std::string child = path + "/" + name;
    if (::lstat(child.c_str(), &st) != 0) continue;
    auto id = by_ino_.find(st.st_ino);
    auto d = durable.find(name);
    if (d == durable.end() || id == by_ino_.end() || id->second != d->second) ++dropped_names_;
    if (id == by_ino_.end()) continue;
    if (S_ISDIR(st.st_mode)) CountNameDrift(id->second, child, clean);
    if (S_ISREG(st.st_mode) && clean->count(id->second) == 0) {
      const Node& node = nodes_[id->second];
      for (auto [start, end] : node.dirty) {
        const uint64_t size = st.st_size;
        if (start < size) dropped_bytes_ += std::min(end, size) - start;
      }
      // Unchanged since its last sync: the rebuilt tree can link this very file.
      (*clean)[id->second] = node.dirty.empty() && node.has_blob ? child : "";
    }
  }
  for (const auto& [name, id] : durable) resurrected_names_ += live_names.count(name) ? 0 : 1;
}

int LossyFs::Crash() {
  ++crashes_;
  ++epoch_;  // handles opened before now see EIO
  // Files whose live content is their durable content are linked into the new tree, not
  // copied: a crash costs the changes, not the whole disk.
  std::map<uint64_t, std::string> clean;
  CountNameDrift(kRootId, live_, &clean);
  // Rebuild the tree from the durable state beside the old one, then swap.
  const std::string fresh = backing_ + "/live.new";
  const std::string dead = backing_ + "/live.dead";
  if (int rc = RemoveTree(fresh); rc != 0) return rc;
  if (int rc = RemoveTree(dead); rc != 0) return rc;
  if (::mkdir(fresh.c_str(), nodes_[kRootId].mode) != 0) return -errno;
  by_ino_.clear();
  for (auto& [id, node] : nodes_) {
    node.live = false;
    node.unlinked = false;
    node.open = 0;
    node.dirty.clear();
  }
  struct stat st;
  if (::lstat(fresh.c_str(), &st) != 0) return -errno;
  nodes_[kRootId].ino = st.st_ino;
  nodes_[kRootId].live = true;
  by_ino_[st.st_ino] = kRootId;
  std::map<uint64_t, std::string> made;
  for (const auto& [id, path] : clean) {
    if (!path.empty()) made[id] = path;
  }
  if (int rc = Materialize(kRootId, fresh, &made); rc != 0) return rc;
  if (::rename(live_.c_str(), dead.c_str()) != 0) return -errno;
  if (::rename(fresh.c_str(), live_.c_str()) != 0) return -errno;
  if (int rc = RemoveTree(dead); rc != 0) return rc;
  // Whatever the durable state no longer reaches is gone for good.
  for (auto& [id, node] : nodes_) node.durable_refs = id == kRootId ? 1 : 0;
  for (auto it = durable_.begin(); it != durable_.end();) {
    if (!nodes_.count(it->first) || !nodes_[it->first].live) {
      it = durable_.erase(it);
      continue;
    }
    for (const auto& [name, child] : it->second) ++nodes_[child].durable_refs;
    ++it;
  }
  std::vector<uint64_t> gone;
  for (const auto& [id, node] : nodes_) {
    if (!node.live) gone.push_back(id);
  }
  for (uint64_t id : gone) {
    if (nodes_[id].has_blob) ::unlink(Blob(id).c_str());
    nodes_.erase(id);
  }
  names_changed_ = false;
  return 0;
}

std::string LossyFs::Stats() {
  char buf[512];
  std::snprintf(buf, sizeof(buf),
                "crashes=%llu file_syncs=%llu dir_syncs=%llu dropped_bytes=%llu "
                "dropped_names=%llu resurrected_names=%llu nodes=%zu\n",
                (unsigned long long)crashes_, (unsigned long long)file_syncs_,
                (unsigned long long)dir_syncs_, (unsigned long long)dropped_bytes_,
                (unsigned long long)dropped_names_, (unsigned long long)resurrected_names_,
                nodes_.size());
  return buf;
}

// ---- operations ----

int LossyFs::GetAttr(const char* path, struct stat* st, fuse_file_info* fi) {
  if (path != nullptr && std::strcmp(path, kControlPath) == 0) {
    std::memset(st, 0, sizeof(*st));
    st->st_mode = S_IFREG | 0600;
    st->st_nlink = 1;
    return 0;
  }
  if (fi != nullptr && fi->fh != 0) {
    Handle* h = HandleOf(fi);
    if (h->control) return -EINVAL;
    return ::fstat(h->fd, st) == 0 ? 0 : -errno;
  }
  return ::lstat(Live(path).c_str(), st) == 0 ? 0 : -errno;
}

int LossyFs::ReadLink(const char* path, char* buf, size_t size) {
  ssize_t n = ::readlink(Live(path).c_str(), buf, size - 1);
  if (n < 0) return -errno;
  buf[n] = '\0';
  return 0;
}

int LossyFs::Mknod(const char* path, mode_t mode, dev_t dev) {
  return MakeName(path, [&](const char* p) { return ::mknod(p, mode, dev); });
}

int LossyFs::Mkdir(const char* path, mode_t mode) {
  return MakeName(path, [&](const char* p) { return ::mkdir(p, mode); });
}

int LossyFs::Symlink(const char* target, const char* path) {
  return MakeName(path, [&](const char* p) { return ::symlink(target, p); });
}

int LossyFs::Unlink(const char* path) {
  return RemoveName(path, [](const char* p) { return ::unlink(p); });
}

int LossyFs::Rmdir(const char* path) {
  return RemoveName(path, [](const char* p) { return ::rmdir(p); });
}

int LossyFs::Rename(const char* from, const char* to, unsigned int flags) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string f = Live(from);
  const std::string t = Live(to);
  struct stat source, victim;
  if (::lstat(f.c_str(), &source) != 0) return -errno;
  const bool replaces = ::lstat(t.c_str(), &victim) == 0;
  if (::renameat2(AT_FDCWD, f.c_str(), AT_FDCWD, t.c_str(), flags) != 0) return -errno;
  // Renaming a name onto another link of the same inode changes nothing (POSIX).
  if (replaces && !(flags & RENAME_EXCHANGE) && victim.st_ino != source.st_ino) NameRemoved(victim);
  names_changed_ = true;
  return 0;
}

int LossyFs::Link(const char* from, const char* to) {
  std::lock_guard<std::mutex> lock(mu_);
  if (::link(Live(from).c_str(), Live(to).c_str()) != 0) return -errno;
  names_changed_ = true;
  return 0;
}

int LossyFs::Chmod(const char* path, mode_t mode, fuse_file_info* fi) {
  std::lock_guard<std::mutex> lock(mu_);
  int rc = (fi != nullptr && fi->fh != 0) ? ::fchmod(HandleOf(fi)->fd, mode)
                                          : ::chmod(Live(path).c_str(), mode);
  if (rc != 0) return -errno;
  struct stat st;
  int s = (fi != nullptr && fi->fh != 0) ? ::fstat(HandleOf(fi)->fd, &st)
                                         : ::lstat(Live(path).c_str(), &st);
  if (s == 0) {
    if (auto it = by_ino_.find(st.st_ino); it != by_ino_.end())
      nodes_[it->second].mode = mode & 07777;
  }
  return 0;
}

int LossyFs::Chown(const char* path, uid_t uid, gid_t gid, fuse_file_info* fi) {
  int rc = (fi != nullptr && fi->fh != 0) ? ::fchown(HandleOf(fi)->fd, uid, gid)
                                          : ::lchown(Live(path).c_str(), uid, gid);
  return rc == 0 ? 0 : -errno;
}

int LossyFs::Truncate(const char* path, off_t size, fuse_file_info* fi) {
  std::lock_guard<std::mutex> lock(mu_);
  struct stat st;
  int rc;
  if (fi != nullptr && fi->fh != 0) {
    Handle* h = HandleOf(fi);
    if (h->control || Stale(h)) return -EIO;
    if (::fstat(h->fd, &st) != 0 || ::ftruncate(h->fd, size) != 0) return -errno;
    rc = 0;
  } else {
    const std::string p = Live(path);
    if (::lstat(p.c_str(), &st) != 0 || ::truncate(p.c_str(), size) != 0) return -errno;
    rc = 0;
  }
  auto it = by_ino_.find(st.st_ino);
  if (it != by_ino_.end()) {
    // Shrinking then growing again must read as zeros after a sync: everything from the lower
    // of the two sizes on is rewritten at the next fsync.
    AddDirty(nodes_[it->second], std::min<uint64_t>(st.st_size, size), kToEnd);
  }
  return rc;
}

int LossyFs::Open(const char* path, fuse_file_info* fi) {
  if (std::strcmp(path, kControlPath) == 0) {
    auto* h = new Handle;
    h->control = true;
    fi->fh = reinterpret_cast<uint64_t>(h);
    fi->direct_io = 1;  // reads must reach us whatever size the kernel thinks the file has
    return 0;
  }
  std::lock_guard<std::mutex> lock(mu_);
  const std::string p = Live(path);
  // Positions come from the kernel, so the backing file must not append on its own.
  int fd = ::open(p.c_str(), (fi->flags & ~(O_APPEND | O_CREAT | O_EXCL)) | O_CLOEXEC);
  if (fd < 0) return -errno;
  return NewHandle(fd, p, /*created=*/false, fi);
}

int LossyFs::Create(const char* path, mode_t mode, fuse_file_info* fi) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string p = Live(path);
  struct stat before;
  const bool existed = ::lstat(p.c_str(), &before) == 0;
  int fd = ::open(p.c_str(), (fi->flags & ~O_APPEND) | O_CREAT | O_CLOEXEC, mode);
  if (fd < 0) return -errno;
  return NewHandle(fd, p, /*created=*/!existed, fi);
}

int LossyFs::NewHandle(int fd, const std::string& path, bool created, fuse_file_info* fi) {
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return -err;
  }
  const uint64_t id = created ? NewNode(st, path) : IdOf(st, path);
  if (created) names_changed_ = true;
  Node& node = nodes_[id];
  if (fi->flags & O_TRUNC) AddDirty(node, 0, kToEnd);
  ++node.open;
  auto* h = new Handle;
  h->fd = fd;
  h->id = id;
  h->epoch = epoch_;
  fi->fh = reinterpret_cast<uint64_t>(h);
  return 0;
}

int LossyFs::Read(char* buf, size_t size, off_t offset, fuse_file_info* fi) {
  Handle* h = HandleOf(fi);
  if (h->control) {
    std::string stats;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stats = Stats();
    }
    if (static_cast<size_t>(offset) >= stats.size()) return 0;
    size_t n = std::min(size, stats.size() - offset);
    std::memcpy(buf, stats.data() + offset, n);
    return static_cast<int>(n);
  }
  if (Stale(h)) return -EIO;
  ssize_t n = ::pread(h->fd, buf, size, offset);
  return n < 0 ? -errno : static_cast<int>(n);
}

int LossyFs::Write(const char* buf, size_t size, off_t offset, fuse_file_info* fi) {
  Handle* h = HandleOf(fi);
  if (h->control) {
    std::string command(buf, size);
    while (!command.empty() && (command.back() == '\n' || command.back() == ' '))
      command.pop_back();
    if (command != "crash") return -EINVAL;
    std::lock_guard<std::mutex> lock(mu_);
    int rc = Crash();
    if (rc != 0) {
      std::fprintf(stderr, "dfs-lossyfs: crash failed: %s\n", std::strerror(-rc));
      return rc;
    }
    return static_cast<int>(size);
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (Stale(h)) return -EIO;
  ssize_t n = ::pwrite(h->fd, buf, size, offset);
  if (n < 0) return -errno;
  AddDirty(nodes_[h->id], offset, offset + n);
  return static_cast<int>(n);
}

int LossyFs::StatFs(struct statvfs* st) { return ::statvfs(live_.c_str(), st) == 0 ? 0 : -errno; }

int LossyFs::Release(fuse_file_info* fi) {
  Handle* h = HandleOf(fi);
  std::lock_guard<std::mutex> lock(mu_);
  if (!h->control) {
    ::close(h->fd);
    if (!Stale(h)) {
      Node& node = nodes_[h->id];
      if (--node.open == 0 && node.unlinked) Forget(h->id);
    }
  }
  delete h;
  return 0;
}

int LossyFs::Fsync(fuse_file_info* fi) {
  Handle* h = HandleOf(fi);
  if (h->control) return 0;
  std::lock_guard<std::mutex> lock(mu_);
  if (Stale(h)) return -EIO;
  return SyncFile(h->id, h->fd);
}

// Directory handles hold an O_DIRECTORY descriptor (fi->fh = fd + 1): with nullpath_ok libfuse
// passes no path to readdir and fsyncdir, and the directory may have been renamed meanwhile.
int LossyFs::OpenDir(const char* path, fuse_file_info* fi) {
  int fd = ::open(Live(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -errno;
  fi->fh = static_cast<uint64_t>(fd) + 1;
  return 0;
}

int LossyFs::ReadDir(void* buf, fuse_fill_dir_t fill, fuse_file_info* fi) {
  const std::string path = "/proc/self/fd/" + std::to_string(fi->fh - 1);
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) return -errno;
  while (dirent* e = ::readdir(dir)) {
    struct stat st;
    std::memset(&st, 0, sizeof(st));
    st.st_ino = e->d_ino;
    st.st_mode = static_cast<mode_t>(DTTOIF(e->d_type));
    if (fill(buf, e->d_name, &st, 0, static_cast<fuse_fill_dir_flags>(0)) != 0) break;
  }
  ::closedir(dir);
  return 0;
}

int LossyFs::ReleaseDir(fuse_file_info* fi) {
  ::close(static_cast<int>(fi->fh - 1));
  return 0;
}

int LossyFs::FsyncDir(fuse_file_info* fi) {
  std::lock_guard<std::mutex> lock(mu_);
  ++dir_syncs_;
  if (journal_) return names_changed_ ? SnapshotTree(kRootId, live_) : 0;
  const int fd = static_cast<int>(fi->fh - 1);
  struct stat st;
  if (::fstat(fd, &st) != 0) return -errno;
  auto it = by_ino_.find(st.st_ino);
  // A directory that is no longer in the tree (removed, or from before a crash) names nothing
  // that could become durable.
  if (it == by_ino_.end() || st.st_nlink == 0) return 0;
  return SnapshotDir(it->second, "/proc/self/fd/" + std::to_string(fd));
}

int LossyFs::Access(const char* path, int mask) {
  if (std::strcmp(path, kControlPath) == 0) return 0;
  return ::access(Live(path).c_str(), mask) == 0 ? 0 : -errno;
}

int LossyFs::Utimens(const char* path, const timespec tv[2], fuse_file_info* fi) {
  int rc = (fi != nullptr && fi->fh != 0)
               ? ::futimens(HandleOf(fi)->fd, tv)
               : ::utimensat(AT_FDCWD, Live(path).c_str(), tv, AT_SYMLINK_NOFOLLOW);
  return rc == 0 ? 0 : -errno;
}

int LossyFs::Fallocate(int mode, off_t offset, off_t length, fuse_file_info* fi) {
  Handle* h = HandleOf(fi);
  std::lock_guard<std::mutex> lock(mu_);
  if (h->control || Stale(h)) return -EIO;
  if (::fallocate(h->fd, mode, offset, length) != 0) return -errno;
  AddDirty(nodes_[h->id], offset, offset + length);
  return 0;
}

LossyFs* g_fs = nullptr;

fuse_operations MakeOperations() {
  fuse_operations ops{};
  ops.init = [](fuse_conn_info*, fuse_config* cfg) -> void* {
    cfg->use_ino = 0;
    cfg->nullpath_ok = 1;
    // Unlink at once rather than hide open files as .fuse_hidden*, which would become durable
    // names of their own.
    cfg->hard_remove = 1;
    // No kernel caching of names or attributes: after a crash the tree changes under the kernel.
    cfg->entry_timeout = 0;
    cfg->attr_timeout = 0;
    cfg->negative_timeout = 0;
    return nullptr;
  };
  ops.getattr = [](const char* p, struct stat* st, fuse_file_info* fi) {
    return g_fs->GetAttr(p, st, fi);
  };
  ops.readlink = [](const char* p, char* b, size_t s) { return g_fs->ReadLink(p, b, s); };
  ops.mknod = [](const char* p, mode_t m, dev_t d) { return g_fs->Mknod(p, m, d); };
  ops.mkdir = [](const char* p, mode_t m) { return g_fs->Mkdir(p, m); };
  ops.unlink = [](const char* p) { return g_fs->Unlink(p); };
  ops.rmdir = [](const char* p) { return g_fs->Rmdir(p); };
  ops.symlink = [](const char* t, const char* p) { return g_fs->Symlink(t, p); };
  ops.rename = [](const char* f, const char* t, unsigned int fl) { return g_fs->Rename(f, t, fl); };
  ops.link = [](const char* f, const char* t) { return g_fs->Link(f, t); };
  ops.chmod = [](const char* p, mode_t m, fuse_file_info* fi) { return g_fs->Chmod(p, m, fi); };
  ops.chown = [](const char* p, uid_t u, gid_t g, fuse_file_info* fi) {
    return g_fs->Chown(p, u, g, fi);
  };
  ops.truncate = [](const char* p, off_t s, fuse_file_info* fi) {
    return g_fs->Truncate(p, s, fi);
  };
  ops.open = [](const char* p, fuse_file_info* fi) { return g_fs->Open(p, fi); };
  ops.create = [](const char* p, mode_t m, fuse_file_info* fi) { return g_fs->Create(p, m, fi); };
  ops.read = [](const char*, char* b, size_t s, off_t o, fuse_file_info* fi) {
    return g_fs->Read(b, s, o, fi);
  };
  ops.write = [](const char*, const char* b, size_t s, off_t o, fuse_file_info* fi) {
    return g_fs->Write(b, s, o, fi);
  };
  ops.statfs = [](const char*, struct statvfs* st) { return g_fs->StatFs(st); };
  ops.release = [](const char*, fuse_file_info* fi) { return g_fs->Release(fi); };
  ops.fsync = [](const char*, int, fuse_file_info* fi) { return g_fs->Fsync(fi); };
  ops.opendir = [](const char* p, fuse_file_info* fi) { return g_fs->OpenDir(p, fi); };
  ops.readdir = [](const char*, void* b, fuse_fill_dir_t f, off_t, fuse_file_info* fi,
                   fuse_readdir_flags) { return g_fs->ReadDir(b, f, fi); };
  ops.releasedir = [](const char*, fuse_file_info* fi) { return g_fs->ReleaseDir(fi); };
  ops.fsyncdir = [](const char*, int, fuse_file_info* fi) { return g_fs->FsyncDir(fi); };
  ops.access = [](const char* p, int m) { return g_fs->Access(p, m); };
  ops.utimens = [](const char* p, const timespec tv[2], fuse_file_info* fi) {
    return g_fs->Utimens(p, tv, fi);
  };
  ops.fallocate = [](const char*, int m, off_t o, off_t l, fuse_file_info* fi) {
    return g_fs->Fallocate(m, o, l, fi);
  };
  return ops;
}

}  // namespace

int main(int argc, char** argv) {
  bool journal = false;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--names=strict") {
      journal = false;
    } else if (arg == "--names=journal") {
      journal = true;
    } else if (arg.rfind("--", 0) == 0) {
      std::fprintf(stderr, "dfs-lossyfs: unknown flag %s\n", argv[i]);
      return 2;
    } else {
      positional.push_back(arg);
    }
  }
  if (positional.size() != 2) {
    std::fprintf(stderr, "usage: dfs-lossyfs [--names=strict|journal] BACKING_DIR MOUNTPOINT\n");
    return 2;
  }
  ::mkdir(positional[0].c_str(), 0755);                        // realpath needs it to exist
  char* backing = ::realpath(positional[0].c_str(), nullptr);  // libfuse may chdir("/")
  if (backing == nullptr) {
    std::fprintf(stderr, "dfs-lossyfs: %s: %s\n", positional[0].c_str(), std::strerror(errno));
    return 1;
  }
  LossyFs fs(backing, journal);
  std::free(backing);
  if (int rc = fs.Init(); rc != 0) {
    std::fprintf(stderr, "dfs-lossyfs: cannot use %s: %s\n", positional[0].c_str(),
                 std::strerror(-rc));
    return 1;
  }
  g_fs = &fs;
  fuse_operations ops = MakeOperations();
  std::string self = argv[0];
  std::vector<std::string> fuse_args = {self, "-f", "-o", "fsname=dfs-lossyfs,subtype=lossyfs",
                                        positional[1]};
  std::vector<char*> args;
  for (auto& a : fuse_args) args.push_back(a.data());
  return fuse_main(static_cast<int>(args.size()), args.data(), &ops, nullptr);
}
