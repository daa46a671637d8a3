#include "common/metrics.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace dfs::metrics {
namespace {

int64_t NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool ValidName(absl::string_view name, bool allow_colon) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (allow_colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

const char* TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter: return "counter";
    case MetricType::kGauge: return "gauge";
    case MetricType::kHistogram: return "histogram";
  }
  return "untyped";
}

// `{a="x",b="y"}`, or "" without labels.
std::string LabelText(const Labels& labels) {
  if (labels.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i > 0) out += ",";
    absl::StrAppend(&out, labels[i].first, "=\"", Escape(labels[i].second, /*quote=*/true),
                    "\"");
  }
  return out + "}";
}

Labels Zip(const std::vector<std::string>& names, const LabelValues& values) {
  Labels labels;
  for (size_t i = 0; i < names.size(); ++i) labels.emplace_back(names[i], values[i]);
  return labels;
}

// One family as rendered: its header and its sample lines.
struct RenderedFamily {
  MetricType type;
  std::string help;
  std::string lines;
};

void AppendSample(std::string* out, absl::string_view name, const Labels& labels,
                  absl::string_view value) {
  absl::StrAppend(out, name, LabelText(labels), " ", value, "\n");
}

}  // namespace

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::trunc(value) && std::fabs(value) < 1e15) {
    return absl::StrCat(static_cast<int64_t>(value));
  }
  char buffer[64];
  auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, result.ptr);
}

std::string Escape(absl::string_view text, bool quote) {
  std::string out;
  for (char c : text) {
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    // Backslashes always, double quotes inside label values.
    if (c == '\\' || (quote && c == '"')) out += '\\';
    out += c;
  }
  return out;
}

// ---- Histogram ----

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), buckets_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  DFS_CHECK(std::is_sorted(bounds_.begin(), bounds_.end()));
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double value) {
  size_t bucket = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot snapshot;
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    total += buckets_[i].load(std::memory_order_relaxed);
    snapshot.cumulative.push_back(total);
  }
  // The count is the +Inf bucket by definition, so the two never disagree within one scrape.
  snapshot.count = total;
  snapshot.sum = sum_.load(std::memory_order_relaxed);
  return snapshot;
}

ScopedTimer::ScopedTimer(Histogram* histogram) : histogram_(histogram), start_ns_(NowNanos()) {}

ScopedTimer::~ScopedTimer() { histogram_->Observe((NowNanos() - start_ns_) / 1e9); }

const std::vector<double>& DefaultLatencyBuckets() {
  static const auto* buckets = new std::vector<double>{
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
      0.1,    0.25,    0.5,    1,     2.5,    5,     10,   30,    60};
  return *buckets;
}

// ---- Family ----

template <typename Metric>
Metric* Family<Metric>::WithLabels(const LabelValues& values) {
  DFS_CHECK(values.size() == label_names_.size());
  absl::MutexLock lock(&mu_);
  std::unique_ptr<Metric>& child = children_[values];
  if (child == nullptr) {
    if constexpr (std::is_same_v<Metric, Histogram>) {
      child = std::make_unique<Histogram>(bounds_);
    } else {
      child = std::make_unique<Metric>();
    }
  }
  return child.get();
}

template <typename Metric>
void Family<Metric>::ForEach(
    const std::function<void(const LabelValues&, const Metric&)>& fn) const {
  absl::MutexLock lock(&mu_);
  for (const auto& [values, metric] : children_) fn(values, *metric);
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

// ---- Collection ----

void Collection::AddCounter(absl::string_view name, absl::string_view help, double value,
                            Labels labels) {
  samples_.push_back(
      {MetricType::kCounter, std::string(name), std::string(help), std::move(labels), value});
}

void Collection::AddGauge(absl::string_view name, absl::string_view help, double value,
                          Labels labels) {
  samples_.push_back(
      {MetricType::kGauge, std::string(name), std::string(help), std::move(labels), value});
}

// ---- Registry ----

Registry& Registry::Default() {
  static auto* registry = new Registry;
  return *registry;
}

Registry::FamilyEntry* Registry::FindOrAdd(absl::string_view name, absl::string_view help,
                                           MetricType type,
                                           const std::vector<std::string>& label_names,
                                           std::vector<double> bounds) {
  DFS_CHECK(ValidName(name, /*allow_colon=*/true));
  for (const std::string& label : label_names) {
    DFS_CHECK(ValidName(label, /*allow_colon=*/false));
    DFS_CHECK(type != MetricType::kHistogram || label != "le");
  }
  absl::MutexLock lock(&mu_);
  auto [it, added] = families_.try_emplace(std::string(name));
  FamilyEntry& entry = it->second;
  if (!added) {
    DFS_CHECK(entry.type == type);
    const auto& existing = entry.counters     ? entry.counters->label_names()
                           : entry.gauges     ? entry.gauges->label_names()
                                              : entry.histograms->label_names();
    DFS_CHECK(existing == label_names);
    return &entry;
  }
  entry.type = type;
  entry.help = std::string(help);
  switch (type) {
    case MetricType::kCounter:
      entry.counters = std::make_unique<CounterFamily>(label_names, std::vector<double>{});
      break;
    case MetricType::kGauge:
      entry.gauges = std::make_unique<GaugeFamily>(label_names, std::vector<double>{});
      break;
    case MetricType::kHistogram:
      entry.histograms = std::make_unique<HistogramFamily>(label_names, std::move(bounds));
      break;
  }
  return &entry;
}

CounterFamily* Registry::Counter(absl::string_view name, absl::string_view help,
                                 std::vector<std::string> label_names) {
  return FindOrAdd(name, help, MetricType::kCounter, label_names, {})->counters.get();
}

GaugeFamily* Registry::Gauge(absl::string_view name, absl::string_view help,
                             std::vector<std::string> label_names) {
  return FindOrAdd(name, help, MetricType::kGauge, label_names, {})->gauges.get();
}

HistogramFamily* Registry::Histogram(absl::string_view name, absl::string_view help,
                                     std::vector<std::string> label_names,
                                     std::vector<double> bounds) {
  return FindOrAdd(name, help, MetricType::kHistogram, label_names, std::move(bounds))
      ->histograms.get();
}

std::unique_ptr<Registry::CollectorHandle> Registry::AddCollector(CollectFn collect) {
  absl::MutexLock lock(&collectors_mu_);
  uint64_t id = next_collector_++;
  collectors_[id] = std::move(collect);
  return std::unique_ptr<CollectorHandle>(new CollectorHandle(this, id));
}

Registry::CollectorHandle::~CollectorHandle() {
  absl::MutexLock lock(&registry_->collectors_mu_);
  registry_->collectors_.erase(id_);
}

std::string Registry::Render() const {
  std::map<std::string, RenderedFamily> out;
  {
    absl::MutexLock lock(&mu_);
    // Not a structured binding: clang 14 (the fuzz build's) cannot capture one in a lambda.
    for (const auto& named : families_) {
      const std::string& name = named.first;
      const auto& entry = named.second;
      RenderedFamily& family = out[name];
      family.type = entry.type;
      family.help = entry.help;
      std::string* lines = &family.lines;
      if (entry.counters) {
        const auto& names = entry.counters->label_names();
        entry.counters->ForEach([&](const LabelValues& values, const metrics::Counter& c) {
          AppendSample(lines, name, Zip(names, values), absl::StrCat(c.value()));
        });
      } else if (entry.gauges) {
        const auto& names = entry.gauges->label_names();
        entry.gauges->ForEach([&](const LabelValues& values, const metrics::Gauge& g) {
          AppendSample(lines, name, Zip(names, values), FormatValue(g.value()));
        });
      } else {
        const auto& names = entry.histograms->label_names();
        entry.histograms->ForEach([&](const LabelValues& values, const metrics::Histogram& h) {
          Labels labels = Zip(names, values);
          metrics::Histogram::Snapshot snapshot = h.snapshot();
          const std::string bucket = name + "_bucket";
          for (size_t i = 0; i < snapshot.cumulative.size(); ++i) {
            Labels with_le = labels;
            with_le.emplace_back(
                "le", i < h.bounds().size() ? FormatValue(h.bounds()[i]) : std::string("+Inf"));
            AppendSample(lines, bucket, with_le, absl::StrCat(snapshot.cumulative[i]));
          }
          AppendSample(lines, name + "_sum", labels, FormatValue(snapshot.sum));
          AppendSample(lines, name + "_count", labels, absl::StrCat(snapshot.count));
        });
      }
    }
  }
  {
    absl::MutexLock lock(&collectors_mu_);
    for (const auto& [id, collect] : collectors_) {
      Collection collection;
      collect(&collection);
      for (const Collection::Sample& sample : collection.samples_) {
        DFS_CHECK(ValidName(sample.name, /*allow_colon=*/true));
        auto [it, added] = out.try_emplace(sample.name);
        RenderedFamily& family = it->second;
        if (added) {
          family.type = sample.type;
          family.help = sample.help;
        }
        DFS_CHECK(family.type == sample.type);
        AppendSample(&family.lines, sample.name, sample.labels, FormatValue(sample.value));
      }
    }
  }
  std::string text;
  for (const auto& [name, family] : out) {
    absl::StrAppend(&text, "# HELP ", name, " ", Escape(family.help, /*quote=*/false), "\n",
                    "# TYPE ", name, " ", TypeName(family.type), "\n", family.lines);
  }
  return text;
}

}  // namespace dfs::metrics
