#include "master/master_http.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/rpc.h"
#include "master/status_page.h"

namespace dfs {
namespace {

constexpr int64_t kWatchIntervalMs = 500;
constexpr int64_t kPeerTimeoutMs = 500;
constexpr size_t kEventsShown = 50;

// An AdminService answer (RaftStatus, ClusterStatus, ListDatanodes) from the service in this
// process: the same code as over gRPC, without the network.
template <typename Response>
absl::StatusOr<Response> AskService(
    MasterServiceImpl* service,
    grpc::Status (MasterServiceImpl::*method)(grpc::ServerContext*, const Empty*, Response*)) {
  grpc::ServerContext context;
  Empty empty;
  Response response;
  grpc::Status status = (service->*method)(&context, &empty, &response);
  if (!status.ok()) return absl::UnavailableError(status.error_message());
  return response;
}

RaftStatusResponse RaftStatusOf(MasterServiceImpl* service) {
  return AskService(service, &MasterServiceImpl::RaftStatus).value_or(RaftStatusResponse());
}

ListDatanodesResponse DatanodesOf(MasterServiceImpl* service) {
  return AskService(service, &MasterServiceImpl::ListDatanodes).value_or(ListDatanodesResponse());
}

// Another master's own RaftStatus, over gRPC.
absl::StatusOr<RaftStatusResponse> RemoteRaftStatus(const std::string& address) {
  auto stub = AdminService::NewStub(GetChannel(address));
  grpc::ClientContext context;
  SetTimeout(&context, kPeerTimeoutMs);
  RaftStatusResponse response;
  grpc::Status status = stub->RaftStatus(&context, Empty(), &response);
  if (!status.ok()) return absl::UnavailableError(status.error_message());
  return response;
}

HttpResponse HtmlMessage(int status, const std::string& title, const std::string& text) {
  HttpResponse response;
  response.status = status;
  response.content_type = "text/html; charset=utf-8";
  response.body = absl::StrCat(
      "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" "
      "content=\"2\"><title>dfs: ",
      HtmlEscape(title), "</title></head><body style=\"font-family:sans-serif\"><h1>",
      HtmlEscape(title), "</h1><p>", HtmlEscape(text), "</p></body></html>\n");
  return response;
}

}  // namespace

std::string AdvertisedHttpAddress(const std::string& listen, const std::string& bound,
                                  const std::string& grpc_address) {
  const std::string host = listen.substr(0, listen.rfind(':'));
  if (!host.empty() && host != "0.0.0.0" && host != "[::]") return bound;
  return grpc_address.substr(0, grpc_address.rfind(':')) + bound.substr(bound.rfind(':'));
}

MasterHttp::~MasterHttp() { Stop(); }

void MasterHttp::SetService(MasterServiceImpl* service) {
  service_.store(service);
  auto& registry = metrics::Registry::Default();
  raft_metrics_ = registry.AddCollector([this](metrics::Collection* out) { CollectRaft(out); });
  cluster_metrics_ =
      registry.AddCollector([this](metrics::Collection* out) { CollectCluster(out); });
  watcher_ = std::thread([this] { WatchLoop(); });
}

void MasterHttp::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (watcher_.joinable()) watcher_.join();
  raft_metrics_.reset();
  cluster_metrics_.reset();
}

void MasterHttp::WatchLoop() {
  ClusterEventWatcher watcher(events_);
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    lock.unlock();
    MasterServiceImpl* service = service_.load();
    watcher.Observe(RaftStatusOf(service), DatanodesOf(service));
    lock.lock();
    cv_.wait_for(lock, std::chrono::milliseconds(kWatchIntervalMs), [this] { return stop_; });
  }
}

HttpResponse MasterHttp::Serve(const HttpRequest&) {
  MasterServiceImpl* service = service_.load();
  if (service == nullptr) return HtmlMessage(503, "Starting", "This master is starting.");
  RaftStatusResponse own = RaftStatusOf(service);
  if (own.role() != "leader") return RedirectToLeader(own);
  return ServeLeaderPage(service, own);
}

HttpResponse MasterHttp::RedirectToLeader(const RaftStatusResponse& own) {
  if (own.leader_address().empty()) {
    return HtmlMessage(503, "No leader",
                       absl::StrCat("Master ", own.address(), " (", own.role(),
                                    ") knows no leader yet; this page retries."));
  }
  absl::StatusOr<RaftStatusResponse> leader = RemoteRaftStatus(own.leader_address());
  if (!leader.ok() || leader->http_address().empty()) {
    return HtmlMessage(503, "Leader page unavailable",
                       absl::StrCat("The leader is ", own.leader_address(), ", but its HTTP "
                                    "address is unknown: ",
                                    leader.ok() ? "it serves no HTTP" : leader.status().message()));
  }
  HttpResponse response;
  response.status = 307;
  const std::string location = absl::StrCat("http://", leader->http_address(), "/");
  response.headers.emplace_back("Location", location);
  response.content_type = "text/html; charset=utf-8";
  response.body = absl::StrCat("<a href=\"", HtmlEscape(location), "\">leader</a>\n");
  return response;
}

HttpResponse MasterHttp::ServeLeaderPage(MasterServiceImpl* service,
                                         const RaftStatusResponse& own) {
  StatusPageData data;
  data.raft = own;
  absl::StatusOr<ClusterStatusResponse> cluster =
      AskService(service, &MasterServiceImpl::ClusterStatus);
  if (cluster.ok()) data.cluster = *std::move(cluster);
  data.datanodes = DatanodesOf(service);
  for (const RaftMemberStatus& member : data.raft.members()) {
    MasterView view;
    view.address = member.address();
    view.match_index = member.match_index();
    if (member.address() == data.raft.address()) {
      view.reachable = true;
      view.status = data.raft;
    } else if (absl::StatusOr<RaftStatusResponse> status = RemoteRaftStatus(member.address());
               status.ok()) {
      view.reachable = true;
      view.status = *std::move(status);
    }
    data.masters.push_back(std::move(view));
  }
  data.events = events_->Recent(kEventsShown);
  data.now_ns = RealClock::Get()->NowNanos();
  HttpResponse response;
  response.content_type = "text/html; charset=utf-8";
  response.body = RenderStatusPage(data);
  return response;
}

void MasterHttp::CollectRaft(metrics::Collection* out) {
  RaftStatusResponse raft = RaftStatusOf(service_.load());
  out->AddGauge("dfs_raft_term", "Current Raft term of this master.", raft.term());
  out->AddGauge("dfs_raft_commit_index", "Highest log index known committed.",
                raft.commit_index());
  out->AddGauge("dfs_raft_applied_index", "Highest log index applied to the state machine.",
                raft.applied_index());
  out->AddGauge("dfs_raft_last_index", "Index of the last entry in this master's log.",
                raft.last_index());
  out->AddGauge("dfs_raft_snapshot_index", "Last index covered by this master's snapshot.",
                raft.snapshot_index());
  out->AddGauge("dfs_raft_log_entries", "Entries in the log after the snapshot (log size).",
                raft.last_index() - std::min(raft.last_index(), raft.snapshot_index()));
  out->AddGauge("dfs_raft_members", "Members of the Raft group.", raft.members_size());
  out->AddCounter("dfs_raft_proposals_total", "Commands this master proposed as leader.",
                  raft.proposals());
  out->AddCounter("dfs_raft_proposal_batches_total",
                  "Batches those proposals went to Raft in (proposals per batch = group commit).",
                  raft.proposal_batches());
  for (const char* role : {"leader", "follower", "candidate", "pre-candidate"}) {
    out->AddGauge("dfs_raft_role", "1 for this master's current Raft role, else 0.",
                  raft.role() == role ? 1 : 0, {{"role", role}});
  }
  if (raft.role() != "leader") return;
  for (const RaftMemberStatus& member : raft.members()) {
    if (member.address() == raft.address()) continue;
    out->AddGauge("dfs_raft_peer_lag_entries",
                  "Leader only: entries a member still lacks (last index - its match index).",
                  raft.last_index() - std::min(raft.last_index(), member.match_index()),
                  {{"peer", member.address()}});
  }
}

void MasterHttp::CollectCluster(metrics::Collection* out) {
  MasterServiceImpl* service = service_.load();
  absl::StatusOr<ClusterStatusResponse> cluster =
      AskService(service, &MasterServiceImpl::ClusterStatus);
  if (cluster.ok()) {
    const ClusterStatusResponse& c = *cluster;
    out->AddGauge("dfs_master_inodes", "Inodes in the namespace.", c.inodes());
    out->AddGauge("dfs_master_chunks", "Chunks in the chunk map.", c.chunks());
    const char* help = "Chunks by health at the leader's last maintenance scan (0 elsewhere).";
    out->AddGauge("dfs_master_chunk_health", help, c.missing_chunks(), {{"state", "missing"}});
    out->AddGauge("dfs_master_chunk_health", help, c.under_replicated_chunks(),
                  {{"state", "under_replicated"}});
    out->AddGauge("dfs_master_chunk_health", help, c.over_replicated_chunks(),
                  {{"state", "over_replicated"}});
    out->AddGauge("dfs_master_chunk_health", help, c.garbage_chunks(), {{"state", "garbage"}});
    out->AddGauge("dfs_master_replications_in_flight",
                  "Replica copies queued or running (the replication queue).",
                  c.replications_in_flight());
    out->AddCounter("dfs_master_replications_total",
                    "Replica copies made since this master became leader.",
                    c.replications_done());
    out->AddCounter("dfs_master_corrupt_replica_reports_total",
                    "Bad replicas reported by readers and scrubbers since start.",
                    c.corrupt_replica_reports());
  }
  uint64_t live = 0, dead = 0, capacity = 0, used = 0;
  const ListDatanodesResponse datanodes = DatanodesOf(service);
  for (const DatanodeStatus& node : datanodes.datanodes()) {
    if (!node.live()) {
      ++dead;
      continue;
    }
    ++live;
    capacity += node.capacity_bytes();
    used += node.used_bytes();
  }
  const char* help = "Datanodes this master hears from (live) or stopped hearing from (dead).";
  out->AddGauge("dfs_master_datanodes", help, live, {{"state", "live"}});
  out->AddGauge("dfs_master_datanodes", help, dead, {{"state", "dead"}});
  out->AddGauge("dfs_master_capacity_bytes", "Capacity of the live datanodes.", capacity);
  out->AddGauge("dfs_master_used_bytes", "Bytes of chunk files on the live datanodes.", used);
}

}  // namespace dfs
