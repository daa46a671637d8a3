// Process-wide metrics: counters, gauges and histograms with labels, rendered in the Prometheus
// text exposition format (version 0.0.4) for the `/metrics` page of every dfs process
// (common/http_server.h).
//
// Two ways to publish a number:
//   - a metric object updated where the event happens. Hot paths keep the pointer and pay one
//     relaxed atomic add per update:
//       static metrics::Counter* const bytes =
//           metrics::Registry::Default().Counter("dfs_x_bytes_total", "Bytes x.")->Get();
//       bytes->Increment(n);
//   - a collector: a callback run at every scrape that reads values straight from their owner
//     (Raft term, chunk counts), so nothing is copied on the hot path and nothing goes stale.
//     It is registered for as long as the returned handle lives.
//
// Names follow Prometheus conventions: dfs_<process>_<what>_<unit>, counters end in _total,
// durations are in seconds and sizes in bytes. Registering a name twice with the same type and
// label names returns the same family; with another type it is a bug (DFS_CHECK).
//
// Thread-safe. Metric pointers stay valid for the life of the process (families and their
// children are never removed).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace dfs::metrics {

// Label values, in the order of the family's label names.
using LabelValues = std::vector<std::string>;
// (name, value) pairs, for collectors.
using Labels = std::vector<std::pair<std::string, std::string>>;

enum class MetricType { kCounter, kGauge, kHistogram };

class Counter {
 public:
  void Increment(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class Gauge {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double delta) { value_.fetch_add(delta, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Fixed upper bounds (ascending); an observation lands in the first bucket whose bound is >= it,
// or in the implicit +Inf bucket.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);

  struct Snapshot {
    std::vector<uint64_t> cumulative;  // per bound, then +Inf (== count)
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot snapshot() const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_.size() + 1, not cumulative
  std::atomic<double> sum_{0};
};

// Observes the seconds from construction to destruction into `histogram`.
class ScopedTimer {
 public:
  explicit ScopedTimer(Histogram* histogram);
  ~ScopedTimer();
  ScopedTimer(const ScopedTimer&) = delete;
  ScopedTimer& operator=(const ScopedTimer&) = delete;

 private:
  Histogram* const histogram_;
  const int64_t start_ns_;
};

// Latency buckets in seconds, 100 us to 60 s.
const std::vector<double>& DefaultLatencyBuckets();

// One metric name and its children, one per distinct set of label values.
template <typename Metric>
class Family {
 public:
  Family(std::vector<std::string> label_names, std::vector<double> bounds)
      : label_names_(std::move(label_names)), bounds_(std::move(bounds)) {}

  // The child for `values` (one per label name), created on first use.
  Metric* WithLabels(const LabelValues& values);
  // The only child of a family without labels.
  Metric* Get() { return WithLabels({}); }

  const std::vector<std::string>& label_names() const { return label_names_; }
  // Calls fn(values, metric) for every child, in label order.
  void ForEach(const std::function<void(const LabelValues&, const Metric&)>& fn) const;

 private:
  const std::vector<std::string> label_names_;
  const std::vector<double> bounds_;  // histograms only
  mutable absl::Mutex mu_;
  std::map<LabelValues, std::unique_ptr<Metric>> children_ ABSL_GUARDED_BY(mu_);
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

// What a collector reports at one scrape.
class Collection {
 public:
  void AddCounter(absl::string_view name, absl::string_view help, double value,
                  Labels labels = {});
  void AddGauge(absl::string_view name, absl::string_view help, double value, Labels labels = {});

 private:
  friend class Registry;
  struct Sample {
    MetricType type;
    std::string name;
    std::string help;
    Labels labels;
    double value;
  };
  std::vector<Sample> samples_;
};

using CollectFn = std::function<void(Collection*)>;

class Registry {
 public:
  // Unregisters its collector when destroyed; waits for a scrape that is running it. Do not
  // destroy one while holding a lock the collector takes.
  class CollectorHandle {
   public:
    ~CollectorHandle();
    CollectorHandle(const CollectorHandle&) = delete;
    CollectorHandle& operator=(const CollectorHandle&) = delete;

   private:
    friend class Registry;
    CollectorHandle(Registry* registry, uint64_t id) : registry_(registry), id_(id) {}
    Registry* const registry_;
    const uint64_t id_;
  };

  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // The process's registry, served on /metrics.
  static Registry& Default();

  CounterFamily* Counter(absl::string_view name, absl::string_view help,
                         std::vector<std::string> label_names = {});
  GaugeFamily* Gauge(absl::string_view name, absl::string_view help,
                     std::vector<std::string> label_names = {});
  HistogramFamily* Histogram(absl::string_view name, absl::string_view help,
                             std::vector<std::string> label_names = {},
                             std::vector<double> bounds = DefaultLatencyBuckets());

  // `collect` runs at every Render while the handle lives. It must not register metrics or
  // collectors itself.
  [[nodiscard]] std::unique_ptr<CollectorHandle> AddCollector(CollectFn collect);

  // Every family, sorted by name, in the Prometheus text format.
  std::string Render() const;

 private:
  struct FamilyEntry {
    MetricType type;
    std::string help;
    std::unique_ptr<CounterFamily> counters;
    std::unique_ptr<GaugeFamily> gauges;
    std::unique_ptr<HistogramFamily> histograms;
  };
  FamilyEntry* FindOrAdd(absl::string_view name, absl::string_view help, MetricType type,
                         const std::vector<std::string>& label_names, std::vector<double> bounds);

  mutable absl::Mutex mu_;
  std::map<std::string, FamilyEntry> families_ ABSL_GUARDED_BY(mu_);
  // Held while collectors run, so that a handle's destructor waits for them.
  mutable absl::Mutex collectors_mu_;
  std::map<uint64_t, CollectFn> collectors_ ABSL_GUARDED_BY(collectors_mu_);
  uint64_t next_collector_ ABSL_GUARDED_BY(collectors_mu_) = 0;
};

// A value as the exposition format writes it: integers without a fraction, others in their
// shortest exact form, +Inf, -Inf, NaN.
std::string FormatValue(double value);
// `text` with backslash and newline escaped, and double quotes too if `quote` (label values;
// HELP text leaves them).
std::string Escape(absl::string_view text, bool quote);

}  // namespace dfs::metrics
