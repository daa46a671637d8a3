#include "client/path.h"

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/errors.h"

namespace dfs {
namespace {

// Splits `path` into components; ".." pops when `resolve_dotdot`, else is an error.
absl::StatusOr<std::vector<std::string>> Split(absl::string_view path, bool resolve_dotdot) {
  if (path.empty()) return FsError(ENOENT, "empty path");
  if (path.find('\0') != absl::string_view::npos) return FsError(EINVAL, "path contains NUL");
  std::vector<std::string> components;
  for (absl::string_view part : absl::StrSplit(path, '/', absl::SkipEmpty())) {
    if (part == ".") continue;
    if (part == "..") {
      if (!resolve_dotdot) {
        return FsError(EINVAL, absl::StrCat("'..' is not supported in dfs paths: ", path));
      }
      if (!components.empty()) components.pop_back();
      continue;
    }
    if (part.size() > kMaxNameBytes) {
      return FsError(ENAMETOOLONG, absl::StrCat("name too long: ", part.substr(0, 32), "..."));
    }
    components.emplace_back(part);
  }
  return components;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> SplitPath(absl::string_view path) {
  return Split(path, /*resolve_dotdot=*/false);
}

absl::StatusOr<std::string> NormalizePath(absl::string_view path) {
  absl::StatusOr<std::vector<std::string>> components = SplitPath(path);
  if (!components.ok()) return components.status();
  return JoinComponents(*components);
}

std::string JoinComponents(const std::vector<std::string>& components) {
  if (components.empty()) return "/";
  return absl::StrCat("/", absl::StrJoin(components, "/"));
}

std::string JoinPath(absl::string_view dir, absl::string_view name) {
  if (dir.empty() || dir == "/") return absl::StrCat("/", name);
  return absl::StrCat(dir, "/", name);
}

std::pair<std::string, std::string> SplitParent(absl::string_view canonical) {
  size_t slash = canonical.rfind('/');
  if (slash == absl::string_view::npos) return {"/", std::string(canonical)};
  std::string parent = slash == 0 ? std::string("/") : std::string(canonical.substr(0, slash));
  return {std::move(parent), std::string(canonical.substr(slash + 1))};
}

std::string Basename(absl::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  if (path == "/") return "";
  size_t slash = path.rfind('/');
  return std::string(slash == absl::string_view::npos ? path : path.substr(slash + 1));
}

absl::StatusOr<std::string> ResolveSymlinkTarget(absl::string_view dir, absl::string_view target) {
  if (target.empty()) return FsError(ENOENT, "empty symlink target");
  std::string full = target.front() == '/' ? std::string(target) : absl::StrCat(dir, "/", target);
  absl::StatusOr<std::vector<std::string>> components = Split(full, /*resolve_dotdot=*/true);
  if (!components.ok()) return components.status();
  return JoinComponents(*components);
}

absl::Status ValidateName(absl::string_view name) {
  if (name.empty() || name == "." || name == "..") {
    return FsError(EINVAL, absl::StrCat("invalid name '", name, "'"));
  }
  if (name.find('/') != absl::string_view::npos || name.find('\0') != absl::string_view::npos) {
    return FsError(EINVAL, "name contains '/' or NUL");
  }
  if (name.size() > kMaxNameBytes) return FsError(ENAMETOOLONG, "name too long");
  return absl::OkStatus();
}

}  // namespace dfs
