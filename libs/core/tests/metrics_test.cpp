#include "orderly/core/metrics.hpp"

#include <gtest/gtest.h>

#include <thread>

namespace orderly::metrics {
namespace {

TEST(MetricsTest, RendersExactText) {
  Registry r;
  r.GetCounter("orderly_orders_created_total", "Orders created.", {{"channel", "app"}}).Inc();
  r.GetCounter("orderly_orders_created_total", "Orders created.", {{"channel", "app"}}).Inc(2);
  r.GetCounter("orderly_orders_created_total", "Orders created.", {{"channel", "web"}}).Inc();
  r.GetGauge("orderly_outbox_backlog", "Unpublished outbox rows.").Set(7.5);
  Histogram& h =
      r.GetHistogram("orderly_latency_seconds", "Latency.", {{"method", "A"}}, {0.1, 0.5, 1});
  h.Observe(0.05);
  h.Observe(0.1);  // on the bound: counts in le="0.1"
  h.Observe(0.7);
  h.Observe(3);
  // prometheus-cpp writes a histogram's _count and _sum before its buckets; the text format
  // leaves the order of a family's lines free.
  const std::string expected =
      "# HELP orderly_latency_seconds Latency.\n"
      "# TYPE orderly_latency_seconds histogram\n"
      "orderly_latency_seconds_count{method=\"A\"} 4\n"
      "orderly_latency_seconds_sum{method=\"A\"} 3.85\n"
      "orderly_latency_seconds_bucket{method=\"A\",le=\"0.1\"} 2\n"
      "orderly_latency_seconds_bucket{method=\"A\",le=\"0.5\"} 2\n"
      "orderly_latency_seconds_bucket{method=\"A\",le=\"1\"} 3\n"
      "orderly_latency_seconds_bucket{method=\"A\",le=\"+Inf\"} 4\n"
      "# HELP orderly_orders_created_total Orders created.\n"
      "# TYPE orderly_orders_created_total counter\n"
      "orderly_orders_created_total{channel=\"app\"} 3\n"
      "orderly_orders_created_total{channel=\"web\"} 1\n"
      "# HELP orderly_outbox_backlog Unpublished outbox rows.\n"
      "# TYPE orderly_outbox_backlog gauge\n"
      "orderly_outbox_backlog 7.5\n";
  EXPECT_EQ(r.RenderText(), expected);
}

TEST(MetricsTest, EscapesLabelValuesAndHelp) {
  Registry r;
  r.GetCounter("x_total", "Line one\nback\\slash \"q\"", {{"path", "a\"b\\c\nd"}}).Inc();
  EXPECT_EQ(r.RenderText(),
            "# HELP x_total Line one\\nback\\\\slash \"q\"\n"
            "# TYPE x_total counter\n"
            "x_total{path=\"a\\\"b\\\\c\\nd\"} 1\n");
}

TEST(MetricsTest, SameLabelsSameObject) {
  Registry r;
  Counter& a = r.GetCounter("c_total", "c", {{"k", "v"}});
  Counter& b = r.GetCounter("c_total", "c", {{"k", "v"}});
  Counter& other = r.GetCounter("c_total", "c", {{"k", "w"}});
  EXPECT_EQ(&a, &b);
  EXPECT_NE(&a, &other);
}

TEST(MetricsTest, CollectorsRunBeforeRender) {
  Registry r;
  int calls = 0;
  r.AddCollector([&] {
    ++calls;
    r.GetGauge("backlog", "b").Set(calls * 10);
  });
  EXPECT_NE(r.RenderText().find("backlog 10\n"), std::string::npos);
  EXPECT_NE(r.RenderText().find("backlog 20\n"), std::string::npos);
}

TEST(MetricsTest, ConcurrentIncrementsAreNotLost) {
  Registry r;
  Counter& c = r.GetCounter("n_total", "n");
  Histogram& h = r.GetHistogram("h", "h");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.Inc();
        h.Observe(0.002);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.Value(), 40000);
  EXPECT_EQ(h.Count(), 40000u);
  EXPECT_EQ(h.BucketCounts().back(), 40000u);
  EXPECT_EQ(h.BucketCounts()[0], 0u);      // 0.002 > 0.001
  EXPECT_EQ(h.BucketCounts()[1], 40000u);  // <= 0.0025
}

TEST(MetricsTest, DefaultRegistryIsShared) {
  EXPECT_EQ(&Registry::Default(), &Registry::Default());
}

}  // namespace
}  // namespace orderly::metrics
