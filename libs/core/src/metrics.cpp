#include "orderly/core/metrics.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace orderly::metrics {

void Counter::Inc(double v) { value_.fetch_add(v, std::memory_order_relaxed); }
double Counter::Value() const { return value_.load(std::memory_order_relaxed); }

void Gauge::Set(double v) { value_.store(v, std::memory_order_relaxed); }
void Gauge::Add(double v) { value_.fetch_add(v, std::memory_order_relaxed); }
double Gauge::Value() const { return value_.load(std::memory_order_relaxed); }

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {
  if (!std::is_sorted(bounds_.begin(), bounds_.end()) ||
      std::adjacent_find(bounds_.begin(), bounds_.end()) != bounds_.end()) {
    std::fprintf(stderr, "histogram bounds must be strictly ascending\n");
    std::abort();
  }
}

void Histogram::Observe(double v) {
  // Bucket i counts values <= bounds_[i] (Prometheus "le"); the last one is +Inf.
  const size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  std::lock_guard<std::mutex> lock(mu_);
  ++counts_[i];
  sum_ += v;
  ++count_;
}

std::vector<uint64_t> Histogram::BucketCounts() const {
  std::vector<uint64_t> out;
  double sum;
  uint64_t count;
  Snapshot(&out, &sum, &count);
  return out;
}

void Histogram::Snapshot(std::vector<uint64_t>* buckets, double* sum, uint64_t* count) const {
  std::lock_guard<std::mutex> lock(mu_);
  buckets->resize(counts_.size());
  uint64_t running = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    running += counts_[i];
    (*buckets)[i] = running;
  }
  *sum = sum_;
  *count = count_;
}

double Histogram::Sum() const {
  std::lock_guard<std::mutex> lock(mu_);
  return sum_;
}

uint64_t Histogram::Count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return count_;
}

std::vector<double> LatencyBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

namespace {

enum class Type { kCounter, kGauge, kHistogram };

std::string_view TypeName(Type t) {
  switch (t) {
    case Type::kCounter: return "counter";
    case Type::kGauge: return "gauge";
    case Type::kHistogram: return "histogram";
  }
  return "untyped";
}

// Shortest text that parses back to the same double; Prometheus spells infinities and NaN.
void AppendNumber(double v, std::string& out) {
  if (std::isnan(v)) {
    out += "NaN";
    return;
  }
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buf[32];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, res.ptr);
}

void AppendEscaped(std::string_view s, std::string& out, bool quotes) {
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quotes) {
      out += "\\\"";
    } else {
      out.push_back(c);
    }
  }
}

// {a="1",b="2"} plus an optional extra label (le) last; nothing when there are no labels.
void AppendLabels(const Labels& labels, std::string& out, std::string_view extra_name = {},
                  std::string_view extra_value = {}) {
  if (labels.empty() && extra_name.empty()) return;
  out.push_back('{');
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out.push_back(',');
    first = false;
    out += k;
    out += "=\"";
    AppendEscaped(v, out, true);
    out.push_back('"');
  }
  if (!extra_name.empty()) {
    if (!first) out.push_back(',');
    out += extra_name;
    out += "=\"";
    out += extra_value;
    out.push_back('"');
  }
  out.push_back('}');
}

[[noreturn]] void Misuse(const std::string& name, std::string_view what) {
  std::fprintf(stderr, "metric %s: %.*s\n", name.c_str(), static_cast<int>(what.size()),
               what.data());
  std::abort();
}

}  // namespace

struct Registry::Family {
  std::string name;
  std::string help;
  Type type;
  std::map<Labels, std::unique_ptr<Counter>> counters;
  std::map<Labels, std::unique_ptr<Gauge>> gauges;
  std::map<Labels, std::unique_ptr<Histogram>> histograms;
};

Registry::Registry() = default;
Registry::~Registry() = default;

Registry& Registry::Default() {
  // Leaked on purpose: metrics may be touched by threads still running during static destruction.
  static Registry* registry = new Registry();
  return *registry;
}

namespace {

template <typename FamilyT>
FamilyT& FamilyOf(std::map<std::string, std::unique_ptr<FamilyT>>& families,
                  const std::string& name, const std::string& help, Type type) {
  auto& slot = families[name];
  if (!slot) {
    slot = std::make_unique<FamilyT>();
    slot->name = name;
    slot->help = help;
    slot->type = type;
  } else if (slot->type != type) {
    Misuse(name, "registered again with a different type");
  }
  return *slot;
}

}  // namespace

Counter& Registry::GetCounter(const std::string& name, const std::string& help,
                              const Labels& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  Family& f = FamilyOf(families_, name, help, Type::kCounter);
  auto& slot = f.counters[labels];
  if (!slot) slot = std::make_unique<Counter>();
  return *slot;
}

Gauge& Registry::GetGauge(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  Family& f = FamilyOf(families_, name, help, Type::kGauge);
  auto& slot = f.gauges[labels];
  if (!slot) slot = std::make_unique<Gauge>();
  return *slot;
}

Histogram& Registry::GetHistogram(const std::string& name, const std::string& help,
                                  const Labels& labels, std::vector<double> bounds) {
  std::lock_guard<std::mutex> lock(mu_);
  Family& f = FamilyOf(families_, name, help, Type::kHistogram);
  auto& slot = f.histograms[labels];
  if (!slot) {
    // All series of one family share their buckets, or the rendered output would be inconsistent.
    if (!f.histograms.empty()) {
      for (const auto& [l, h] : f.histograms) {
        if (h && h->bounds() != bounds) Misuse(name, "registered with different buckets");
      }
    }
    slot = std::make_unique<Histogram>(std::move(bounds));
  }
  return *slot;
}

void Registry::AddCollector(std::function<void()> collector) {
  std::lock_guard<std::mutex> lock(mu_);
  collectors_.push_back(std::move(collector));
}

std::string Registry::RenderText() {
  std::vector<std::function<void()>> collectors;
  {
    std::lock_guard<std::mutex> lock(mu_);
    collectors = collectors_;
  }
  // Collectors update metrics through this registry, so they run without the lock held.
  for (auto& c : collectors) c();

  std::string out;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [name, f] : families_) {
    if (f->counters.empty() && f->gauges.empty() && f->histograms.empty()) continue;
    out += "# HELP ";
    out += name;
    out.push_back(' ');
    AppendEscaped(f->help, out, false);
    out += "\n# TYPE ";
    out += name;
    out.push_back(' ');
    out += TypeName(f->type);
    out.push_back('\n');
    for (const auto& [labels, c] : f->counters) {
      out += name;
      AppendLabels(labels, out);
      out.push_back(' ');
      AppendNumber(c->Value(), out);
      out.push_back('\n');
    }
    for (const auto& [labels, g] : f->gauges) {
      out += name;
      AppendLabels(labels, out);
      out.push_back(' ');
      AppendNumber(g->Value(), out);
      out.push_back('\n');
    }
    for (const auto& [labels, h] : f->histograms) {
      // One consistent snapshot per series: count/sum/buckets from the same instant.
      std::vector<uint64_t> buckets;
      double sum;
      uint64_t count;
      h->Snapshot(&buckets, &sum, &count);
      std::string le;
      for (size_t i = 0; i < buckets.size(); ++i) {
        le.clear();
        AppendNumber(i < h->bounds().size() ? h->bounds()[i] : INFINITY, le);
        out += name;
        out += "_bucket";
        AppendLabels(labels, out, "le", le);
        out.push_back(' ');
        out += std::to_string(buckets[i]);
        out.push_back('\n');
      }
      out += name;
      out += "_sum";
      AppendLabels(labels, out);
      out.push_back(' ');
      AppendNumber(sum, out);
      out += '\n';
      out += name;
      out += "_count";
      AppendLabels(labels, out);
      out.push_back(' ');
      out += std::to_string(count);
      out.push_back('\n');
    }
  }
  return out;
}

}  // namespace orderly::metrics
