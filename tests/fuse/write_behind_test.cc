#include "fuse/write_behind.h"

#include <atomic>
#include <thread>

#include "absl/synchronization/notification.h"
#include "common/errors.h"
#include "gtest/gtest.h"

namespace dfs::fuse {
namespace {

using Found = MetaCache::Found;
constexpr uint64_t kDir = 10;

BatchOp Create(const std::string& name, uint64_t inode) {
  BatchOp op;
  op.mutable_create()->set_parent(kDir);
  op.mutable_create()->set_name(name);
  op.mutable_create()->set_inode(inode);
  op.mutable_create()->set_exclusive(true);
  return op;
}

BatchOp Unlink(const std::string& name) {
  BatchOp op;
  op.mutable_unlink()->set_parent(kDir);
  op.mutable_unlink()->set_name(name);
  return op;
}

WriteBehind::Effects Gone(const std::string& name) {
  WriteBehind::Effects effects;
  effects.names.push_back({kDir, name, std::nullopt});
  return effects;
}

WriteBehind::Effects Named(const std::string& name, uint64_t inode) {
  Attr attr;
  attr.set_inode(inode);
  WriteBehind::Effects effects;
  effects.names.push_back({kDir, name, attr});
  return effects;
}

// A master stand-in: records batches, answers each op with what `answer` says (by name), and
// can hold a batch until released.
class FakeMaster {
 public:
  absl::StatusOr<WriteBehind::Answer> Send(const std::vector<BatchOp>& ops) {
    {
      absl::MutexLock lock(&mu_);
      batches_.push_back(ops);
      mu_.Await(absl::Condition(
          +[](FakeMaster* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
            return !self->hold_;
          },
          this));
      if (!batch_error_.ok()) return batch_error_;
    }
    WriteBehind::Answer answer;
    answer.index = next_index_++;
    for (const BatchOp& op : ops) {
      const std::string& name = op.has_create() ? op.create().name() : op.unlink().name();
      answer.results.push_back(name.rfind("bad", 0) == 0 ? FsError(ENOENT, "no such name")
                                                         : absl::OkStatus());
      Attr attr;  // a create's new file, as the master makes it
      if (op.has_create()) {
        attr.set_inode(op.create().inode());
        attr.set_size(op.create().size());
      }
      answer.attrs.push_back(std::move(attr));
    }
    answer.dir_attrs = dirs_;
    return answer;
  }

  void Hold(bool hold) {
    absl::MutexLock lock(&mu_);
    hold_ = hold;
  }
  void FailBatches(absl::Status status) {
    absl::MutexLock lock(&mu_);
    batch_error_ = std::move(status);
  }
  std::vector<std::vector<BatchOp>> batches() {
    absl::MutexLock lock(&mu_);
    return batches_;
  }
  // Waits until `n` batches were sent.
  void AwaitBatches(size_t n) {
    absl::MutexLock lock(&mu_);
    std::pair<FakeMaster*, size_t> wait(this, n);
    mu_.Await(absl::Condition(
        +[](std::pair<FakeMaster*, size_t>* arg) ABSL_NO_THREAD_SAFETY_ANALYSIS {
          return arg->first->batches_.size() >= arg->second;
        },
        &wait));
  }

  std::atomic<uint64_t> next_index_{100};
  std::vector<Attr> dirs_;  // what the master says of directories after each batch

 private:
  absl::Mutex mu_;
  bool hold_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status batch_error_ ABSL_GUARDED_BY(mu_);
  std::vector<std::vector<BatchOp>> batches_ ABSL_GUARDED_BY(mu_);
};

class WriteBehindTest : public ::testing::Test {
 protected:
  explicit WriteBehindTest(size_t max_pending = 4096, absl::Duration hold = absl::Seconds(60))
      : behind_(WriteBehindOptions{.max_pending = max_pending, .hold = hold},
                [this](const std::vector<BatchOp>& ops) { return master_.Send(ops); },
                [this]() -> std::optional<uint64_t> {
                  const int64_t feed = feed_.load();
                  if (feed < 0) return std::nullopt;
                  return static_cast<uint64_t>(feed);
                },
                [this](const std::vector<uint64_t>& dirs) {
                  absl::MutexLock lock(&answered_mu_);
                  answered_dirs_.insert(answered_dirs_.end(), dirs.begin(), dirs.end());
                }) {}

  Found LookupFound(const std::string& name) {
    Attr attr;
    return behind_.Lookup(kDir, name, &attr);
  }

  FakeMaster master_;
  std::atomic<int64_t> feed_{0};  // -1: the feed is not trusted
  absl::Mutex answered_mu_;
  std::vector<uint64_t> answered_dirs_ ABSL_GUARDED_BY(answered_mu_);
  WriteBehind behind_;
};

TEST_F(WriteBehindTest, OpsQueuedWhileABatchIsInFlightGoTogetherInOrder) {
  master_.Hold(true);
  behind_.Enqueue(Unlink("a"), Gone("a"));
  master_.AwaitBatches(1);
  for (const char* name : {"b", "c", "d"}) behind_.Enqueue(Unlink(name), Gone(name));
  master_.Hold(false);
  behind_.Drain();
  const auto batches = master_.batches();
  ASSERT_EQ(batches.size(), 2u);
  ASSERT_EQ(batches[0].size(), 1u);
  ASSERT_EQ(batches[1].size(), 3u);
  EXPECT_EQ(batches[1][0].unlink().name(), "b");
  EXPECT_EQ(batches[1][2].unlink().name(), "d");
  EXPECT_TRUE(behind_.TakeError().ok());
  EXPECT_EQ(behind_.stats().queued, 4u);
  EXPECT_EQ(behind_.stats().batches, 2u);
}

TEST_F(WriteBehindTest, OwnChangesAreSeenUntilTheFeedDeliversThem) {
  master_.Hold(true);
  behind_.Enqueue(Unlink("a"), Gone("a"));
  behind_.Enqueue(BatchOp(), Named("b", 7));
  Attr attr;
  EXPECT_EQ(behind_.Lookup(kDir, "a", &attr), Found::kAbsent);
  ASSERT_EQ(behind_.Lookup(kDir, "b", &attr), Found::kPresent);
  EXPECT_EQ(attr.inode(), 7u);
  EXPECT_EQ(LookupFound("c"), Found::kUnknown);
  EXPECT_EQ(behind_.Lookup(kDir + 1, "a", &attr), Found::kUnknown);
  master_.Hold(false);
  behind_.Drain();  // answered at index 100 or 101; the feed is at 0
  EXPECT_EQ(LookupFound("a"), Found::kAbsent);
  EXPECT_EQ(LookupFound("b"), Found::kPresent);
  feed_ = 101;  // delivered: the metadata cache answers from now on
  EXPECT_EQ(LookupFound("a"), Found::kUnknown);
  EXPECT_EQ(LookupFound("b"), Found::kUnknown);
}

TEST_F(WriteBehindTest, AnsweredChangesAreDroppedWhileTheFeedIsNotTrusted) {
  master_.Hold(true);
  behind_.Enqueue(Unlink("a"), Gone("a"));
  master_.AwaitBatches(1);
  behind_.Enqueue(Unlink("b"), Gone("b"));  // queued behind the held batch
  feed_ = -1;
  EXPECT_EQ(LookupFound("a"), Found::kAbsent);  // not answered yet: still this mount's view
  master_.Hold(false);
  behind_.Drain();
  // Answered, and nothing tells when the feed shows them: the master is asked instead.
  EXPECT_EQ(LookupFound("a"), Found::kUnknown);
  EXPECT_EQ(LookupFound("b"), Found::kUnknown);
}

TEST_F(WriteBehindTest, AFailedChangeIsForgottenAndReportedOnce) {
  behind_.Enqueue(Unlink("bad1"), Gone("bad1"));
  behind_.Drain();
  EXPECT_EQ(LookupFound("bad1"), Found::kUnknown);
  absl::Status error = behind_.TakeError();
  EXPECT_EQ(ErrnoOf(error), EIO);
  EXPECT_NE(error.message().find("bad1"), std::string::npos) << error;
  EXPECT_TRUE(behind_.TakeError().ok());
  EXPECT_EQ(behind_.stats().failed, 1u);
}

TEST_F(WriteBehindTest, ALaterChangeOfTheSameNameSurvivesAnEarlierFailure) {
  master_.Hold(true);
  behind_.Enqueue(Unlink("x"), Gone("x"));
  master_.AwaitBatches(1);
  // "bad" fails at the master; then "x" is named again by a later change.
  behind_.Enqueue(Unlink("bad"), Named("x", 9));
  behind_.Enqueue(Unlink("y"), Named("x", 11));
  master_.Hold(false);
  behind_.Drain();
  Attr attr;
  ASSERT_EQ(behind_.Lookup(kDir, "x", &attr), Found::kPresent);
  EXPECT_EQ(attr.inode(), 11u);
  EXPECT_FALSE(behind_.TakeError().ok());
}

TEST_F(WriteBehindTest, ABatchThatFailsFailsEveryChangeInIt) {
  master_.FailBatches(absl::UnavailableError("cluster unreachable"));
  behind_.Enqueue(Unlink("a"), Gone("a"));
  behind_.Enqueue(Unlink("b"), Gone("b"));
  behind_.Drain();
  EXPECT_EQ(LookupFound("a"), Found::kUnknown);
  EXPECT_EQ(LookupFound("b"), Found::kUnknown);
  EXPECT_EQ(behind_.stats().failed, 2u);
  EXPECT_EQ(ErrnoOf(behind_.TakeError()), EIO);
}

TEST_F(WriteBehindTest, DrainWaitsForTheAnswers) {
  master_.Hold(true);
  behind_.Enqueue(Unlink("a"), Gone("a"));
  absl::Notification drained;
  std::thread drainer([&] {
    behind_.Drain();
    drained.Notify();
  });
  master_.AwaitBatches(1);
  EXPECT_FALSE(drained.WaitForNotificationWithTimeout(absl::Milliseconds(100)));
  master_.Hold(false);
  drainer.join();
  EXPECT_TRUE(drained.HasBeenNotified());
  EXPECT_EQ(behind_.stats().drains, 1u);
}

TEST_F(WriteBehindTest, DirectoryAttributesAndNewNames) {
  master_.Hold(true);
  Attr dir;
  dir.set_inode(kDir);
  dir.set_nlink(5);
  WriteBehind::Effects effects = Named("sub", 12);
  effects.dirs.push_back(dir);
  behind_.Enqueue(BatchOp(), std::move(effects));
  std::optional<Attr> kept = behind_.DirAttr(kDir);
  ASSERT_TRUE(kept.has_value());
  EXPECT_EQ(kept->nlink(), 5u);
  EXPECT_FALSE(behind_.DirAttr(kDir + 1).has_value());
  EXPECT_TRUE(behind_.AddsNamesIn(kDir));
  EXPECT_FALSE(behind_.AddsNamesIn(kDir + 1));
  // The master's answer carries the directory's attributes: they replace the guess.
  Attr from_master = dir;
  from_master.set_nlink(6);
  from_master.set_mtime_ns(42);
  master_.dirs_ = {from_master};
  master_.Hold(false);
  behind_.Drain();
  kept = behind_.DirAttr(kDir);
  ASSERT_TRUE(kept.has_value());
  EXPECT_EQ(kept->nlink(), 6u);
  EXPECT_EQ(kept->mtime_ns(), 42);
  {
    absl::MutexLock lock(&answered_mu_);
    EXPECT_EQ(answered_dirs_, std::vector<uint64_t>{kDir});
  }
  feed_ = 1000;
  EXPECT_FALSE(behind_.DirAttr(kDir).has_value());
  EXPECT_FALSE(behind_.AddsNamesIn(kDir));
}

class SmallWriteBehindTest : public WriteBehindTest {
 protected:
  SmallWriteBehindTest() : WriteBehindTest(/*max_pending=*/2) {}
};

TEST_F(SmallWriteBehindTest, ACallerWaitsWhileTheQueueIsFull) {
  master_.Hold(true);
  behind_.Enqueue(Unlink("a"), Gone("a"));
  master_.AwaitBatches(1);  // "a" is in flight; the queue holds up to 2 more
  behind_.Enqueue(Unlink("b"), Gone("b"));
  behind_.Enqueue(Unlink("c"), Gone("c"));
  absl::Notification queued;
  std::thread caller([&] {
    behind_.Enqueue(Unlink("d"), Gone("d"));
    queued.Notify();
  });
  EXPECT_FALSE(queued.WaitForNotificationWithTimeout(absl::Milliseconds(100)));
  master_.Hold(false);
  caller.join();
  behind_.Drain();
  EXPECT_EQ(behind_.stats().queued, 4u);
}

// The file's content, as FileSystem gives it to a held create.
void GiveContent(BatchOp& op) { op.mutable_create()->set_size(4096); }

TEST_F(WriteBehindTest, AHeldCreateWaitsForItsContentAndGoesWithIt) {
  const uint64_t seq = behind_.Enqueue(Create("f", 501), Named("f", 501), /*hold=*/true);
  behind_.Enqueue(Unlink("x"), Gone("x"));  // queued behind it, held with it
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_TRUE(master_.batches().empty());
  ASSERT_TRUE(behind_.Amend(seq, GiveContent));
  absl::StatusOr<Attr> attr = behind_.Wait(seq);
  ASSERT_TRUE(attr.ok()) << attr.status();
  EXPECT_EQ(attr->inode(), 501u);
  EXPECT_EQ(attr->size(), 4096u);
  // One batch: the create with its content, then the unlink.
  std::vector<std::vector<BatchOp>> batches = master_.batches();
  ASSERT_EQ(batches.size(), 1u);
  ASSERT_EQ(batches[0].size(), 2u);
  EXPECT_EQ(batches[0][0].create().size(), 4096u);
  EXPECT_EQ(batches[0][1].unlink().name(), "x");
  EXPECT_EQ(behind_.stats().amended, 1u);
  EXPECT_FALSE(behind_.Amend(seq, GiveContent));  // answered: nothing to amend
}

TEST_F(WriteBehindTest, AHoldEndsWhenSomeoneWaitsForTheQueue) {
  const uint64_t seq = behind_.Enqueue(Create("f", 501), Named("f", 501), /*hold=*/true);
  behind_.Drain();  // e.g. a call that asks the master: the create goes without content
  ASSERT_EQ(master_.batches().size(), 1u);
  EXPECT_EQ(master_.batches()[0][0].create().size(), 0u);
  EXPECT_FALSE(behind_.Amend(seq, GiveContent));
  EXPECT_EQ(behind_.stats().amended, 0u);
}

TEST_F(WriteBehindTest, OnlyAHeldOpCanBeAmended) {
  master_.Hold(true);
  behind_.Enqueue(Unlink("a"), Gone("a"));
  master_.AwaitBatches(1);
  const uint64_t seq = behind_.Enqueue(Create("f", 501), Named("f", 501));  // not held
  EXPECT_FALSE(behind_.Amend(seq, GiveContent));
  master_.Hold(false);
  behind_.Drain();
}

TEST_F(WriteBehindTest, AnAmendedCreateThatFailsIsReportedToItsWaiterOnly) {
  const uint64_t seq = behind_.Enqueue(Create("bad", 501), Named("bad", 501), /*hold=*/true);
  ASSERT_TRUE(behind_.Amend(seq, GiveContent));
  EXPECT_EQ(ErrnoOf(behind_.Wait(seq).status()), ENOENT);
  EXPECT_TRUE(behind_.TakeError().ok());
  EXPECT_EQ(LookupFound("bad"), Found::kUnknown);  // forgotten, as any failed change
}

class ShortHoldWriteBehindTest : public WriteBehindTest {
 protected:
  ShortHoldWriteBehindTest() : WriteBehindTest(4096, /*hold=*/absl::Milliseconds(50)) {}
};

TEST_F(ShortHoldWriteBehindTest, AHeldCreateGoesAloneWhenItsTimeIsUp) {
  const uint64_t seq = behind_.Enqueue(Create("f", 501), Named("f", 501), /*hold=*/true);
  master_.AwaitBatches(1);  // nobody waits, nothing amends: the hold's 50 ms end it
  EXPECT_EQ(master_.batches()[0][0].create().size(), 0u);
  EXPECT_FALSE(behind_.Amend(seq, GiveContent));
  behind_.Drain();
  EXPECT_EQ(LookupFound("f"), Found::kPresent);
}

}  // namespace
}  // namespace dfs::fuse
