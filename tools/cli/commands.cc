#include "tools/cli/commands.h"

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/path.h"
#include "client/trash.h"
#include "common/errors.h"
#include "common/status.h"
#include "tools/cli/format.h"
#include "tools/cli/progress.h"

namespace dfs::cli {
namespace {

constexpr char kBrokenPipeUrl[] = "dfs-cli/broken-pipe";

// ---- get's temp file, removed by the signal handler ----

char g_temp_path[PATH_MAX];
volatile sig_atomic_t g_temp_set = 0;

void SetTempFile(const std::string& path) {
  size_t n = std::min(path.size(), sizeof(g_temp_path) - 1);
  std::memcpy(g_temp_path, path.data(), n);
  g_temp_path[n] = '\0';
  g_temp_set = 1;
}

void ClearTempFile() { g_temp_set = 0; }

void CleanupAndDie(int sig) {
  if (g_temp_set) ::unlink(g_temp_path);  // async-signal-safe
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

// ---- local I/O ----

absl::Status LocalError(int err) { return FsError(err, std::strerror(err)); }

absl::Status WriteAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      absl::Status status = LocalError(errno);
      if (errno == EPIPE) status.SetPayload(kBrokenPipeUrl, absl::Cord("1"));
      return status;
    }
    data.remove_prefix(n);
  }
  return absl::OkStatus();
}

bool IsLocalDirectory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

class Runner {
 public:
  Runner(const Invocation& invocation, Client& client, const CommandEnv& env)
      : inv_(invocation), client_(client), env_(env) {}

  int Run() {
    const std::string& c = inv_.command;
    if (c == "put") Put();
    else if (c == "get") Get();
    else if (c == "ls") Ls();
    else if (c == "cat") Cat();
    else if (c == "mkdir") Mkdir();
    else if (c == "rm") Rm();
    else if (c == "trash") Trash();
    else if (c == "mv") Mv();
    else if (c == "stat") Stat();
    else if (c == "du") Du();
    else Fail("", absl::InvalidArgumentError(absl::StrCat("unknown command '", c, "'")));
    return exit_code_;
  }

 private:
  // Reports a failed operation on `path`. A closed stdout (`dfs cat f | head`) ends the process
  // the way it ends cat: by SIGPIPE, without a message.
  void Fail(const std::string& path, const absl::Status& status) {
    if (status.GetPayload(kBrokenPipeUrl).has_value()) {
      ::signal(SIGPIPE, SIG_DFL);
      ::raise(SIGPIPE);
      ::_exit(128 + SIGPIPE);
    }
    std::string line = absl::StrCat("dfs: ", inv_.command, ": ");
    if (!path.empty()) absl::StrAppend(&line, path, ": ");
    absl::StrAppend(&line, ErrorText(status), "\n");
    (void)WriteAll(env_.err_fd, line);
    exit_code_ = 1;
  }

  absl::Status Out(absl::string_view text) { return WriteAll(env_.out_fd, text); }

  ByteSink StdoutSink() {
    return [this](absl::string_view data) { return Out(data); };
  }

  // ---- put ----
  void Put() {
    const std::string& local = inv_.operands[0];
    const std::string& remote = inv_.operands[1];
    const bool from_stdin = local == "-";
    int fd = 0;
    uint64_t size = 0;
    uint32_t mode = 0666 & ~env_.umask;
    if (!from_stdin) {
      fd = ::open(local.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) return Fail(local, LocalError(errno));
    }
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      absl::Status status = LocalError(errno);
      if (!from_stdin) ::close(fd);
      return Fail(local, status);
    }
    if (S_ISDIR(st.st_mode)) {
      if (!from_stdin) ::close(fd);
      return Fail(local, FsError(EISDIR, "is a directory"));
    }
    if (S_ISREG(st.st_mode)) size = st.st_size;
    if (!from_stdin) mode = st.st_mode & 0777 & ~env_.umask;

    absl::Status status = PutInto(fd, local, remote, size, mode);
    if (!from_stdin) ::close(fd);
    if (!status.ok()) Fail(failed_path_, status);
  }

  absl::Status PutInto(int fd, const std::string& local, const std::string& remote, uint64_t size,
                       uint32_t mode) {
    failed_path_ = remote;
    DFS_ASSIGN_OR_RETURN(std::string target, NormalizePath(remote));
    absl::StatusOr<Attr> existing = client_.ResolvePath(target, /*follow_last=*/true);
    const bool is_directory = existing.ok() && existing->type() == FILE_TYPE_DIRECTORY;
    if (remote.back() == '/' && !is_directory) {
      // "put f /x/" promises a directory, as it does to cp.
      return FsError(ENOTDIR, "not a directory");
    }
    if (is_directory) {
      std::string base = Basename(local);
      if (local == "-" || base.empty()) {
        return FsError(EISDIR, "is a directory");
      }
      target = JoinPath(target, base);
      failed_path_ = target;
    } else if (!existing.ok() && !absl::IsNotFound(existing.status())) {
      return existing.status();
    }
    ProgressBar bar(Basename(target), env_.err_fd, env_.stderr_is_tty);
    PutOptions options;
    options.overwrite = inv_.flag('f');
    options.mode = mode;
    options.expected_size = size;
    options.progress = [&bar](uint64_t done, uint64_t total) { bar.Update(done, total); };
    DFS_RETURN_IF_ERROR(client_.Put(fd, target, options).status());
    bar.Finish();
    return absl::OkStatus();
  }

  // ---- get ----
  void Get() {
    const std::string& remote = inv_.operands[0];
    const std::string& local = inv_.operands[1];
    absl::StatusOr<Attr> attr = client_.ResolvePath(remote, /*follow_last=*/true);
    if (!attr.ok()) return Fail(remote, attr.status());
    if (attr->type() == FILE_TYPE_DIRECTORY) return Fail(remote, FsError(EISDIR, "is a directory"));
    if (attr->type() != FILE_TYPE_REGULAR) {
      return Fail(remote, FsError(EINVAL, "not a regular file"));
    }
    ProgressBar bar(Basename(remote), env_.err_fd, env_.stderr_is_tty);
    ProgressCallback progress = [&bar](uint64_t done, uint64_t total) { bar.Update(done, total); };
    std::string failed_path = remote;
    absl::Status status = local == "-" ? client_.ReadStream(attr->inode(), 0, kToEnd,
                                                            StdoutSink(), progress)
                                             .status()
                                       : GetToFile(*attr, remote, local, progress, &failed_path);
    // The bar's line ends before an error line starts.
    bar.Finish();
    if (!status.ok()) Fail(failed_path, status);
  }

  absl::Status GetToFile(const Attr& attr, const std::string& remote, const std::string& local,
                         const ProgressCallback& progress, std::string* failed_path) {
    std::string target = local;
    if (IsLocalDirectory(local) || local.back() == '/') {
      target = absl::StrCat(local, local.back() == '/' ? "" : "/", Basename(remote));
    }
    size_t slash = target.rfind('/');
    std::string dir = slash == std::string::npos ? std::string(".")
                      : slash == 0                 ? std::string("/")
                                                   : target.substr(0, slash);
    std::string base = slash == std::string::npos ? target : target.substr(slash + 1);
    // The data lands in a hidden temp file beside the target and is renamed over it only when
    // complete, so the target never holds a partial file.
    std::string temp = absl::StrCat(dir, "/.", base, ".dfs-get-XXXXXX");
    int fd = ::mkstemp(temp.data());
    if (fd < 0) {
      *failed_path = target;
      return LocalError(errno);
    }
    SetTempFile(temp);
    bool local_failed = false;
    ByteSink sink = [&](absl::string_view data) {
      absl::Status status = WriteAll(fd, data);
      if (!status.ok()) local_failed = true;
      return status;
    };
    absl::Status status = client_.ReadStream(attr.inode(), 0, kToEnd, sink, progress).status();
    if (status.ok() &&
        (::fchmod(fd, attr.mode() & 0777 & ~env_.umask) != 0 || ::fsync(fd) != 0)) {
      local_failed = true;
      status = LocalError(errno);
    }
    if (::close(fd) != 0 && status.ok()) {
      local_failed = true;
      status = LocalError(errno);
    }
    if (status.ok() && ::rename(temp.c_str(), target.c_str()) != 0) {
      local_failed = true;
      status = LocalError(errno);
    }
    if (!status.ok()) ::unlink(temp.c_str());
    ClearTempFile();
    if (local_failed) *failed_path = target;
    return status;
  }

  // ---- ls ----
  void Ls() {
    std::vector<std::string> paths = inv_.operands;
    if (paths.empty()) paths.push_back("/");
    const bool long_format = inv_.flag('l');
    bool first = true;
    for (const std::string& path : paths) {
      absl::StatusOr<Attr> attr = client_.Stat(path);
      if (!attr.ok()) {
        Fail(path, attr.status());
        continue;
      }
      Attr shown = *attr;
      // Like ls: a symlink to a directory lists the directory, except in long format.
      if (shown.type() == FILE_TYPE_SYMLINK && !long_format) {
        absl::StatusOr<Attr> target = client_.ResolvePath(path, /*follow_last=*/true);
        if (target.ok()) shown = *target;
      }
      absl::Status status;
      if (shown.type() == FILE_TYPE_DIRECTORY) {
        if (paths.size() > 1) status = Out(absl::StrCat(first ? "" : "\n", path, ":\n"));
        if (status.ok()) status = ListDirectory(shown.inode(), long_format);
      } else if (long_format) {
        status = Out(FormatLong({ListedEntry{path, shown}}));
      } else {
        status = Out(absl::StrCat(path, "\n"));
      }
      first = false;
      if (!status.ok()) Fail(path, status);
    }
  }

  absl::Status ListDirectory(uint64_t inode, bool long_format) {
    if (!long_format) {
      // Streamed page by page: a huge directory is never held whole.
      return client_.ForEachDirEntry(
          inode, [this](const DirEntry& entry) { return Out(absl::StrCat(entry.name(), "\n")); });
    }
    // Long format aligns columns, which needs every entry first.
    std::vector<ListedEntry> entries;
    DFS_RETURN_IF_ERROR(client_.ForEachDirEntry(inode, [&entries](const DirEntry& entry) {
      entries.push_back(ListedEntry{entry.name(), entry.attr()});
      return absl::OkStatus();
    }));
    return Out(FormatLong(entries));
  }

  // ---- cat ----
  void Cat() {
    for (const std::string& path : inv_.operands) {
      absl::Status status = client_.Get(path, StdoutSink()).status();
      if (!status.ok()) Fail(path, status);
    }
  }

  // ---- mkdir ----
  void Mkdir() {
    const uint32_t mode = 0777 & ~env_.umask;
    for (const std::string& path : inv_.operands) {
      absl::Status status = MakeDirectory(path, mode);
      if (!status.ok()) Fail(path, status);
    }
  }

  absl::Status MakeDirectory(const std::string& path, uint32_t mode) {
    if (inv_.flag('p')) return client_.MkdirAll(path, mode).status();
    DFS_ASSIGN_OR_RETURN(std::string canonical, NormalizePath(path));
    if (canonical == "/") return FsError(EEXIST, "file exists");
    DFS_ASSIGN_OR_RETURN(ResolvedParent parent, client_.ResolveParent(canonical));
    return client_.Mkdir(parent.dir.inode(), parent.name, mode).status();
  }

  // ---- rm ----
  void Rm() {
    const bool recursive = inv_.flag('r') || inv_.flag('R');
    const bool force = inv_.flag('f');
    const bool use_trash = env_.use_trash && !inv_.flag(std::string("skip-trash"));
    for (const std::string& path : inv_.operands) {
      absl::StatusOr<std::string> canonical = NormalizePath(path);
      absl::Status status = canonical.status();
      if (status.ok() && *canonical == "/") {
        status = absl::InvalidArgumentError("refusing to remove the root directory");
      }
      if (status.ok() && use_trash && !IsInTrash(*canonical)) {
        status = Trash(*canonical, recursive);
      } else if (status.ok()) {
        status = client_.Remove(*canonical, recursive);
      }
      if (!status.ok() && !(force && absl::IsNotFound(status))) Fail(path, status);
    }
  }

  // rm into the trash: the same checks as a plain rm, then one rename.
  absl::Status Trash(const std::string& canonical, bool recursive) {
    DFS_ASSIGN_OR_RETURN(Attr attr, client_.Stat(canonical));
    if (attr.type() == FILE_TYPE_DIRECTORY && !recursive) {
      return FsError(EISDIR, "is a directory");
    }
    const int64_t now = env_.now_ns != 0 ? env_.now_ns : absl::GetCurrentTimeNanos();
    return MoveToTrash(client_, canonical, now).status();
  }

  // ---- trash ----
  void Trash() {
    const std::string& sub = inv_.operands[0];
    std::vector<std::string> paths(inv_.operands.begin() + 1, inv_.operands.end());
    if (sub == "ls") {
      absl::StatusOr<std::vector<TrashEntry>> entries = ListTrash(client_);
      if (!entries.ok()) return Fail("", entries.status());
      std::string text;
      for (const TrashEntry& entry : *entries) {
        absl::StrAppend(&text, entry.checkpoint, "  ", entry.original_path,
                        entry.attr.type() == FILE_TYPE_DIRECTORY ? "/" : "", "  ",
                        entry.attr.type() == FILE_TYPE_DIRECTORY
                            ? std::string("dir")
                            : absl::StrCat(entry.attr.size()),
                        "  ", entry.trash_path, "\n");
      }
      if (absl::Status status = Out(text); !status.ok()) Fail("", status);
    } else if (sub == "restore") {
      for (const std::string& path : paths) {
        absl::StatusOr<std::string> restored = RestoreFromTrash(client_, path);
        if (!restored.ok()) {
          Fail(path, restored.status());
          continue;
        }
        if (absl::Status status = Out(absl::StrCat("restored ", *restored, "\n")); !status.ok()) {
          Fail(path, status);
        }
      }
    } else {
      absl::Status status = PurgeTrash(client_, paths);
      if (!status.ok()) Fail(paths.empty() ? kTrashRoot : paths[0], status);
    }
  }

  // ---- mv ----
  void Mv() {
    const std::string& src = inv_.operands[0];
    const std::string& dst = inv_.operands[1];
    absl::Status status = Move(src, dst);
    if (!status.ok()) Fail(src, status);
  }

  absl::Status Move(const std::string& src, const std::string& dst) {
    DFS_ASSIGN_OR_RETURN(std::string from, NormalizePath(src));
    DFS_ASSIGN_OR_RETURN(std::string to, NormalizePath(dst));
    if (from == "/") return absl::InvalidArgumentError("cannot move the root directory");
    absl::StatusOr<Attr> existing = client_.ResolvePath(to, /*follow_last=*/true);
    if (existing.ok() && existing->type() == FILE_TYPE_DIRECTORY) {
      to = JoinPath(to, Basename(from));
    } else if (!existing.ok() && !absl::IsNotFound(existing.status())) {
      return existing.status();
    }
    return client_.Move(from, to);
  }

  // ---- stat ----
  void Stat() {
    for (const std::string& path : inv_.operands) {
      absl::StatusOr<Attr> attr = client_.Stat(path);
      absl::Status status = attr.status();
      if (status.ok()) status = Out(FormatStat(path, *attr));
      if (!status.ok()) Fail(path, status);
    }
  }

  // ---- du ----
  void Du() {
    std::vector<std::string> paths = inv_.operands;
    if (paths.empty()) paths.push_back("/");
    for (const std::string& path : paths) {
      absl::Status status = DiskUsage(path);
      if (!status.ok()) Fail(path, status);
    }
  }

  absl::Status DiskUsage(const std::string& path) {
    DFS_ASSIGN_OR_RETURN(std::string canonical, NormalizePath(path));
    DFS_ASSIGN_OR_RETURN(Attr attr, client_.Stat(canonical));
    if (attr.type() != FILE_TYPE_DIRECTORY || inv_.flag('s')) {
      DFS_ASSIGN_OR_RETURN(uint64_t total, Usage(attr));
      return Out(absl::StrCat(total, "\t", canonical, "\n"));
    }
    uint64_t total = 0;
    DFS_RETURN_IF_ERROR(client_.ForEachDirEntry(attr.inode(), [&](const DirEntry& entry) {
      DFS_ASSIGN_OR_RETURN(uint64_t usage, Usage(entry.attr()));
      total += usage;
      return Out(absl::StrCat(usage, "\t", JoinPath(canonical, entry.name()), "\n"));
    }));
    return Out(absl::StrCat(total, "\t", canonical, "\n"));
  }

  // Bytes under `attr`: a file's size, a directory's contents; hard links count once.
  absl::StatusOr<uint64_t> Usage(const Attr& attr) {
    if (attr.type() != FILE_TYPE_DIRECTORY) {
      if (attr.nlink() > 1 && !seen_links_.insert(attr.inode()).second) return 0;
      return attr.size();
    }
    uint64_t total = 0;
    DFS_RETURN_IF_ERROR(client_.ForEachDirEntry(attr.inode(), [&](const DirEntry& entry) {
      DFS_ASSIGN_OR_RETURN(uint64_t usage, Usage(entry.attr()));
      total += usage;
      return absl::OkStatus();
    }));
    return total;
  }

  const Invocation& inv_;
  Client& client_;
  const CommandEnv& env_;
  int exit_code_ = 0;
  std::string failed_path_;
  std::set<uint64_t> seen_links_;
};

}  // namespace

int RunCommand(const Invocation& invocation, Client& client, const CommandEnv& env) {
  return Runner(invocation, client, env).Run();
}

void InstallSignalCleanup() {
  struct sigaction action;
  std::memset(&action, 0, sizeof(action));
  action.sa_handler = CleanupAndDie;
  sigemptyset(&action.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &action, nullptr);
}

}  // namespace dfs::cli
