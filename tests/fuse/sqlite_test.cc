// A SQLite database on the mount through python3's sqlite3 module: created, filled in several
// transactions, indexed, updated, queried and integrity-checked, then opened again by another
// process. Rollback-journal mode (SQLite's default) and WAL mode (shared-memory index through
// mmap) are both exercised.
#include <fstream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/fuse/fuse_test_util.h"

namespace dfs::testing {
namespace {

constexpr char kFill[] = R"py(
import sqlite3, sys
path, mode = sys.argv[1], sys.argv[2]
db = sqlite3.connect(path)
db.execute("PRAGMA journal_mode=" + mode)
db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, value INTEGER, blob BLOB)")
for batch in range(5):
    with db:
        db.executemany("INSERT INTO t (name, value, blob) VALUES (?, ?, ?)",
                       [("name-%d" % i, i * 7 % 1000, bytes([i % 256]) * (i % 300))
                        for i in range(batch * 4000, (batch + 1) * 4000)])
with db:
    db.execute("CREATE INDEX t_value ON t (value)")
    db.execute("UPDATE t SET value = value + 1000 WHERE id % 10 = 0")
    db.execute("DELETE FROM t WHERE id % 7 = 0")
print(db.execute("PRAGMA integrity_check").fetchone()[0])
print(db.execute("SELECT COUNT(*), SUM(value), SUM(LENGTH(blob)) FROM t").fetchone())
print(db.execute("SELECT COUNT(*) FROM t WHERE value BETWEEN 100 AND 200").fetchone())
db.close()
)py";

constexpr char kQuery[] = R"py(
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
print(db.execute("PRAGMA integrity_check").fetchone()[0])
print(db.execute("SELECT COUNT(*), SUM(value), SUM(LENGTH(blob)) FROM t").fetchone())
print(db.execute("SELECT COUNT(*) FROM t WHERE value BETWEEN 100 AND 200").fetchone())
db.close()
)py";

// Each check runs the same script on a local disk first: the mount must give the same output.
class SqliteTest : public MountedClusterTest {
 protected:
  static void SetUpTestSuite() { StartCluster(); }
  static void TearDownTestSuite() { StopCluster(); }

  std::string Script(const std::string& name, const char* text) {
    std::string path = cluster_->dir() + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  CommandResult Python(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {python_};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv, 240000);
  }

  void SetUp() override {
    MountedClusterTest::SetUp();
    python_ = FindProgram("python3");
    if (python_.empty()) GTEST_SKIP() << "python3 is not installed";
  }

  void Check(const std::string& mode) {
    const std::string fill = Script("fill.py", kFill);
    const std::string query = Script("query.py", kQuery);
    const std::string local_db = cluster_->dir() + "/local-" + mode + ".db";
    CommandResult expected = Python({fill, local_db, mode});
    ASSERT_EQ(expected.exit_code, 0) << expected.err;
    ASSERT_EQ(expected.out.substr(0, 3), "ok\n") << expected.out;

    const std::string db = M("test-" + mode + ".db");
    CommandResult filled = Python({fill, db, mode});
    ASSERT_EQ(filled.exit_code, 0) << filled.err;
    EXPECT_EQ(filled.out, expected.out);
    // Another process, another connection.
    CommandResult queried = Python({query, db});
    ASSERT_EQ(queried.exit_code, 0) << queried.err;
    EXPECT_EQ(queried.out, expected.out);
  }

  std::string python_;
};

TEST_F(SqliteTest, RollbackJournal) { Check("DELETE"); }

TEST_F(SqliteTest, WriteAheadLog) { Check("WAL"); }

}  // namespace
}  // namespace dfs::testing
