// Status helpers used everywhere: early-return macros and the fail-stop check.
//
// Expected failures travel as absl::Status / absl::StatusOr<T>; a broken invariant (a bug, or a
// storage failure that leaves state unknown) aborts the process through DFS_CHECK.
#pragma once

#include <cstdio>
#include <cstdlib>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define DFS_STATUS_CONCAT_INNER(a, b) a##b
#define DFS_STATUS_CONCAT(a, b) DFS_STATUS_CONCAT_INNER(a, b)

// Returns from the enclosing function if `expr` (an absl::Status) is not OK.
#define DFS_RETURN_IF_ERROR(expr)                  \
  do {                                             \
    ::absl::Status dfs_status_ = (expr);           \
    if (!dfs_status_.ok()) return dfs_status_;     \
  } while (0)

// `lhs = value of expr`, or returns the error of `expr` (an absl::StatusOr<T>).
#define DFS_ASSIGN_OR_RETURN(lhs, expr) \
  DFS_ASSIGN_OR_RETURN_IMPL(DFS_STATUS_CONCAT(dfs_statusor_, __LINE__), lhs, expr)
#define DFS_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(tmp).value()

// Aborts with a message when an invariant does not hold. On in every build.
#define DFS_CHECK(cond)                                                                     \
  do {                                                                                      \
    if (!(cond)) {                                                                          \
      std::fprintf(stderr, "FATAL %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
      std::abort();                                                                         \
    }                                                                                       \
  } while (0)

// Aborts when `status` is not OK: for failures after which state can no longer be trusted.
#define DFS_CHECK_OK(expr)                                                              \
  do {                                                                                  \
    ::absl::Status dfs_check_status_ = (expr);                                          \
    if (!dfs_check_status_.ok()) {                                                      \
      std::fprintf(stderr, "FATAL %s:%d: %s\n", __FILE__, __LINE__,                     \
                   dfs_check_status_.ToString().c_str());                               \
      std::abort();                                                                     \
    }                                                                                   \
  } while (0)
