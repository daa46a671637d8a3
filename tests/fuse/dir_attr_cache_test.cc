#include "fuse/dir_attr_cache.h"

#include "gtest/gtest.h"
#include "tests/testutil/manual_clock.h"

namespace dfs::fuse {
namespace {

Attr DirAttr(uint64_t inode, int64_t mtime_ns) {
  Attr attr;
  attr.set_inode(inode);
  attr.set_type(FILE_TYPE_DIRECTORY);
  attr.set_mtime_ns(mtime_ns);
  return attr;
}

TEST(DirAttrCacheTest, KeepsTheAnswerOfALoneChangeForOneTake) {
  ManualClock clock;
  DirAttrCache cache(200, &clock);
  EXPECT_FALSE(cache.Take(5).has_value());
  DirAttrCache::Ticket ticket = cache.Begin(5);
  Attr attr = DirAttr(5, 77);
  cache.End(ticket, &attr);
  std::optional<Attr> taken = cache.Take(5);
  ASSERT_TRUE(taken.has_value());
  EXPECT_EQ(taken->mtime_ns(), 77);
  EXPECT_FALSE(cache.Take(5).has_value());  // once only
  EXPECT_EQ(cache.size(), 0u);
}

TEST(DirAttrCacheTest, NothingKeptWithoutAnAnswerOrWhenTooOld) {
  ManualClock clock;
  DirAttrCache cache(200, &clock);
  cache.End(cache.Begin(5), nullptr);
  EXPECT_FALSE(cache.Take(5).has_value());
  EXPECT_EQ(cache.size(), 0u);

  Attr attr = DirAttr(5, 1);
  cache.End(cache.Begin(5), &attr);
  clock.now_ns += 201'000'000;
  EXPECT_FALSE(cache.Take(5).has_value());

  DirAttrCache off(0, &clock);
  off.End(off.Begin(5), &attr);
  EXPECT_FALSE(off.Take(5).has_value());
}

TEST(DirAttrCacheTest, OverlappingChangesKeepNothing) {
  ManualClock clock;
  DirAttrCache cache(200, &clock);
  Attr first = DirAttr(5, 1);
  Attr second = DirAttr(5, 2);

  // B begins while A is in flight and ends first: neither answer is known to be the last.
  DirAttrCache::Ticket a = cache.Begin(5);
  DirAttrCache::Ticket b = cache.Begin(5);
  cache.End(b, &second);
  cache.End(a, &first);
  EXPECT_FALSE(cache.Take(5).has_value());

  // A change without an answer (an unlink, say) that overlaps one with an answer.
  a = cache.Begin(5);
  b = cache.Begin(5);
  cache.End(a, &first);
  cache.End(b, nullptr);
  EXPECT_FALSE(cache.Take(5).has_value());
  EXPECT_EQ(cache.size(), 0u);

  // A later change forgets the kept answer, and other directories are not affected.
  cache.End(cache.Begin(5), &first);
  Attr other = DirAttr(6, 3);
  cache.End(cache.Begin(6), &other);
  cache.End(cache.Begin(5), nullptr);
  EXPECT_FALSE(cache.Take(5).has_value());
  EXPECT_EQ(cache.Take(6)->mtime_ns(), 3);
}

// A rename changes two directories at once, as two changes of one mount that overlap in time:
// each directory keeps its own answer.
TEST(DirAttrCacheTest, ARenameAcrossDirectoriesKeepsBothAnswers) {
  ManualClock clock;
  DirAttrCache cache(200, &clock);
  DirAttrCache::Ticket from = cache.Begin(5);
  DirAttrCache::Ticket to = cache.Begin(6);
  Attr from_attr = DirAttr(5, 10);
  Attr to_attr = DirAttr(6, 11);
  cache.End(to, &to_attr);
  cache.End(from, &from_attr);
  EXPECT_EQ(cache.Take(5)->mtime_ns(), 10);
  EXPECT_EQ(cache.Take(6)->mtime_ns(), 11);
  EXPECT_EQ(cache.size(), 0u);

  // Within one directory it must be one change: two would overlap and keep nothing.
  from = cache.Begin(5);
  to = cache.Begin(5);
  cache.End(to, &from_attr);
  cache.End(from, &from_attr);
  EXPECT_FALSE(cache.Take(5).has_value());
}

TEST(DirAttrCacheTest, StaleAnswersAreSweptWhenMany) {
  ManualClock clock;
  DirAttrCache cache(200, &clock);
  for (uint64_t dir = 1; dir <= 1000; ++dir) {
    Attr attr = DirAttr(dir, 1);
    cache.End(cache.Begin(dir), &attr);
  }
  clock.now_ns += 1'000'000'000;
  for (uint64_t dir = 1001; dir <= 1100; ++dir) {
    Attr attr = DirAttr(dir, 1);
    cache.End(cache.Begin(dir), &attr);
  }
  EXPECT_LE(cache.size(), 100u);
}

}  // namespace
}  // namespace dfs::fuse
