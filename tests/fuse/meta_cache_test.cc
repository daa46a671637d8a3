#include "fuse/meta_cache.h"

#include "gtest/gtest.h"
#include "tests/testutil/manual_clock.h"

namespace dfs::fuse {
namespace {

constexpr uint64_t kDir = 10;

Attr FileAttr(uint64_t inode, uint64_t size) {
  Attr attr;
  attr.set_inode(inode);
  attr.set_type(FILE_TYPE_REGULAR);
  attr.set_size(size);
  return attr;
}

WatchEvent Synced(uint64_t index) {
  WatchEvent event;
  event.set_synced_index(index);
  return event;
}

// One change at `index`: `name` in kDir now names `inode` (0: nothing), and `attr` if set.
WatchEvent EntryChange(uint64_t index, const std::string& name, uint64_t inode,
                       const Attr* attr = nullptr) {
  WatchEvent event;
  Change* change = event.add_changes();
  change->set_index(index);
  DirentChange* dirent = change->add_dirents();
  dirent->set_parent(kDir);
  dirent->set_name(name);
  dirent->set_inode(inode);
  if (attr != nullptr) {
    InodeChange* i = change->add_inodes();
    i->set_inode(attr->inode());
    *i->mutable_attr() = *attr;
  }
  return event;
}

WatchEvent AttrChange(uint64_t index, const Attr& attr) {
  WatchEvent event;
  Change* change = event.add_changes();
  change->set_index(index);
  InodeChange* i = change->add_inodes();
  i->set_inode(attr.inode());
  *i->mutable_attr() = attr;
  return event;
}

class MetaCacheTest : public ::testing::Test {
 protected:
  MetaCacheTest() : cache_(MetaCacheOptions{}, &clock_) {
    cache_.Connected();
    cache_.Apply(Synced(100));
  }

  MetaCache::Found LookupFound(const std::string& name, uint64_t own_index = 0) {
    return cache_.Lookup(kDir, name, own_index).found;
  }

  ManualClock clock_;
  MetaCache cache_;
};

TEST_F(MetaCacheTest, AnswersWhatItWasToldAndNothingElse) {
  EXPECT_EQ(LookupFound("a"), MetaCache::Found::kUnknown);
  EXPECT_TRUE(cache_.Lookup(kDir, "a", 0).listable);
  Attr a = FileAttr(11, 5);
  cache_.InsertLookup(cache_.Begin(), kDir, "a", &a);
  cache_.InsertLookup(cache_.Begin(), kDir, "gone", nullptr);
  MetaCache::LookupResult hit = cache_.Lookup(kDir, "a", 0);
  ASSERT_EQ(hit.found, MetaCache::Found::kPresent);
  EXPECT_EQ(hit.attr.size(), 5u);
  EXPECT_EQ(LookupFound("gone"), MetaCache::Found::kAbsent);
  EXPECT_EQ(LookupFound("other"), MetaCache::Found::kUnknown);  // not a complete directory
  ASSERT_TRUE(cache_.GetAttr(11, 0).has_value());
  EXPECT_FALSE(cache_.GetAttr(12, 0).has_value());
}

TEST_F(MetaCacheTest, TheFeedUpdatesKeptValuesInLogOrder) {
  Attr a = FileAttr(11, 5);
  cache_.InsertLookup(cache_.Begin(), kDir, "a", &a);
  cache_.Apply(AttrChange(101, FileAttr(11, 9)));
  EXPECT_EQ(cache_.GetAttr(11, 0)->size(), 9u);
  // Another client removes the name, and the inode goes.
  WatchEvent removed = EntryChange(102, "a", 0);
  InodeChange* gone = removed.mutable_changes(0)->add_inodes();
  gone->set_inode(11);
  gone->set_deleted(true);
  cache_.Apply(removed);
  EXPECT_EQ(LookupFound("a"), MetaCache::Found::kAbsent);
  EXPECT_FALSE(cache_.GetAttr(11, 0).has_value());
  // Inodes the cache does not keep are not added by the feed (outside complete directories).
  cache_.Apply(AttrChange(103, FileAttr(12, 1)));
  EXPECT_FALSE(cache_.GetAttr(12, 0).has_value());
}

TEST_F(MetaCacheTest, ACompleteDirectoryAnswersAbsentNamesAndLearnsNewOnes) {
  DirEntry b;
  b.set_name("b");
  *b.mutable_attr() = FileAttr(12, 1);
  cache_.InsertListing(cache_.Begin(), kDir, {b});
  EXPECT_EQ(LookupFound("b"), MetaCache::Found::kPresent);
  EXPECT_EQ(LookupFound("new"), MetaCache::Found::kAbsent);
  // A create elsewhere: the entry and its inode's attributes come with the change.
  Attr created = FileAttr(13, 0);
  cache_.Apply(EntryChange(101, "new", 13, &created));
  MetaCache::LookupResult hit = cache_.Lookup(kDir, "new", 0);
  ASSERT_EQ(hit.found, MetaCache::Found::kPresent);
  EXPECT_EQ(hit.attr.inode(), 13u);
}

TEST_F(MetaCacheTest, AnAnswerOlderThanTheFeedIsNotKept) {
  // The lookup was asked, then the feed delivered a change of that name before the answer.
  MetaCache::Ticket ticket = cache_.Begin();
  Attr created = FileAttr(13, 0);
  cache_.Apply(EntryChange(101, "x", 13, &created));
  cache_.InsertLookup(ticket, kDir, "x", nullptr);  // "absent", as the master said before
  EXPECT_EQ(LookupFound("x"), MetaCache::Found::kUnknown);
  EXPECT_EQ(cache_.stats().inserts_dropped, 1u);

  // The same for attributes and listings.
  ticket = cache_.Begin();
  cache_.Apply(AttrChange(102, FileAttr(14, 7)));
  cache_.InsertAttr(ticket, FileAttr(14, 3));
  EXPECT_FALSE(cache_.GetAttr(14, 0).has_value());
  ticket = cache_.Begin();
  cache_.Apply(EntryChange(103, "y", 0));
  cache_.InsertListing(ticket, kDir, {});
  EXPECT_EQ(LookupFound("z"), MetaCache::Found::kUnknown);

  // Changes of other keys do not matter.
  ticket = cache_.Begin();
  cache_.Apply(AttrChange(104, FileAttr(99, 1)));
  cache_.InsertAttr(ticket, FileAttr(14, 3));
  EXPECT_EQ(cache_.GetAttr(14, 0)->size(), 3u);
}

TEST_F(MetaCacheTest, AnOverflowedRingDropsAnswers) {
  MetaCacheOptions options;
  options.touched_ring = 4;
  MetaCache small(options, &clock_);
  small.Connected();
  small.Apply(Synced(1));
  MetaCache::Ticket ticket = small.Begin();
  for (uint64_t i = 0; i < 5; ++i) small.Apply(AttrChange(2 + i, FileAttr(50 + i, 1)));
  small.InsertAttr(ticket, FileAttr(14, 3));  // unrelated, but the ring forgot what happened
  EXPECT_FALSE(small.GetAttr(14, 0).has_value());
}

TEST_F(MetaCacheTest, UsableOnlyWhileConfirmedAndCaughtUpWithOwnChanges) {
  Attr a = FileAttr(11, 5);
  cache_.InsertLookup(cache_.Begin(), kDir, "a", &a);
  // This mount's own change at index 101 has not come through the feed yet.
  EXPECT_EQ(LookupFound("a", /*own_index=*/101), MetaCache::Found::kUnknown);
  EXPECT_FALSE(cache_.GetAttr(11, 101).has_value());
  cache_.Apply(AttrChange(101, FileAttr(11, 6)));
  EXPECT_EQ(cache_.GetAttr(11, 101)->size(), 6u);
  // A read reflected index 105; entries up to it changed nothing here, which the feed says.
  EXPECT_FALSE(cache_.GetAttr(11, 105).has_value());
  WatchEvent applied;
  applied.set_applied_index(105);
  cache_.Apply(applied);
  EXPECT_TRUE(cache_.GetAttr(11, 105).has_value());

  // No sync marker for longer than the grace: not used (kept, and used again once confirmed).
  clock_.now_ns += 501'000'000;
  EXPECT_FALSE(cache_.GetAttr(11, 0).has_value());
  EXPECT_FALSE(cache_.stats().usable);
  cache_.Apply(Synced(101));
  EXPECT_TRUE(cache_.GetAttr(11, 0).has_value());

  // A lost stream empties it; a new one is usable only from its first marker.
  cache_.Disconnected();
  EXPECT_FALSE(cache_.GetAttr(11, 0).has_value());
  MetaCache::Ticket stale = cache_.Begin();
  cache_.Connected();
  cache_.InsertAttr(stale, FileAttr(11, 5));  // asked during the old stream
  cache_.InsertAttr(cache_.Begin(), FileAttr(12, 5));
  EXPECT_FALSE(cache_.GetAttr(12, 0).has_value());  // no marker yet
  cache_.Apply(Synced(200));
  EXPECT_TRUE(cache_.GetAttr(12, 0).has_value());
  EXPECT_FALSE(cache_.GetAttr(11, 0).has_value());
}

TEST_F(MetaCacheTest, RemovedDirectoryAndSizeLimit) {
  cache_.InsertListing(cache_.Begin(), kDir, {});
  EXPECT_EQ(LookupFound("a"), MetaCache::Found::kAbsent);
  WatchEvent rmdir;
  Change* change = rmdir.add_changes();
  change->set_index(101);
  InodeChange* gone = change->add_inodes();
  gone->set_inode(kDir);
  gone->set_deleted(true);
  cache_.Apply(rmdir);
  EXPECT_EQ(LookupFound("a"), MetaCache::Found::kUnknown);

  MetaCacheOptions options;
  options.max_entries = 3;
  MetaCache small(options, &clock_);
  small.Connected();
  small.Apply(Synced(1));
  for (uint64_t i = 0; i < 2; ++i) small.InsertAttr(small.Begin(), FileAttr(20 + i, 1));
  EXPECT_EQ(small.stats().entries, 2u);
  for (uint64_t i = 2; i < 4; ++i) small.InsertAttr(small.Begin(), FileAttr(20 + i, 1));
  EXPECT_LE(small.stats().entries, 3u);  // emptied when it grew past the limit
}

TEST(MetaCacheOffTest, DisabledNeverAnswers) {
  ManualClock clock;
  MetaCacheOptions options;
  options.grace_ms = 0;
  MetaCache cache(options, &clock);
  EXPECT_FALSE(cache.enabled());
  cache.Connected();
  cache.Apply(Synced(1));
  cache.InsertAttr(cache.Begin(), FileAttr(20, 1));
  EXPECT_FALSE(cache.GetAttr(20, 0).has_value());
}

// A directory too large for a short listing is listed whole once enough names missed in it;
// one too large for that is never listed.
TEST_F(MetaCacheTest, ALargeDirectoryThatKeepsMissingIsListedWhole) {
  const uint32_t after = MetaCacheOptions{}.list_after_misses;
  cache_.MarkLarge(kDir);
  for (uint32_t i = 1; i < after; ++i) {
    MetaCache::LookupResult miss = cache_.Lookup(kDir, "new" + std::to_string(i), 0);
    EXPECT_EQ(miss.found, MetaCache::Found::kUnknown);
    EXPECT_FALSE(miss.listable);
    EXPECT_FALSE(miss.list_whole) << i;
  }
  EXPECT_TRUE(cache_.Lookup(kDir, "one more", 0).list_whole);
  // The listing arrives: every name it lacks is known absent.
  cache_.InsertListing(cache_.Begin(), kDir, {});
  EXPECT_EQ(LookupFound("one more"), MetaCache::Found::kAbsent);

  constexpr uint64_t kHuge = 20;
  cache_.MarkHuge(kHuge);
  for (uint32_t i = 0; i < 3 * after; ++i) {
    EXPECT_FALSE(cache_.Lookup(kHuge, "new" + std::to_string(i), 0).list_whole) << i;
  }
}

}  // namespace
}  // namespace dfs::fuse
