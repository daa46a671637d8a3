// dfs-netdelay: delays and reorders packets for the fault tests, where the kernel has no netem
// qdisc (the CI kernel is built without CONFIG_NET_SCH_NETEM) but has NFQUEUE. Run inside a
// host's network namespace after an iptables rule sends that host's outgoing packets to the
// queue:
//
//   iptables -A OUTPUT -o eth0 -j NFQUEUE --queue-num 0 --queue-bypass
//   dfs-netdelay --queue=0 --delay_ms=30 --jitter_ms=30 --seed=7
//
// Every packet is held for delay_ms plus a uniform draw in [0, jitter_ms] and then accepted, so
// packets sent close together leave in another order when the jitter exceeds their spacing.
// Loss is not done here (iptables' statistic match does it in the kernel). On SIGTERM or
// SIGINT every held packet is released at once; if the program dies, --queue-bypass lets
// traffic through again, and the queue is opened fail-open so a full queue passes packets
// rather than dropping them.
#include <arpa/inet.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <queue>
#include <random>
#include <string>
#include <vector>

namespace {

volatile sig_atomic_t g_stop = 0;

struct Held {
  int64_t release_ns;
  uint32_t id;
  bool operator>(const Held& other) const { return release_ns > other.release_ns; }
};

struct State {
  std::priority_queue<Held, std::vector<Held>, std::greater<Held>> held;
  std::mt19937_64 random;
  int64_t delay_ns = 0;
  int64_t jitter_ns = 0;
};

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int OnPacket(nfq_q_handle*, nfgenmsg*, nfq_data* data, void* arg) {
  auto* state = static_cast<State*>(arg);
  nfqnl_msg_packet_hdr* header = nfq_get_msg_packet_hdr(data);
  if (header == nullptr) return 0;
  int64_t jitter = state->jitter_ns > 0
                       ? std::uniform_int_distribution<int64_t>(0, state->jitter_ns)(state->random)
                       : 0;
  state->held.push({NowNs() + state->delay_ns + jitter, ntohl(header->packet_id)});
  return 0;
}

bool ParseFlag(const char* arg, const char* name, long* value) {
  size_t n = std::strlen(name);
  if (std::strncmp(arg, name, n) != 0 || arg[n] != '=') return false;
  *value = std::strtol(arg + n + 1, nullptr, 10);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  long queue = 0, delay_ms = 20, jitter_ms = 20, seed = 1;
  for (int i = 1; i < argc; ++i) {
    if (!ParseFlag(argv[i], "--queue", &queue) && !ParseFlag(argv[i], "--delay_ms", &delay_ms) &&
        !ParseFlag(argv[i], "--jitter_ms", &jitter_ms) && !ParseFlag(argv[i], "--seed", &seed)) {
      std::fprintf(stderr,
                   "usage: dfs-netdelay [--queue=N] [--delay_ms=MS] [--jitter_ms=MS] [--seed=S]\n");
      return 2;
    }
  }
  State state;
  state.random.seed(static_cast<uint64_t>(seed));
  state.delay_ns = delay_ms * 1000000;
  state.jitter_ns = jitter_ms * 1000000;

  nfq_handle* handle = nfq_open();
  if (handle == nullptr) {
    std::perror("dfs-netdelay: nfq_open");
    return 1;
  }
  nfq_q_handle* qh = nfq_create_queue(handle, static_cast<uint16_t>(queue), &OnPacket, &state);
  if (qh == nullptr) {
    std::perror("dfs-netdelay: nfq_create_queue");
    return 1;
  }
  // Only the verdict matters, not the payload.
  if (nfq_set_mode(qh, NFQNL_COPY_META, 0) < 0) {
    std::perror("dfs-netdelay: nfq_set_mode");
    return 1;
  }
  nfq_set_queue_maxlen(qh, 8192);
  nfq_set_queue_flags(qh, NFQA_CFG_F_FAIL_OPEN, NFQA_CFG_F_FAIL_OPEN);

  struct sigaction action {};
  action.sa_handler = [](int) { g_stop = 1; };
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);

  const int fd = nfq_fd(handle);
  std::vector<char> buffer(1 << 16);
  std::fprintf(stderr, "dfs-netdelay: queue %ld, delay %ld ms, jitter %ld ms\n", queue, delay_ms,
               jitter_ms);
  uint64_t packets = 0;
  while (!g_stop) {
    int timeout_ms = 100;
    if (!state.held.empty()) {
      int64_t wait_ns = state.held.top().release_ns - NowNs();
      timeout_ms = wait_ns <= 0 ? 0 : static_cast<int>(wait_ns / 1000000 + 1);
    }
    pollfd p{fd, POLLIN, 0};
    int ready = ::poll(&p, 1, std::min(timeout_ms, 100));
    if (ready > 0) {
      ssize_t n = ::recv(fd, buffer.data(), buffer.size(), MSG_DONTWAIT);
      if (n > 0) {
        nfq_handle_packet(handle, buffer.data(), static_cast<int>(n));
        ++packets;
      } else if (n < 0 && errno == ENOBUFS) {
        // The kernel dropped notifications (fail-open queue): carry on.
      }
    }
    const int64_t now = NowNs();
    while (!state.held.empty() && state.held.top().release_ns <= now) {
      nfq_set_verdict(qh, state.held.top().id, NF_ACCEPT, 0, nullptr);
      state.held.pop();
    }
  }
  while (!state.held.empty()) {
    nfq_set_verdict(qh, state.held.top().id, NF_ACCEPT, 0, nullptr);
    state.held.pop();
  }
  nfq_destroy_queue(qh);
  nfq_close(handle);
  std::fprintf(stderr, "dfs-netdelay: %llu packets delayed\n",
               static_cast<unsigned long long>(packets));
  return 0;
}
