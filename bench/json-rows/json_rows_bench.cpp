// The rows CreateOrder hands to order_create() as JSON (one order, 5 lines, 3 discounts, their
// allocations, 2 events), written with libs/pg JsonRows and with nlohmann-json, so the choice of
// the hand-written writer on this hot path rests on a figure. Both outputs are parsed back and
// compared, so the faster one is not faster by writing something else.
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "orderly/pg/json_rows.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using orderly::pg::JsonRows;

constexpr int kLines = 5, kDiscounts = 3;
const std::string kBytes(180, '\x07');  // a serialized snapshot / payload

std::string WithJsonRows() {
  JsonRows orders, lines, discounts, events;
  orders.Row()
      .Int("order_id", 388493517233586686)
      .Int("parent_order_id", 0)
      .Bool("is_top_level", true)
      .Text("buyer_id", "buyer-1796691271")
      .Text("merchant_id", "m1")
      .Text("currency", "CNY")
      .Int("items_total", 15800)
      .Int("payable_total", 14200)
      .Bytea("shipping_address", kBytes)
      .TextArray("coupon_ids", {"c-1", "c-2"})
      .TimeMicros("payment_deadline", 1796691271123456)
      .TimeMicros("created_at", 1796691271123456)
      .Text("request_id", "0193c0e1-7a4e-7b8f-9c2d-1e2f3a4b5c6d")
      .Null("paid_at");
  for (int i = 0; i < kLines; ++i) {
    lines.Row()
        .Int("order_id", 388493517233586686)
        .Int("line_no", i + 1)
        .Text("sku_id", "tee-basic-white-m")
        .Int("quantity", 2)
        .Int("unit_price", 7900)
        .Int("final_amount", 14200)
        .Bytea("snapshot", kBytes);
  }
  for (int i = 0; i < kDiscounts; ++i) {
    discounts.Row().Int("seq", i).Int("kind", 1).Text("source_id", "promo-9").Int("amount", 800);
  }
  for (int i = 0; i < 2; ++i) {
    events.Row()
        .Text("event_id", "0193c0e1-7a4e-7b8f-9c2d-1e2f3a4b5c6d")
        .Text("event_type", "orderly.events.v1.OrderCreated")
        .Bytea("payload", kBytes);
  }
  return orders.Json() + lines.Json() + discounts.Json() + events.Json();
}

std::string Hex(const std::string& bytes) {
  static const char* kDigits = "0123456789abcdef";
  std::string out = "\\x";
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

std::string WithNlohmann() {
  using nlohmann::json;
  json orders = json::array(), lines = json::array(), discounts = json::array(),
       events = json::array();
  orders.push_back({{"order_id", 388493517233586686},
                    {"parent_order_id", 0},
                    {"is_top_level", true},
                    {"buyer_id", "buyer-1796691271"},
                    {"merchant_id", "m1"},
                    {"currency", "CNY"},
                    {"items_total", 15800},
                    {"payable_total", 14200},
                    {"shipping_address", Hex(kBytes)},
                    {"coupon_ids", {"c-1", "c-2"}},
                    {"payment_deadline", orderly::pg::TimestampLiteral(1796691271123456)},
                    {"created_at", orderly::pg::TimestampLiteral(1796691271123456)},
                    {"request_id", "0193c0e1-7a4e-7b8f-9c2d-1e2f3a4b5c6d"},
                    {"paid_at", nullptr}});
  for (int i = 0; i < kLines; ++i) {
    lines.push_back({{"order_id", 388493517233586686},
                     {"line_no", i + 1},
                     {"sku_id", "tee-basic-white-m"},
                     {"quantity", 2},
                     {"unit_price", 7900},
                     {"final_amount", 14200},
                     {"snapshot", Hex(kBytes)}});
  }
  for (int i = 0; i < kDiscounts; ++i) {
    discounts.push_back({{"seq", i}, {"kind", 1}, {"source_id", "promo-9"}, {"amount", 800}});
  }
  for (int i = 0; i < 2; ++i) {
    events.push_back({{"event_id", "0193c0e1-7a4e-7b8f-9c2d-1e2f3a4b5c6d"},
                      {"event_type", "orderly.events.v1.OrderCreated"},
                      {"payload", Hex(kBytes)}});
  }
  return orders.dump() + lines.dump() + discounts.dump() + events.dump();
}

template <typename Fn>
double NanosPerOrder(Fn fn, int iterations) {
  size_t sink = 0;
  for (int i = 0; i < iterations / 10; ++i) sink += fn().size();  // warm up
  const auto start = Clock::now();
  for (int i = 0; i < iterations; ++i) sink += fn().size();
  const double ns = std::chrono::duration<double, std::nano>(Clock::now() - start).count();
  if (sink == 0) std::printf("?");
  return ns / iterations;
}

// The four arrays of one writer, parsed (they are concatenated: split at "][").
nlohmann::json Parsed(const std::string& all) {
  nlohmann::json out = nlohmann::json::array();
  size_t start = 0;
  for (size_t pos = all.find("][");; pos = all.find("][", start)) {
    const size_t end = pos == std::string::npos ? all.size() : pos + 1;
    out.push_back(nlohmann::json::parse(all.substr(start, end - start)));
    if (pos == std::string::npos) break;
    start = pos + 1;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const int iterations = argc > 1 ? std::atoi(argv[1]) : 20000;
  if (Parsed(WithJsonRows()) != Parsed(WithNlohmann())) {
    std::fprintf(stderr, "the two writers disagree\n");
    return 1;
  }
  const double hand = NanosPerOrder(WithJsonRows, iterations);
  const double lib = NanosPerOrder(WithNlohmann, iterations);
  std::printf("CreateOrder rows as JSON (1 order, %d lines, %d discounts, 2 events), %d orders:\n",
              kLines, kDiscounts, iterations);
  std::printf("  JsonRows (hand-written)  %8.0f ns per order\n", hand);
  std::printf("  nlohmann-json            %8.0f ns per order  (%.1fx)\n", lib, lib / hand);
  std::printf("{\"json_rows_ns\": %.0f, \"nlohmann_ns\": %.0f, \"ratio\": %.2f}\n", hand, lib,
              lib / hand);
  return 0;
}
