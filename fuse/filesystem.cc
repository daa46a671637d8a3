#include "fuse/filesystem.h"

#include <fcntl.h>

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/caller.h"
#include "common/backoff.h"
#include "common/errors.h"
#include "common/logging.h"
#include "common/permissions.h"
#include "common/random.h"
#include "common/status.h"
#include "common/thread_name.h"

namespace dfs::fuse {
namespace {

// The longest name a directory entry may have (the master enforces it too, but a lookup of a
// longer name must say ENAMETOOLONG, not ENOENT).
constexpr size_t kMaxNameBytes = 255;

// The content version of an inode this mount has not changed yet (see InodeState).
constexpr uint64_t kInitialDataVersion = 1;

// Reconnecting to the change feed.
constexpr int64_t kFeedInitialBackoffMs = 100;
constexpr int64_t kFeedMaxBackoffMs = 5000;
// A lookup the metadata cache cannot answer in a directory it has no listing of lists up to
// this many entries instead: if that is all of them, the directory's other names are known
// absent from then on (a create's lookup of a new name needs no round trip).
constexpr uint32_t kListingForCache = 64;
// A larger directory that keeps missing is listed whole, in pages, up to this many entries.
constexpr uint32_t kWholeListingPage = 1024;
constexpr size_t kMaxWholeListing = 16384;
// Inode ids reserved at a time for creates and mkdirs sent behind (fuse/write_behind.h).
constexpr uint32_t kReservedInodes = 1024;

absl::Status CheckName(absl::string_view name) {
  if (name.size() > kMaxNameBytes) return FsError(ENAMETOOLONG, "name longer than 255 bytes");
  return absl::OkStatus();
}

// An inode the kernel names by number but the master no longer has was removed (or replaced,
// as `dfs put -f` does) by another client. ESTALE, as NFS says, makes the kernel look the path
// up again (LOOKUP_REVAL) and retry open and stat once, which finds the new file.
absl::Status StaleIfGone(absl::Status status) {
  if (!absl::IsNotFound(status)) return status;
  return FsError(ESTALE, status.message());
}

template <typename T>
absl::StatusOr<T> StaleIfGone(absl::StatusOr<T> result) {
  if (result.ok()) return result;
  return StaleIfGone(result.status());
}

// One change of a directory by this mount, for DirAttrCache: begun on construction, ended on
// destruction, with the directory's attributes afterwards if the change succeeded and the
// master sent them.
class DirChange {
 public:
  DirChange(DirAttrCache* cache, uint64_t dir) : cache_(cache), ticket_(cache->Begin(dir)) {}
  ~DirChange() {
    cache_->End(ticket_, succeeded_ && parent_attr_.inode() == ticket_.dir ? &parent_attr_
                                                                            : nullptr);
  }
  DirChange(const DirChange&) = delete;
  DirChange& operator=(const DirChange&) = delete;

  // Where the client puts the directory's attributes.
  Attr* parent_attr() { return &parent_attr_; }
  void Succeeded() { succeeded_ = true; }

 private:
  DirAttrCache* const cache_;
  const DirAttrCache::Ticket ticket_;
  Attr parent_attr_;
  bool succeeded_ = false;
};

}  // namespace

// Per-inode state of this mount. The counters are guarded by FileSystem::table_mu_, the write
// buffer by `mu`. It is the buffer's WriteTarget: commits go to this inode.
struct FileSystem::InodeState : public WriteTarget {
  InodeState(FileSystem* fs, uint64_t inode) : fs(fs), inode(inode), buffer(this) {}

  std::unique_ptr<ChunkWriter> NewWriter() override { return fs->client_->NewChunkWriter(); }
  absl::Status Commit(bool append, uint64_t offset, const WrittenData& data) override {
    return fs->CommitData(*this, append, offset, data);
  }

  FileSystem* const fs;
  const uint64_t inode;

  // ---- guarded by FileSystem::table_mu_ ----
  uint64_t nlookup = 0;           // the kernel's references (lookups minus forgets)
  int open_count = 0;             // open file handles
  bool orphan_candidate = false;  // a name was dropped while open: ReleaseOrphan at last close
  int links_dropping = 0;         // unlinks/renames with keep_orphan still in flight
  // The content generation whose bytes the kernel's cached pages of this inode hold (set at
  // open, which drops pages of any other one, and carried along by this mount's own content
  // changes); unset when unknown. The kernel keeps pages when it sees new attributes
  // (no FUSE_CAP_AUTO_INVAL_DATA), so this is not the generation of its attributes.
  std::optional<uint64_t> page_generation;

  // ---- the write buffer ----
  absl::Mutex mu;
  WriteBuffer buffer ABSL_GUARDED_BY(mu);
  // A commit that failed where nobody could be told (release, or another handle's write), kept
  // for the next flush or fsync of any handle.
  absl::Status commit_error ABSL_GUARDED_BY(mu);
  // The attributes after this mount's newest change of the content (a commit or a truncation).
  // An answer about the inode fetched while that change was in flight can be older: the commit
  // of a release ran while a getattr took the size from the metadata cache, so the buffered
  // bytes were neither in that size nor still buffered (ApplyPendingLocked).
  std::optional<Attr> own_change ABSL_GUARDED_BY(mu);
  // The create that write-behind holds for this new file's first content (WriteBehind::Amend);
  // 0 once it went, or for a file not created here.
  uint64_t held_create ABSL_GUARDED_BY(mu) = 0;

  // Bumped whenever this mount changes the content: read caches of another version are stale.
  std::atomic<uint64_t> data_version{kInitialDataVersion};
};

class FileSystem::FileHandle {
 public:
  FileHandle(std::shared_ptr<InodeState> state, bool append, std::unique_ptr<FileReader> reader)
      : state(std::move(state)), append(append), reader(std::move(reader)) {}
  const std::shared_ptr<InodeState> state;
  const bool append;
  const std::unique_ptr<FileReader> reader;
};

class FileSystem::DirHandle {
 public:
  explicit DirHandle(uint64_t inode) : inode(inode) {}
  const uint64_t inode;
  absl::Mutex mu;
  bool loaded ABSL_GUARDED_BY(mu) = false;
  bool complete ABSL_GUARDED_BY(mu) = false;
  std::vector<DirEntry> entries ABSL_GUARDED_BY(mu);  // "." and ".." first; index = offset
};

// Reads one file's bytes through a cached GetExtents answer (extents plus chunk locations), so
// that a sequential reader asks the master once per extent window instead of once per block.
class FileSystem::ExtentSource : public RangeSource {
 public:
  ExtentSource(Client* client, std::shared_ptr<InodeState> state, const FileSystemOptions& options,
               Clock* clock)
      : client_(client), state_(std::move(state)), options_(options), clock_(clock) {}

  absl::StatusOr<std::string> ReadRange(uint64_t offset, uint64_t length) override {
    for (int attempt = 0;; ++attempt) {
      bool cached = false;
      DFS_ASSIGN_OR_RETURN(std::shared_ptr<const GetExtentsResponse> extents,
                           Extents(offset, length, /*refresh=*/attempt > 0, &cached));
      std::string out;
      absl::StatusOr<uint64_t> got =
          client_->ReadExtents(*extents, offset, length, [&out](absl::string_view piece) {
            out.append(piece.data(), piece.size());
            return absl::OkStatus();
          });
      if (got.ok()) return out;
      // Cached locations can go stale (replicas moved, chunks replaced by another client and
      // collected): one more try with a fresh answer before giving up.
      if (!cached) return got.status();
      DFS_LOG(INFO) << "inode " << state_->inode << ": read with cached extents failed ("
                    << got.status() << "); asking the master again";
    }
  }

  // Starts the cache with an answer fetched elsewhere (by open), taken at content `version`.
  void Seed(uint64_t offset, uint64_t length, GetExtentsResponse response, uint64_t version) {
    absl::MutexLock lock(&mu_);
    window_ = std::make_shared<const GetExtentsResponse>(std::move(response));
    window_start_ = offset;
    window_end_ = offset + length;
    window_version_ = version;
    fetched_ns_ = clock_->MonotonicNanos();
  }

 private:
  absl::StatusOr<std::shared_ptr<const GetExtentsResponse>> Extents(uint64_t offset,
                                                                    uint64_t length, bool refresh,
                                                                    bool* cached) {
    const uint64_t version = state_->data_version.load();
    const int64_t now = clock_->MonotonicNanos();
    if (!refresh) {
      absl::MutexLock lock(&mu_);
      if (window_ && window_version_ == version &&
          now - fetched_ns_ < options_.extent_cache_ms * 1000000 && window_start_ <= offset &&
          (offset + length <= window_end_ || window_end_ >= window_->attr().size())) {
        *cached = true;
        return window_;
      }
    }
    const uint64_t want = std::max(length, options_.extent_window_bytes);
    DFS_ASSIGN_OR_RETURN(GetExtentsResponse response,
                         StaleIfGone(client_->GetExtents(state_->inode, offset, want)));
    auto shared = std::make_shared<const GetExtentsResponse>(std::move(response));
    absl::MutexLock lock(&mu_);
    window_ = shared;
    window_start_ = offset;
    window_end_ = offset + want;
    window_version_ = version;
    fetched_ns_ = now;
    return shared;
  }

  Client* const client_;
  const std::shared_ptr<InodeState> state_;
  const FileSystemOptions options_;
  Clock* const clock_;

  absl::Mutex mu_;
  std::shared_ptr<const GetExtentsResponse> window_ ABSL_GUARDED_BY(mu_);
  uint64_t window_start_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t window_end_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t window_version_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t fetched_ns_ ABSL_GUARDED_BY(mu_) = 0;
};

FileSystem::FileSystem(Client* client, KernelCache* kernel, const FileSystemOptions& options,
                       Clock* clock)
    : client_(client),
      kernel_(kernel),
      options_(options),
      clock_(clock),
      prefetch_pool_(options.prefetch_threads),
      dir_attrs_(options.dir_attr_reuse_ms, clock),
      meta_(options.meta_cache, clock),
      write_behind_(
          WriteBehindOptions{
              .enabled = options.write_behind.enabled && meta_.enabled(),
              .max_pending = options.write_behind.max_pending,
              .max_batch = options.write_behind.max_batch},
          [client](const std::vector<BatchOp>& ops) { return client->Batch(ops); },
          [this] { return meta_.FeedIndex(); },
          [this](const std::vector<uint64_t>& dirs) {
            // The kernel holds what this mount guessed; the master's attributes are here now.
            if (kernel_ == nullptr) return;
            for (uint64_t dir : dirs) kernel_->Invalidate(dir, /*data=*/false);
          }) {
  if (meta_.enabled()) {
    feed_ = std::thread([this] {
      NameThisThread("change-feed");
      RunFeed();
    });
  }
}

FileSystem::~FileSystem() { StopFeed(); }

// ---- The change feed ----

void FileSystem::RunFeed() {
  Backoff backoff(kFeedInitialBackoffMs, kFeedMaxBackoffMs, SeedFromEntropy());
  for (;;) {
    grpc::ClientContext context;
    {
      absl::MutexLock lock(&feed_mu_);
      if (feed_stop_) return;
      feed_context_ = &context;
    }
    meta_.Connected();
    bool heard = false;
    absl::Status status = client_->Watch(&context, [&](const WatchEvent& event) {
      heard = true;
      meta_.Apply(event);
      return true;
    });
    meta_.Disconnected();
    absl::MutexLock lock(&feed_mu_);
    feed_context_ = nullptr;
    if (feed_stop_) return;
    if (heard) {
      backoff = Backoff(kFeedInitialBackoffMs, kFeedMaxBackoffMs, SeedFromEntropy());
      DFS_LOG(INFO) << "change feed ended (metadata cache emptied): " << status;
    } else {
      DFS_LOG(DEBUG) << "change feed: " << status;
    }
    const auto delay = backoff.Next();
    feed_mu_.AwaitWithTimeout(absl::Condition(&feed_stop_), absl::FromChrono(delay));
  }
}

void FileSystem::StopFeed() {
  {
    absl::MutexLock lock(&feed_mu_);
    feed_stop_ = true;
    if (feed_context_ != nullptr) feed_context_->TryCancel();
  }
  if (feed_.joinable()) feed_.join();
}

// ---- Per-inode state ----

std::shared_ptr<FileSystem::InodeState> FileSystem::GetState(uint64_t inode) {
  absl::MutexLock lock(&table_mu_);
  std::shared_ptr<InodeState>& state = inodes_[inode];
  if (!state) state = std::make_shared<InodeState>(this, inode);
  return state;
}

std::shared_ptr<FileSystem::InodeState> FileSystem::FindState(uint64_t inode) {
  absl::MutexLock lock(&table_mu_);
  auto it = inodes_.find(inode);
  return it == inodes_.end() ? nullptr : it->second;
}

void FileSystem::MaybeDropStateLocked(uint64_t inode) {
  auto it = inodes_.find(inode);
  if (it == inodes_.end()) return;
  const InodeState& state = *it->second;
  if (state.nlookup == 0 && state.open_count == 0 && state.links_dropping == 0 &&
      !state.orphan_candidate) {
    inodes_.erase(it);
  }
}

void FileSystem::AddLookup(const Attr& attr) {
  absl::MutexLock lock(&table_mu_);
  std::shared_ptr<InodeState>& state = inodes_[attr.inode()];
  if (!state) state = std::make_shared<InodeState>(this, attr.inode());
  ++state->nlookup;
}

void FileSystem::Forget(uint64_t inode, uint64_t nlookup) {
  absl::MutexLock lock(&table_mu_);
  auto it = inodes_.find(inode);
  if (it == inodes_.end()) return;
  it->second->nlookup -= std::min(nlookup, it->second->nlookup);
  MaybeDropStateLocked(inode);
}

void FileSystem::AdvancePages(InodeState& state, const Attr& after) {
  absl::MutexLock lock(&table_mu_);
  // The pages hold the bytes before this mount's change, and the change itself (the kernel
  // wrote or truncated them): still right if nobody else changed the content in between.
  if (!state.page_generation || *state.page_generation == after.generation()) return;
  if (*state.page_generation + 1 == after.generation()) {
    state.page_generation = after.generation();
  } else {
    state.page_generation.reset();
  }
}

int FileSystem::open_files() {
  absl::MutexLock lock(&table_mu_);
  return open_files_;
}

size_t FileSystem::tracked_inodes() {
  absl::MutexLock lock(&table_mu_);
  return inodes_.size();
}

// ---- The write buffer ----

void FileSystem::NoteOwnChangeLocked(InodeState& state, const Attr& after) {
  if (!state.own_change || state.own_change->generation() <= after.generation()) {
    state.own_change = after;
  }
}

void FileSystem::ApplyPendingLocked(const InodeState& state, Attr* attr) {
  // Content generations only grow: an answer from before this mount's own change is older.
  if (state.own_change && attr->generation() < state.own_change->generation()) {
    *attr = *state.own_change;
  }
  // What the size will be once the buffer is committed, so that stat(2) and the kernel's idea
  // of the file's end agree with what this mount wrote.
  attr->set_size(state.buffer.SizeWith(attr->size()));
}

absl::Status FileSystem::CommitData(InodeState& state, bool append, uint64_t offset,
                                    const WrittenData& data) {
  // Data of an open file: the kernel checked write permission at open, and Linux does not
  // check again (a file created 0444 takes the writes of the fd that created it).
  ScopedCaller open_file(std::nullopt);
  absl::StatusOr<CommitWriteResponse> result;
  if (std::optional<absl::StatusOr<Attr>> with_create =
          ContentWithCreate(state, append, offset, data)) {
    if (with_create->ok()) {
      *result.emplace().mutable_attr() = **std::move(with_create);
    } else {
      result = with_create->status();
    }
  } else {
    result = StaleIfGone(Master()->CommitWrite(state.inode, append, offset, data));
  }
  // Every commit changes the content, also those the buffer makes by itself when it fills in
  // the middle of a write: extents cached by open handles are stale (even after a failure,
  // which may have been applied).
  state.data_version.fetch_add(1);
  DFS_ASSIGN_OR_RETURN(CommitWriteResponse committed, std::move(result));
  if (append) {
    // The kernel cached the appended bytes (through other handles' views) at the end it
    // believed in; the master may have put them elsewhere. Forget both.
    {
      absl::MutexLock lock(&table_mu_);
      state.page_generation.reset();
    }
    if (kernel_ != nullptr) kernel_->Invalidate(state.inode, /*data=*/true);
  } else {
    // The kernel's pages already hold these bytes where the master put them.
    AdvancePages(state, committed.attr());
  }
  NoteOwnChangeLocked(state, committed.attr());
  return absl::OkStatus();
}

std::optional<absl::StatusOr<Attr>> FileSystem::ContentWithCreate(InodeState& state, bool append,
                                                                  uint64_t offset,
                                                                  const WrittenData& data) {
  const uint64_t seq = std::exchange(state.held_create, 0);
  // Nothing was committed before (that would have sent the create): the file is empty, and
  // content at its start (or appended) is the whole file.
  if (seq == 0 || (!append && offset != 0)) return std::nullopt;
  if (!write_behind_.Amend(seq, [&](BatchOp& op) {
        Client::SetContent(data, op.mutable_create());
      })) {
    return std::nullopt;
  }
  absl::StatusOr<Attr> attr = write_behind_.Wait(seq);
  // Another client took the name first: this file never existed at the master, nor its data.
  if (absl::IsAlreadyExists(attr.status())) {
    return FsError(EIO, absl::StrCat("the file's create, sent with its content, failed: ",
                                     attr.status().message()));
  }
  return StaleIfGone(std::move(attr));
}

absl::Status FileSystem::CommitLocked(InodeState& state) {
  if (state.buffer.empty()) return absl::OkStatus();
  const uint64_t bytes = state.buffer.bytes();
  absl::Status status = state.buffer.Commit();
  // Even a failed commit may have been applied in part (or its answer lost): cached extents
  // are suspect either way.
  state.data_version.fetch_add(1);
  if (!status.ok()) {
    DFS_LOG(WARNING) << "inode " << state.inode << ": committing " << bytes
                     << " buffered bytes failed: " << status;
    state.commit_error = status;
  }
  return status;
}

absl::Status FileSystem::CommitInode(InodeState& state) {
  absl::MutexLock lock(&state.mu);
  return CommitLocked(state);
}

absl::Status FileSystem::FlushAll() {
  std::vector<std::shared_ptr<InodeState>> states;
  {
    absl::MutexLock lock(&table_mu_);
    for (auto& [inode, state] : inodes_) states.push_back(state);
  }
  absl::Status first = FsyncDir();
  for (auto& state : states) {
    absl::Status status = CommitInode(*state);
    if (first.ok()) first = status;
  }
  return first;
}

absl::Status FileSystem::FsyncDir() {
  write_behind_.Drain();
  return write_behind_.TakeError();
}

Client* FileSystem::Master() {
  write_behind_.Drain();
  return client_;
}

MetaCache::LookupResult FileSystem::KnownName(uint64_t parent, absl::string_view name) {
  MetaCache::LookupResult own;
  own.found = write_behind_.Lookup(parent, name, &own.attr);
  if (own.found != MetaCache::Found::kUnknown) return own;
  return meta_.Lookup(parent, name, client_->newest_applied_index());
}

// ---- Names and attributes ----

absl::StatusOr<Attr> FileSystem::LookupAttr(uint64_t parent, absl::string_view name) {
  if (!meta_.enabled()) return Master()->Lookup(parent, name);
  MetaCache::LookupResult cached = KnownName(parent, name);
  if (cached.found == MetaCache::Found::kPresent) return cached.attr;
  if (cached.found == MetaCache::Found::kAbsent) return FsError(ENOENT, "no such name");
  write_behind_.Drain();
  const MetaCache::Ticket ticket = meta_.Begin();
  if (cached.listable || cached.list_whole) {
    // A short listing at a directory's first miss; a whole one, in pages, for a large
    // directory that keeps missing. If that is all of it, its other names are known absent.
    const uint32_t page_size = cached.list_whole ? kWholeListingPage : kListingForCache;
    const size_t most = cached.list_whole ? kMaxWholeListing : kListingForCache;
    std::vector<DirEntry> entries;
    absl::StatusOr<ReadDirResponse> page;
    do {
      page = client_->ReadDirPage(parent, entries.empty() ? "" : entries.back().name(),
                                  page_size);
      if (!page.ok() || page->entries().empty()) break;
      entries.insert(entries.end(), page->entries().begin(), page->entries().end());
    } while (page->has_more() && entries.size() < most);
    if (page.ok() && !page->has_more()) {
      meta_.InsertListing(ticket, parent, entries);
      for (const DirEntry& entry : entries) {
        if (entry.name() == name) return entry.attr();
      }
      return FsError(ENOENT, "no such name");
    }
    // Too large (or not listable by this caller): ask for the name.
    if (page.ok() && cached.list_whole) {
      meta_.MarkHuge(parent);
    } else if (page.ok()) {
      meta_.MarkLarge(parent);
    }
  }
  absl::StatusOr<Attr> attr = client_->Lookup(parent, name);
  if (attr.ok()) {
    meta_.InsertLookup(ticket, parent, name, &*attr);
  } else if (absl::IsNotFound(attr.status())) {
    meta_.InsertLookup(ticket, parent, name, nullptr);
  }
  return attr;
}

absl::StatusOr<Attr> FileSystem::Lookup(uint64_t parent, absl::string_view name) {
  DFS_RETURN_IF_ERROR(CheckName(name));
  DFS_ASSIGN_OR_RETURN(Attr attr, LookupAttr(parent, name));
  AddLookup(attr);
  // A directory this mount changed lately: the entry's attributes (from the cache, which the feed
  // has not brought the change to yet) would hand the kernel its old link count and times.
  if (std::optional<Attr> own = write_behind_.DirAttr(attr.inode())) attr = *std::move(own);
  if (std::shared_ptr<InodeState> state = FindState(attr.inode())) {
    absl::MutexLock lock(&state->mu);
    ApplyPendingLocked(*state, &attr);
  }
  return attr;
}

absl::StatusOr<Attr> FileSystem::GetAttr(uint64_t inode) {
  // The kernel asks for a directory's attributes after each change it sees in it.
  if (std::optional<Attr> own = write_behind_.DirAttr(inode)) return *std::move(own);
  if (std::optional<Attr> kept = dir_attrs_.Take(inode)) return *std::move(kept);
  Attr attr;
  if (std::optional<Attr> cached = meta_.GetAttr(inode, client_->newest_applied_index())) {
    attr = *std::move(cached);
  } else {
    write_behind_.Drain();
    const MetaCache::Ticket ticket = meta_.Begin();
    DFS_ASSIGN_OR_RETURN(attr, StaleIfGone(client_->GetAttr(inode)));
    meta_.InsertAttr(ticket, attr);
  }
  if (std::shared_ptr<InodeState> state = FindState(inode)) {
    absl::MutexLock lock(&state->mu);
    ApplyPendingLocked(*state, &attr);
  }
  return attr;
}

absl::StatusOr<Attr> FileSystem::SetAttr(uint64_t inode, const AttrChanges& changes) {
  DirChange change(&dir_attrs_, inode);
  std::shared_ptr<InodeState> state = FindState(inode);
  if (state == nullptr) return StaleIfGone(Master()->SetAttr(inode, changes));
  // Buffered writes came first, so they are committed first: a truncation must cut them, and
  // times set afterwards (cp -a sets them before close) must not be overwritten by the
  // commit's own mtime. The inode's mutex keeps new writes from slipping in between.
  absl::MutexLock lock(&state->mu);
  DFS_RETURN_IF_ERROR(CommitLocked(*state));
  absl::StatusOr<Attr> attr = Master()->SetAttr(inode, changes);
  if (changes.size) state->data_version.fetch_add(1);
  if (!attr.ok()) return StaleIfGone(attr.status());
  AdvancePages(*state, *attr);
  NoteOwnChangeLocked(*state, *attr);
  return attr;
}

absl::StatusOr<std::string> FileSystem::ReadLink(uint64_t inode) {
  DFS_ASSIGN_OR_RETURN(Attr attr, StaleIfGone(Master()->GetAttr(inode)));
  if (attr.type() != FILE_TYPE_SYMLINK) return FsError(EINVAL, "not a symbolic link");
  return attr.symlink_target();
}

absl::StatusOr<Attr> FileSystem::Mkdir(uint64_t parent, absl::string_view name,
                                       uint32_t mode) {
  DFS_RETURN_IF_ERROR(CheckName(name));
  if (std::optional<Attr> behind = NewInodeBehind(parent, name, FILE_TYPE_DIRECTORY, mode)) {
    AddLookup(*behind);
    return *std::move(behind);
  }
  DirChange change(&dir_attrs_, parent);
  Client* master = Master();
  const MetaCache::Ticket ticket = meta_.Begin();
  DFS_ASSIGN_OR_RETURN(Attr attr,
                       master->Mkdir(parent, name, mode & 07777, change.parent_attr()));
  change.Succeeded();
  // Created empty: its names are all known (an rmdir can then be sent behind).
  meta_.InsertNewDir(ticket, attr);
  AddLookup(attr);
  return attr;
}

absl::StatusOr<Attr> FileSystem::Symlink(uint64_t parent, absl::string_view name,
                                         absl::string_view target) {
  DFS_RETURN_IF_ERROR(CheckName(name));
  DirChange change(&dir_attrs_, parent);
  DFS_ASSIGN_OR_RETURN(Attr attr, Master()->Symlink(parent, name, target, change.parent_attr()));
  change.Succeeded();
  AddLookup(attr);
  return attr;
}

absl::StatusOr<Attr> FileSystem::Link(uint64_t inode, uint64_t new_parent,
                                      absl::string_view new_name) {
  DFS_RETURN_IF_ERROR(CheckName(new_name));
  DirChange change(&dir_attrs_, new_parent);
  DFS_ASSIGN_OR_RETURN(Attr attr,
                       Master()->Link(inode, new_parent, new_name, change.parent_attr()));
  change.Succeeded();
  AddLookup(attr);
  if (std::shared_ptr<InodeState> state = FindState(inode)) {
    absl::MutexLock lock(&state->mu);
    ApplyPendingLocked(*state, &attr);
  }
  return attr;
}

std::shared_ptr<FileSystem::InodeState> FileSystem::BeginDropLink(uint64_t inode) {
  absl::MutexLock lock(&table_mu_);
  auto it = inodes_.find(inode);
  if (it == inodes_.end() || it->second->open_count == 0) return nullptr;
  it->second->orphan_candidate = true;
  ++it->second->links_dropping;
  return it->second;
}

void FileSystem::EndDropLink(const std::shared_ptr<InodeState>& state) {
  {
    absl::MutexLock lock(&table_mu_);
    --state->links_dropping;
  }
  ReleaseOrphanIfDue(state);
}

void FileSystem::ReleaseOrphanIfDue(const std::shared_ptr<InodeState>& state) {
  {
    absl::MutexLock lock(&table_mu_);
    // Not while an unlink with keep_orphan is in flight: the release could reach the master
    // first and find nothing to free, and the unlink would then leave the orphan forever.
    if (!state->orphan_candidate || state->open_count > 0 || state->links_dropping > 0) return;
    state->orphan_candidate = false;
    MaybeDropStateLocked(state->inode);
  }
  // A no-op at the master when the inode kept a link (only one of several names was dropped).
  absl::Status status = Master()->ReleaseOrphan(state->inode);
  if (!status.ok()) {
    DFS_LOG(WARNING) << "inode " << state->inode << ": releasing the orphan failed: " << status;
  }
}

bool FileSystem::OpenHere(uint64_t inode) {
  absl::MutexLock lock(&table_mu_);
  auto it = inodes_.find(inode);
  return it != inodes_.end() && it->second->open_count > 0;
}

std::optional<Attr> FileSystem::KnownDirAttr(uint64_t dir) {
  std::optional<Attr> attr = write_behind_.DirAttr(dir);
  if (!attr) attr = meta_.GetAttr(dir, client_->newest_applied_index());
  if (!attr) {
    // Once per directory: the metadata cache keeps what this brings, and the feed keeps it.
    absl::StatusOr<Attr> fetched = GetAttr(dir);
    if (!fetched.ok()) return std::nullopt;
    attr = *std::move(fetched);
  }
  return attr;
}

absl::StatusOr<uint64_t> FileSystem::NextInodeId() {
  absl::MutexLock lock(&ids_mu_);
  if (next_id_ == end_id_) {
    DFS_ASSIGN_OR_RETURN(ReserveInodesResponse block, client_->ReserveInodes(kReservedInodes));
    next_id_ = block.first();
    end_id_ = block.first() + block.count();
  }
  return next_id_++;
}

bool FileSystem::SendBehind(BatchOp op, WriteBehind::Effects effects,
                            std::vector<std::pair<uint64_t, int>> dirs, uint64_t* held_seq) {
  const int64_t now_ns = clock_->NowNanos();
  for (const auto& [dir, nlink_change] : dirs) {
    std::optional<Attr> attr = KnownDirAttr(dir);
    if (!attr) return false;
    // As the master will: the directory was modified now (never earlier than it was).
    attr->set_mtime_ns(std::max(attr->mtime_ns(), now_ns));
    attr->set_ctime_ns(std::max(attr->ctime_ns(), now_ns));
    attr->set_nlink(attr->nlink() + nlink_change);
    effects.dirs.push_back(*std::move(attr));
    // An answer kept from an earlier change predates this one.
    (void)dir_attrs_.Take(dir);
  }
  const uint64_t seq =
      write_behind_.Enqueue(std::move(op), std::move(effects), /*hold=*/held_seq != nullptr);
  if (held_seq != nullptr) *held_seq = seq;
  return true;
}

Caller FileSystem::AsTheMasterSees(const Caller& caller) {
  if (caller.uid() != 0) return caller;
  int squashed = root_squashed_.load();
  if (squashed < 0) {
    // Asked once (a StatFs answer says); until then root is taken as squashed, which only
    // sends more changes to the master at once.
    absl::StatusOr<StatFsResponse> fs = client_->StatFs();
    if (fs.ok()) root_squashed_ = squashed = fs->root_squashed() ? 1 : 0;
  }
  return squashed == 0 ? caller : SquashRoot(caller);
}

std::optional<Caller> FileSystem::BehindCaller(
    const std::function<absl::Status(const Caller&)>& allowed) {
  std::optional<Caller> caller = client_->CallerNow();
  if (!caller || !allowed(AsTheMasterSees(*caller)).ok()) return std::nullopt;
  return caller;
}

std::optional<Attr> FileSystem::NewInodeBehind(uint64_t parent, absl::string_view name,
                                               FileType type, uint32_t mode, uint64_t* held_seq) {
  if (!write_behind_.enabled() || KnownName(parent, name).found != MetaCache::Found::kAbsent) {
    return std::nullopt;
  }
  const std::optional<Attr> parent_attr = KnownDirAttr(parent);
  if (!parent_attr) return std::nullopt;
  std::optional<Caller> caller = BehindCaller(
      [&](const Caller& as) { return CheckAccess(*parent_attr, &as, kMayWrite | kMayExec); });
  if (!caller) return std::nullopt;
  absl::StatusOr<uint64_t> inode = NextInodeId();
  if (!inode.ok()) return std::nullopt;
  const bool dir = type == FILE_TYPE_DIRECTORY;
  // The new inode as the master will make it (NewInode), but for its times.
  const int64_t now_ns = clock_->NowNanos();
  Attr attr;
  attr.set_inode(*inode);
  attr.set_type(type);
  attr.set_mode(mode & 07777);
  const Caller owner = AsTheMasterSees(*caller);
  SetNewOwner(*parent_attr, &owner, 0, 0, &attr);
  attr.set_nlink(dir ? 2 : 1);
  attr.set_atime_ns(now_ns);
  attr.set_mtime_ns(now_ns);
  attr.set_ctime_ns(now_ns);
  if (dir) attr.set_parent(parent);
  BatchOp op;
  auto fill = [&](auto* request) {
    request->set_parent(parent);
    request->set_name(std::string(name));
    request->set_mode(mode & 07777);
    request->set_inode(*inode);
    *request->mutable_caller() = *std::move(caller);
  };
  if (dir) {
    fill(op.mutable_mkdir());
  } else {
    fill(op.mutable_create());
    op.mutable_create()->set_exclusive(true);
  }
  const MetaCache::Ticket ticket = meta_.Begin();
  WriteBehind::Effects effects;
  effects.names.push_back({parent, std::string(name), attr});
  if (!SendBehind(std::move(op), std::move(effects), {{parent, dir ? 1 : 0}}, held_seq)) {
    return std::nullopt;
  }
  // A new directory is empty: its names are all known.
  if (dir) meta_.InsertNewDir(ticket, attr);
  return attr;
}

bool FileSystem::RemoveBehind(uint64_t parent, absl::string_view name, bool rmdir) {
  if (!write_behind_.enabled()) return false;
  const MetaCache::LookupResult victim = KnownName(parent, name);
  if (victim.found != MetaCache::Found::kPresent ||
      (victim.attr.type() == FILE_TYPE_DIRECTORY) != rmdir) {
    return false;
  }
  if (rmdir) {
    // Only a directory known empty: every name in it is known here.
    if (meta_.IsEmptyDir(victim.attr.inode(), client_->newest_applied_index()) != true ||
        write_behind_.AddsNamesIn(victim.attr.inode())) {
      return false;
    }
  } else if (victim.attr.nlink() > 1 || OpenHere(victim.attr.inode())) {
    // A file with another name, or open here, changes in ways only the master's answer tells.
    return false;
  }
  const std::optional<Attr> dir = KnownDirAttr(parent);
  if (!dir) return false;
  std::optional<Caller> caller = BehindCaller(
      [&](const Caller& as) { return CheckRemoveEntry(*dir, victim.attr, &as); });
  if (!caller) return false;
  BatchOp op;
  RemoveRequest* remove = rmdir ? op.mutable_rmdir() : op.mutable_unlink();
  remove->set_parent(parent);
  remove->set_name(std::string(name));
  *remove->mutable_caller() = *std::move(caller);
  WriteBehind::Effects effects;
  effects.names.push_back({parent, std::string(name), std::nullopt});
  return SendBehind(std::move(op), std::move(effects), {{parent, rmdir ? -1 : 0}});
}

bool FileSystem::RenameBehind(uint64_t parent, absl::string_view name, uint64_t new_parent,
                              absl::string_view new_name, bool noreplace) {
  if (!write_behind_.enabled() || (parent == new_parent && name == new_name)) return false;
  MetaCache::LookupResult source = KnownName(parent, name);
  if (source.found != MetaCache::Found::kPresent) return false;
  const bool is_dir = source.attr.type() == FILE_TYPE_DIRECTORY;
  // Moving a directory elsewhere needs the master's check that it does not go into itself.
  if (is_dir && parent != new_parent) return false;
  const MetaCache::LookupResult target = KnownName(new_parent, new_name);
  if (target.found == MetaCache::Found::kUnknown) return false;
  if (target.found == MetaCache::Found::kPresent &&
      (noreplace || is_dir || target.attr.type() == FILE_TYPE_DIRECTORY ||
       target.attr.inode() == source.attr.inode() || target.attr.nlink() > 1 ||
       OpenHere(target.attr.inode()))) {
    return false;
  }
  const std::optional<Attr> from = KnownDirAttr(parent);
  const std::optional<Attr> to = KnownDirAttr(new_parent);
  if (!from || !to) return false;
  std::optional<Caller> caller = BehindCaller([&](const Caller& as) -> absl::Status {
    DFS_RETURN_IF_ERROR(CheckRemoveEntry(*from, source.attr, &as));
    DFS_RETURN_IF_ERROR(CheckAccess(*to, &as, kMayWrite | kMayExec));
    if (target.found != MetaCache::Found::kPresent) return absl::OkStatus();
    return CheckRemoveEntry(*to, target.attr, &as);
  });
  if (!caller) return false;
  BatchOp op;
  RenameRequest* rename = op.mutable_rename();
  rename->set_parent(parent);
  rename->set_name(std::string(name));
  rename->set_new_parent(new_parent);
  rename->set_new_name(std::string(new_name));
  rename->set_noreplace(noreplace);
  *rename->mutable_caller() = *std::move(caller);
  Attr moved = std::move(source.attr);
  moved.set_ctime_ns(std::max(moved.ctime_ns(), clock_->NowNanos()));
  WriteBehind::Effects effects;
  effects.names.push_back({parent, std::string(name), std::nullopt});
  effects.names.push_back({new_parent, std::string(new_name), std::move(moved)});
  std::vector<std::pair<uint64_t, int>> dirs = {{parent, 0}};
  if (new_parent != parent) dirs.emplace_back(new_parent, 0);
  return SendBehind(std::move(op), std::move(effects), std::move(dirs));
}

absl::Status FileSystem::Unlink(uint64_t parent, absl::string_view name) {
  DFS_RETURN_IF_ERROR(CheckName(name));
  if (RemoveBehind(parent, name, /*rmdir=*/false)) return absl::OkStatus();
  DirChange change(&dir_attrs_, parent);
  std::shared_ptr<InodeState> open_victim;
  // Only a file open here needs keeping; with nothing open the extra lookup is skipped.
  if (open_files() > 0) {
    DFS_ASSIGN_OR_RETURN(Attr victim, LookupAttr(parent, name));
    open_victim = BeginDropLink(victim.inode());
  }
  absl::Status status = Master()->Unlink(parent, name, /*keep_orphan=*/open_victim != nullptr,
                                         change.parent_attr());
  if (open_victim) EndDropLink(open_victim);
  if (status.ok()) change.Succeeded();
  return status;
}

absl::Status FileSystem::Rmdir(uint64_t parent, absl::string_view name) {
  DFS_RETURN_IF_ERROR(CheckName(name));
  if (RemoveBehind(parent, name, /*rmdir=*/true)) return absl::OkStatus();
  DirChange change(&dir_attrs_, parent);
  DFS_RETURN_IF_ERROR(Master()->Rmdir(parent, name, change.parent_attr()));
  change.Succeeded();
  return absl::OkStatus();
}

absl::Status FileSystem::Rename(uint64_t parent, absl::string_view name, uint64_t new_parent,
                                absl::string_view new_name, bool noreplace) {
  DFS_RETURN_IF_ERROR(CheckName(name));
  DFS_RETURN_IF_ERROR(CheckName(new_name));
  if (RenameBehind(parent, name, new_parent, new_name, noreplace)) return absl::OkStatus();
  DirChange from(&dir_attrs_, parent);
  // Two changes of one directory would overlap and keep nothing.
  std::optional<DirChange> to;
  if (new_parent != parent) to.emplace(&dir_attrs_, new_parent);
  std::shared_ptr<InodeState> open_victim;
  if (!noreplace && open_files() > 0) {
    absl::StatusOr<Attr> victim = LookupAttr(new_parent, new_name);
    if (victim.ok()) {
      open_victim = BeginDropLink(victim->inode());
    } else if (!absl::IsNotFound(victim.status())) {
      return victim.status();
    }
  }
  absl::Status status = Master()->Rename(parent, name, new_parent, new_name, noreplace,
                                         /*keep_orphan=*/open_victim != nullptr,
                                         from.parent_attr(), to ? to->parent_attr() : nullptr);
  if (open_victim) EndDropLink(open_victim);
  if (status.ok()) {
    from.Succeeded();
    if (to) to->Succeeded();
  }
  return status;
}

absl::StatusOr<StatFsResponse> FileSystem::StatFs() { return Master()->StatFs(); }

// ---- Files ----

absl::StatusOr<FileSystem::Opened> FileSystem::OpenAttr(const Attr& fresh, int flags,
                                                        bool created, ExtentSeed* seed) {
  if (fresh.type() == FILE_TYPE_DIRECTORY) return FsError(EISDIR, "is a directory");
  if (fresh.type() != FILE_TYPE_REGULAR) return FsError(ELOOP, "not a regular file");
  Attr attr = fresh;
  std::shared_ptr<InodeState> state = GetState(attr.inode());
  const bool writable = (flags & O_ACCMODE) != O_RDONLY;
  bool truncated = false;
  if ((flags & O_TRUNC) && writable) {
    absl::MutexLock lock(&state->mu);
    if (attr.size() > 0 || !state->buffer.empty()) {
      DFS_RETURN_IF_ERROR(CommitLocked(*state));
      AttrChanges changes;
      changes.size = 0;
      absl::StatusOr<Attr> truncated_attr = Master()->SetAttr(attr.inode(), changes);
      state->data_version.fetch_add(1);
      if (!truncated_attr.ok()) return StaleIfGone(truncated_attr.status());
      attr = *truncated_attr;
      NoteOwnChangeLocked(*state, attr);
      truncated = true;
    }
  }
  Opened opened;
  opened.attr = attr;
  {
    absl::MutexLock lock(&table_mu_);
    opened.keep_cache = !truncated && state->page_generation == attr.generation();
    state->page_generation = attr.generation();
    ++state->open_count;
    ++open_files_;
  }
  // Close-to-open: what the kernel holds about a file that changed elsewhere must go before
  // the application reads (its cached size alone would cut reads short).
  opened.invalidate_attr = !opened.keep_cache && !created;
  opened.direct_io = (flags & O_APPEND) != 0;
  ReaderOptions reader_options;
  reader_options.block_bytes = options_.read_block_bytes;
  reader_options.readahead_bytes = options_.readahead_bytes;
  auto source = std::make_shared<ExtentSource>(client_, state, options_, clock_);
  if (seed != nullptr && !truncated) {
    source->Seed(0, options_.extent_window_bytes, std::move(seed->extents), seed->version);
  }
  opened.handle = new FileHandle(
      state, (flags & O_APPEND) != 0,
      std::make_unique<FileReader>(std::move(source), &prefetch_pool_, reader_options));
  {
    absl::MutexLock lock(&state->mu);
    ApplyPendingLocked(*state, &opened.attr);
  }
  return opened;
}

absl::StatusOr<FileSystem::Opened> FileSystem::Open(uint64_t inode, int flags) {
  if ((flags & O_ACCMODE) == O_WRONLY || (flags & O_TRUNC)) {
    DFS_ASSIGN_OR_RETURN(Attr attr, StaleIfGone(Master()->GetAttr(inode)));
    return OpenAttr(attr, flags, /*created=*/false, nullptr);
  }
  // A reader will want the first extents anyway: one RPC gives them with the fresh attributes
  // (close-to-open), instead of one for each.
  ExtentSeed seed;
  std::shared_ptr<InodeState> state = FindState(inode);
  seed.version = state != nullptr ? state->data_version.load() : kInitialDataVersion;
  absl::StatusOr<GetExtentsResponse> extents =
      Master()->GetExtents(inode, 0, options_.extent_window_bytes);
  if (!extents.ok() && !absl::IsFailedPrecondition(extents.status())) {
    return StaleIfGone(extents.status());
  }
  if (!extents.ok()) {
    // Not a regular file: let OpenAttr say what it is.
    DFS_ASSIGN_OR_RETURN(Attr attr, StaleIfGone(Master()->GetAttr(inode)));
    return OpenAttr(attr, flags, /*created=*/false, nullptr);
  }
  Attr attr = extents->attr();
  seed.extents = *std::move(extents);
  return OpenAttr(attr, flags, /*created=*/false, &seed);
}

absl::StatusOr<FileSystem::Opened> FileSystem::Create(uint64_t parent, absl::string_view name,
                                                      uint32_t mode, int flags) {
  DFS_RETURN_IF_ERROR(CheckName(name));
  // A file created to be written: its create waits a moment for the content (a small file
  // written and closed at once goes to the master whole, as one op).
  uint64_t held_create = 0;
  std::optional<Attr> created =
      NewInodeBehind(parent, name, FILE_TYPE_REGULAR, mode,
                     (flags & O_ACCMODE) != O_RDONLY ? &held_create : nullptr);
  if (!created) {
    CreateOptions create;
    create.mode = mode & 07777;
    create.exclusive = (flags & O_EXCL) != 0;
    DirChange change(&dir_attrs_, parent);
    DFS_ASSIGN_OR_RETURN(created, Master()->Create(parent, name, create, /*content=*/{},
                                                   change.parent_attr()));
    // Without O_EXCL an existing file may have been opened: then the directory did not change,
    // but what the master sent is still its attributes after the call.
    change.Succeeded();
    // Without O_EXCL an existing name is opened; it must be a regular file.
    if (created->type() != FILE_TYPE_REGULAR) {
      return FsError(created->type() == FILE_TYPE_DIRECTORY ? EISDIR : EEXIST,
                     "not a regular file");
    }
  }
  AddLookup(*created);
  absl::StatusOr<Opened> opened = OpenAttr(*created, flags, /*created=*/true, nullptr);
  if (!opened.ok()) {
    Forget(created->inode(), 1);
  } else if (held_create != 0) {
    InodeState& state = *opened->handle->state;
    absl::MutexLock lock(&state.mu);
    state.held_create = held_create;
  }
  return opened;
}

absl::StatusOr<std::string> FileSystem::Read(FileHandle* handle, uint64_t offset, uint64_t size) {
  InodeState& state = *handle->state;
  Overlay overlay;
  uint64_t version;
  {
    // A client reads its own writes: buffered ranges are laid over what the cluster has, and
    // what cannot be (a streamed run, appends) is committed first.
    absl::MutexLock lock(&state.mu);
    if (state.buffer.NeedsCommitToRead(offset, size)) DFS_RETURN_IF_ERROR(CommitLocked(state));
    overlay = state.buffer.OverlayFor(offset, size);
    version = state.data_version.load();
  }
  DFS_ASSIGN_OR_RETURN(std::string data, handle->reader->Read(offset, size, version));
  overlay.Apply(offset, size, &data);
  return data;
}

absl::StatusOr<size_t> FileSystem::Write(FileHandle* handle, uint64_t offset,
                                         absl::string_view data) {
  InodeState& state = *handle->state;
  absl::MutexLock lock(&state.mu);
  absl::Status status = state.buffer.Write(handle->append, offset, data, options_.commit_bytes);
  if (!status.ok()) {
    // Buffered bytes went with the failure: tell this writer now, and every handle at its
    // next flush.
    DFS_LOG(WARNING) << "inode " << state.inode << ": write failed: " << status;
    state.commit_error = status;
    state.data_version.fetch_add(1);
    return status;
  }
  return data.size();
}

absl::Status FileSystem::Flush(FileHandle* handle) {
  InodeState& state = *handle->state;
  absl::Status status;
  {
    absl::MutexLock lock(&state.mu);
    status = CommitLocked(state);
    if (status.ok()) status = state.commit_error;
    // Reported now; the next flush starts clean.
    state.commit_error = absl::OkStatus();
  }
  // Close-to-open: a file created behind (fuse/write_behind.h) exists at the master once it
  // was closed, even with nothing written (a commit waits for it anyway).
  write_behind_.Drain();
  return status;
}

absl::Status FileSystem::Fsync(FileHandle* handle) {
  // A commit is durable when it returns: the chunk pipeline acknowledged only after every
  // replica synced, and the master persisted the command before answering. The namespace
  // changes answered before are made durable too (as a journaling file system's fsync does).
  absl::Status status = Flush(handle);
  absl::Status names = FsyncDir();
  return status.ok() ? names : status;
}

void FileSystem::Release(FileHandle* handle) {
  std::shared_ptr<InodeState> state = handle->state;
  {
    absl::MutexLock lock(&state->mu);
    // close(2) already flushed; this catches writes through descriptors that outlived it (for
    // example after dup or fork). A failure stays in commit_error for other handles.
    (void)CommitLocked(*state);
  }
  delete handle;
  {
    absl::MutexLock lock(&table_mu_);
    --state->open_count;
    --open_files_;
  }
  ReleaseOrphanIfDue(state);
  absl::MutexLock lock(&table_mu_);
  MaybeDropStateLocked(state->inode);
}

// ---- Directories ----

absl::StatusOr<FileSystem::DirHandle*> FileSystem::OpenDir(uint64_t inode) {
  return new DirHandle(inode);
}

absl::Status FileSystem::ReadDir(
    DirHandle* handle, uint64_t offset,
    const std::function<bool(const DirEntry& entry, uint64_t next)>& add) {
  absl::MutexLock lock(&handle->mu);
  if (offset == 0 || !handle->loaded) {
    // A listing from the start (opendir or rewinddir) is read afresh.
    handle->entries.clear();
    handle->complete = false;
    DFS_ASSIGN_OR_RETURN(Attr self, Master()->GetAttr(handle->inode));
    if (self.type() != FILE_TYPE_DIRECTORY) return FsError(ENOTDIR, "not a directory");
    DirEntry dot;
    dot.set_name(".");
    *dot.mutable_attr() = self;
    DirEntry dotdot;
    dotdot.set_name("..");
    dotdot.mutable_attr()->set_inode(handle->inode == kRootInode ? kRootInode : self.parent());
    dotdot.mutable_attr()->set_type(FILE_TYPE_DIRECTORY);
    handle->entries.push_back(std::move(dot));
    handle->entries.push_back(std::move(dotdot));
    handle->loaded = true;
  }
  for (uint64_t i = offset;; ++i) {
    while (i >= handle->entries.size() && !handle->complete) {
      std::string after = handle->entries.size() > 2 ? handle->entries.back().name() : "";
      DFS_ASSIGN_OR_RETURN(ReadDirResponse page, Master()->ReadDirPage(handle->inode, after));
      for (DirEntry& entry : *page.mutable_entries()) {
        if (std::shared_ptr<InodeState> state = FindState(entry.attr().inode())) {
          absl::MutexLock state_lock(&state->mu);
          ApplyPendingLocked(*state, entry.mutable_attr());
        }
        handle->entries.push_back(std::move(entry));
      }
      handle->complete = !page.has_more() || page.entries().empty();
    }
    if (i >= handle->entries.size()) return absl::OkStatus();
    if (!add(handle->entries[i], i + 1)) return absl::OkStatus();
  }
}

void FileSystem::ReleaseDir(DirHandle* handle) { delete handle; }

}  // namespace dfs::fuse
