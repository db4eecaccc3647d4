#include "orderly/events/relay.hpp"

#include <map>
#include <random>
#include <set>

#include <spdlog/spdlog.h>

#include "orderly/core/logging.hpp"
#include "orderly/core/metrics.hpp"
#include "orderly/events/outbox.hpp"

namespace orderly::events {
namespace {

// Row order is id order; a row is skipped while an earlier row of its aggregate is parked or
// still backing off, so one aggregate's events are never published out of sequence.
constexpr char kClaimSql[] = R"sql(
SELECT o.id, o.topic, o.partition_key, o.aggregate_type, o.aggregate_id, o.sequence, o.event_type,
       o.payload, o.traceparent, o.event_id::text,
       (extract(epoch from o.occurred_at) * 1000)::bigint,
       (extract(epoch from o.created_at) * 1000)::bigint,
       o.attempts
FROM outbox o
WHERE o.published_at IS NULL AND o.parked_at IS NULL AND o.next_attempt_at <= now()
  AND NOT EXISTS (
    SELECT 1 FROM outbox p
    WHERE p.aggregate_type = o.aggregate_type AND p.aggregate_id = o.aggregate_id
      AND p.sequence < o.sequence AND p.published_at IS NULL AND p.attempts > 0
      AND (p.parked_at IS NOT NULL OR p.next_attempt_at > now()))
ORDER BY o.id
LIMIT $1)sql";

constexpr char kMarkPublishedSql[] = R"sql(
UPDATE outbox SET published_at = clock_timestamp(), attempts = attempts + 1, last_error = NULL
WHERE id = ANY($1::bigint[]))sql";

// Transient errors (broker down, timeouts) back off but never park: an outage must not turn
// into a pile of parked rows. Permanent errors park after max_attempts.
constexpr char kMarkFailedSql[] = R"sql(
UPDATE outbox
SET attempts = attempts + 1,
    last_error = $2,
    next_attempt_at = now() + least($3::double precision * power(2, attempts), $4::double precision)
                              * interval '1 millisecond',
    parked_at = CASE WHEN $5::boolean AND attempts + 1 >= $6 THEN now() ELSE NULL END
WHERE id = ANY($1::bigint[])
RETURNING parked_at IS NOT NULL)sql";

constexpr char kPurgeSql[] = R"sql(
DELETE FROM outbox WHERE id IN (
  SELECT id FROM outbox
  WHERE published_at IS NOT NULL AND published_at < now() - $1::bigint * interval '1 second'
  ORDER BY published_at LIMIT $2))sql";

constexpr char kTryLockSql[] = "SELECT pg_try_advisory_lock(7212, hashtext($1))";
constexpr char kUnlockSql[] = "SELECT pg_advisory_unlock(7212, hashtext($1))";

std::string IdArray(const std::vector<int64_t>& ids) {
  std::string s = "{";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(ids[i]);
  }
  s += '}';
  return s;
}

class OutboxListener : public pqxx::notification_receiver {
 public:
  explicit OutboxListener(pqxx::connection_base& c)
      : pqxx::notification_receiver(c, "orderly_outbox") {}
  void operator()(const std::string&, int) override {}
};

// Stamps EventEnvelope.sequence (field 5, varint) onto a serialized envelope stored without it.
// Protobuf parsers keep the last value of a scalar field, so appending the field is equivalent to
// setting it, without parsing and re-serializing every event.
void AppendSequenceField(std::string* envelope, int64_t sequence) {
  constexpr int kSequenceField = 5;
  envelope->push_back(static_cast<char>(kSequenceField << 3));  // wire type 0 (varint)
  auto v = static_cast<uint64_t>(sequence);
  while (v >= 0x80) {
    envelope->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  envelope->push_back(static_cast<char>(v));
}

bool IsTransient(const absl::Status& s) {
  return s.code() == absl::StatusCode::kUnavailable ||
         s.code() == absl::StatusCode::kDeadlineExceeded;
}

}  // namespace

struct OutboxRelay::Impl {
  RelayOptions opt;
  RelayStats& stats;
  std::unique_ptr<pqxx::connection> conn;
  std::unique_ptr<OutboxListener> listener;
  kafka::ProducerPtr producer;
  std::thread thread;
  std::atomic<bool> stop{false};
  std::chrono::steady_clock::time_point next_purge{};
  std::mt19937_64 rng{std::random_device{}()};

  metrics::Counter& published_total;
  metrics::Counter& errors_total;
  metrics::Counter& parked_total;
  metrics::Histogram& commit_to_ack;
  metrics::Gauge& active_gauge;

  Impl(RelayOptions o, RelayStats& s)
      : opt(std::move(o)),
        stats(s),
        published_total(metrics::Registry::Default().GetCounter(
            "orderly_outbox_published_total", "Outbox events acknowledged by Kafka",
            {{"service", opt.service}})),
        errors_total(metrics::Registry::Default().GetCounter(
            "orderly_outbox_publish_errors_total", "Outbox events whose publish attempt failed",
            {{"service", opt.service}})),
        parked_total(metrics::Registry::Default().GetCounter(
            "orderly_outbox_parked_total", "Outbox events parked after repeated failures",
            {{"service", opt.service}})),
        commit_to_ack(metrics::Registry::Default().GetHistogram(
            "orderly_outbox_commit_to_ack_seconds",
            "Time from writing an outbox event to Kafka's acknowledgement",
            {{"service", opt.service}})),
        active_gauge(metrics::Registry::Default().GetGauge(
            "orderly_outbox_relay_active", "1 while this instance is the active relay",
            {{"service", opt.service}})) {}

  void DropConnection() {
    listener.reset();
    conn.reset();
    if (stats.active.exchange(false)) {
      if (stop) {
        spdlog::info("outbox relay {}: stopped", opt.service);
      } else {
        spdlog::warn("outbox relay {}: lost leadership (connection dropped)", opt.service);
      }
    }
    active_gauge.Set(0);
  }

  // Connects if needed and tries to become the active relay. True when active.
  bool EnsureLeader() {
    try {
      if (!conn || !conn->is_open()) {
        DropConnection();
        conn = std::make_unique<pqxx::connection>(opt.dsn);
      }
      if (stats.active.load()) return true;
      pqxx::nontransaction ntx(*conn);
      bool got = ntx.exec_params1(kTryLockSql, opt.service)[0].as<bool>();
      if (!got) return false;
      listener = std::make_unique<OutboxListener>(*conn);
      conn->prepare("orderly_outbox_claim", kClaimSql);
      conn->prepare("orderly_outbox_mark_published", kMarkPublishedSql);
      stats.active = true;
      active_gauge.Set(1);
      spdlog::info("outbox relay {}: active", opt.service);
      return true;
    } catch (const std::exception& e) {
      spdlog::warn("outbox relay {}: cannot connect: {}", opt.service, e.what());
      DropConnection();
      return false;
    }
  }

  absl::Status EnsureProducer() {
    if (producer) return absl::OkStatus();
    auto po = opt.producer;
    // librdkafka gives up on a record when the relay does, so a record the relay will retry is
    // not still in flight; and any error that could leave a gap in a partition's sequence stops
    // the producer (then recreated) instead of letting later records overtake a failed one.
    po.settings.emplace("message.timeout.ms", std::to_string(opt.produce_timeout.count()));
    po.settings.emplace("enable.gapless.guarantee", "true");
    auto p = kafka::Producer::Create(po);
    if (!p.ok()) return p.status();
    producer = std::move(*p);
    return absl::OkStatus();
  }

  struct Row {
    int64_t id;
    std::string aggregate_key;
    int64_t created_ms;
  };

  absl::StatusOr<int> Batch() {
    if (auto s = EnsureProducer(); !s.ok()) return s;
    std::vector<Row> rows;
    std::vector<kafka::Record> records;
    int published = 0;
    try {
      // The claim and the marks run in one transaction on the leader's connection: if the
      // session died meanwhile (and another relay took over) the marks fail instead of racing.
      pqxx::work tx(*conn);
      auto result = tx.exec_prepared("orderly_outbox_claim", opt.batch_size);
      if (result.empty()) {
        tx.commit();
        return 0;
      }
      rows.reserve(result.size());
      records.reserve(result.size());
      for (const auto& r : result) {
        kafka::Record rec;
        rec.topic = r[1].c_str();
        rec.key = r[2].c_str();
        pqxx::binarystring payload(r[7]);
        rec.value = payload.str();
        AppendSequenceField(&rec.value, r[5].as<int64_t>());
        const std::string agg_type = r[3].c_str(), agg_id = r[4].c_str();
        const int64_t occurred_ms = r[10].as<int64_t>();
        rec.timestamp_ms = occurred_ms;
        rec.headers = {
            {"ce_specversion", "1.0"},
            {"ce_id", r[9].c_str()},
            {"ce_source", "/orderly/" + Source()},
            {"ce_type", r[6].c_str()},
            {"ce_time", ToRfc3339(FromUnixMillis(occurred_ms))},
            {"ce_subject", agg_type + "/" + agg_id},
            {"ce_sequence", r[5].c_str()},
            {"content-type", "application/protobuf"},
        };
        std::string traceparent = r[8].c_str();
        if (!traceparent.empty()) rec.headers.emplace_back("traceparent", traceparent);
        records.push_back(std::move(rec));
        rows.push_back({r[0].as<int64_t>(), agg_type + "/" + agg_id, r[11].as<int64_t>()});
      }

      auto results = producer->ProduceBatch(records, opt.produce_timeout);
      const int64_t ack_ms = ToUnixMillis(std::chrono::system_clock::now());
      if (opt.after_produce_for_test) opt.after_produce_for_test();

      std::vector<int64_t> ok_ids;
      std::set<std::string> failed_aggregates;
      // error text -> (ids, permanent?)
      std::map<std::string, std::pair<std::vector<int64_t>, bool>> failures;
      for (size_t i = 0; i < rows.size(); ++i) {
        const auto& res = results[i];
        if (failed_aggregates.count(rows[i].aggregate_key)) {
          // Delivered or not, it must wait for its predecessor: republished later, and any
          // duplicate is absorbed by consumers' inbox.
          failures["waiting for an earlier event of the aggregate"].first.push_back(rows[i].id);
          continue;
        }
        if (res.status.ok()) {
          ok_ids.push_back(rows[i].id);
          commit_to_ack.Observe(std::max<int64_t>(0, ack_ms - rows[i].created_ms) / 1000.0);
        } else {
          failed_aggregates.insert(rows[i].aggregate_key);
          auto& f = failures[std::string(res.status.message())];
          f.first.push_back(rows[i].id);
          f.second = f.second || !IsTransient(res.status);
        }
      }
      if (!ok_ids.empty()) tx.exec_prepared("orderly_outbox_mark_published", IdArray(ok_ids));
      int64_t parked_now = 0, failed_now = 0;
      for (const auto& [error, entry] : failures) {
        auto res = tx.exec_params(kMarkFailedSql, IdArray(entry.first), error,
                                  static_cast<double>(opt.base_backoff.count()),
                                  static_cast<double>(opt.max_backoff.count()), entry.second,
                                  opt.max_attempts);
        for (const auto& r : res) {
          if (r[0].as<bool>()) ++parked_now;
        }
        failed_now += static_cast<int64_t>(entry.first.size());
      }
      tx.commit();
      published = static_cast<int>(ok_ids.size());
      stats.published += published;
      stats.batches += 1;
      published_total.Inc(published);
      if (failed_now > 0) {
        stats.failed += failed_now;
        errors_total.Inc(static_cast<double>(failed_now));
        spdlog::warn("outbox relay {}: {} of {} events not published: {}", opt.service, failed_now,
                     rows.size(), failures.begin()->first);
      }
      if (parked_now > 0) {
        stats.parked += parked_now;
        parked_total.Inc(static_cast<double>(parked_now));
        spdlog::error("outbox relay {}: parked {} events after {} attempts", opt.service,
                      parked_now, opt.max_attempts);
      }
      bool permanent = false;
      for (const auto& [error, entry] : failures) permanent = permanent || entry.second;
      if (permanent) producer.reset();  // a fatal (e.g. gapless) error leaves it unusable
      if (!failures.empty() && published == 0) {
        return absl::UnavailableError("outbox relay: batch failed: " + failures.begin()->first);
      }
      return published;
    } catch (const pqxx::broken_connection& e) {
      DropConnection();
      return absl::UnavailableError(std::string("outbox relay: connection lost: ") + e.what());
    } catch (const std::exception& e) {
      // A failed transaction also leaves a possible duplicate on Kafka; consumers absorb it.
      if (conn && !conn->is_open()) DropConnection();
      return absl::InternalError(std::string("outbox relay: ") + e.what());
    }
  }

  void PurgeIfDue() {
    auto now = std::chrono::steady_clock::now();
    if (now < next_purge) return;
    next_purge = now + opt.purge_interval;
    try {
      const int64_t retention_s =
          std::chrono::duration_cast<std::chrono::seconds>(opt.retention).count();
      int64_t total = 0;
      for (;;) {
        pqxx::work tx(*conn);
        auto r = tx.exec_params(kPurgeSql, retention_s, opt.purge_batch);
        tx.commit();
        total += r.affected_rows();
        if (static_cast<int>(r.affected_rows()) < opt.purge_batch || stop) break;
      }
      if (total > 0) spdlog::info("outbox relay {}: purged {} published events", opt.service, total);
    } catch (const std::exception& e) {
      spdlog::warn("outbox relay {}: purge failed: {}", opt.service, e.what());
    }
  }

  void Loop() {
    log::ScopedContext ctx({"", ""});
    std::chrono::milliseconds backoff = opt.base_backoff;
    while (!stop) {
      if (!EnsureLeader()) {
        SleepFor(opt.standby_retry);
        continue;
      }
      auto n = Batch();
      if (!n.ok()) {
        spdlog::warn("outbox relay {}: {}", opt.service, n.status().ToString());
        SleepFor(backoff);
        backoff = std::min(backoff * 2, opt.max_backoff);
        continue;
      }
      backoff = opt.base_backoff;
      if (*n >= opt.batch_size) continue;  // more waiting
      PurgeIfDue();
      Wait();
    }
    Release();
  }

  void SleepFor(std::chrono::milliseconds d) {
    auto until = std::chrono::steady_clock::now() + d;
    while (!stop && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(
          std::chrono::milliseconds(50),
          std::chrono::duration_cast<std::chrono::milliseconds>(until -
                                                                std::chrono::steady_clock::now())));
    }
  }

  // Waits for a NOTIFY or the poll interval, in short slices so Stop() is prompt.
  void Wait() {
    auto until = std::chrono::steady_clock::now() + opt.poll_interval;
    try {
      while (!stop && std::chrono::steady_clock::now() < until) {
        if (conn->await_notification(0, 100000) > 0) return;
      }
    } catch (const std::exception& e) {
      DropConnection();
    }
  }

  void Release() {
    try {
      if (conn && conn->is_open() && stats.active) {
        pqxx::nontransaction ntx(*conn);
        ntx.exec_params(kUnlockSql, opt.service);
      }
    } catch (...) {
    }
    DropConnection();
    if (producer) (void)producer->Flush(std::chrono::milliseconds(2000));
  }
};

OutboxRelay::OutboxRelay(RelayOptions options)
    : options_(std::move(options)), impl_(std::make_unique<Impl>(options_, stats_)) {}

OutboxRelay::~OutboxRelay() { Stop(); }

void OutboxRelay::Start() {
  if (impl_->thread.joinable()) return;
  impl_->stop = false;
  impl_->thread = std::thread([this] { impl_->Loop(); });
}

void OutboxRelay::Stop() {
  impl_->stop = true;
  if (impl_->thread.joinable()) impl_->thread.join();
}

absl::StatusOr<int> OutboxRelay::RunOnce() {
  if (!impl_->EnsureLeader()) return 0;
  return impl_->Batch();
}

absl::StatusOr<int64_t> UnparkOutbox(pg::Pool& pool, const std::string& aggregate_id) {
  int64_t n = 0;
  auto s = pool.InTransaction([&](pqxx::transaction_base& tx) {
    auto r = tx.exec_params(
        "UPDATE outbox SET parked_at = NULL, attempts = 0, next_attempt_at = now() "
        "WHERE parked_at IS NOT NULL AND ($1 = '' OR aggregate_id = $1)",
        aggregate_id);
    n = r.affected_rows();
    tx.exec("SELECT pg_notify('orderly_outbox', '')");
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return n;
}

void RegisterOutboxMetrics(pg::Pool& pool, const std::string& service) {
  auto& reg = metrics::Registry::Default();
  auto& backlog = reg.GetGauge("orderly_outbox_backlog", "Outbox events waiting to be published",
                               {{"service", service}});
  auto& age = reg.GetGauge("orderly_outbox_oldest_age_seconds",
                           "Age of the oldest outbox event waiting to be published",
                           {{"service", service}});
  auto& parked = reg.GetGauge("orderly_outbox_parked",
                              "Outbox events parked after repeated failures (alert when > 0)",
                              {{"service", service}});
  reg.AddCollector([&pool, &backlog, &age, &parked] {
    (void)pool.InTransaction([&](pqxx::transaction_base& tx) {
      auto r = tx.exec1(
          "SELECT count(*) FILTER (WHERE parked_at IS NULL), "
          "coalesce(extract(epoch from now() - min(created_at) FILTER (WHERE parked_at IS NULL)), "
          "0)::double precision, count(*) FILTER (WHERE parked_at IS NOT NULL) "
          "FROM outbox WHERE published_at IS NULL");
      backlog.Set(r[0].as<double>());
      age.Set(r[1].as<double>());
      parked.Set(r[2].as<double>());
      return absl::OkStatus();
    });
  });
}

}  // namespace orderly::events
