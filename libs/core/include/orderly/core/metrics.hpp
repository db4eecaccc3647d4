#pragma once
// Orderly's metrics API, a thin facade over prometheus-cpp: prometheus::Registry holds the series
// and TextSerializer renders the text exposition format (0.0.4). Series live as long as the
// registry; lookups by (name, labels) return the same object, so hot paths look up once and keep
// the reference.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace prometheus {
class Counter;
class Gauge;
class Histogram;
class Registry;
}  // namespace prometheus

namespace orderly::metrics {

using Labels = std::map<std::string, std::string>;

class Counter {
 public:
  explicit Counter(prometheus::Counter& series) : series_(series) {}
  void Inc(double v = 1.0);
  double Value() const;

 private:
  prometheus::Counter& series_;
};

class Gauge {
 public:
  explicit Gauge(prometheus::Gauge& series) : series_(series) {}
  void Set(double v);
  void Add(double v);
  double Value() const;

 private:
  prometheus::Gauge& series_;
};

class Histogram {
 public:
  explicit Histogram(prometheus::Histogram& series) : series_(series) {}
  void Observe(double v);
  // Taken from one snapshot of the series, for tests and benchmarks.
  std::vector<uint64_t> BucketCounts() const;  // cumulative, one per bound plus +Inf
  double Sum() const;
  uint64_t Count() const;

 private:
  prometheus::Histogram& series_;
};

// Default latency buckets in seconds: 1ms .. 10s.
std::vector<double> LatencyBuckets();

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;
  static Registry& Default();
  // A name registered again with another type, or a histogram with other buckets, aborts: that is
  // a programming error the exposition could not represent.
  Counter& GetCounter(const std::string& name, const std::string& help, const Labels& labels = {});
  Gauge& GetGauge(const std::string& name, const std::string& help, const Labels& labels = {});
  Histogram& GetHistogram(const std::string& name, const std::string& help,
                          const Labels& labels = {}, std::vector<double> bounds = LatencyBuckets());
  // Called at every scrape before rendering (e.g. to refresh a backlog gauge from the database).
  void AddCollector(std::function<void()> collector);
  std::string RenderText();

 private:
  struct Family;
  Family& FamilyOf(const std::string& name, const std::string& help, int type);

  std::unique_ptr<prometheus::Registry> registry_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<Family>> families_;
  std::vector<std::function<void()>> collectors_;
};

}  // namespace orderly::metrics
