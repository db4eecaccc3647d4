#include "orderly/core/metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <tuple>

namespace orderly::metrics {

void Counter::Inc(double v) { series_.Increment(v); }
double Counter::Value() const { return series_.Value(); }

void Gauge::Set(double v) { series_.Set(v); }
void Gauge::Add(double v) { series_.Increment(v); }
double Gauge::Value() const { return series_.Value(); }

void Histogram::Observe(double v) { series_.Observe(v); }

std::vector<uint64_t> Histogram::BucketCounts() const {
  std::vector<uint64_t> out;
  for (const auto& b : series_.Collect().histogram.bucket) out.push_back(b.cumulative_count);
  return out;
}

double Histogram::Sum() const { return series_.Collect().histogram.sample_sum; }
uint64_t Histogram::Count() const { return series_.Collect().histogram.sample_count; }

std::vector<double> LatencyBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

namespace {

enum Type { kCounter, kGauge, kHistogram };

[[noreturn]] void Misuse(const std::string& name, std::string_view what) {
  std::fprintf(stderr, "metric %s: %.*s\n", name.c_str(), static_cast<int>(what.size()),
               what.data());
  std::abort();
}

// prometheus-cpp 1.0 writes HELP verbatim; the format wants '\' and newline escaped there.
std::string EscapeHelp(const std::string& help) {
  std::string out;
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// One prometheus family and the facades of its series, which keep their addresses.
template <typename Facade, typename Series>
struct SeriesOf {
  prometheus::Family<Series>* family = nullptr;
  std::map<Labels, std::unique_ptr<Facade>> facades;

  template <typename... Args>
  Facade& Get(const std::string& name, const Labels& labels, Args&&... args) {
    auto& slot = facades[labels];
    if (!slot) {
      try {
        slot = std::make_unique<Facade>(family->Add(labels, std::forward<Args>(args)...));
      } catch (const std::exception& e) {
        Misuse(name, e.what());  // an invalid label name
      }
    }
    return *slot;
  }
};

}  // namespace

struct Registry::Family {
  int type = kCounter;
  std::vector<double> bounds;
  SeriesOf<Counter, prometheus::Counter> counters;
  SeriesOf<Gauge, prometheus::Gauge> gauges;
  SeriesOf<Histogram, prometheus::Histogram> histograms;
};

Registry::Registry() : registry_(std::make_unique<prometheus::Registry>()) {}
Registry::~Registry() = default;

Registry& Registry::Default() {
  // Leaked on purpose: metrics may be touched by threads still running during static destruction.
  static Registry* registry = new Registry();
  return *registry;
}

Registry::Family& Registry::FamilyOf(const std::string& name, const std::string& help, int type) {
  auto& slot = families_[name];
  if (slot) {
    if (slot->type != type) Misuse(name, "registered again with a different type");
    return *slot;
  }
  auto f = std::make_unique<Family>();
  f->type = type;
  try {
    switch (type) {
      case kCounter:
        f->counters.family =
            &prometheus::BuildCounter().Name(name).Help(EscapeHelp(help)).Register(*registry_);
        break;
      case kGauge:
        f->gauges.family =
            &prometheus::BuildGauge().Name(name).Help(EscapeHelp(help)).Register(*registry_);
        break;
      default:
        f->histograms.family =
            &prometheus::BuildHistogram().Name(name).Help(EscapeHelp(help)).Register(*registry_);
    }
  } catch (const std::exception& e) {
    Misuse(name, e.what());  // an invalid metric name
  }
  slot = std::move(f);
  return *slot;
}

Counter& Registry::GetCounter(const std::string& name, const std::string& help,
                              const Labels& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  return FamilyOf(name, help, kCounter).counters.Get(name, labels);
}

Gauge& Registry::GetGauge(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  return FamilyOf(name, help, kGauge).gauges.Get(name, labels);
}

Histogram& Registry::GetHistogram(const std::string& name, const std::string& help,
                                  const Labels& labels, std::vector<double> bounds) {
  if (!std::is_sorted(bounds.begin(), bounds.end()) ||
      std::adjacent_find(bounds.begin(), bounds.end()) != bounds.end()) {
    Misuse(name, "histogram bounds must be strictly ascending");
  }
  std::lock_guard<std::mutex> lock(mu_);
  Family& f = FamilyOf(name, help, kHistogram);
  // All series of one family share their buckets, or the exposition would be inconsistent.
  if (f.histograms.facades.empty()) {
    f.bounds = bounds;
  } else if (f.bounds != bounds) {
    Misuse(name, "registered with different buckets");
  }
  return f.histograms.Get(name, labels, bounds);
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

  // prometheus-cpp keeps families in registration order and series in hash order; sorted, a
  // scrape reads the same from one run to the next.
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  std::sort(families.begin(), families.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  for (auto& f : families) {
    std::sort(f.metric.begin(), f.metric.end(), [](const auto& a, const auto& b) {
      return std::lexicographical_compare(a.label.begin(), a.label.end(), b.label.begin(),
                                          b.label.end(), [](const auto& x, const auto& y) {
                                            return std::tie(x.name, x.value) <
                                                   std::tie(y.name, y.value);
                                          });
    });
  }
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace orderly::metrics
