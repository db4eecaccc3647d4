#include "orderly/events/relay.hpp"

#include <spdlog/spdlog.h>

#include <future>
#include <map>
#include <optional>
#include <random>
#include <set>

#include "orderly/core/logging.hpp"
#include "orderly/core/metrics.hpp"
#include "orderly/events/outbox.hpp"
#include "orderly/pg/query.hpp"

namespace orderly::events {
namespace {

// Rows to publish are those in outbox_unpublished (migration 9101), in id order. A row is skipped
// while an earlier row of its aggregate is parked or still backing off, so one aggregate's events
// are never published out of sequence; `held` finds those aggregates once per claim, from the
// queued ids that failed before and from the parked rows (both usually none, both read through
// partial indexes). Parked rows leave the queue, so claims do not walk past them.
const pg::Query kClaimSql{"events.relay_claim", R"sql(
WITH held AS MATERIALIZED (
  SELECT aggregate_type, aggregate_id, min(sequence) AS sequence
  FROM (SELECT p.aggregate_type, p.aggregate_id, p.sequence
        FROM outbox_unpublished f,
             LATERAL (SELECT * FROM outbox WHERE outbox.id = f.id OFFSET 0) p
        WHERE f.failed AND (p.parked_at IS NOT NULL OR p.next_attempt_at > now())
        UNION ALL
        SELECT aggregate_type, aggregate_id, sequence FROM outbox
        WHERE parked_at IS NOT NULL AND published_at IS NULL) h
  GROUP BY 1, 2)
SELECT o.id, o.topic, o.partition_key, o.aggregate_type, o.aggregate_id, o.sequence, o.event_type,
       o.payload, o.traceparent, o.event_id::text,
       (extract(epoch from o.occurred_at) * 1000)::bigint,
       (extract(epoch from o.created_at) * 1000)::bigint,
       o.attempts
FROM outbox_unpublished u,
     -- A lookup by primary key per queued id (OFFSET 0 keeps it one, here and in `held`): a merge
     -- join would walk the outbox's published rows from its first id, and the planner picks one
     -- when the queue's statistics are stale.
     LATERAL (SELECT * FROM outbox WHERE outbox.id = u.id OFFSET 0) o
WHERE o.parked_at IS NULL AND o.next_attempt_at <= now()
  AND NOT EXISTS (
    SELECT 1 FROM held h
    WHERE h.aggregate_type = o.aggregate_type AND h.aggregate_id = o.aggregate_id
      AND h.sequence < o.sequence)
  AND u.id <> ALL($2::bigint[])
ORDER BY u.id
LIMIT $1)sql"};

// Leaves the queue, and the outbox row gets published_at. No index of the outbox mentions the
// columns set here, so with room on the page it is a HOT update (no index writes).
const pg::Query kMarkPublishedSql{"events.relay_mark_published", R"sql(
WITH dequeued AS (DELETE FROM outbox_unpublished WHERE id = ANY($1::bigint[]))
UPDATE outbox SET published_at = clock_timestamp(), attempts = attempts + 1, last_error = NULL
WHERE id = ANY($1::bigint[]))sql"};

// Transient errors (broker down, timeouts) back off but never park: an outage must not turn
// into a pile of parked rows. Permanent errors park after max_attempts.
// A parked row leaves the queue (UnparkOutbox puts it back); a retried one stays, flagged.
const pg::Query kMarkFailedSql{"events.relay_mark_failed", R"sql(
WITH marked AS (
  UPDATE outbox
  SET attempts = attempts + 1,
      last_error = $2,
      next_attempt_at = now() + least($3::double precision * power(2, attempts),
                                      $4::double precision) * interval '1 millisecond',
      parked_at = CASE WHEN $5::boolean AND attempts + 1 >= $6 THEN now() ELSE NULL END
  WHERE id = ANY($1::bigint[])
  RETURNING id, parked_at IS NOT NULL AS parked),
flagged AS (
  UPDATE outbox_unpublished u SET failed = true
  FROM marked m WHERE u.id = m.id AND NOT m.parked AND NOT u.failed),
unqueued AS (
  DELETE FROM outbox_unpublished u USING marked m WHERE u.id = m.id AND m.parked)
SELECT parked FROM marked)sql"};

// Published rows older than the retention, oldest ids first. No index covers published_at (it
// would make every mark a non-HOT update), so the scan walks the primary key from the start and
// stops at the first row created after the cutoff: rows are created in id order (give or take
// concurrent writers), and a row published after the cutoff was created after it too.
const pg::Query kPurgeSql{"events.relay_purge", R"sql(
DELETE FROM outbox WHERE id IN (
  SELECT id FROM outbox
  WHERE id < coalesce((SELECT min(id) FROM outbox
                       WHERE created_at >= now() - $1::bigint * interval '1 second'),
                      9223372036854775807)
    AND published_at < now() - $1::bigint * interval '1 second'
  ORDER BY id LIMIT $2))sql"};

// Writers notify only while a relay waits, i.e. the row says busy = false (migrations 9005, 9104):
// NOTIFY serializes commits. No row: no relay is listening.
const pg::Query kSetBusySql{"events.relay_set_busy", R"sql(
INSERT INTO outbox_relay_state (busy) VALUES ($1)
ON CONFLICT (singleton) DO UPDATE SET busy = EXCLUDED.busy)sql"};
const pg::Query kClearStateSql{"events.relay_clear_state", "DELETE FROM outbox_relay_state"};

// The claim walks outbox_unpublished's primary key from its lowest id, over the entries of rows
// the relay deleted since the last vacuum; autovacuum comes at most once a minute (10,000s of
// rows at full speed), so the relay vacuums the small queue itself every few seconds while busy.
// Its index is what the claim walks, so index cleanup always runs; no truncation, whose exclusive
// lock would keep this thread retrying for seconds against the writers' inserts; and no waiting
// behind an autovacuum of the same table (SKIP_LOCKED: that one cleans it anyway).
const pg::Query kVacuumQueueSql{
    "events.relay_vacuum_queue",
    "VACUUM (SKIP_LOCKED, INDEX_CLEANUP ON, TRUNCATE false) outbox_unpublished"};
// The relay connection's session settings (see EnsureLeader for why each).
const pg::Query kForceCustomPlan{"events.relay_set_plan_cache_mode",
                                 "SET plan_cache_mode = force_custom_plan"};
const pg::Query kNoSeqScan{"events.relay_set_enable_seqscan", "SET enable_seqscan = off"};
const pg::Query kAsyncCommit{"events.relay_set_synchronous_commit", "SET synchronous_commit = off"};
const pg::Query kNoParallel{"events.relay_set_max_parallel_workers",
                            "SET max_parallel_workers_per_gather = 0"};
const pg::Query kUnpark{
    "events.unpark",
    "WITH unparked AS ("
    "  UPDATE outbox SET parked_at = NULL, attempts = 0, next_attempt_at = now() "
    "  WHERE parked_at IS NOT NULL AND ($1 = '' OR aggregate_id = $1) RETURNING id) "
    "INSERT INTO outbox_unpublished (id, failed) SELECT id, true FROM unparked "
    "ON CONFLICT (id) DO UPDATE SET failed = true"};
const pg::Query kNotifyRelay{"events.notify_relay", "SELECT pg_notify('orderly_outbox', '')"};
constexpr auto kQueueVacuumInterval = std::chrono::seconds(5);

const pg::Query kTryLockSql{"events.relay_try_lock",
                            "SELECT pg_try_advisory_lock(7212, hashtext($1))"};
const pg::Query kUnlockSql{"events.relay_unlock", "SELECT pg_advisory_unlock(7212, hashtext($1))"};

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
  std::chrono::steady_clock::time_point next_queue_vacuum{};
  int64_t published_since_vacuum = 0;
  bool busy = false;  // what this relay last wrote into outbox_relay_state
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
    busy = false;
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
        // The claim leaves out the ids in flight with `<> ALL(array)`, which PostgreSQL hashes
        // only when the array is a planning-time constant.
        pqxx::nontransaction settings(*conn);
        pg::ExecUnprepared(settings, kForceCustomPlan);
        // outbox_unpublished is small but churns: its statistics make a sequential scan through
        // all its not yet vacuumed dead rows look cheaper than the index probes of a mark. Every
        // statement of the relay is meant to use an index.
        pg::ExecUnprepared(settings, kNoSeqScan);
        // A mark lost in a database crash only republishes its rows (duplicates, which
        // consumers absorb), so the relay's commits need not wait for the WAL flush.
        pg::ExecUnprepared(settings, kAsyncCommit);
        // Its statements touch a few thousand rows through indexes: parallel workers only add
        // start-up cost (a parallel merge join over the whole outbox was seen with stale stats).
        pg::ExecUnprepared(settings, kNoParallel);
      }
      if (stats.active.load()) return true;
      pqxx::nontransaction ntx(*conn);
      bool got = pg::Exec1(ntx, kTryLockSql, opt.service)[0].as<bool>();
      if (!got) return false;
      listener = std::make_unique<OutboxListener>(*conn);
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
  // Rows claimed together, and their Kafka records (same index).
  struct Claimed {
    std::vector<Row> rows;
    std::vector<kafka::Record> records;
  };
  using ClaimedPtr = std::unique_ptr<Claimed>;
  // A batch handed to the producer and not yet marked.
  struct InFlight {
    ClaimedPtr claimed;
    std::future<std::vector<kafka::DeliveryResult>> results;  // its destructor waits
  };

  // Claims the next unpublished rows in id order, except those in flight (sent, not yet marked).
  ClaimedPtr Claim(const InFlight* in_flight) {
    std::vector<int64_t> exclude;
    if (in_flight != nullptr) {
      exclude.reserve(in_flight->claimed->rows.size());
      for (const auto& r : in_flight->claimed->rows) exclude.push_back(r.id);
    }
    // Autocommit: a read on the leader's connection needs no transaction of its own.
    pqxx::nontransaction ntx(*conn);
    auto result = pg::Exec(ntx, kClaimSql, opt.batch_size, pg::IntArray(exclude));
    auto claimed = std::make_unique<Claimed>();
    claimed->rows.reserve(result.size());
    claimed->records.reserve(result.size());
    const std::string source = "/orderly/" + Source();
    for (const auto& r : result) {
      kafka::Record rec;
      rec.topic = r[1].c_str();
      rec.key = r[2].c_str();
      pqxx::binarystring payload(r[7]);
      rec.value = payload.str();
      AppendSequenceField(&rec.value, r[5].as<int64_t>());
      std::string aggregate_key = std::string(r[3].c_str()) + "/" + r[4].c_str();
      const int64_t occurred_ms = r[10].as<int64_t>();
      rec.timestamp_ms = occurred_ms;
      rec.headers = {
          {"ce_specversion", "1.0"},
          {"ce_id", r[9].c_str()},
          {"ce_source", source},
          {"ce_type", r[6].c_str()},
          {"ce_time", ToRfc3339(FromUnixMillis(occurred_ms))},
          {"ce_subject", aggregate_key},
          {"ce_sequence", r[5].c_str()},
          {"content-type", "application/protobuf"},
      };
      std::string traceparent = r[8].c_str();
      if (!traceparent.empty()) rec.headers.emplace_back("traceparent", traceparent);
      claimed->records.push_back(std::move(rec));
      claimed->rows.push_back({r[0].as<int64_t>(), std::move(aggregate_key), r[11].as<int64_t>()});
    }
    return claimed;
  }

  // Hands the rows to the producer on another thread, so the leader's connection can mark the
  // previous batch and claim the next one meanwhile. One batch at a time: it is sent only after
  // the previous one was acknowledged, so records of one aggregate reach the producer in order.
  InFlight Send(ClaimedPtr claimed) {
    InFlight f;
    f.claimed = std::move(claimed);
    f.results = std::async(std::launch::async, [p = producer.get(), records = &f.claimed->records,
                                                timeout = opt.produce_timeout] {
      return p->ProduceBatch(*records, timeout);
    });
    return f;
  }

  // A batch's delivery reports, sorted for marking.
  struct Outcome {
    size_t rows = 0;
    std::vector<int64_t> ok_ids;
    // error text -> (ids, permanent?)
    std::map<std::string, std::pair<std::vector<int64_t>, bool>> failures;
    // Aggregates with a failed row: their later rows must wait for its retry.
    std::set<std::string> failed_aggregates;
    bool permanent = false;
  };

  // Waits for the batch's delivery reports. Rows after the first failure of an aggregate are
  // not marked published, even when delivered. A fatal (e.g. gapless) error replaces the
  // producer.
  Outcome Collect(InFlight& f) {
    auto results = f.results.get();
    const int64_t ack_ms = ToUnixMillis(std::chrono::system_clock::now());
    if (opt.after_produce_for_test) opt.after_produce_for_test();
    const auto& rows = f.claimed->rows;
    Outcome out;
    out.rows = rows.size();
    for (size_t i = 0; i < rows.size(); ++i) {
      const auto& res = results[i];
      if (out.failed_aggregates.count(rows[i].aggregate_key)) {
        // Delivered or not, it must wait for its predecessor: republished later, and any
        // duplicate is absorbed by consumers' inbox.
        out.failures["waiting for an earlier event of the aggregate"].first.push_back(rows[i].id);
        continue;
      }
      if (res.status.ok()) {
        out.ok_ids.push_back(rows[i].id);
        commit_to_ack.Observe(std::max<int64_t>(0, ack_ms - rows[i].created_ms) / 1000.0);
      } else {
        out.failed_aggregates.insert(rows[i].aggregate_key);
        auto& fl = out.failures[std::string(res.status.message())];
        fl.first.push_back(rows[i].id);
        fl.second = fl.second || !IsTransient(res.status);
        out.permanent = out.permanent || fl.second;
      }
    }
    if (out.permanent) producer.reset();  // a fatal (e.g. gapless) error leaves it unusable
    return out;
  }

  // Marks a collected batch: acknowledged rows published, failed ones backed off or parked.
  // Returns rows published.
  absl::StatusOr<int> Mark(const Outcome& out) {
    int64_t parked_now = 0, failed_now = 0;
    {
      // The marks run on the leader's connection: if its session died meanwhile (and another
      // relay took over) they fail instead of racing.
      pqxx::work tx(*conn);
      if (!out.ok_ids.empty()) {
        pg::Exec(tx, kMarkPublishedSql, pg::IntArray(out.ok_ids));
      }
      for (const auto& [error, entry] : out.failures) {
        auto res =
            pg::Exec(tx, kMarkFailedSql, pg::IntArray(entry.first), error,
                     static_cast<double>(opt.base_backoff.count()),
                     static_cast<double>(opt.max_backoff.count()), entry.second, opt.max_attempts);
        for (const auto& r : res) {
          if (r[0].as<bool>()) ++parked_now;
        }
        failed_now += static_cast<int64_t>(entry.first.size());
      }
      tx.commit();
    }
    const int published = static_cast<int>(out.ok_ids.size());
    stats.published += published;
    stats.batches += 1;
    published_total.Inc(published);
    if (failed_now > 0) {
      stats.failed += failed_now;
      errors_total.Inc(static_cast<double>(failed_now));
      spdlog::warn("outbox relay {}: {} of {} events not published: {}", opt.service, failed_now,
                   out.rows, out.failures.begin()->first);
    }
    if (parked_now > 0) {
      stats.parked += parked_now;
      parked_total.Inc(static_cast<double>(parked_now));
      spdlog::error("outbox relay {}: parked {} events after {} attempts", opt.service, parked_now,
                    opt.max_attempts);
    }
    if (!out.failures.empty() && published == 0) {
      return absl::UnavailableError("outbox relay: batch failed: " + out.failures.begin()->first);
    }
    return published;
  }

  absl::Status RelayError(const char* what) {
    try {
      throw;
    } catch (const pqxx::broken_connection& e) {
      DropConnection();
      return absl::UnavailableError(std::string("outbox relay: connection lost: ") + e.what());
    } catch (const std::exception& e) {
      // A failed mark also leaves a possible duplicate on Kafka; consumers absorb it.
      if (conn && !conn->is_open()) DropConnection();
      return absl::InternalError(std::string("outbox relay: ") + what + ": " + e.what());
    }
  }

  // One claim-produce-mark cycle without overlap (RunOnce, and the idle re-checks).
  absl::StatusOr<int> Batch() {
    if (auto s = EnsureProducer(); !s.ok()) return s;
    try {
      auto claimed = Claim(nullptr);
      if (claimed->rows.empty()) return 0;
      InFlight f = Send(std::move(claimed));
      return Mark(Collect(f));
    } catch (...) {
      return RelayError("batch");
    }
  }

  // One step of the pipelined loop: claim the next rows (not those in flight) while the batch in
  // flight is produced; collect its delivery reports; send the new rows, minus those of an
  // aggregate that just failed (they wait, unmarked, behind its retry); mark the collected batch
  // while the new one is produced. Returns rows marked published; `in_flight` is what is being
  // produced now.
  absl::StatusOr<int> Step(std::optional<InFlight>& in_flight) {
    if (auto s = EnsureProducer(); !s.ok()) {
      in_flight.reset();
      return s;
    }
    // A full batch in flight means a backlog: claim the next one while Kafka acknowledges it. A
    // small one means a trickle: claim after its acknowledgements, so the claim also gets the
    // rows committed meanwhile instead of leaving them for one more round.
    const bool claim_early =
        in_flight && static_cast<int>(in_flight->claimed->rows.size()) >= opt.batch_size / 2;
    std::optional<Outcome> collected;
    if (in_flight && !claim_early) collected = Collect(*in_flight);
    ClaimedPtr next;
    try {
      // Either way the batch in flight is not marked yet: leave its rows out.
      next = Claim(in_flight ? &*in_flight : nullptr);
    } catch (...) {
      in_flight.reset();  // waits for it; its unmarked rows are claimed again later
      return RelayError("claim");
    }
    if (!in_flight) {
      if (!next->rows.empty()) in_flight = Send(std::move(next));
      return 0;
    }
    if (!collected) collected = Collect(*in_flight);
    in_flight.reset();
    Outcome& done = *collected;
    if (!done.failed_aggregates.empty()) {
      auto kept = std::make_unique<Claimed>();
      for (size_t i = 0; i < next->rows.size(); ++i) {
        if (done.failed_aggregates.count(next->rows[i].aggregate_key)) continue;
        kept->rows.push_back(std::move(next->rows[i]));
        kept->records.push_back(std::move(next->records[i]));
      }
      next = std::move(kept);
    }
    // After a failure nothing new is sent before the marks: the next claim sees the backoff.
    const bool send_now = done.failures.empty();
    if (send_now && !next->rows.empty()) in_flight = Send(std::move(next));
    absl::StatusOr<int> published = 0;
    try {
      published = Mark(done);
    } catch (...) {
      in_flight.reset();
      return RelayError("mark");
    }
    if (!published.ok()) {
      in_flight.reset();
      return published;
    }
    if (!send_now && !next->rows.empty()) {
      if (auto s = EnsureProducer(); !s.ok()) return s;  // replaced after a fatal error
      in_flight = Send(std::move(next));
    }
    return published;
  }

  void VacuumQueueIfDue() {
    const auto now = std::chrono::steady_clock::now();
    if (published_since_vacuum == 0 || now < next_queue_vacuum) return;
    next_queue_vacuum = now + kQueueVacuumInterval;
    published_since_vacuum = 0;
    try {
      pqxx::nontransaction ntx(*conn);
      pg::ExecUnprepared(ntx, kVacuumQueueSql);
    } catch (const std::exception& e) {
      spdlog::warn("outbox relay {}: vacuum of outbox_unpublished failed: {}", opt.service,
                   e.what());
      if (!conn->is_open()) DropConnection();
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
        auto r = pg::Exec(tx, kPurgeSql, retention_s, opt.purge_batch);
        tx.commit();
        total += r.affected_rows();
        if (static_cast<int>(r.affected_rows()) < opt.purge_batch || stop) break;
      }
      if (total > 0)
        spdlog::info("outbox relay {}: purged {} published events", opt.service, total);
    } catch (const std::exception& e) {
      spdlog::warn("outbox relay {}: purge failed: {}", opt.service, e.what());
    }
  }

  // Tells writers whether to notify. False on a lost connection.
  bool SetBusy(bool value) {
    try {
      pqxx::nontransaction ntx(*conn);
      pg::Exec(ntx, kSetBusySql, value);
      busy = value;
      return true;
    } catch (const std::exception& e) {
      spdlog::warn("outbox relay {}: cannot set busy={}: {}", opt.service, value, e.what());
      if (!conn->is_open()) DropConnection();
      return false;
    }
  }

  void Loop() {
    log::ScopedContext ctx({"", ""});
    std::chrono::milliseconds backoff = opt.base_backoff;
    std::optional<InFlight> in_flight;
    while (!stop) {
      if (!EnsureLeader()) {
        in_flight.reset();
        SleepFor(opt.standby_retry);
        continue;
      }
      // Busy: writers stop notifying, this loop claims again after every batch that found rows.
      if (!busy && !SetBusy(true)) {
        in_flight.reset();
        SleepFor(backoff);
        continue;
      }
      auto n = Step(in_flight);
      if (!n.ok()) {
        spdlog::warn("outbox relay {}: {}", opt.service, n.status().ToString());
        SleepFor(backoff);
        backoff = std::min(backoff * 2, opt.max_backoff);
        continue;
      }
      backoff = opt.base_backoff;
      published_since_vacuum += *n;
      VacuumQueueIfDue();
      if (!stats.active) continue;        // the vacuum lost the connection
      if (*n > 0 || in_flight) continue;  // more may have committed meanwhile
      PurgeIfDue();
      Idle();
    }
    if (in_flight && stats.active) {  // finish the batch in flight
      try {
        (void)Mark(Collect(*in_flight));
      } catch (...) {
        (void)RelayError("mark");
      }
    }
    in_flight.reset();
    Release();
  }

  // Nothing to claim: become idle (writers notify again) and wait for a notification or the poll
  // interval. A writer that read "busy" just before the flip may commit just after the claim
  // that follows it, without notifying: a second claim shortly after catches it, and the poll
  // interval bounds anything slower (a writer holding its transaction open).
  void Idle() {
    try {
      conn->get_notifs();  // drop notifications from before: their rows were claimed
    } catch (const std::exception&) {
      DropConnection();
      return;
    }
    if (!SetBusy(false)) return;
    auto n = Batch();
    if (!n.ok() || *n > 0) return;
    if (Wait(std::chrono::milliseconds(20))) return;
    n = Batch();
    if (!n.ok() || *n > 0) return;
    Wait(opt.poll_interval);
  }

  void SleepFor(std::chrono::milliseconds d) {
    auto until = std::chrono::steady_clock::now() + d;
    while (!stop && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(
          std::chrono::milliseconds(50), std::chrono::duration_cast<std::chrono::milliseconds>(
                                             until - std::chrono::steady_clock::now())));
    }
  }

  // Waits for a NOTIFY or the timeout, in short slices so Stop() is prompt. True when notified.
  bool Wait(std::chrono::milliseconds timeout) {
    auto until = std::chrono::steady_clock::now() + timeout;
    try {
      while (!stop) {
        auto left = std::chrono::duration_cast<std::chrono::microseconds>(
            until - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        const auto slice = std::min<int64_t>(left.count(), 100000);
        if (conn->await_notification(0, static_cast<long>(slice)) > 0) return true;
      }
    } catch (const std::exception& e) {
      DropConnection();
    }
    return false;
  }

  void Release() {
    try {
      if (conn && conn->is_open() && stats.active) {
        pqxx::nontransaction ntx(*conn);
        // Nobody listens until the next leader first waits (migration 9104): writers stop
        // notifying. That leader claims before it waits, so it misses nothing.
        pg::Exec(ntx, kClearStateSql);
        pg::Exec(ntx, kUnlockSql, opt.service);
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
    // Back into the queue, flagged as failed before (the relay's held-back check reads those).
    auto r = pg::Exec(tx, kUnpark, aggregate_id);
    n = r.affected_rows();
    pg::Exec(tx, kNotifyRelay);
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
          "SELECT count(*), "
          "coalesce(extract(epoch from now() - min(o.created_at)), 0)::double precision, "
          "(SELECT count(*) FROM outbox WHERE parked_at IS NOT NULL AND published_at IS NULL) "
          "FROM outbox_unpublished u JOIN outbox o ON o.id = u.id WHERE o.parked_at IS NULL");
      backlog.Set(r[0].as<double>());
      age.Set(r[1].as<double>());
      parked.Set(r[2].as<double>());
      return absl::OkStatus();
    });
  });
}

}  // namespace orderly::events
