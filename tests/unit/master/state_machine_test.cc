#include "master/state_machine.h"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/errors.h"
#include "gtest/gtest.h"
#include "master/consistency_check.h"
#include "master/keys.h"
#include "tests/testutil/temp_dir.h"

namespace dfs {
namespace {

constexpr uint64_t kRoot = keys::kRootInode;

// Drives a StateMachine the way the leader does: reserves id blocks, stamps commands.
class StateMachineTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  void Reopen() {
    sm_.reset();
    auto sm = StateMachine::Open(dir_.path() + "/meta");
    ASSERT_TRUE(sm.ok()) << sm.status();
    sm_ = *std::move(sm);
    next_index_ = sm_->applied_index() + 1;
  }

  CommandResult Apply(Command command) {
    if (command.timestamp_ns() == 0) command.set_timestamp_ns(1000 * next_index_);
    if (caller_) *command.mutable_caller() = *caller_;
    log_.push_back(command);
    return sm_->Apply(next_index_++, command);
  }

  uint64_t Reserve(ReserveIdsCmd::Kind kind, uint64_t count) {
    Command c;
    c.mutable_reserve_ids()->set_kind(kind);
    c.mutable_reserve_ids()->set_count(count);
    CommandResult r = Apply(c);
    EXPECT_EQ(r.code(), 0);
    return r.first_id();
  }
  uint64_t NewInodeId() { return Reserve(ReserveIdsCmd::KIND_INODE, 1); }

  absl::StatusOr<Attr> AttrResult(const CommandResult& r) {
    if (r.code() != 0) return ResultStatus(r);
    return r.attr();
  }

  absl::StatusOr<Attr> Mkdir(uint64_t parent, const std::string& name) {
    Command c;
    c.mutable_mkdir()->set_parent(parent);
    c.mutable_mkdir()->set_name(name);
    c.mutable_mkdir()->set_inode(NewInodeId());
    c.mutable_mkdir()->set_mode(0755);
    return AttrResult(Apply(c));
  }
  absl::StatusOr<Attr> Create(uint64_t parent, const std::string& name) {
    Command c;
    c.mutable_create()->set_parent(parent);
    c.mutable_create()->set_name(name);
    c.mutable_create()->set_inode(NewInodeId());
    c.mutable_create()->set_mode(0644);
    c.mutable_create()->set_exclusive(true);
    return AttrResult(Apply(c));
  }
  static Command UnlinkCommand(uint64_t parent, const std::string& name) {
    Command c;
    c.mutable_unlink()->set_parent(parent);
    c.mutable_unlink()->set_name(name);
    return c;
  }
  static Command RmdirCommand(uint64_t parent, const std::string& name) {
    Command c;
    c.mutable_rmdir()->set_parent(parent);
    c.mutable_rmdir()->set_name(name);
    return c;
  }
  static Command RenameCommand(uint64_t parent, const std::string& name, uint64_t new_parent,
                               const std::string& new_name, bool noreplace = false) {
    Command c;
    c.mutable_rename()->set_parent(parent);
    c.mutable_rename()->set_name(name);
    c.mutable_rename()->set_new_parent(new_parent);
    c.mutable_rename()->set_new_name(new_name);
    c.mutable_rename()->set_noreplace(noreplace);
    return c;
  }
  absl::Status Unlink(uint64_t parent, const std::string& name) {
    return ResultStatus(Apply(UnlinkCommand(parent, name)));
  }
  absl::Status Rmdir(uint64_t parent, const std::string& name) {
    return ResultStatus(Apply(RmdirCommand(parent, name)));
  }
  absl::Status Rename(uint64_t parent, const std::string& name, uint64_t new_parent,
                      const std::string& new_name, bool noreplace = false) {
    return ResultStatus(Apply(RenameCommand(parent, name, new_parent, new_name, noreplace)));
  }
  // A BatchCmd of `commands`, each with caller_ (if set) unless it has a caller of its own, as
  // the master gives each the caller of its sub-request.
  Command Batch(std::vector<Command> commands) {
    Command c;
    for (Command& command : commands) {
      if (caller_ && !command.has_caller()) *command.mutable_caller() = *caller_;
      *c.mutable_batch()->add_commands() = std::move(command);
    }
    return c;
  }

  // Writes `length` bytes at `offset` as one new chunk of that length.
  absl::StatusOr<Attr> Write(uint64_t inode, uint64_t offset, uint64_t length, bool append = false,
                             uint64_t* chunk_out = nullptr) {
    uint64_t chunk = Reserve(ReserveIdsCmd::KIND_CHUNK, 1);
    if (chunk_out) *chunk_out = chunk;
    Command c;
    CommitWriteCmd* w = c.mutable_commit_write();
    w->set_inode(inode);
    w->set_offset(offset);
    w->set_append(append);
    w->set_length(length);
    ChunkInfo* info = w->add_new_chunks();
    info->set_chunk_id(chunk);
    info->set_length(length);
    info->add_replicas("dn1");
    Extent* e = w->add_extents();
    e->set_chunk_id(chunk);
    e->set_length(length);
    return AttrResult(Apply(c));
  }
  absl::StatusOr<Attr> SetAttr(uint64_t inode, SetAttrCmd changes) {
    Command c;
    *c.mutable_set_attr() = std::move(changes);
    c.mutable_set_attr()->set_inode(inode);
    return AttrResult(Apply(c));
  }
  absl::StatusOr<Attr> Truncate(uint64_t inode, uint64_t size) {
    SetAttrCmd changes;
    changes.set_set_size(true);
    changes.set_size(size);
    return SetAttr(inode, std::move(changes));
  }
  absl::StatusOr<Attr> Chmod(uint64_t inode, uint32_t mode) {
    SetAttrCmd changes;
    changes.set_set_mode(true);
    changes.set_mode(mode);
    return SetAttr(inode, std::move(changes));
  }

  // The file's layout as "offset:chunk@chunk_offset+length" strings.
  std::vector<std::string> Layout(uint64_t inode) {
    auto r = sm_->GetExtents(inode, 0, 0);
    EXPECT_TRUE(r.ok()) << r.status();
    std::vector<std::string> out;
    for (const Extent& e : r->extents) {
      out.push_back(std::to_string(e.file_offset()) + ":" + std::to_string(e.chunk_id()) + "@" +
                    std::to_string(e.chunk_offset()) + "+" + std::to_string(e.length()));
    }
    return out;
  }

  uint64_t Refs(uint64_t chunk) {
    ChunkRecord record;
    if (!sm_->store()->GetProto(keys::Chunk(chunk), &record).ok()) return 0;
    return record.refs();
  }
  bool IsGarbage(uint64_t chunk) { return sm_->store()->Get(keys::Garbage(chunk)).ok(); }

  // Every key but the bookkeeping that any applied command changes (and the id counter, which
  // the reservations made for refused commands move).
  std::string Contents() {
    std::string out;
    std::unique_ptr<leveldb::Iterator> it(sm_->store()->db()->NewIterator(leveldb::ReadOptions()));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      const std::string key = it->key().ToString();
      if (key == keys::kAppliedIndex || key == keys::kNextInode || key == "Mlast_timestamp_ns") {
        continue;
      }
      out += key + "=" + it->value().ToString() + "\n";
    }
    return out;
  }

  TempDir dir_;
  std::unique_ptr<StateMachine> sm_;
  // Who the commands Apply() sends say they are from; none: unchecked.
  std::optional<Caller> caller_;
  uint64_t next_index_ = 1;
  std::vector<Command> log_;
};

TEST_F(StateMachineTest, RootExists) {
  auto root = sm_->GetAttr(kRoot);
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(root->type(), FILE_TYPE_DIRECTORY);
  EXPECT_EQ(sm_->LookupPath("/")->inode(), kRoot);
}

TEST_F(StateMachineTest, MkdirCreateLookup) {
  auto dir = Mkdir(kRoot, "a");
  ASSERT_TRUE(dir.ok()) << dir.status();
  auto file = Create(dir->inode(), "f");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(sm_->LookupPath("/a/f")->inode(), file->inode());
  EXPECT_EQ(sm_->GetAttr(kRoot)->nlink(), 3u);
  EXPECT_EQ(ErrnoOf(sm_->LookupPath("/a/f/g").status()), ENOTDIR);
  EXPECT_EQ(ErrnoOf(sm_->LookupPath("/nope").status()), ENOENT);
}

TEST_F(StateMachineTest, BadInput) {
  EXPECT_EQ(ErrnoOf(Mkdir(999, "x").status()), ENOENT) << "missing parent";
  ASSERT_TRUE(Mkdir(kRoot, "a").ok());
  EXPECT_EQ(ErrnoOf(Mkdir(kRoot, "a").status()), EEXIST);
  EXPECT_EQ(ErrnoOf(Create(kRoot, "a").status()), EEXIST);
  EXPECT_EQ(ErrnoOf(Mkdir(kRoot, "").status()), EINVAL);
  EXPECT_EQ(ErrnoOf(Mkdir(kRoot, "x/y").status()), EINVAL);
  EXPECT_EQ(ErrnoOf(Mkdir(kRoot, ".").status()), EINVAL);
  EXPECT_EQ(ErrnoOf(Mkdir(kRoot, "..").status()), EINVAL);
  EXPECT_EQ(ErrnoOf(Mkdir(kRoot, std::string(256, 'n')).status()), ENAMETOOLONG);
  EXPECT_TRUE(Mkdir(kRoot, std::string(255, 'n')).ok());
  auto file = Create(kRoot, "f");
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(ErrnoOf(Mkdir(file->inode(), "x").status()), ENOTDIR) << "parent is a file";
  EXPECT_EQ(ErrnoOf(Unlink(kRoot, "a")), EISDIR) << "unlink of a directory";
  EXPECT_EQ(ErrnoOf(Rmdir(kRoot, "f")), ENOTDIR);
  EXPECT_EQ(ErrnoOf(Unlink(kRoot, "missing")), ENOENT);
  // A command with an inode id that was never reserved is refused.
  Command c;
  c.mutable_mkdir()->set_parent(kRoot);
  c.mutable_mkdir()->set_name("z");
  c.mutable_mkdir()->set_inode(1u << 30);
  EXPECT_EQ(Apply(c).posix_errno(), EINVAL);
}

TEST_F(StateMachineTest, RmdirNonEmpty) {
  auto a = Mkdir(kRoot, "a");
  ASSERT_TRUE(Create(a->inode(), "f").ok());
  EXPECT_EQ(ErrnoOf(Rmdir(kRoot, "a")), ENOTEMPTY);
  ASSERT_TRUE(Unlink(a->inode(), "f").ok());
  EXPECT_TRUE(Rmdir(kRoot, "a").ok());
  EXPECT_EQ(sm_->GetAttr(kRoot)->nlink(), 2u);
  EXPECT_EQ(sm_->inode_count(), 1u);
}

TEST_F(StateMachineTest, RenameIntoOwnSubtreeIsInvalid) {
  auto a = Mkdir(kRoot, "a");
  auto b = Mkdir(a->inode(), "b");
  EXPECT_EQ(ErrnoOf(Rename(kRoot, "a", b->inode(), "x")), EINVAL);
  EXPECT_EQ(ErrnoOf(Rename(kRoot, "a", a->inode(), "x")), EINVAL);
  EXPECT_TRUE(Rename(a->inode(), "b", kRoot, "b").ok());
  EXPECT_EQ(sm_->LookupPath("/b")->parent(), kRoot);
  EXPECT_EQ(sm_->GetAttr(kRoot)->nlink(), 4u);
  EXPECT_EQ(sm_->GetAttr(a->inode())->nlink(), 2u);
}

TEST_F(StateMachineTest, RenameReplacesLikePosix) {
  auto d1 = Mkdir(kRoot, "d1");
  auto d2 = Mkdir(kRoot, "d2");
  auto f = Create(d1->inode(), "f");
  auto g = Create(d2->inode(), "g");
  ASSERT_TRUE(Write(g->inode(), 0, 10).ok());
  // File over file, across directories: the target is replaced atomically and freed.
  ASSERT_TRUE(Rename(d1->inode(), "f", d2->inode(), "g").ok());
  EXPECT_EQ(sm_->LookupPath("/d2/g")->inode(), f->inode());
  EXPECT_FALSE(sm_->GetAttr(g->inode()).ok());
  EXPECT_EQ(ErrnoOf(sm_->LookupPath("/d1/f").status()), ENOENT);
  // Noreplace refuses.
  ASSERT_TRUE(Create(d1->inode(), "h").ok());
  EXPECT_EQ(ErrnoOf(Rename(d1->inode(), "h", d2->inode(), "g", true)), EEXIST);
  // Dir over file: ENOTDIR; file over dir: EISDIR; dir over non-empty dir: ENOTEMPTY.
  auto e = Mkdir(kRoot, "e");
  EXPECT_EQ(ErrnoOf(Rename(kRoot, "e", d2->inode(), "g")), ENOTDIR);
  EXPECT_EQ(ErrnoOf(Rename(d2->inode(), "g", kRoot, "e")), EISDIR);
  EXPECT_EQ(ErrnoOf(Rename(kRoot, "e", kRoot, "d2")), ENOTEMPTY);
  // Dir over empty dir works.
  ASSERT_TRUE(Mkdir(kRoot, "empty").ok());
  ASSERT_TRUE(Rename(kRoot, "e", kRoot, "empty").ok());
  EXPECT_EQ(sm_->LookupPath("/empty")->inode(), e->inode());
  // Rename onto itself (same inode) is a no-op.
  EXPECT_TRUE(Rename(d2->inode(), "g", d2->inode(), "g").ok());
  EXPECT_EQ(ErrnoOf(Rename(kRoot, "missing", kRoot, "x")), ENOENT);
}

TEST_F(StateMachineTest, HardLinksCountAndFreeOnLastUnlink) {
  auto f = Create(kRoot, "f");
  uint64_t chunk = 0;
  ASSERT_TRUE(Write(f->inode(), 0, 100, false, &chunk).ok());
  Command c;
  c.mutable_link()->set_inode(f->inode());
  c.mutable_link()->set_new_parent(kRoot);
  c.mutable_link()->set_new_name("g");
  ASSERT_EQ(Apply(c).code(), 0);
  EXPECT_EQ(sm_->GetAttr(f->inode())->nlink(), 2u);
  ASSERT_TRUE(Unlink(kRoot, "f").ok());
  EXPECT_EQ(Refs(chunk), 1u);
  ASSERT_TRUE(Unlink(kRoot, "g").ok());
  EXPECT_FALSE(sm_->GetAttr(f->inode()).ok());
  EXPECT_TRUE(IsGarbage(chunk));
}

TEST_F(StateMachineTest, OpenUnlinkedFileLivesUntilReleased) {
  auto f = Create(kRoot, "f");
  uint64_t chunk = 0;
  ASSERT_TRUE(Write(f->inode(), 0, 100, false, &chunk).ok());
  Command c;
  c.mutable_unlink()->set_parent(kRoot);
  c.mutable_unlink()->set_name("f");
  c.mutable_unlink()->set_keep_orphan(true);
  ASSERT_EQ(Apply(c).code(), 0);
  EXPECT_EQ(ErrnoOf(sm_->LookupPath("/f").status()), ENOENT);
  auto orphan = sm_->GetAttr(f->inode());
  ASSERT_TRUE(orphan.ok()) << "an open unlinked file stays reachable by inode";
  EXPECT_EQ(orphan->nlink(), 0u);
  ASSERT_TRUE(Write(f->inode(), 100, 10).ok()) << "and writable";
  EXPECT_EQ(Refs(chunk), 1u);
  Command release;
  release.mutable_release_orphan()->set_inode(f->inode());
  ASSERT_EQ(Apply(release).code(), 0);
  EXPECT_FALSE(sm_->GetAttr(f->inode()).ok());
  EXPECT_TRUE(IsGarbage(chunk));
  EXPECT_EQ(Apply(release).code(), 0) << "releasing twice is harmless";
}

TEST_F(StateMachineTest, OverwriteInsideOneExtent) {
  auto f = Create(kRoot, "f");
  uint64_t a = 0, b = 0;
  ASSERT_TRUE(Write(f->inode(), 0, 100, false, &a).ok());
  ASSERT_TRUE(Write(f->inode(), 40, 10, false, &b).ok());
  EXPECT_EQ(Layout(f->inode()),
            (std::vector<std::string>{"0:" + std::to_string(a) + "@0+40",
                                      "40:" + std::to_string(b) + "@0+10",
                                      "50:" + std::to_string(a) + "@50+50"}));
  EXPECT_EQ(Refs(a), 2u);  // split in two
  EXPECT_EQ(sm_->GetAttr(f->inode())->size(), 100u);
}

TEST_F(StateMachineTest, OverwriteAcrossSeveralExtents) {
  auto f = Create(kRoot, "f");
  uint64_t a = 0, b = 0, c = 0, d = 0;
  ASSERT_TRUE(Write(f->inode(), 0, 10, false, &a).ok());
  ASSERT_TRUE(Write(f->inode(), 10, 10, false, &b).ok());
  ASSERT_TRUE(Write(f->inode(), 20, 10, false, &c).ok());
  ASSERT_TRUE(Write(f->inode(), 5, 20, false, &d).ok());  // covers end of a, all of b, start of c
  auto s = [](uint64_t x) { return std::to_string(x); };
  EXPECT_EQ(Layout(f->inode()), (std::vector<std::string>{"0:" + s(a) + "@0+5", "5:" + s(d) + "@0+20",
                                                         "25:" + s(c) + "@5+5"}));
  EXPECT_TRUE(IsGarbage(b));
  EXPECT_EQ(Refs(a), 1u);
  EXPECT_EQ(Refs(c), 1u);
  // Reading a middle range clips extents.
  auto r = sm_->GetExtents(f->inode(), 3, 4);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->extents.size(), 2u);
  EXPECT_EQ(r->extents[0].file_offset(), 3u);
  EXPECT_EQ(r->extents[0].chunk_offset(), 3u);
  EXPECT_EQ(r->extents[0].length(), 2u);
  EXPECT_EQ(r->extents[1].file_offset(), 5u);
  EXPECT_EQ(r->extents[1].length(), 2u);
  EXPECT_EQ(r->chunks.size(), 2u);
}

TEST_F(StateMachineTest, AppendLandsAtEndAsApplied) {
  auto f = Create(kRoot, "f");
  ASSERT_TRUE(Write(f->inode(), 0, 10).ok());
  Command first, second;  // two appends prepared concurrently, both with offset 0
  uint64_t c1 = Reserve(ReserveIdsCmd::KIND_CHUNK, 2), c2 = c1 + 1;
  for (auto [cmd, chunk] : {std::pair{&first, c1}, std::pair{&second, c2}}) {
    CommitWriteCmd* w = cmd->mutable_commit_write();
    w->set_inode(f->inode());
    w->set_append(true);
    w->set_length(7);
    ChunkInfo* info = w->add_new_chunks();
    info->set_chunk_id(chunk);
    info->set_length(7);
    info->add_replicas("dn1");
    Extent* e = w->add_extents();
    e->set_chunk_id(chunk);
    e->set_length(7);
  }
  EXPECT_EQ(Apply(first).write_offset(), 10u);
  EXPECT_EQ(Apply(second).write_offset(), 17u);
  EXPECT_EQ(sm_->GetAttr(f->inode())->size(), 24u);
}

TEST_F(StateMachineTest, TruncateDownAndUp) {
  auto f = Create(kRoot, "f");
  uint64_t a = 0, b = 0;
  ASSERT_TRUE(Write(f->inode(), 0, 100, false, &a).ok());
  ASSERT_TRUE(Write(f->inode(), 100, 100, false, &b).ok());
  ASSERT_TRUE(Truncate(f->inode(), 50).ok());
  EXPECT_EQ(Layout(f->inode()), (std::vector<std::string>{"0:" + std::to_string(a) + "@0+50"}));
  EXPECT_TRUE(IsGarbage(b));
  auto up = Truncate(f->inode(), 1000);
  ASSERT_TRUE(up.ok());
  EXPECT_EQ(up->size(), 1000u);
  // The hole past 50 has no extents: it reads as zeros.
  auto r = sm_->GetExtents(f->inode(), 0, 0);
  ASSERT_EQ(r->extents.size(), 1u);
  ASSERT_TRUE(Truncate(f->inode(), 0).ok());
  EXPECT_TRUE(Layout(f->inode()).empty());
  EXPECT_TRUE(IsGarbage(a));
}

TEST_F(StateMachineTest, BadWritesAreRefused) {
  auto f = Create(kRoot, "f");
  Command c;
  CommitWriteCmd* w = c.mutable_commit_write();
  w->set_inode(f->inode());
  w->set_length(10);
  Extent* e = w->add_extents();
  e->set_chunk_id(12345);  // never allocated, not in new_chunks
  e->set_length(10);
  EXPECT_EQ(Apply(c).posix_errno(), EINVAL);
  auto dir = Mkdir(kRoot, "d");
  EXPECT_EQ(ErrnoOf(Write(dir->inode(), 0, 10).status()), EISDIR);
}

TEST_F(StateMachineTest, SessionRetryAppliesOnce) {
  Command c;
  c.set_client_id(77);
  c.set_seq(1);
  c.mutable_mkdir()->set_parent(kRoot);
  c.mutable_mkdir()->set_name("once");
  c.mutable_mkdir()->set_inode(NewInodeId());
  CommandResult first = Apply(c);
  ASSERT_EQ(first.code(), 0);
  CommandResult retry = Apply(c);  // same session and seq: the recorded result, no EEXIST
  EXPECT_EQ(retry.code(), 0);
  EXPECT_EQ(retry.attr().inode(), first.attr().inode());
  c.set_seq(2);
  EXPECT_EQ(Apply(c).posix_errno(), EEXIST);  // a new command with the same content fails
}

TEST_F(StateMachineTest, TimestampsNeverGoBackwards) {
  Command c;
  c.set_timestamp_ns(5'000'000);
  c.mutable_mkdir()->set_parent(kRoot);
  c.mutable_mkdir()->set_name("a");
  c.mutable_mkdir()->set_inode(NewInodeId());
  auto a = Apply(c).attr();
  c.set_timestamp_ns(1'000);  // a new leader with a clock far behind
  c.mutable_mkdir()->set_name("b");
  c.mutable_mkdir()->set_inode(NewInodeId());
  auto b = Apply(c).attr();
  EXPECT_GT(b.mtime_ns(), a.mtime_ns());
}

TEST_F(StateMachineTest, ReplayGivesIdenticalStoreAndSurvivesReopen) {
  auto a = Mkdir(kRoot, "a");
  auto f = Create(a->inode(), "f");
  ASSERT_TRUE(Write(f->inode(), 0, 100).ok());
  ASSERT_TRUE(Write(f->inode(), 50, 100).ok());
  ASSERT_TRUE(Rename(a->inode(), "f", kRoot, "g").ok());
  ASSERT_TRUE(Truncate(f->inode(), 70).ok());
  // Replaying the same commands into a fresh store yields the same bytes.
  TempDir other_dir;
  auto other = StateMachine::Open(other_dir.path() + "/meta");
  ASSERT_TRUE(other.ok());
  for (size_t i = 0; i < log_.size(); ++i) (*other)->Apply(i + 1, log_[i]);
  auto dump = [](StateMachine* sm) {
    std::map<std::string, std::string> all;
    std::unique_ptr<leveldb::Iterator> it(sm->store()->db()->NewIterator(leveldb::ReadOptions()));
    for (it->SeekToFirst(); it->Valid(); it->Next()) all[it->key().ToString()] = it->value().ToString();
    return all;
  };
  EXPECT_EQ(dump(sm_.get()), dump(other->get()));
  uint64_t applied = sm_->applied_index();
  Reopen();
  EXPECT_EQ(sm_->applied_index(), applied);
  EXPECT_EQ(sm_->LookupPath("/g")->size(), 70u);
}

// The store's own LevelDB log is buffered (the Raft log is the durable record): applied commands
// reach the file at a sync (or when 64 KiB gathered, or at close), not one write() each.
TEST_F(StateMachineTest, TheStoresLogIsWrittenAtSyncNotPerCommand) {
  auto log_bytes = [&] {
    uintmax_t bytes = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir_.path() + "/meta")) {
      if (e.path().extension() == ".log") bytes += e.file_size();
    }
    return bytes;
  };
  ASSERT_TRUE(sm_->store()->Sync().ok());
  const uintmax_t synced = log_bytes();
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(Mkdir(kRoot, "d" + std::to_string(i)).ok());
  EXPECT_EQ(log_bytes(), synced);
  ASSERT_TRUE(sm_->store()->Sync().ok());
  EXPECT_GT(log_bytes(), synced + 20 * 50);
  // And what was applied after the sync survives a clean close.
  ASSERT_TRUE(Mkdir(kRoot, "last").ok());
  const uint64_t applied = sm_->applied_index();
  Reopen();
  EXPECT_EQ(sm_->applied_index(), applied);
  EXPECT_TRUE(sm_->LookupPath("/last").ok());
}

TEST_F(StateMachineTest, SafeModeRefusesNamespaceChangesUntilLeft) {
  auto a = Mkdir(kRoot, "a");
  ASSERT_TRUE(a.ok());
  auto f = Create(a->inode(), "f");
  ASSERT_TRUE(f.ok());
  uint64_t chunk = 0;
  ASSERT_TRUE(Write(f->inode(), 0, 100, false, &chunk).ok());
  auto open = Create(kRoot, "open");
  ASSERT_TRUE(open.ok());
  Command unlink_open;
  unlink_open.mutable_unlink()->set_parent(kRoot);
  unlink_open.mutable_unlink()->set_name("open");
  unlink_open.mutable_unlink()->set_keep_orphan(true);
  ASSERT_EQ(Apply(unlink_open).code(), 0);

  auto safe_mode = [&](bool on, int64_t timestamp_ns) {
    Command c;
    c.set_timestamp_ns(timestamp_ns);
    c.mutable_set_safe_mode()->set_on(on);
    return ResultStatus(Apply(c));
  };
  ASSERT_TRUE(safe_mode(true, 7'000'000).ok());
  EXPECT_TRUE(sm_->safe_mode());
  EXPECT_EQ(sm_->safe_mode_since_ns(), 7'000'000);

  // Every change to the namespace or to file content fails with EROFS and changes nothing.
  absl::Status mkdir = Mkdir(kRoot, "b").status();
  EXPECT_EQ(ErrnoOf(mkdir), EROFS);
  EXPECT_EQ(mkdir.message(), kSafeModeMessage);
  EXPECT_EQ(ErrnoOf(Create(kRoot, "g").status()), EROFS);
  EXPECT_EQ(ErrnoOf(Write(f->inode(), 0, 10).status()), EROFS);
  EXPECT_EQ(ErrnoOf(Write(f->inode(), 0, 10, /*append=*/true).status()), EROFS);
  EXPECT_EQ(ErrnoOf(Truncate(f->inode(), 0).status()), EROFS);
  EXPECT_EQ(ErrnoOf(Rename(a->inode(), "f", kRoot, "g")), EROFS);
  EXPECT_EQ(ErrnoOf(Unlink(a->inode(), "f")), EROFS);
  EXPECT_EQ(ErrnoOf(Rmdir(kRoot, "a")), EROFS);
  Command link;
  link.mutable_link()->set_inode(f->inode());
  link.mutable_link()->set_new_parent(kRoot);
  link.mutable_link()->set_new_name("hard");
  EXPECT_EQ(Apply(link).posix_errno(), EROFS);
  Command symlink;
  symlink.mutable_symlink()->set_parent(kRoot);
  symlink.mutable_symlink()->set_name("soft");
  symlink.mutable_symlink()->set_inode(NewInodeId());
  symlink.mutable_symlink()->set_target("/a/f");
  EXPECT_EQ(Apply(symlink).posix_errno(), EROFS);
  // The merger's swap is refused before it is even validated.
  Command merge;
  merge.mutable_merge_swap()->add_files()->set_inode(f->inode());
  EXPECT_EQ(Apply(merge).posix_errno(), EROFS);

  // Reads see the state as it was.
  EXPECT_EQ(sm_->LookupPath("/a/f")->size(), 100u);
  EXPECT_EQ(sm_->LookupPath("/a/f")->nlink(), 1u);
  EXPECT_FALSE(sm_->LookupPath("/b").ok());
  EXPECT_FALSE(sm_->LookupPath("/g").ok());
  EXPECT_EQ(Layout(f->inode()), std::vector<std::string>{"0:" + std::to_string(chunk) + "@0+100"});

  // Repairs and bookkeeping go on: ids, replicas, freeing an orphan at its last close.
  Command add;
  add.mutable_add_replica()->set_chunk_id(chunk);
  add.mutable_add_replica()->set_datanode_id("dn2");
  EXPECT_EQ(Apply(add).code(), 0);
  Command drop;
  drop.mutable_drop_replica()->set_chunk_id(chunk);
  drop.mutable_drop_replica()->set_datanode_id("dn1");
  EXPECT_EQ(Apply(drop).code(), 0);
  EXPECT_EQ(sm_->GetChunk(chunk)->replicas(0), "dn2");
  Command release;
  release.mutable_release_orphan()->set_inode(open->inode());
  EXPECT_EQ(Apply(release).code(), 0);
  EXPECT_FALSE(sm_->GetAttr(open->inode()).ok());

  // Entering again keeps the start; the state survives a restart and travels in snapshots.
  ASSERT_TRUE(safe_mode(true, 9'000'000).ok());
  EXPECT_EQ(sm_->safe_mode_since_ns(), 7'000'000);
  const std::string on_snapshot = sm_->Snapshot();
  const uint64_t on_index = sm_->applied_index();
  Reopen();
  EXPECT_TRUE(sm_->safe_mode());
  EXPECT_EQ(ErrnoOf(Mkdir(kRoot, "b").status()), EROFS);
  TempDir other_dir;
  auto other = StateMachine::Open(other_dir.path() + "/meta");
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE((*other)->safe_mode());
  ASSERT_TRUE((*other)->Restore(on_index, on_snapshot).ok());
  EXPECT_TRUE((*other)->safe_mode());
  EXPECT_EQ((*other)->safe_mode_since_ns(), 7'000'000);

  // Leaving makes the namespace writable again, and a later snapshot says so.
  ASSERT_TRUE(safe_mode(false, 0).ok());
  EXPECT_FALSE(sm_->safe_mode());
  EXPECT_EQ(sm_->safe_mode_since_ns(), 0);
  EXPECT_TRUE(Mkdir(kRoot, "b").ok());
  ASSERT_TRUE((*other)->Restore(sm_->applied_index(), sm_->Snapshot()).ok());
  EXPECT_FALSE((*other)->safe_mode());
  EXPECT_TRUE((*other)->LookupPath("/b").ok());
}

TEST_F(StateMachineTest, CapturedSnapshotIsTheStateAtCaptureWhateverIsAppliedLater) {
  ASSERT_TRUE(Mkdir(kRoot, "before").ok());
  const uint64_t captured_at = sm_->applied_index();
  auto build = sm_->CaptureSnapshot();
  // Applying goes on while the snapshot is serialized (on another thread in the master).
  ASSERT_TRUE(Mkdir(kRoot, "after").ok());
  std::string data;
  std::thread builder([&] {
    EXPECT_TRUE(build([&data](absl::string_view piece) {
                  data.append(piece.data(), piece.size());
                  return absl::OkStatus();
                }).ok());
  });
  builder.join();
  TempDir other_dir;
  auto other = StateMachine::Open(other_dir.path() + "/meta");
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE((*other)->Restore(captured_at, data).ok());
  EXPECT_TRUE((*other)->LookupPath("/before").ok());
  EXPECT_EQ(ErrnoOf((*other)->LookupPath("/after").status()), ENOENT);
  EXPECT_TRUE(sm_->LookupPath("/after").ok());  // while the live state has both
}

// Queries run on gRPC threads while the apply thread commits. A name that always exists, though
// renames keep replacing it (freeing the inode it named), is found by every lookup and listing:
// each query reads one snapshot, not an entry from before a rename and an inode from after it.
TEST_F(StateMachineTest, QueriesNeverSeeAReplacedNameMissing) {
  auto dir = Mkdir(kRoot, "d");
  ASSERT_TRUE(dir.ok());
  ASSERT_TRUE(Create(dir->inode(), "target").ok());
  std::atomic<bool> done{false};
  std::thread renamer([&] {
    // EXPECT, not ASSERT: the reader below stops only once `done` is set.
    for (int i = 0; i < 3000; ++i) {
      if (!Create(dir->inode(), "next").ok() ||
          !Rename(dir->inode(), "next", dir->inode(), "target").ok()) {
        ADD_FAILURE() << "create or rename " << i << " failed";
        break;
      }
    }
    done = true;
  });
  int queries = 0, failures = 0;
  std::string first_failure;
  while (!done.load()) {
    auto found = sm_->LookupPath("/d/target");
    bool has_more = false;
    auto entries = sm_->ReadDir(dir->inode(), "", 100, &has_more);
    const bool listed = entries.ok() && std::any_of(entries->begin(), entries->end(),
                                                    [](const auto& e) { return e.name == "target"; });
    if (!found.ok() || !listed) {
      if (failures++ == 0) first_failure = found.ok() ? "not listed" : found.status().ToString();
    }
    ++queries;
  }
  renamer.join();
  EXPECT_GT(queries, 100);
  EXPECT_EQ(failures, 0) << "of " << queries << " queries; first: " << first_failure;
}

// A snapshot reaches its sink in bounded pieces (the master streams them into a file), never
// as one string of the whole state; a sink's error stops it.
TEST_F(StateMachineTest, SnapshotIsStreamedInBoundedPieces) {
  for (int i = 0; i < 2000; ++i) ASSERT_TRUE(Mkdir(kRoot, "directory-" + std::to_string(i)).ok());
  const std::string whole = sm_->Snapshot();
  ASSERT_GT(whole.size(), 2 * StateMachine::kSnapshotPieceBytes);
  std::string streamed;
  int pieces = 0;
  ASSERT_TRUE(sm_->CaptureSnapshot()([&](absl::string_view piece) {
                   ++pieces;
                   EXPECT_LE(piece.size(), StateMachine::kSnapshotPieceBytes + 4096);
                   streamed.append(piece.data(), piece.size());
                   return absl::OkStatus();
                 }).ok());
  EXPECT_GE(pieces, 3);
  EXPECT_TRUE(streamed == whole);
  int calls = 0;
  absl::Status s = sm_->CaptureSnapshot()([&](absl::string_view) {
    ++calls;
    return absl::ResourceExhaustedError("disk full");
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(calls, 1);
}

TEST_F(StateMachineTest, DecommissionedDatanodesAreListedInOrder) {
  for (const char* id : {"dn-b", "dn-a"}) {
    Command c;
    c.mutable_set_decommission()->set_datanode_id(id);
    c.mutable_set_decommission()->set_decommission(true);
    ASSERT_EQ(Apply(c).code(), 0);
  }
  EXPECT_EQ(sm_->DecommissionedDatanodes(), (std::vector<std::string>{"dn-a", "dn-b"}));
}

// ---- permissions (common/permissions.h): Apply checks the command's caller; a refused
// mutation is EACCES or EPERM and changes nothing but the applied index ----

Caller User(uint32_t uid, uint32_t gid) {
  Caller caller;
  caller.set_uid(uid);
  caller.set_gid(gid);
  return caller;
}

TEST_F(StateMachineTest, RefusedMutationsChangeNothing) {
  auto shared = Mkdir(kRoot, "shared");  // 0755, owned by 0 (no caller: unchecked)
  ASSERT_TRUE(shared.ok());
  auto file = Create(shared->inode(), "f");
  ASSERT_TRUE(file.ok());
  const std::string before = Contents();

  caller_ = User(1000, 1000);
  absl::Status refused = Create(shared->inode(), "x").status();
  EXPECT_TRUE(absl::IsPermissionDenied(refused)) << refused;
  EXPECT_EQ(ErrnoOf(refused), EACCES);
  EXPECT_EQ(ErrnoOf(Mkdir(shared->inode(), "d").status()), EACCES);
  EXPECT_EQ(ErrnoOf(Unlink(shared->inode(), "f")), EACCES);
  EXPECT_EQ(ErrnoOf(Rename(shared->inode(), "f", kRoot, "g")), EACCES);
  EXPECT_EQ(ErrnoOf(Chmod(file->inode(), 0777).status()), EPERM);
  EXPECT_EQ(ErrnoOf(Truncate(file->inode(), 0).status()), EACCES);
  EXPECT_EQ(Contents(), before);

  caller_ = User(0, 0);  // root passes
  EXPECT_TRUE(Create(shared->inode(), "x").ok());
}

TEST_F(StateMachineTest, StickyDirectoryAndNewOwners) {
  auto tmp = Mkdir(kRoot, "tmp");
  ASSERT_TRUE(tmp.ok());
  ASSERT_TRUE(Chmod(tmp->inode(), 01777).ok());
  caller_ = User(1000, 1000);
  auto alices = Create(tmp->inode(), "alices");
  ASSERT_TRUE(alices.ok()) << alices.status();
  EXPECT_EQ(alices->uid(), 1000u);
  EXPECT_EQ(alices->gid(), 1000u);
  caller_ = User(1001, 1001);
  ASSERT_TRUE(Create(tmp->inode(), "bobs").ok());
  caller_ = User(1000, 1000);
  EXPECT_EQ(ErrnoOf(Unlink(tmp->inode(), "bobs")), EPERM);
  EXPECT_EQ(ErrnoOf(Rename(tmp->inode(), "bobs", tmp->inode(), "mine")), EPERM);
  EXPECT_TRUE(Unlink(tmp->inode(), "alices").ok());
  caller_ = User(0, 0);
  EXPECT_TRUE(Unlink(tmp->inode(), "bobs").ok());
}

TEST_F(StateMachineTest, QueriesCheckSearchAndRead) {
  auto closed = Mkdir(kRoot, "closed");
  ASSERT_TRUE(closed.ok());
  ASSERT_TRUE(Chmod(closed->inode(), 0700).ok());
  ASSERT_TRUE(Create(closed->inode(), "f").ok());
  const Caller alice = User(1000, 1000);
  const Caller root = User(0, 0);
  EXPECT_EQ(ErrnoOf(sm_->LookupPath("/closed/f", &alice).status()), EACCES);
  EXPECT_TRUE(sm_->LookupPath("/closed/f", &root).ok());
  EXPECT_TRUE(sm_->LookupPath("/closed/f").ok());
  bool has_more = false;
  EXPECT_EQ(ErrnoOf(sm_->ReadDir(closed->inode(), "", 10, &has_more, &alice).status()), EACCES);
}

// The change feed's source: every applied command's changes to inodes and entries, with their
// new values, in order; a command that changes neither still reports its index.
class RecordingListener : public ChangeListener {
 public:
  bool Listening() override { return true; }
  void OnChange(Change change) override { changes.push_back(std::move(change)); }
  // The changes that touched inodes or entries.
  std::vector<Change> Content() const {
    std::vector<Change> out;
    for (const Change& c : changes) {
      if (c.inodes_size() > 0 || c.dirents_size() > 0) out.push_back(c);
    }
    return out;
  }
  std::vector<Change> changes;
};

TEST_F(StateMachineTest, ChangesOfInodesAndEntriesReachTheListener) {
  RecordingListener listener;
  sm_->SetChangeListener(&listener);
  absl::StatusOr<Attr> dir = Mkdir(kRoot, "d");  // ReserveIds first: its index, no content
  ASSERT_TRUE(dir.ok()) << dir.status();
  ASSERT_EQ(listener.changes.size(), 2u);
  EXPECT_EQ(listener.changes[0].index() + 1, listener.changes[1].index());
  ASSERT_EQ(listener.Content().size(), 1u);
  const Change mkdir = listener.Content()[0];
  EXPECT_EQ(mkdir.index(), sm_->applied_index());
  ASSERT_EQ(mkdir.dirents_size(), 1);
  EXPECT_EQ(mkdir.dirents(0).parent(), kRoot);
  EXPECT_EQ(mkdir.dirents(0).name(), "d");
  EXPECT_EQ(mkdir.dirents(0).inode(), dir->inode());
  bool saw_new = false, saw_root = false;
  for (const InodeChange& i : mkdir.inodes()) {
    if (i.inode() == dir->inode()) saw_new = i.attr().type() == FILE_TYPE_DIRECTORY;
    if (i.inode() == kRoot) saw_root = i.attr().nlink() == 3;
  }
  EXPECT_TRUE(saw_new);
  EXPECT_TRUE(saw_root);

  absl::StatusOr<Attr> file = Create(dir->inode(), "f");
  ASSERT_TRUE(file.ok());
  listener.changes.clear();
  ASSERT_TRUE(Unlink(dir->inode(), "f").ok());
  ASSERT_EQ(listener.Content().size(), 1u);
  const Change unlink = listener.Content()[0];
  ASSERT_EQ(unlink.dirents_size(), 1);
  EXPECT_EQ(unlink.dirents(0).inode(), 0u);  // the name is gone
  bool deleted = false;
  for (const InodeChange& i : unlink.inodes()) deleted |= i.inode() == file->inode() && i.deleted();
  EXPECT_TRUE(deleted);

  // A failed command changes nothing; its index is reported, and its result names it.
  listener.changes.clear();
  Command again;
  again.mutable_unlink()->set_parent(dir->inode());
  again.mutable_unlink()->set_name("f");
  CommandResult failed = Apply(again);
  EXPECT_NE(failed.code(), 0);
  EXPECT_EQ(failed.applied_index(), sm_->applied_index());
  ASSERT_EQ(listener.changes.size(), 1u);
  EXPECT_TRUE(listener.Content().empty());
  EXPECT_EQ(listener.changes[0].index(), sm_->applied_index());
  sm_->SetChangeListener(nullptr);
}

// ---- batches (BatchCmd): commands applied in order in one entry, each on its own ----

// The errno of each item of a batch's result, 0 for success.
std::vector<int> ItemErrnos(const CommandResult& result) {
  std::vector<int> out;
  for (const CommandResult& item : result.items()) out.push_back(item.posix_errno());
  return out;
}

TEST_F(StateMachineTest, BatchAppliesEachCommandOnItsOwnInOrder) {
  auto d = Mkdir(kRoot, "d");
  ASSERT_TRUE(d.ok());
  ASSERT_TRUE(Create(d->inode(), "a").ok());
  auto full = Mkdir(kRoot, "full");
  ASSERT_TRUE(full.ok());
  ASSERT_TRUE(Create(full->inode(), "x").ok());
  auto empty = Mkdir(kRoot, "empty");
  ASSERT_TRUE(empty.ok());
  const Attr root_before = *sm_->GetAttr(kRoot);
  const Attr full_before = *sm_->GetAttr(full->inode());

  RecordingListener listener;
  sm_->SetChangeListener(&listener);
  Command batch = Batch({
      RenameCommand(d->inode(), "a", d->inode(), "b"),
      UnlinkCommand(d->inode(), "missing"),  // fails: ENOENT
      UnlinkCommand(d->inode(), "b"),        // sees the rename before it
      RmdirCommand(kRoot, "full"),           // fails: ENOTEMPTY
      RmdirCommand(kRoot, "empty"),
  });
  batch.set_client_id(9);
  batch.set_seq(1);
  const CommandResult result = Apply(batch);
  sm_->SetChangeListener(nullptr);

  ASSERT_EQ(result.code(), 0) << result.message();
  EXPECT_EQ(ItemErrnos(result), (std::vector<int>{0, ENOENT, 0, ENOTEMPTY, 0}));
  EXPECT_EQ(result.items(1).code(), static_cast<int>(absl::StatusCode::kNotFound));
  EXPECT_EQ(ErrnoOf(ResultStatus(result.items(3))), ENOTEMPTY);
  EXPECT_FALSE(result.items(3).message().empty());
  for (const CommandResult& item : result.items()) EXPECT_EQ(item.applied_index(), 0u);

  // The successful ones took effect, the failed ones changed nothing.
  EXPECT_EQ(ErrnoOf(sm_->Lookup(d->inode(), "a").status()), ENOENT);
  EXPECT_EQ(ErrnoOf(sm_->Lookup(d->inode(), "b").status()), ENOENT);
  EXPECT_EQ(ErrnoOf(sm_->Lookup(kRoot, "empty").status()), ENOENT);
  EXPECT_TRUE(sm_->Lookup(full->inode(), "x").ok());
  EXPECT_EQ(sm_->GetAttr(full->inode())->SerializeAsString(), full_before.SerializeAsString());
  EXPECT_EQ(sm_->GetAttr(kRoot)->nlink(), root_before.nlink() - 1);  // only "empty" went

  // The entry's change names every entry the successful commands changed, and only those.
  ASSERT_EQ(listener.changes.size(), 1u);
  const Change& change = listener.changes[0];
  EXPECT_EQ(change.index(), sm_->applied_index());
  std::vector<std::string> dirents;
  for (const DirentChange& dirent : change.dirents()) {
    dirents.push_back(std::to_string(dirent.parent()) + "/" + dirent.name() + "=" +
                      std::to_string(dirent.inode()));
  }
  std::sort(dirents.begin(), dirents.end());
  std::vector<std::string> expected = {std::to_string(kRoot) + "/empty=0",
                                       std::to_string(d->inode()) + "/a=0",
                                       std::to_string(d->inode()) + "/b=0"};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(dirents, expected);
  for (const InodeChange& inode : change.inodes()) EXPECT_NE(inode.inode(), full->inode());

  // A retry of the same command (same session) answers as the first time, changing nothing.
  const std::string contents = Contents();
  CommandResult retry = Apply(batch);
  EXPECT_EQ(retry.SerializeAsString(), result.SerializeAsString());
  EXPECT_EQ(Contents(), contents);
}

TEST_F(StateMachineTest, BatchChecksEachCommandsOwnCaller) {
  auto shared = Mkdir(kRoot, "shared");  // 0755, owned by 0
  ASSERT_TRUE(shared.ok());
  ASSERT_TRUE(Create(shared->inode(), "f").ok());
  ASSERT_TRUE(Create(shared->inode(), "g").ok());
  const Caller alice = User(1000, 1000);
  Command alices = UnlinkCommand(shared->inode(), "f");
  *alices.mutable_caller() = alice;
  Command roots = UnlinkCommand(shared->inode(), "g");
  *roots.mutable_caller() = User(0, 0);
  const CommandResult result = Apply(Batch({alices, roots}));
  ASSERT_EQ(result.code(), 0) << result.message();
  EXPECT_EQ(ItemErrnos(result), (std::vector<int>{EACCES, 0}));
  EXPECT_EQ(result.items(0).code(), static_cast<int>(absl::StatusCode::kPermissionDenied));
  EXPECT_TRUE(sm_->Lookup(shared->inode(), "f").ok());
  EXPECT_EQ(ErrnoOf(sm_->Lookup(shared->inode(), "g").status()), ENOENT);
}

TEST_F(StateMachineTest, BatchHoldsOnlyCreateMkdirUnlinkRmdirAndRename) {
  ASSERT_TRUE(Create(kRoot, "f").ok());
  ASSERT_TRUE(Create(kRoot, "g").ok());
  Command symlink;
  symlink.mutable_symlink()->set_parent(kRoot);
  symlink.mutable_symlink()->set_name("c");
  symlink.mutable_symlink()->set_inode(NewInodeId());
  symlink.mutable_symlink()->set_target("f");
  Command safe_mode;
  safe_mode.mutable_set_safe_mode()->set_on(true);
  const std::string before = Contents();
  const CommandResult result = Apply(Batch({
      symlink,
      Batch({UnlinkCommand(kRoot, "f")}),  // nested
      safe_mode,
      Command(),  // empty
      UnlinkCommand(kRoot, "g"),
  }));
  ASSERT_EQ(result.code(), 0) << result.message();
  EXPECT_EQ(ItemErrnos(result), (std::vector<int>{EINVAL, EINVAL, EINVAL, EINVAL, 0}));
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(result.items(i).code(), static_cast<int>(absl::StatusCode::kInvalidArgument));
  }
  EXPECT_FALSE(sm_->safe_mode());
  EXPECT_EQ(ErrnoOf(sm_->Lookup(kRoot, "c").status()), ENOENT);
  EXPECT_TRUE(sm_->Lookup(kRoot, "f").ok());
  EXPECT_EQ(ErrnoOf(sm_->Lookup(kRoot, "g").status()), ENOENT);
  EXPECT_NE(Contents(), before);  // g went
}

// dfs-fuse's mkdirs and creates sent behind carry an inode id the client reserved: one that was
// reserved and is free makes the inode; one never reserved, or in use, fails that op alone.
TEST_F(StateMachineTest, BatchedMkdirsAndCreatesUseReservedIds) {
  auto mkdir = [](const std::string& name, uint64_t inode) {
    Command command;
    command.mutable_mkdir()->set_parent(kRoot);
    command.mutable_mkdir()->set_name(name);
    command.mutable_mkdir()->set_inode(inode);
    command.mutable_mkdir()->set_mode(0755);
    return command;
  };
  const uint64_t id = NewInodeId();
  const CommandResult result = Apply(Batch({
      mkdir("d", id),
      mkdir("e", id),             // in use now
      mkdir("f", id + 1000000),   // never reserved
      RmdirCommand(kRoot, "d"),   // sees the mkdir before it
      mkdir("d", id),             // free again: the state machine keeps no list of freed ids
  }));                            // (a client uses each reserved id once)
  ASSERT_EQ(result.code(), 0) << result.message();
  EXPECT_EQ(ItemErrnos(result), (std::vector<int>{0, EINVAL, EINVAL, 0, 0}));
  auto create = [](const std::string& name, uint64_t inode) {
    Command command;
    command.mutable_create()->set_parent(kRoot);
    command.mutable_create()->set_name(name);
    command.mutable_create()->set_inode(inode);
    command.mutable_create()->set_mode(0644);
    command.mutable_create()->set_exclusive(true);
    return command;
  };
  const uint64_t file_id = NewInodeId();
  const CommandResult files = Apply(Batch({create("c", file_id), create("c", file_id + 1)}));
  EXPECT_EQ(ItemErrnos(files), (std::vector<int>{0, EEXIST}));
  absl::StatusOr<Attr> c = sm_->Lookup(kRoot, "c");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->inode(), file_id);
  EXPECT_EQ(c->type(), FILE_TYPE_REGULAR);
  absl::StatusOr<Attr> d = sm_->Lookup(kRoot, "d");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->inode(), id);
  EXPECT_EQ(d->type(), FILE_TYPE_DIRECTORY);
  EXPECT_EQ(ErrnoOf(sm_->Lookup(kRoot, "e").status()), ENOENT);
  EXPECT_EQ(ErrnoOf(sm_->Lookup(kRoot, "f").status()), ENOENT);
}

// A directory made since entry counts exist keeps one (keys::EntryCount) that follows every
// change of its names, so rmdir trusts it instead of scanning (a scan of an empty directory
// walked every deleted key after it): ENOTEMPTY while any name is left, whatever change left it,
// and the store stays consistent (CheckConsistency compares each count with the entries).
TEST_F(StateMachineTest, EntryCountsFollowEveryNameChange) {
  absl::StatusOr<Attr> d = Mkdir(kRoot, "d");
  ASSERT_TRUE(d.ok()) << d.status();
  const uint64_t dir = d->inode();
  ASSERT_TRUE(Create(dir, "a").ok());
  ASSERT_TRUE(Create(dir, "b").ok());
  ASSERT_TRUE(Create(kRoot, "x").ok());
  ASSERT_TRUE(Mkdir(dir, "sub").ok());
  ASSERT_TRUE(Rename(dir, "a", kRoot, "a2").ok());  // out
  ASSERT_TRUE(Rename(kRoot, "x", dir, "b").ok());   // in, replacing b
  ASSERT_TRUE(Rename(dir, "b", dir, "b2").ok());    // within
  ASSERT_TRUE(Create(kRoot, "y").ok());
  ASSERT_TRUE(Rename(kRoot, "y", dir, "y").ok());   // in, new
  EXPECT_TRUE(CheckConsistency(sm_->store()).ok()) << CheckConsistency(sm_->store());
  // Left: b2, sub, y.
  for (const auto& [name, is_dir] : std::vector<std::pair<std::string, bool>>{
           {"b2", false}, {"sub", true}, {"y", false}}) {
    EXPECT_EQ(ErrnoOf(Rmdir(kRoot, "d")), ENOTEMPTY) << "before removing " << name;
    ASSERT_TRUE((is_dir ? Rmdir(dir, name) : Unlink(dir, name)).ok()) << name;
    EXPECT_TRUE(CheckConsistency(sm_->store()).ok()) << CheckConsistency(sm_->store());
  }
  EXPECT_TRUE(Rmdir(kRoot, "d").ok());
  EXPECT_FALSE(sm_->store()->Get(keys::EntryCount(dir)).ok());
  EXPECT_TRUE(CheckConsistency(sm_->store()).ok()) << CheckConsistency(sm_->store());
}

TEST_F(StateMachineTest, BatchIsRefusedWholeInSafeMode) {
  ASSERT_TRUE(Create(kRoot, "f").ok());
  Command on;
  on.mutable_set_safe_mode()->set_on(true);
  ASSERT_EQ(Apply(on).code(), 0);
  const std::string before = Contents();
  const CommandResult result = Apply(Batch({UnlinkCommand(kRoot, "f")}));
  absl::Status status = ResultStatus(result);
  EXPECT_EQ(ErrnoOf(status), EROFS);
  EXPECT_EQ(status.message(), kSafeModeMessage);
  EXPECT_EQ(result.items_size(), 0);
  EXPECT_EQ(Contents(), before);
  EXPECT_TRUE(sm_->Lookup(kRoot, "f").ok());
}

}  // namespace
}  // namespace dfs
