#define FUSE_USE_VERSION 314

#include "fuse/fuse_server.h"

#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <linux/fs.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/caller.h"
#include "client/client.h"
#include "client/config.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/http_server.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "fuse/filesystem.h"
#include "fuse/thread_pool.h"

namespace dfs::fuse {
namespace {

constexpr int kExitRuntime = 1;
constexpr int kExitUsage = 2;
// Kernel requests carry up to this much data (the kernel's limit is 256 pages).
constexpr unsigned kMaxWriteBytes = 1 << 20;
// Preferred I/O size reported in st_blksize: cp, stdio and friends size their buffers by it, and
// big requests are what the chunk pipeline likes.
constexpr blksize_t kBlockSize = 1 << 20;

// Sends kernel cache invalidations from a thread of its own (see the header).
class Invalidator : public KernelCache {
 public:
  void Start(fuse_session* session) {
    absl::MutexLock lock(&mu_);
    session_ = session;
    pool_ = std::make_unique<ThreadPool>(1);
  }
  // Waits for the invalidation being sent and drops the rest: the session is about to go.
  void Stop() {
    std::unique_ptr<ThreadPool> pool;
    {
      absl::MutexLock lock(&mu_);
      session_ = nullptr;
      pool = std::move(pool_);
    }
  }
  void Invalidate(uint64_t inode, bool data) override {
    absl::MutexLock lock(&mu_);
    if (session_ == nullptr) return;
    pool_->Schedule([session = session_, inode, data] {
      // ENOENT: the kernel no longer knows the inode, so there is nothing to drop.
      int rc = fuse_lowlevel_notify_inval_inode(session, inode, data ? 0 : -1, 0);
      if (rc != 0 && rc != -ENOENT) {
        DFS_LOG(DEBUG) << "invalidating inode " << inode << ": " << std::strerror(-rc);
      }
    });
  }

 private:
  absl::Mutex mu_;
  fuse_session* session_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::unique_ptr<ThreadPool> pool_ ABSL_GUARDED_BY(mu_);
};

// Everything a request handler needs, reached through fuse_req_userdata().
struct Server {
  FuseOptions options;
  std::unique_ptr<Client> client;
  Invalidator invalidator;
  std::unique_ptr<FileSystem> fs;
  fuse_session* session = nullptr;
  std::unique_ptr<HttpServer> http;  // /metrics
};

Server& ServerOf(fuse_req_t req) { return *static_cast<Server*>(fuse_req_userdata(req)); }
FileSystem& FsOf(fuse_req_t req) { return *ServerOf(req).fs; }

FileSystem::FileHandle* FileOf(const fuse_file_info* fi) {
  return reinterpret_cast<FileSystem::FileHandle*>(fi->fh);
}
FileSystem::DirHandle* DirOf(const fuse_file_info* fi) {
  return reinterpret_cast<FileSystem::DirHandle*>(fi->fh);
}

timespec ToTimespec(int64_t ns) {
  timespec ts;
  ts.tv_sec = ns / 1000000000;
  ts.tv_nsec = ns % 1000000000;
  if (ts.tv_nsec < 0) {
    ts.tv_nsec += 1000000000;
    --ts.tv_sec;
  }
  return ts;
}

int64_t ToNanos(const timespec& ts) {
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

mode_t TypeBits(FileType type) {
  switch (type) {
    case FILE_TYPE_DIRECTORY: return S_IFDIR;
    case FILE_TYPE_SYMLINK: return S_IFLNK;
    default: return S_IFREG;
  }
}

struct stat ToStat(const Attr& attr) {
  struct stat st;
  std::memset(&st, 0, sizeof(st));
  st.st_ino = attr.inode();
  st.st_mode = TypeBits(attr.type()) | (attr.mode() & 07777);
  st.st_nlink = attr.nlink();
  st.st_uid = attr.uid();
  st.st_gid = attr.gid();
  st.st_size = static_cast<off_t>(attr.size());
  st.st_blksize = kBlockSize;
  st.st_blocks = static_cast<blkcnt_t>((attr.size() + 511) / 512);
  st.st_atim = ToTimespec(attr.atime_ns());
  st.st_mtim = ToTimespec(attr.mtime_ns());
  st.st_ctim = ToTimespec(attr.ctime_ns());
  return st;
}

fuse_entry_param ToEntry(const Server& server, const Attr& attr) {
  fuse_entry_param entry;
  std::memset(&entry, 0, sizeof(entry));
  entry.ino = attr.inode();
  // dfs never reuses inode numbers, so one generation serves for all.
  entry.generation = 1;
  entry.attr = ToStat(attr);
  entry.attr_timeout = server.options.attr_timeout_s;
  entry.entry_timeout = server.options.entry_timeout_s;
  return entry;
}

void ReplyError(fuse_req_t req, const absl::Status& status) {
  int err = ErrnoOf(status);
  if (err == 0) err = EIO;
  if (err == EIO || err == ETIMEDOUT || err == ENOSPC) {
    DFS_LOG(WARNING) << "request failed with " << std::strerror(err) << ": " << status;
  } else {
    DFS_LOG(DEBUG) << "request failed with " << std::strerror(err) << ": " << status;
  }
  fuse_reply_err(req, err);
}

// Success (0) or the status's errno.
void ReplyStatus(fuse_req_t req, const absl::Status& status) {
  if (!status.ok()) return ReplyError(req, status);
  fuse_reply_err(req, 0);
}

void ReplyEntry(fuse_req_t req, const absl::StatusOr<Attr>& attr) {
  if (!attr.ok()) return ReplyError(req, attr.status());
  fuse_entry_param entry = ToEntry(ServerOf(req), *attr);
  if (fuse_reply_entry(req, &entry) != 0) {
    // The kernel never saw the entry (the request was interrupted): undo its lookup.
    FsOf(req).Forget(attr->inode(), 1);
  }
}

void ReplyAttr(fuse_req_t req, const absl::StatusOr<Attr>& attr) {
  if (!attr.ok()) return ReplyError(req, attr.status());
  struct stat st = ToStat(*attr);
  fuse_reply_attr(req, &st, ServerOf(req).options.attr_timeout_s);
}

// The process behind a kernel request, as the master checks it. Its supplementary groups cost
// a read of /proc, so root, who needs none, skips it; if they cannot be read the caller has
// only its primary group (the master may then refuse what a group grants).
Caller CallerOf(fuse_req_t req) {
  const fuse_ctx* ctx = fuse_req_ctx(req);
  Caller caller;
  caller.set_uid(ctx->uid);
  caller.set_gid(ctx->gid);
  if (ctx->uid == 0) return caller;
  std::vector<gid_t> groups(64);
  int count = fuse_req_getgroups(req, static_cast<int>(groups.size()), groups.data());
  if (count > static_cast<int>(groups.size())) {
    groups.resize(static_cast<size_t>(count));
    count = fuse_req_getgroups(req, count, groups.data());
  }
  for (int i = 0; i < std::min<int>(count, static_cast<int>(groups.size())); ++i) {
    if (groups[i] != ctx->gid) caller.add_groups(groups[i]);
  }
  return caller;
}

// ---- Handlers ----

void OpInit(void* userdata, fuse_conn_info* conn) {
  conn->max_write = kMaxWriteBytes;
  auto want = [conn](unsigned capability) {
    if (conn->capable & capability) conn->want |= capability;
  };
  want(FUSE_CAP_ATOMIC_O_TRUNC);
  want(FUSE_CAP_ASYNC_READ);
  want(FUSE_CAP_PARALLEL_DIROPS);
  want(FUSE_CAP_READDIRPLUS);
  want(FUSE_CAP_READDIRPLUS_AUTO);
  // Not FUSE_CAP_AUTO_INVAL_DATA: cached pages are validated at open, by content generation
  // (close-to-open). Dropping them whenever a refresh of the attributes shows a new mtime would
  // also drop what this mount just wrote, since its own commit changes the mtime.
  conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
  // A symlink's target never changes in dfs (replacing it replaces the inode).
  want(FUSE_CAP_CACHE_SYMLINKS);
  conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
  // More readahead requests in flight at once: they are served in parallel.
  conn->max_background = 64;
  conn->congestion_threshold = 48;
  conn->time_gran = 1;
  auto* server = static_cast<Server*>(userdata);
  DFS_LOG(INFO) << "kernel FUSE protocol " << conn->proto_major << "." << conn->proto_minor
                << ", max_write " << conn->max_write << ", mounted at "
                << server->options.mountpoint;
}

void OpLookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  absl::StatusOr<Attr> attr = FsOf(req).Lookup(parent, name);
  const Server& server = ServerOf(req);
  if (absl::IsNotFound(attr.status()) && server.options.negative_timeout_s > 0) {
    // A negative entry: the kernel remembers the miss for the timeout.
    fuse_entry_param entry;
    std::memset(&entry, 0, sizeof(entry));
    entry.entry_timeout = server.options.negative_timeout_s;
    fuse_reply_entry(req, &entry);
    return;
  }
  ReplyEntry(req, attr);
}

void OpForget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  FsOf(req).Forget(ino, nlookup);
  fuse_reply_none(req);
}

void OpForgetMulti(fuse_req_t req, size_t count, fuse_forget_data* forgets) {
  for (size_t i = 0; i < count; ++i) FsOf(req).Forget(forgets[i].ino, forgets[i].nlookup);
  fuse_reply_none(req);
}

void OpGetattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  ReplyAttr(req, FsOf(req).GetAttr(ino));
}

void OpSetattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set,
               fuse_file_info* fi) {
  // ftruncate(2) on a file opened for writing: the kernel checked at open, and Linux lets it
  // through whatever the mode says now (a file created 0444 can still be truncated).
  constexpr int kTruncateBits = FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_MTIME |
                                FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME;
  const bool by_open_file =
      fi != nullptr && (to_set & FUSE_SET_ATTR_SIZE) && (to_set & ~kTruncateBits) == 0;
  std::optional<ScopedCaller> open_file_scope;
  if (by_open_file) open_file_scope.emplace(std::nullopt);
  AttrChanges changes;
  if (to_set & FUSE_SET_ATTR_MODE) changes.mode = attr->st_mode & 07777;
  if (to_set & FUSE_SET_ATTR_UID) changes.uid = attr->st_uid;
  if (to_set & FUSE_SET_ATTR_GID) changes.gid = attr->st_gid;
  if (to_set & FUSE_SET_ATTR_SIZE) {
    if (attr->st_size < 0) {
      fuse_reply_err(req, EINVAL);
      return;
    }
    changes.size = static_cast<uint64_t>(attr->st_size);
  }
  const int64_t now_ns = RealClock::Get()->NowNanos();
  if (to_set & FUSE_SET_ATTR_ATIME_NOW) {
    changes.atime_ns = now_ns;
  } else if (to_set & FUSE_SET_ATTR_ATIME) {
    changes.atime_ns = ToNanos(attr->st_atim);
  }
  if (to_set & FUSE_SET_ATTR_MTIME_NOW) {
    changes.mtime_ns = now_ns;
  } else if (to_set & FUSE_SET_ATTR_MTIME) {
    changes.mtime_ns = ToNanos(attr->st_mtim);
  }
  const bool explicit_atime =
      (to_set & FUSE_SET_ATTR_ATIME) && !(to_set & FUSE_SET_ATTR_ATIME_NOW);
  const bool explicit_mtime =
      (to_set & FUSE_SET_ATTR_MTIME) && !(to_set & FUSE_SET_ATTR_MTIME_NOW);
  changes.times_are_now = !explicit_atime && !explicit_mtime;
  ReplyAttr(req, FsOf(req).SetAttr(ino, changes));
}

void OpReadlink(fuse_req_t req, fuse_ino_t ino) {
  absl::StatusOr<std::string> target = FsOf(req).ReadLink(ino);
  if (!target.ok()) return ReplyError(req, target.status());
  fuse_reply_readlink(req, target->c_str());
}

void OpMkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  ReplyEntry(req, FsOf(req).Mkdir(parent, name, mode));
}

void OpUnlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  ReplyStatus(req, FsOf(req).Unlink(parent, name));
}

void OpRmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  ReplyStatus(req, FsOf(req).Rmdir(parent, name));
}

void OpSymlink(fuse_req_t req, const char* link, fuse_ino_t parent, const char* name) {
  ReplyEntry(req, FsOf(req).Symlink(parent, name, link));
}

void OpRename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t new_parent,
              const char* new_name, unsigned int flags) {
  // Exchanging two names needs a master command of its own; say so cleanly rather than do half.
  if (flags & ~static_cast<unsigned>(RENAME_NOREPLACE)) {
    fuse_reply_err(req, EINVAL);
    return;
  }
  ReplyStatus(req, FsOf(req).Rename(parent, name, new_parent, new_name,
                                    (flags & RENAME_NOREPLACE) != 0));
}

void OpLink(fuse_req_t req, fuse_ino_t ino, fuse_ino_t new_parent, const char* new_name) {
  ReplyEntry(req, FsOf(req).Link(ino, new_parent, new_name));
}

void FillOpenInfo(const FileSystem::Opened& opened, fuse_file_info* fi) {
  fi->fh = reinterpret_cast<uint64_t>(opened.handle);
  fi->keep_cache = opened.keep_cache ? 1 : 0;
  fi->direct_io = opened.direct_io ? 1 : 0;
}

void OpOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  absl::StatusOr<FileSystem::Opened> opened = FsOf(req).Open(ino, fi->flags);
  if (!opened.ok()) return ReplyError(req, opened.status());
  if (opened->invalidate_attr) {
    // Synchronously, so the first read after open(2) already sees the fresh size. Attributes
    // only (offset -1): that takes no page or inode lock the open could be holding.
    fuse_lowlevel_notify_inval_inode(ServerOf(req).session, ino, -1, 0);
  }
  FillOpenInfo(*opened, fi);
  if (fuse_reply_open(req, fi) != 0) FsOf(req).Release(opened->handle);
}

void OpCreate(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
              fuse_file_info* fi) {
  absl::StatusOr<FileSystem::Opened> opened =
      FsOf(req).Create(parent, name, mode, fi->flags);
  if (!opened.ok()) return ReplyError(req, opened.status());
  FillOpenInfo(*opened, fi);
  fuse_entry_param entry = ToEntry(ServerOf(req), opened->attr);
  if (fuse_reply_create(req, &entry, fi) != 0) {
    FsOf(req).Release(opened->handle);
    FsOf(req).Forget(opened->attr.inode(), 1);
  }
}

void OpRead(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  if (off < 0) {
    fuse_reply_err(req, EINVAL);
    return;
  }
  absl::StatusOr<std::string> data = FsOf(req).Read(FileOf(fi), off, size);
  if (!data.ok()) return ReplyError(req, data.status());
  fuse_reply_buf(req, data->data(), data->size());
}

void OpWrite(fuse_req_t req, fuse_ino_t, const char* buf, size_t size, off_t off,
             fuse_file_info* fi) {
  if (off < 0) {
    fuse_reply_err(req, EINVAL);
    return;
  }
  absl::StatusOr<size_t> written = FsOf(req).Write(FileOf(fi), off, absl::string_view(buf, size));
  if (!written.ok()) return ReplyError(req, written.status());
  fuse_reply_write(req, *written);
}

void OpFlush(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  ReplyStatus(req, FsOf(req).Flush(FileOf(fi)));
}

void OpRelease(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  FsOf(req).Release(FileOf(fi));
  fuse_reply_err(req, 0);
}

void OpFsync(fuse_req_t req, fuse_ino_t, int, fuse_file_info* fi) {
  ReplyStatus(req, FsOf(req).Fsync(FileOf(fi)));
}

void OpOpendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  absl::StatusOr<FileSystem::DirHandle*> handle = FsOf(req).OpenDir(ino);
  if (!handle.ok()) return ReplyError(req, handle.status());
  fi->fh = reinterpret_cast<uint64_t>(*handle);
  if (fuse_reply_open(req, fi) != 0) FsOf(req).ReleaseDir(*handle);
}

void DoReaddir(fuse_req_t req, size_t size, off_t off, fuse_file_info* fi, bool plus) {
  if (off < 0) {
    fuse_reply_err(req, EINVAL);
    return;
  }
  Server& server = ServerOf(req);
  std::vector<char> buffer(size);
  size_t used = 0;
  absl::Status status = server.fs->ReadDir(
      DirOf(fi), static_cast<uint64_t>(off), [&](const DirEntry& entry, uint64_t next) {
        const char* name = entry.name().c_str();
        size_t need;
        if (plus) {
          const bool dots = entry.name() == "." || entry.name() == "..";
          fuse_entry_param param;
          if (dots) {
            // No node id: the kernel takes no reference and does not cache these.
            std::memset(&param, 0, sizeof(param));
            param.attr.st_ino = entry.attr().inode();
            param.attr.st_mode = S_IFDIR;
          } else {
            param = ToEntry(server, entry.attr());
          }
          need = fuse_add_direntry_plus(req, buffer.data() + used, size - used, name, &param,
                                        static_cast<off_t>(next));
          if (need > size - used) return false;
          if (!dots) server.fs->AddLookup(entry.attr());
        } else {
          struct stat st = ToStat(entry.attr());
          need = fuse_add_direntry(req, buffer.data() + used, size - used, name, &st,
                                   static_cast<off_t>(next));
          if (need > size - used) return false;
        }
        used += need;
        return true;
      });
  // Entries already packed are delivered; the error shows on the next call.
  if (!status.ok() && used == 0) return ReplyError(req, status);
  fuse_reply_buf(req, buffer.data(), used);
}

void OpReaddir(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  DoReaddir(req, size, off, fi, /*plus=*/false);
}

void OpReaddirplus(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  DoReaddir(req, size, off, fi, /*plus=*/true);
}

void OpReleasedir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  FsOf(req).ReleaseDir(DirOf(fi));
  fuse_reply_err(req, 0);
}

void OpFsyncdir(fuse_req_t req, fuse_ino_t, int, fuse_file_info*) {
  ReplyStatus(req, FsOf(req).FsyncDir());
}

void OpStatfs(fuse_req_t req, fuse_ino_t) {
  absl::StatusOr<StatFsResponse> fs = FsOf(req).StatFs();
  if (!fs.ok()) return ReplyError(req, fs.status());
  constexpr uint64_t kUnit = 4096;
  // Inodes are limited only by the master's disk: report plenty free.
  constexpr uint64_t kFreeInodes = 1ull << 32;
  struct statvfs st;
  std::memset(&st, 0, sizeof(st));
  st.f_bsize = kBlockSize;
  st.f_frsize = kUnit;
  st.f_blocks = fs->capacity_bytes() / kUnit;
  st.f_bfree = fs->free_bytes() / kUnit;
  st.f_bavail = st.f_bfree;
  st.f_files = fs->inodes() + kFreeInodes;
  st.f_ffree = kFreeInodes;
  st.f_favail = kFreeInodes;
  st.f_namemax = 255;
  fuse_reply_statfs(req, &st);
}

// A handler's name as a template argument.
template <size_t N>
struct OpName {
  constexpr OpName(const char (&name)[N]) { std::copy_n(name, N, text); }
  char text[N];
};

// Whom the master checks a handler's requests against.
enum class ActsFor {
  kRequester,  // the process that made the system call (CallerOf)
  kNoOne,      // nobody: the call works on a file the kernel let the process open (Linux checks
               // at open, not at each read or write), or the master checks nothing it asks
               // (getattr, readlink, statfs, forget), so the groups need not be read
};
// Directory listings act for the requester: the master checks read permission on each page,
// which is also what stands in for the open check under -o no_default_permissions.

// Timed<"lookup", OpLookup>::Run is OpLookup observed into
// dfs_fuse_op_duration_seconds{op="lookup"}: every handler replies before it returns, so its run
// time is the operation's latency as dfs-fuse sees it. It also names the handler's caller for
// every master request it makes (client/caller.h).
template <OpName kName, auto kHandler, ActsFor kActsFor = ActsFor::kRequester>
struct Timed;
template <OpName kName, typename... Args, void (*kHandler)(fuse_req_t, Args...),
          ActsFor kActsFor>
struct Timed<kName, kHandler, kActsFor> {
  static void Run(fuse_req_t req, Args... args) {
    ScopedCaller caller(kActsFor == ActsFor::kRequester ? std::optional<Caller>(CallerOf(req))
                                                        : std::nullopt);
    static metrics::Histogram* const latency =
        metrics::Registry::Default()
            .Histogram("dfs_fuse_op_duration_seconds",
                       "Seconds dfs-fuse took to answer a kernel request, by operation.", {"op"})
            ->WithLabels({kName.text});
    metrics::ScopedTimer timer(latency);
    kHandler(req, args...);
  }
};

fuse_lowlevel_ops MakeOps() {
  fuse_lowlevel_ops ops;
  std::memset(&ops, 0, sizeof(ops));
  ops.init = OpInit;
  ops.lookup = Timed<"lookup", OpLookup>::Run;
  ops.forget = Timed<"forget", OpForget, ActsFor::kNoOne>::Run;
  ops.forget_multi = Timed<"forget_multi", OpForgetMulti, ActsFor::kNoOne>::Run;
  ops.getattr = Timed<"getattr", OpGetattr, ActsFor::kNoOne>::Run;
  ops.setattr = Timed<"setattr", OpSetattr>::Run;
  ops.readlink = Timed<"readlink", OpReadlink, ActsFor::kNoOne>::Run;
  ops.mkdir = Timed<"mkdir", OpMkdir>::Run;
  ops.unlink = Timed<"unlink", OpUnlink>::Run;
  ops.rmdir = Timed<"rmdir", OpRmdir>::Run;
  ops.symlink = Timed<"symlink", OpSymlink>::Run;
  ops.rename = Timed<"rename", OpRename>::Run;
  ops.link = Timed<"link", OpLink>::Run;
  ops.open = Timed<"open", OpOpen>::Run;
  ops.create = Timed<"create", OpCreate>::Run;
  ops.read = Timed<"read", OpRead, ActsFor::kNoOne>::Run;
  ops.write = Timed<"write", OpWrite, ActsFor::kNoOne>::Run;
  ops.flush = Timed<"flush", OpFlush, ActsFor::kNoOne>::Run;
  ops.release = Timed<"release", OpRelease, ActsFor::kNoOne>::Run;
  ops.fsync = Timed<"fsync", OpFsync, ActsFor::kNoOne>::Run;
  ops.opendir = Timed<"opendir", OpOpendir>::Run;
  ops.readdir = Timed<"readdir", OpReaddir>::Run;
  ops.readdirplus = Timed<"readdirplus", OpReaddirplus>::Run;
  ops.releasedir = Timed<"releasedir", OpReleasedir, ActsFor::kNoOne>::Run;
  ops.fsyncdir = Timed<"fsyncdir", OpFsyncdir, ActsFor::kNoOne>::Run;
  ops.statfs = Timed<"statfs", OpStatfs, ActsFor::kNoOne>::Run;
  return ops;
}

// Raises the kernel's readahead for this mount (its bdi, named after the mount's device
// number). The kernel caps a FUSE mount's readahead at 128 KiB by default whatever the file
// system asks, which keeps sequential reads to small requests. Runs once the mount answers, so
// that INIT (which would lower the value again) is over. Best effort: only root may write it.
void TuneKernelReadahead(std::string mountpoint, uint32_t kb) {
  struct stat st;
  if (::stat(mountpoint.c_str(), &st) != 0) {
    DFS_LOG(WARNING) << "stat " << mountpoint << ": " << std::strerror(errno);
    return;
  }
  std::string path = absl::StrCat("/sys/class/bdi/", major(st.st_dev), ":", minor(st.st_dev),
                                  "/read_ahead_kb");
  std::ofstream out(path);
  out << kb << "\n";
  out.flush();
  if (!out) {
    DFS_LOG(INFO) << "could not set " << path << " (not root?); kernel readahead stays default";
    return;
  }
  DFS_LOG(INFO) << "kernel readahead for " << mountpoint << " set to " << kb << " KiB";
}

// The log file and where the first line says it is.
std::string DefaultLogFile() { return absl::StrCat("/tmp/dfs-fuse-", ::getpid(), ".log"); }

absl::StatusOr<ClientOptions> ClientOptionsFor(const FuseOptions& options) {
  MasterSources sources = MasterSourcesFromEnvironment(options.masters);
  sources.secret_file_flag = options.secret_file;
  sources.tls_ca_flag = options.tls_ca;
  absl::StatusOr<DiscoveredConfig> config = DiscoverConfig(sources);
  if (absl::IsNotFound(config.status())) {
    return absl::NotFoundError(
        "no cluster configured: pass --masters HOST:PORT[,...] (or set DFS_MASTERS, or write "
        "masters=HOST:PORT,... to ~/.config/dfs/client.conf; `tools/dfs-cluster up` does)");
  }
  if (!config.ok()) return config.status();
  // Before the first channel exists: every RPC of this process carries the credential.
  if (absl::Status s = ConfigureClientSecurity(config->config); !s.ok()) return s;
  ClientOptions client;
  ApplyConfig(config->config, &client);
  if (options.timeout_ms) {
    client.op_timeout_ms = *options.timeout_ms;
    client.rpc_timeout_ms = std::min(client.rpc_timeout_ms, client.op_timeout_ms);
  }
  if (options.chunk_size_bytes) client.chunk_size_bytes = *options.chunk_size_bytes;
  client.write_retry_deadline_ms = client.op_timeout_ms;
  // Every request names its own caller (Timed), never dfs-fuse's identity.
  client.caller = std::nullopt;
  if (absl::Status status = client.Validate(); !status.ok()) return status;
  return client;
}

}  // namespace

int RunFuse(const FuseOptions& options) {
  SetLogComponent("fuse");
  SetLogLevelFromName(options.log_level);
  absl::StatusOr<ClientOptions> client_options = ClientOptionsFor(options);
  if (!client_options.ok()) {
    std::fprintf(stderr, "dfs-fuse: %s\n", std::string(client_options.status().message()).c_str());
    return kExitUsage;
  }
  std::string log_file = options.log_file;
  if (log_file.empty() && !options.foreground) log_file = DefaultLogFile();
  int log_fd = -1;
  if (!log_file.empty()) {
    log_fd = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) {
      std::fprintf(stderr, "dfs-fuse: cannot open log file %s: %s\n", log_file.c_str(),
                   std::strerror(errno));
      return kExitUsage;
    }
    if (!options.foreground) std::fprintf(stderr, "dfs-fuse: logging to %s\n", log_file.c_str());
  }

  // libfuse's own arguments: the mount options, named so that mount(8) shows what this is.
  std::vector<std::string> fuse_argv = {"dfs-fuse"};
  std::vector<std::string> mount_options;
  bool default_permissions = true;
  bool allow_other = ::geteuid() == 0;  // others may use a root mount; needs fuse.conf otherwise
  for (const std::string& o : options.fuse_options) {
    // Ours, not libfuse's: they turn off the defaults below.
    if (o == "no_default_permissions") {
      default_permissions = false;
    } else if (o == "no_allow_other") {
      allow_other = false;
    } else {
      mount_options.push_back(o);
    }
  }
  auto has_option = [&](absl::string_view name) {
    for (const std::string& o : mount_options) {
      if (o == name || absl::StartsWith(o, absl::StrCat(name, "="))) return true;
    }
    return false;
  };
  // The kernel checks mode bits with the attributes it caches before it asks dfs-fuse; the
  // master checks again with the caller each request names (CallerOf).
  if (default_permissions && !has_option("default_permissions")) {
    mount_options.push_back("default_permissions");
  }
  if (allow_other && !has_option("allow_other")) mount_options.push_back("allow_other");
  if (!has_option("fsname")) {
    mount_options.push_back(absl::StrCat("fsname=dfs:", client_options->masters[0]));
  }
  if (!has_option("subtype")) mount_options.push_back("subtype=dfs");
  fuse_argv.push_back("-o");
  fuse_argv.push_back(absl::StrJoin(mount_options, ","));
  if (options.debug) fuse_argv.push_back("-d");
  std::vector<char*> raw_argv;
  for (std::string& arg : fuse_argv) raw_argv.push_back(arg.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(raw_argv.size()), raw_argv.data());

  auto server = std::make_unique<Server>();
  server->options = options;
  fuse_lowlevel_ops ops = MakeOps();
  fuse_session* session = fuse_session_new(&args, &ops, sizeof(ops), server.get());
  fuse_opt_free_args(&args);
  if (session == nullptr) {
    std::fprintf(stderr, "dfs-fuse: bad FUSE options (-o %s)\n",
                 absl::StrJoin(mount_options, ",").c_str());
    return kExitUsage;
  }
  server->session = session;
  int exit_code = kExitRuntime;
  if (fuse_set_signal_handlers(session) != 0) {
    std::fprintf(stderr, "dfs-fuse: cannot install signal handlers\n");
    fuse_session_destroy(session);
    return kExitRuntime;
  }
  if (fuse_session_mount(session, options.mountpoint.c_str()) != 0) {
    std::fprintf(stderr, "dfs-fuse: cannot mount at %s\n", options.mountpoint.c_str());
    fuse_remove_signal_handlers(session);
    fuse_session_destroy(session);
    return kExitRuntime;
  }
  // Forks unless in the foreground. gRPC must not exist yet: it does not survive fork.
  fuse_daemonize(options.foreground ? 1 : 0);
  if (log_fd >= 0) {
    ::dup2(log_fd, STDERR_FILENO);
    ::close(log_fd);
  }
  DFS_LOG(INFO) << "dfs-fuse pid " << ::getpid() << " serving " << options.mountpoint
                << " for masters " << absl::StrJoin(client_options->masters, ",") << " (timeout "
                << client_options->op_timeout_ms << " ms)";

  // After the fork, like gRPC: the server's threads would not survive it. The mount works
  // without it, so a failure is only logged.
  absl::StatusOr<std::unique_ptr<HttpServer>> http =
      StartHttpServer(options.http_listen, options.http_port_file);
  if (http.ok()) {
    server->http = *std::move(http);
  } else {
    DFS_LOG(ERROR) << "no HTTP server: " << http.status();
  }

  absl::StatusOr<std::unique_ptr<Client>> client = Client::New(*client_options);
  std::unique_ptr<metrics::Registry::CollectorHandle> meta_metrics;
  if (!client.ok()) {
    DFS_LOG(ERROR) << "cannot create the client: " << client.status();
  } else {
    server->client = *std::move(client);
    FileSystemOptions fs_options;
    fs_options.commit_bytes = client_options->chunk_size_bytes;
    fs_options.readahead_bytes = options.readahead_bytes;
    fs_options.prefetch_threads = options.prefetch_threads;
    fs_options.dir_attr_reuse_ms = std::min<int64_t>(
        fs_options.dir_attr_reuse_ms, static_cast<int64_t>(options.attr_timeout_s * 1000));
    // A hit skips the master's permission check of the lookup: only when the kernel checks.
    // And never staler than the kernel's own caches may be (timeouts of 0: no cache at all).
    fs_options.meta_cache.grace_ms =
        default_permissions
            ? std::min<int64_t>(options.meta_cache_grace_ms,
                                static_cast<int64_t>(1000 * std::min(options.attr_timeout_s,
                                                                     options.entry_timeout_s)))
            : 0;
    fs_options.write_behind.enabled = options.write_behind;
    server->invalidator.Start(session);
    server->fs =
        std::make_unique<FileSystem>(server->client.get(), &server->invalidator, fs_options);
    FileSystem* fs = server->fs.get();
    const Client* master_client = server->client.get();
    meta_metrics =
        metrics::Registry::Default().AddCollector([fs, master_client](metrics::Collection* out) {
      const MetaCache::Stats stats = fs->meta_cache_stats();
      out->AddCounter("dfs_fuse_meta_cache_hits_total",
                      "Lookups and getattrs answered by the metadata cache.", stats.hits);
      out->AddCounter("dfs_fuse_meta_cache_misses_total",
                      "Lookups and getattrs the metadata cache could not answer while usable.",
                      stats.misses);
      out->AddCounter("dfs_fuse_meta_cache_inserts_dropped_total",
                      "Answers from the master not kept because the change feed was newer.",
                      stats.inserts_dropped);
      out->AddGauge("dfs_fuse_meta_cache_entries", "Names and attributes kept.", stats.entries);
      out->AddGauge("dfs_fuse_meta_cache_usable",
                    "1 while the change feed is connected and confirmed.", stats.usable ? 1 : 0);
      // The cache answers only once the feed has caught up with what this mount saw.
      out->AddGauge("dfs_fuse_meta_cache_feed_index",
                    "The Raft log index the change feed has delivered up to.", stats.feed_index);
      out->AddGauge("dfs_fuse_client_newest_applied_index",
                    "The newest Raft log index a master's answer to this mount showed applied.",
                    master_client->newest_applied_index());
      const WriteBehind::Stats behind = fs->write_behind_stats();
      out->AddCounter("dfs_fuse_write_behind_ops_total",
                      "Creates, mkdirs, unlinks, rmdirs and renames answered at once and sent to "
                      "the master after.",
                      behind.queued);
      out->AddCounter("dfs_fuse_write_behind_creates_with_content_total",
                      "New files whose first content went with their create (one op).",
                      behind.amended);
      out->AddCounter("dfs_fuse_write_behind_batches_total",
                      "Batches of such changes sent to the master.", behind.batches);
      out->AddCounter("dfs_fuse_write_behind_failed_total",
                      "Changes answered at once that the master then refused (reported by the "
                      "next fsync or fsyncdir).",
                      behind.failed);
      out->AddCounter("dfs_fuse_write_behind_drains_total",
                      "Requests that waited for changes sent behind to reach the master.",
                      behind.drains);
    });
    if (options.kernel_readahead_kb > 0) {
      std::thread(TuneKernelReadahead, options.mountpoint, options.kernel_readahead_kb).detach();
    }
    int rc;
    if (options.single_thread) {
      rc = fuse_session_loop(session);
    } else {
      fuse_loop_config* config = fuse_loop_cfg_create();
      fuse_loop_cfg_set_max_threads(config, options.max_threads);
      fuse_loop_cfg_set_idle_threads(config, std::min(options.max_threads, 10));
      rc = fuse_session_loop_mt(session, config);
      fuse_loop_cfg_destroy(config);
    }
    // The kernel released every open file before the unmount could happen; anything still
    // pending means a forced exit, so commit what can be.
    if (absl::Status status = server->fs->FlushAll(); !status.ok()) {
      DFS_LOG(ERROR) << "committing buffered writes at exit failed: " << status;
    }
    exit_code = rc == 0 ? 0 : kExitRuntime;
    DFS_LOG(INFO) << "session loop ended (" << rc << "); unmounting " << options.mountpoint;
  }
  meta_metrics.reset();
  server->invalidator.Stop();
  fuse_session_unmount(session);
  fuse_remove_signal_handlers(session);
  fuse_session_destroy(session);
  server->fs.reset();
  return exit_code;
}

}  // namespace dfs::fuse
