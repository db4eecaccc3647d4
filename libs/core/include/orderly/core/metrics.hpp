#pragma once
// A small metrics registry rendering the Prometheus text exposition format (0.0.4). Metric objects
// live as long as the registry; lookups by (name, labels) return the same object, so hot paths
// should look up once and keep the reference.
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace orderly::metrics {

using Labels = std::map<std::string, std::string>;

class Counter {
 public:
  void Inc(double v = 1.0);
  double Value() const;

 private:
  std::atomic<double> value_{0};
};

class Gauge {
 public:
  void Set(double v);
  void Add(double v);
  double Value() const;

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);  // upper bounds, ascending; +Inf implied
  void Observe(double v);
  // Snapshot for rendering and for tests/benchmarks.
  std::vector<uint64_t> BucketCounts() const;  // cumulative, one per bound plus +Inf
  double Sum() const;
  uint64_t Count() const;
  // Buckets (cumulative), sum and count taken at one instant, so count equals the +Inf bucket.
  void Snapshot(std::vector<uint64_t>* buckets, double* sum, uint64_t* count) const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::vector<uint64_t> counts_;
  double sum_ = 0;
  uint64_t count_ = 0;
};

// Default latency buckets in seconds: 1ms .. 10s.
std::vector<double> LatencyBuckets();

class Registry {
 public:
  Registry();
  ~Registry();  // out of line: Family is defined in metrics.cpp
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;
  static Registry& Default();
  Counter& GetCounter(const std::string& name, const std::string& help, const Labels& labels = {});
  Gauge& GetGauge(const std::string& name, const std::string& help, const Labels& labels = {});
  Histogram& GetHistogram(const std::string& name, const std::string& help,
                          const Labels& labels = {}, std::vector<double> bounds = LatencyBuckets());
  // Called at every scrape before rendering (e.g. to refresh a backlog gauge from the database).
  void AddCollector(std::function<void()> collector);
  std::string RenderText();

 private:
  struct Family;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<Family>> families_;
  std::vector<std::function<void()>> collectors_;
};

}  // namespace orderly::metrics
