#include "tools/cli/format.h"

#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/errors.h"

namespace dfs::cli {
namespace {

bool HasErrnoPayload(const absl::Status& status) {
  return status.GetPayload(kErrnoPayloadUrl).has_value();
}

std::string Strerror(int err) {
  char buffer[256];
  // GNU strerror_r returns the message, possibly not in `buffer`.
  return std::string(strerror_r(err, buffer, sizeof(buffer)));
}

std::string FormatTime(int64_t ns, const char* format, bool with_nanos) {
  time_t seconds = static_cast<time_t>(ns / 1000000000);
  int64_t nanos = ns % 1000000000;
  if (nanos < 0) {
    nanos += 1000000000;
    --seconds;
  }
  struct tm tm;
  localtime_r(&seconds, &tm);
  char date[64];
  char zone[16];
  strftime(date, sizeof(date), format, &tm);
  if (!with_nanos) return date;
  strftime(zone, sizeof(zone), "%z", &tm);
  return absl::StrFormat("%s.%09d %s", date, nanos, zone);
}

char TypeChar(const Attr& attr) {
  switch (attr.type()) {
    case FILE_TYPE_DIRECTORY: return 'd';
    case FILE_TYPE_SYMLINK: return 'l';
    case FILE_TYPE_REGULAR: return '-';
    default: return '?';
  }
}

std::string TypeName(const Attr& attr) {
  switch (attr.type()) {
    case FILE_TYPE_DIRECTORY: return "directory";
    case FILE_TYPE_SYMLINK: return "symbolic link";
    case FILE_TYPE_REGULAR: return attr.size() == 0 ? "regular empty file" : "regular file";
    default: return "unknown";
  }
}

}  // namespace

std::string ErrorText(const absl::Status& status) {
  if (status.ok()) return "Success";
  if (absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status)) {
    // The client library's messages already say what was unreachable ("cluster unreachable
    // (masters: ...)" or the chunk and replica).
    return std::string(status.message());
  }
  int err = ErrnoOf(status);
  if (HasErrnoPayload(status) || absl::IsNotFound(status) || absl::IsAlreadyExists(status) ||
      absl::IsPermissionDenied(status) || absl::IsResourceExhausted(status)) {
    switch (err) {
      case EINVAL:
      case EROFS:
        // "Invalid argument" alone hides which argument; "Read-only file system" hides that the
        // whole cluster is in safe mode. Our messages say.
        if (!status.message().empty()) return std::string(status.message());
        break;
      case EIO:
        if (!status.message().empty()) {
          return absl::StrCat("Input/output error (", status.message(), ")");
        }
        break;
      default:
        break;
    }
    return Strerror(err);
  }
  if (absl::IsDataLoss(status)) {
    return absl::StrCat("data lost or corrupt (", status.message(), ")");
  }
  if (status.message().empty()) return absl::StatusCodeToString(status.code());
  return std::string(status.message());
}

std::string ModeString(const Attr& attr) {
  uint32_t mode = attr.mode();
  std::string s(10, '-');
  s[0] = TypeChar(attr);
  const char* rwx = "rwxrwxrwx";
  for (int i = 0; i < 9; ++i) {
    if (mode & (0400 >> i)) s[i + 1] = rwx[i];
  }
  if (mode & 04000) s[3] = (mode & 0100) ? 's' : 'S';
  if (mode & 02000) s[6] = (mode & 0010) ? 's' : 'S';
  if (mode & 01000) s[9] = (mode & 0001) ? 't' : 'T';
  return s;
}

std::string ShortTime(int64_t ns) { return FormatTime(ns, "%Y-%m-%d %H:%M", false); }
std::string FullTime(int64_t ns) { return FormatTime(ns, "%Y-%m-%d %H:%M:%S", true); }

std::string FormatLong(const std::vector<ListedEntry>& entries) {
  size_t nlink_width = 1, uid_width = 1, gid_width = 1, size_width = 1;
  for (const ListedEntry& entry : entries) {
    nlink_width = std::max(nlink_width, std::to_string(entry.attr.nlink()).size());
    uid_width = std::max(uid_width, std::to_string(entry.attr.uid()).size());
    gid_width = std::max(gid_width, std::to_string(entry.attr.gid()).size());
    size_width = std::max(size_width, std::to_string(entry.attr.size()).size());
  }
  std::string out;
  for (const ListedEntry& entry : entries) {
    const Attr& attr = entry.attr;
    absl::StrAppendFormat(&out, "%s %*d %*d %*d %*d %s %s", ModeString(attr), nlink_width,
                          attr.nlink(), uid_width, attr.uid(), gid_width, attr.gid(), size_width,
                          attr.size(), ShortTime(attr.mtime_ns()), entry.name);
    if (attr.type() == FILE_TYPE_SYMLINK) absl::StrAppend(&out, " -> ", attr.symlink_target());
    out += '\n';
  }
  return out;
}

std::string FormatStat(const std::string& path, const Attr& attr) {
  std::string out = absl::StrCat("  File: ", path);
  if (attr.type() == FILE_TYPE_SYMLINK) absl::StrAppend(&out, " -> ", attr.symlink_target());
  absl::StrAppendFormat(&out,
                        "\n  Type: %s\n"
                        "  Size: %d\n"
                        " Inode: %d\n"
                        " Links: %d\n"
                        "Access: (%04o/%s)  Uid: %d  Gid: %d\n"
                        "Access: %s\n"
                        "Modify: %s\n"
                        "Change: %s\n"
                        "Generation: %d\n",
                        TypeName(attr), attr.size(), attr.inode(), attr.nlink(),
                        attr.mode() & 07777, ModeString(attr), attr.uid(), attr.gid(),
                        FullTime(attr.atime_ns()), FullTime(attr.mtime_ns()),
                        FullTime(attr.ctime_ns()), attr.generation());
  return out;
}

}  // namespace dfs::cli
