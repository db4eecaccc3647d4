#include "orderly/events/inbox_consumer.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "orderly/core/logging.hpp"
#include "orderly/core/metrics.hpp"
#include "orderly/events/outbox.hpp"
#include "orderly/pg/query.hpp"

namespace orderly::events {
namespace {

const pg::Query kInboxInsertSql{"events.inbox_insert", R"sql(
INSERT INTO inbox (consumer, event_id, event_type) VALUES ($1, $2::uuid, $3)
ON CONFLICT DO NOTHING)sql"};

const pg::Query kLastSequenceSql{"events.inbox_last_sequence", R"sql(
SELECT last_sequence FROM inbox_sequences
WHERE consumer = $1 AND aggregate_type = $2 AND aggregate_id = $3
FOR UPDATE)sql"};

const pg::Query kSaveSequenceSql{"events.inbox_save_sequence", R"sql(
INSERT INTO inbox_sequences (consumer, aggregate_type, aggregate_id, last_sequence)
VALUES ($1, $2, $3, $4)
ON CONFLICT (consumer, aggregate_type, aggregate_id)
DO UPDATE SET last_sequence = GREATEST(inbox_sequences.last_sequence, EXCLUDED.last_sequence))sql"};

enum class Outcome { kApplied, kDuplicate, kStale };

// Trace id from a W3C traceparent ("00-<32 hex>-<16 hex>-01"), or "".
std::string TraceIdOf(const std::string& traceparent) {
  if (traceparent.size() >= 55 && traceparent[2] == '-') return traceparent.substr(3, 32);
  return "";
}

}  // namespace

struct InboxConsumer::Impl {
  ConsumerOptions opt;
  pg::Pool& pool;
  EventHandler handler;
  kafka::ConsumerPtr consumer;
  kafka::ProducerPtr dlq_producer;
  std::thread thread;
  std::atomic<bool> stop{false};
  std::atomic<int64_t> applied{0}, skipped{0}, dead{0};
  metrics::Counter& applied_total;
  metrics::Counter& skipped_total;
  metrics::Counter& dlq_total;
  metrics::Counter& retries_total;
  metrics::Counter& ignored_total;

  Impl(ConsumerOptions o, pg::Pool& p, EventHandler h)
      : opt(std::move(o)),
        pool(p),
        handler(std::move(h)),
        applied_total(metrics::Registry::Default().GetCounter(
            "orderly_consumer_events_applied_total", "Events applied by a consumer",
            {{"consumer", opt.name}})),
        skipped_total(metrics::Registry::Default().GetCounter(
            "orderly_consumer_events_skipped_total",
            "Events skipped by a consumer (duplicate or older than already applied)",
            {{"consumer", opt.name}})),
        dlq_total(metrics::Registry::Default().GetCounter("orderly_consumer_dead_letters_total",
                                                          "Events sent to the dead-letter topic",
                                                          {{"consumer", opt.name}})),
        retries_total(metrics::Registry::Default().GetCounter(
            "orderly_consumer_retries_total", "Handler attempts that failed and were retried",
            {{"consumer", opt.name}})),
        ignored_total(metrics::Registry::Default().GetCounter(
            "orderly_consumer_events_ignored_total",
            "Events of a subscribed topic whose type the consumer does not handle (no transaction)",
            {{"consumer", opt.name}})) {}

  // One attempt: inbox, sequence check, handler, all in one transaction.
  absl::StatusOr<Outcome> ApplyOnce(const v1::EventEnvelope& ev, bool check_sequence) {
    Outcome outcome = Outcome::kApplied;
    auto s = pool.InTransaction([&](pqxx::transaction_base& tx) -> absl::Status {
      outcome = Outcome::kApplied;
      auto ins = pg::Exec(tx, kInboxInsertSql, opt.name, ev.event_id(), ev.event_type());
      if (ins.affected_rows() == 0) {
        outcome = Outcome::kDuplicate;
        return absl::OkStatus();
      }
      if (check_sequence && ev.sequence() > 0) {
        auto last =
            pg::Exec(tx, kLastSequenceSql, opt.name, ev.aggregate_type(), ev.aggregate_id());
        if (!last.empty() && last[0][0].as<int64_t>() >= ev.sequence()) {
          // Keep the inbox row: this event is settled (ignored), not to be applied later.
          outcome = Outcome::kStale;
          return absl::OkStatus();
        }
      }
      if (auto hs = handler(tx, ev); !hs.ok()) return hs;
      if (ev.sequence() > 0) {
        pg::Exec(tx, kSaveSequenceSql, opt.name, ev.aggregate_type(), ev.aggregate_id(),
                 ev.sequence());
      }
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
    return outcome;
  }

  // Applies with retries. Returns the final status of the last attempt (OK when settled).
  absl::Status Apply(const v1::EventEnvelope& ev, bool check_sequence, int* attempts_out) {
    log::ScopedContext ctx({ev.event_id(), TraceIdOf(ev.traceparent())});
    absl::Status last;
    auto backoff = opt.base_backoff;
    for (int attempt = 1; attempt <= opt.max_attempts; ++attempt) {
      *attempts_out = attempt;
      auto r = ApplyOnce(ev, check_sequence);
      if (r.ok()) {
        if (*r == Outcome::kApplied) {
          applied++;
          applied_total.Inc();
        } else {
          skipped++;
          skipped_total.Inc();
          spdlog::debug("consumer {}: skipped {} event {} ({})", opt.name, ev.event_type(),
                        ev.event_id(), *r == Outcome::kDuplicate ? "duplicate" : "stale");
        }
        return absl::OkStatus();
      }
      last = r.status();
      if (attempt < opt.max_attempts) {
        retries_total.Inc();
        spdlog::warn("consumer {}: {} event {} attempt {} failed: {}", opt.name, ev.event_type(),
                     ev.event_id(), attempt, last.ToString());
        std::this_thread::sleep_for(backoff);
        backoff *= 2;
      }
    }
    return last;
  }

  absl::Status DeadLetter(const kafka::ConsumedRecord& rec, const std::string& error, int attempts,
                          const std::string& event_id) {
    if (!dlq_producer) {
      kafka::ProducerOptions po;
      po.brokers = opt.brokers;
      po.client_id = opt.name + "-dlq";
      auto p = kafka::Producer::Create(po);
      if (!p.ok()) return p.status();
      dlq_producer = std::move(*p);
    }
    kafka::Record out;
    out.topic = DeadLetterTopic(rec.topic);
    out.key = rec.key;
    out.value = rec.value;
    out.headers = rec.headers;
    out.headers.emplace_back(kDlqErrorHeader, error);
    out.headers.emplace_back(kDlqConsumerHeader, opt.name);
    out.headers.emplace_back(kDlqAttemptsHeader, std::to_string(attempts));
    out.headers.emplace_back(kDlqOriginHeader, rec.topic + "/" + std::to_string(rec.partition) +
                                                   "/" + std::to_string(rec.offset));
    auto res = dlq_producer->ProduceBatch({out}, std::chrono::milliseconds(15000));
    if (!res[0].status.ok()) return res[0].status;
    dead++;
    dlq_total.Inc();
    spdlog::error("consumer {}: event {} from {}/{}/{} sent to {} after {} attempts: {}", opt.name,
                  event_id, rec.topic, rec.partition, rec.offset, out.topic, attempts, error);
    return absl::OkStatus();
  }

  // Handles one record fully (applied, skipped or dead-lettered). Not OK only when even the
  // dead-letter write failed: then the record must be redelivered.
  absl::Status Handle(const kafka::ConsumedRecord& rec, bool check_sequence) {
    v1::EventEnvelope ev;
    int attempts = 0;
    if (!ev.ParseFromString(rec.value) || ev.event_id().empty()) {
      return DeadLetter(rec, "undecodable event envelope", 0, "(undecodable)");
    }
    if (!opt.event_types.empty() && opt.event_types.count(ev.event_type()) == 0) {
      ignored_total.Inc();
      return absl::OkStatus();
    }
    auto s = Apply(ev, check_sequence, &attempts);
    if (s.ok()) return s;
    return DeadLetter(rec, s.ToString(), attempts, ev.event_id());
  }

  void Loop() {
    auto& lag_reg = metrics::Registry::Default();
    auto last_lag = std::chrono::steady_clock::now();
    while (!stop) {
      auto batch = consumer->Poll(opt.batch_size, opt.poll_timeout);
      if (!batch.ok()) {
        spdlog::warn("consumer {}: poll: {}", opt.name, batch.status().ToString());
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        continue;
      }
      // Offsets are committed after the database commits, once per partition per batch.
      std::map<std::pair<std::string, int32_t>, const kafka::ConsumedRecord*> settled;
      size_t i = 0;
      for (; i < batch->size() && !stop; ++i) {
        const auto& rec = (*batch)[i];
        auto s = Handle(rec, /*check_sequence=*/true);
        if (!s.ok()) {
          spdlog::error("consumer {}: cannot settle {}/{}/{}: {}", opt.name, rec.topic,
                        rec.partition, rec.offset, s.ToString());
          std::this_thread::sleep_for(std::chrono::milliseconds(500));
          break;
        }
        settled[{rec.topic, rec.partition}] = &rec;
      }
      // Rewind every partition to its first record not settled, so it is delivered again.
      std::set<std::pair<std::string, int32_t>> rewound;
      for (; i < batch->size(); ++i) {
        const auto& rec = (*batch)[i];
        if (rewound.insert({rec.topic, rec.partition}).second) {
          (void)consumer->Seek(rec.topic, rec.partition, rec.offset);
        }
      }
      for (const auto& [tp, rec] : settled) {
        if (auto cs = consumer->Commit(*rec); !cs.ok()) {
          // The next owner of the partition redelivers; the inbox absorbs it.
          spdlog::warn("consumer {}: offset commit: {}", opt.name, cs.ToString());
        }
      }
      if (std::chrono::steady_clock::now() - last_lag > std::chrono::seconds(5)) {
        last_lag = std::chrono::steady_clock::now();
        for (const auto& [tp, lag] : consumer->Lag()) {
          lag_reg
              .GetGauge("orderly_consumer_lag", "Records behind the high watermark",
                        {{"consumer", opt.name},
                         {"topic", tp.first},
                         {"partition", std::to_string(tp.second)}})
              .Set(static_cast<double>(lag));
        }
      }
    }
  }
};

InboxConsumer::InboxConsumer(ConsumerOptions options, pg::Pool& pool, EventHandler handler)
    : impl_(std::make_unique<Impl>(std::move(options), pool, std::move(handler))) {}

InboxConsumer::~InboxConsumer() { Stop(); }

absl::Status InboxConsumer::Start() {
  if (impl_->thread.joinable()) return absl::OkStatus();
  kafka::ConsumerOptions co;
  co.brokers = impl_->opt.brokers;
  co.group_id = impl_->opt.name;
  co.topics = impl_->opt.topics;
  auto c = kafka::Consumer::Create(co);
  if (!c.ok()) return c.status();
  impl_->consumer = std::move(*c);
  impl_->stop = false;
  impl_->thread = std::thread([this] { impl_->Loop(); });
  return absl::OkStatus();
}

void InboxConsumer::Stop() {
  impl_->stop = true;
  if (impl_->thread.joinable()) impl_->thread.join();
  if (impl_->consumer) {
    impl_->consumer->Close();
    impl_->consumer.reset();
  }
}

absl::StatusOr<int> InboxConsumer::ReplayDeadLetters(std::chrono::milliseconds timeout) {
  kafka::ConsumerOptions co;
  co.brokers = impl_->opt.brokers;
  co.group_id = impl_->opt.name + ".dlq-replay";
  for (const auto& t : impl_->opt.topics) co.topics.push_back(DeadLetterTopic(t));
  auto c = kafka::Consumer::Create(co);
  if (!c.ok()) return c.status();
  int replayed = 0;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int empty_polls = 0;
  while (std::chrono::steady_clock::now() < deadline && empty_polls < 3) {
    auto batch = (*c)->Poll(100, std::chrono::milliseconds(500));
    if (!batch.ok()) return batch.status();
    if (batch->empty()) {
      ++empty_polls;
      continue;
    }
    empty_polls = 0;
    for (const auto& rec : *batch) {
      if (rec.Header(kDlqConsumerHeader) == impl_->opt.name) {
        v1::EventEnvelope ev;
        if (ev.ParseFromString(rec.value)) {
          int attempts = 0;
          const int64_t before = impl_->applied.load();
          auto s = impl_->Apply(ev, /*check_sequence=*/false, &attempts);
          if (!s.ok()) return s;  // still failing: leave it (and later ones) in the DLQ
          if (impl_->applied.load() > before) ++replayed;
        }
      }
      if (auto cs = (*c)->Commit(rec); !cs.ok()) return cs;
    }
  }
  (*c)->Close();
  return replayed;
}

const std::string& InboxConsumer::name() const { return impl_->opt.name; }
int64_t InboxConsumer::applied() const { return impl_->applied.load(); }
int64_t InboxConsumer::skipped() const { return impl_->skipped.load(); }
int64_t InboxConsumer::dead_lettered() const { return impl_->dead.load(); }

}  // namespace orderly::events
