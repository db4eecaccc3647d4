#include "orderly/kafka/kafka.hpp"

#include <absl/strings/str_cat.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <set>
#include <string_view>
#include <thread>

namespace orderly::kafka {
namespace {

using Clock = std::chrono::steady_clock;

// librdkafka's own log lines and client errors go through spdlog (JSON lines) instead of raw
// "%4|..." text on stderr. Connection errors are expected while a broker restarts: warn.
class LogEvents : public RdKafka::EventCb {
 public:
  void event_cb(RdKafka::Event& event) override {
    switch (event.type()) {
      case RdKafka::Event::EVENT_LOG: {
        const int sev = event.severity();
        // CONFWARN only notes that a property is experimental (enable.gapless.guarantee).
        const auto level = event.fac() == "CONFWARN" ? spdlog::level::debug
                           : sev <= 3                ? spdlog::level::err
                           : sev == 4                ? spdlog::level::warn
                           : sev <= 6                ? spdlog::level::info
                                                     : spdlog::level::debug;
        spdlog::log(level, "kafka {}: {}", event.fac(), event.str());
        break;
      }
      case RdKafka::Event::EVENT_ERROR:
        spdlog::log(event.fatal() ? spdlog::level::err : spdlog::level::warn, "kafka error {}: {}",
                    RdKafka::err2str(event.err()), event.str());
        break;
      default: break;
    }
  }
};

LogEvents& KafkaLog() {
  static LogEvents events;
  return events;
}

int RemainingMs(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::max<int64_t>(0, left.count()));
}

absl::Status KafkaStatus(int code, const std::string& context, const std::string& detail = "") {
  const auto err = static_cast<rd_kafka_resp_err_t>(code);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return absl::OkStatus();
  std::string msg = absl::StrCat("kafka ", context, ": ", rd_kafka_err2name(err), " (",
                                 detail.empty() ? rd_kafka_err2str(err) : detail, ")");
  switch (err) {
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT: return absl::DeadlineExceededError(msg);
    case RD_KAFKA_RESP_ERR__FATAL:
    case RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER:
    case RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH: return absl::InternalError(msg);
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART: return absl::NotFoundError(msg);
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR_INVALID_PARTITIONS:
    case RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR:
    case RD_KAFKA_RESP_ERR_INVALID_CONFIG:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION: return absl::InvalidArgumentError(msg);
    case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
    case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT: return absl::CancelledError(msg);
    // The partition moved to another group member: the record is redelivered there.
    case RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION:
    case RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID:
    case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS: return absl::AbortedError(msg);
    case RD_KAFKA_RESP_ERR__STATE: return absl::FailedPreconditionError(msg);
    default: return absl::UnavailableError(msg);
  }
}

absl::Status SetAll(RdKafka::Conf& conf, const std::map<std::string, std::string>& settings) {
  std::string err;
  for (const auto& [k, v] : settings) {
    if (conf.set(k, v, err) != RdKafka::Conf::CONF_OK) {
      return absl::InvalidArgumentError(absl::StrCat("kafka config ", k, "=", v, ": ", err));
    }
  }
  return absl::OkStatus();
}

std::vector<std::pair<std::string, int32_t>> Names(
    const std::vector<RdKafka::TopicPartition*>& partitions) {
  std::vector<std::pair<std::string, int32_t>> out;
  out.reserve(partitions.size());
  for (const auto* tp : partitions) out.emplace_back(tp->topic(), tp->partition());
  return out;
}

struct TopicPartitions {
  std::vector<RdKafka::TopicPartition*> list;
  ~TopicPartitions() { RdKafka::TopicPartition::destroy(list); }
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// Producer

namespace {

// One ProduceBatch call. Shared with the delivery callback so a report arriving after the call
// gave up (DEADLINE_EXCEEDED) lands in memory that is still alive.
struct Batch {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<DeliveryResult> results;
  std::vector<bool> done;
  size_t pending = 0;
};

// The msg_opaque of one produced message; freed by the delivery callback.
struct Slot {
  std::shared_ptr<Batch> batch;
  size_t index;
};

class DeliveryReports : public RdKafka::DeliveryReportCb {
 public:
  void dr_cb(RdKafka::Message& message) override {
    std::unique_ptr<Slot> slot(static_cast<Slot*>(message.msg_opaque()));
    if (slot == nullptr) return;
    Batch& b = *slot->batch;
    {
      std::lock_guard lock(b.mu);
      DeliveryResult& r = b.results[slot->index];
      r.status = KafkaStatus(message.err(), absl::StrCat("deliver to ", message.topic_name()),
                             message.errstr());
      r.partition = message.partition();
      r.offset = message.err() == RdKafka::ERR_NO_ERROR ? message.offset() : -1;
      if (!b.done[slot->index]) {
        b.done[slot->index] = true;
        --b.pending;
      }
    }
    b.cv.notify_all();
  }
};

}  // namespace

struct Producer::Impl {
  DeliveryReports reports;  // outlives `producer`, which calls into it
  std::unique_ptr<RdKafka::Producer> producer;
  std::atomic<bool> stop{false};
  std::thread poller;

  ~Impl() {
    if (producer) {
      producer->flush(5000);
      // Whatever is still queued is reported (CANCELLED) so its Slot is freed.
      producer->purge(RdKafka::Producer::PURGE_QUEUE | RdKafka::Producer::PURGE_INFLIGHT);
      producer->flush(1000);
    }
    stop = true;
    if (poller.joinable()) poller.join();
    if (producer) producer->poll(0);
  }
};

Producer::Producer() : impl_(std::make_unique<Impl>()) {}
Producer::~Producer() = default;

absl::StatusOr<std::unique_ptr<Producer>> Producer::Create(ProducerOptions options) {
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::map<std::string, std::string> settings = {
      {"bootstrap.servers", options.brokers},
      {"client.id", options.client_id},
      {"enable.idempotence", "true"},
      {"acks", "all"},
      {"linger.ms", "5"},
      {"compression.type", "lz4"},
      {"partitioner", "murmur2_random"},
      {"max.in.flight.requests.per.connection", "5"},
      {"message.timeout.ms", "30000"},
  };
  for (const auto& [k, v] : options.settings) settings[k] = v;
  if (absl::Status s = SetAll(*conf, settings); !s.ok()) return s;

  std::unique_ptr<Producer> p(new Producer());
  std::string err;
  if (conf->set("event_cb", &KafkaLog(), err) != RdKafka::Conf::CONF_OK) {
    return absl::InternalError(absl::StrCat("kafka event_cb: ", err));
  }
  if (conf->set("dr_cb", &p->impl_->reports, err) != RdKafka::Conf::CONF_OK) {
    return absl::InternalError(absl::StrCat("kafka dr_cb: ", err));
  }
  p->impl_->producer.reset(RdKafka::Producer::create(conf.get(), err));
  if (!p->impl_->producer) return absl::InvalidArgumentError(absl::StrCat("kafka producer: ", err));
  // Delivery reports are served here, so ProduceBatch callers only wait.
  p->impl_->poller = std::thread([impl = p->impl_.get()] {
    while (!impl->stop) impl->producer->poll(50);
  });
  return p;
}

std::vector<DeliveryResult> Producer::ProduceBatch(const std::vector<Record>& records,
                                                   std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  auto batch = std::make_shared<Batch>();
  batch->results.resize(records.size());
  batch->done.assign(records.size(), false);
  RdKafka::Producer& producer = *impl_->producer;
  // Topic and key of every record librdkafka refused to take: a later record with the same key
  // must not overtake it onto the partition, so it is not sent either.
  std::set<std::pair<std::string_view, std::string_view>> refused_keys;

  for (size_t i = 0; i < records.size(); ++i) {
    const Record& r = records[i];
    if (!r.key.empty() && refused_keys.count({r.topic, r.key}) > 0) {
      std::lock_guard lock(batch->mu);
      batch->results[i].status = absl::UnavailableError(
          "kafka produce: not sent, an earlier record with the same key was refused");
      batch->done[i] = true;
      continue;
    }
    {
      std::lock_guard lock(batch->mu);
      ++batch->pending;
    }
    RdKafka::ErrorCode err;
    for (;;) {
      RdKafka::Headers* headers = nullptr;
      if (!r.headers.empty()) {
        headers = RdKafka::Headers::create();
        for (const auto& [k, v] : r.headers) headers->add(k, v.data(), v.size());
      }
      auto* slot = new Slot{batch, i};
      err = producer.produce(r.topic, r.partition < 0 ? RdKafka::Topic::PARTITION_UA : r.partition,
                             RdKafka::Producer::RK_MSG_COPY, const_cast<char*>(r.value.data()),
                             r.value.size(), r.key.empty() ? nullptr : r.key.data(), r.key.size(),
                             r.timestamp_ms, headers, slot);
      if (err == RdKafka::ERR_NO_ERROR) break;
      // On failure librdkafka took ownership of neither.
      delete headers;
      delete slot;
      if (err != RdKafka::ERR__QUEUE_FULL || Clock::now() >= deadline) break;
      producer.poll(10);  // let deliveries drain the local queue
    }
    if (err != RdKafka::ERR_NO_ERROR) {
      if (!r.key.empty()) refused_keys.emplace(r.topic, r.key);
      std::lock_guard lock(batch->mu);
      batch->results[i].status =
          err == RdKafka::ERR__QUEUE_FULL
              ? absl::UnavailableError("kafka produce: local queue full until the deadline")
              : KafkaStatus(err, absl::StrCat("produce to ", r.topic));
      batch->done[i] = true;
      --batch->pending;
    }
  }

  std::unique_lock lock(batch->mu);
  batch->cv.wait_until(lock, deadline, [&] { return batch->pending == 0; });
  for (size_t i = 0; i < records.size(); ++i) {
    if (!batch->done[i]) {
      // Still in flight: it may yet be written, so a caller that retries must tolerate duplicates.
      batch->results[i].status = absl::DeadlineExceededError(
          absl::StrCat("kafka produce to ", records[i].topic, ": no delivery report within ",
                       timeout.count(), "ms"));
    }
  }
  return batch->results;
}

absl::Status Producer::Flush(std::chrono::milliseconds timeout) {
  return KafkaStatus(impl_->producer->flush(static_cast<int>(timeout.count())), "flush");
}

// ---------------------------------------------------------------------------------------------
// Consumer

std::string ConsumedRecord::Header(const std::string& name) const {
  for (auto it = headers.rbegin(); it != headers.rend(); ++it) {
    if (it->first == name) return it->second;
  }
  return "";
}

namespace {

// Eager rebalancing by default (range,roundrobin): the whole assignment is revoked, on_revoke runs
// (the handler can finish and commit in-flight work), then the new one is assigned. A
// cooperative-sticky override in settings is honoured with incremental (un)assign.
class Rebalance : public RdKafka::RebalanceCb {
 public:
  explicit Rebalance(const ConsumerOptions* options) : options_(options) {}

  void rebalance_cb(RdKafka::KafkaConsumer* consumer, RdKafka::ErrorCode err,
                    std::vector<RdKafka::TopicPartition*>& partitions) override {
    const bool cooperative = consumer->rebalance_protocol() == "COOPERATIVE";
    if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
      if (options_->on_assign) options_->on_assign(Names(partitions));
      if (cooperative) {
        delete consumer->incremental_assign(partitions);
      } else {
        consumer->assign(partitions);
      }
    } else {
      if (options_->on_revoke) options_->on_revoke(Names(partitions));
      if (cooperative) {
        delete consumer->incremental_unassign(partitions);
      } else {
        consumer->unassign();
      }
    }
  }

 private:
  const ConsumerOptions* options_;
};

}  // namespace

struct Consumer::Impl {
  ConsumerOptions options;
  Rebalance rebalance{&options};  // outlives `consumer`
  std::unique_ptr<RdKafka::KafkaConsumer> consumer;
  bool closed = false;
};

Consumer::Consumer() : impl_(std::make_unique<Impl>()) {}

Consumer::~Consumer() { Close(); }

void Consumer::Close() {
  if (impl_->consumer && !impl_->closed) {
    impl_->closed = true;
    impl_->consumer->close();
  }
}

absl::StatusOr<std::unique_ptr<Consumer>> Consumer::Create(ConsumerOptions options) {
  if (options.group_id.empty()) return absl::InvalidArgumentError("kafka consumer needs group_id");
  if (options.topics.empty()) return absl::InvalidArgumentError("kafka consumer needs topics");
  std::unique_ptr<Consumer> c(new Consumer());
  c->impl_->options = std::move(options);
  const ConsumerOptions& o = c->impl_->options;

  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::map<std::string, std::string> settings = {
      {"bootstrap.servers", o.brokers},
      {"group.id", o.group_id},
      {"auto.offset.reset", o.auto_offset_reset},
      {"partition.assignment.strategy", "range,roundrobin"},
      {"enable.partition.eof", "false"},
  };
  for (const auto& [k, v] : o.settings) settings[k] = v;
  // Offsets move only through Commit(), after the record was handled.
  settings["enable.auto.commit"] = "false";
  settings["enable.auto.offset.store"] = "false";
  if (absl::Status s = SetAll(*conf, settings); !s.ok()) return s;
  std::string err;
  if (conf->set("event_cb", &KafkaLog(), err) != RdKafka::Conf::CONF_OK) {
    return absl::InternalError(absl::StrCat("kafka event_cb: ", err));
  }
  if (conf->set("rebalance_cb", &c->impl_->rebalance, err) != RdKafka::Conf::CONF_OK) {
    return absl::InternalError(absl::StrCat("kafka rebalance_cb: ", err));
  }
  c->impl_->consumer.reset(RdKafka::KafkaConsumer::create(conf.get(), err));
  if (!c->impl_->consumer) return absl::InvalidArgumentError(absl::StrCat("kafka consumer: ", err));
  if (auto e = c->impl_->consumer->subscribe(o.topics); e != RdKafka::ERR_NO_ERROR) {
    return KafkaStatus(e, "subscribe");
  }
  return c;
}

absl::StatusOr<std::vector<ConsumedRecord>> Consumer::Poll(size_t max_records,
                                                           std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  std::vector<ConsumedRecord> out;
  while (out.size() < max_records) {
    // Wait only for the first record; after that take what is already fetched.
    std::unique_ptr<RdKafka::Message> m(
        impl_->consumer->consume(out.empty() ? RemainingMs(deadline) : 0));
    if (m->err() == RdKafka::ERR__TIMED_OUT) {
      if (!out.empty() || Clock::now() >= deadline) break;
      continue;  // woke early (e.g. after a rebalance callback)
    }
    if (m->err() == RdKafka::ERR__PARTITION_EOF) continue;
    if (m->err() != RdKafka::ERR_NO_ERROR) {
      // Most consumer errors are informational (librdkafka retries); report one only when there
      // is nothing else to hand back.
      if (out.empty()) return KafkaStatus(m->err(), "consume", m->errstr());
      break;
    }
    ConsumedRecord r;
    r.topic = m->topic_name();
    r.partition = m->partition();
    r.offset = m->offset();
    if (m->key_pointer() != nullptr) {
      r.key.assign(static_cast<const char*>(m->key_pointer()), m->key_len());
    }
    if (m->payload() != nullptr) r.value.assign(static_cast<const char*>(m->payload()), m->len());
    if (RdKafka::Headers* h = m->headers(); h != nullptr) {
      for (const auto& header : h->get_all()) {
        r.headers.emplace_back(
            header.key(),
            header.value() == nullptr
                ? std::string()
                : std::string(static_cast<const char*>(header.value()), header.value_size()));
      }
    }
    r.timestamp_ms = m->timestamp().timestamp;
    out.push_back(std::move(r));
  }
  return out;
}

absl::Status Consumer::Commit(const ConsumedRecord& record) {
  TopicPartitions offsets;
  offsets.list.push_back(
      RdKafka::TopicPartition::create(record.topic, record.partition, record.offset + 1));
  const std::string what =
      absl::StrCat("commit ", record.topic, "[", record.partition, "]@", record.offset + 1);
  if (auto e = impl_->consumer->commitSync(offsets.list); e != RdKafka::ERR_NO_ERROR) {
    return KafkaStatus(e, what);
  }
  return KafkaStatus(offsets.list[0]->err(), what);
}

absl::Status Consumer::Seek(const std::string& topic, int32_t partition, int64_t offset) {
  std::unique_ptr<RdKafka::TopicPartition> tp(
      RdKafka::TopicPartition::create(topic, partition, offset));
  return KafkaStatus(impl_->consumer->seek(*tp, 5000),
                     absl::StrCat("seek ", topic, "[", partition, "]@", offset));
}

std::map<std::pair<std::string, int32_t>, int64_t> Consumer::Lag() {
  std::map<std::pair<std::string, int32_t>, int64_t> lag;
  TopicPartitions assigned;
  if (impl_->consumer->assignment(assigned.list) != RdKafka::ERR_NO_ERROR) return lag;
  if (assigned.list.empty()) return lag;
  impl_->consumer->position(assigned.list);
  TopicPartitions committed;
  for (auto* tp : assigned.list) {
    committed.list.push_back(RdKafka::TopicPartition::create(tp->topic(), tp->partition()));
  }
  impl_->consumer->committed(committed.list, 5000);
  for (size_t i = 0; i < assigned.list.size(); ++i) {
    const auto* tp = assigned.list[i];
    int64_t low = 0, high = 0;
    if (impl_->consumer->query_watermark_offsets(tp->topic(), tp->partition(), &low, &high, 5000) !=
        RdKafka::ERR_NO_ERROR) {
      continue;
    }
    // Where this consumer will read next: its position, else the group's committed offset,
    // else where auto.offset.reset would start.
    int64_t next = tp->offset();
    if (next < 0) next = committed.list[i]->offset();
    if (next < 0) next = impl_->options.auto_offset_reset == "earliest" ? low : high;
    lag[{tp->topic(), tp->partition()}] = std::max<int64_t>(0, high - next);
  }
  return lag;
}

// ---------------------------------------------------------------------------------------------
// Admin

absl::Status EnsureTopics(const std::string& brokers, const std::vector<TopicSpec>& topics,
                          std::chrono::milliseconds timeout) {
  if (topics.empty()) return absl::OkStatus();
  const auto deadline = Clock::now() + timeout;
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers.c_str(), errstr, sizeof(errstr)) !=
      RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    return absl::InvalidArgumentError(absl::StrCat("kafka bootstrap.servers: ", errstr));
  }
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    return absl::InternalError(absl::StrCat("kafka admin client: ", errstr));
  }
  std::unique_ptr<rd_kafka_t, decltype(&rd_kafka_destroy)> handle(rk, &rd_kafka_destroy);

  std::vector<rd_kafka_NewTopic_t*> new_topics;
  auto destroy_topics = [&] {
    rd_kafka_NewTopic_destroy_array(new_topics.data(), new_topics.size());
  };
  for (const TopicSpec& t : topics) {
    rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(t.name.c_str(), t.partitions,
                                                    t.replication_factor, errstr, sizeof(errstr));
    if (nt == nullptr) {
      destroy_topics();
      return absl::InvalidArgumentError(absl::StrCat("kafka topic ", t.name, ": ", errstr));
    }
    new_topics.push_back(nt);
    for (const auto& [k, v] : t.config) {
      if (auto e = rd_kafka_NewTopic_set_config(nt, k.c_str(), v.c_str()); e) {
        destroy_topics();
        return KafkaStatus(e, absl::StrCat("topic ", t.name, " config ", k));
      }
    }
  }

  rd_kafka_AdminOptions_t* opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  const int ms = RemainingMs(deadline);
  rd_kafka_AdminOptions_set_request_timeout(opts, ms, errstr, sizeof(errstr));
  // The broker answers once the topics exist (not merely when the request is accepted).
  rd_kafka_AdminOptions_set_operation_timeout(opts, ms, errstr, sizeof(errstr));
  rd_kafka_queue_t* queue = rd_kafka_queue_new(rk);
  rd_kafka_CreateTopics(rk, new_topics.data(), new_topics.size(), opts, queue);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(queue, ms + 1000);

  absl::Status status;
  if (ev == nullptr) {
    status = absl::DeadlineExceededError("kafka CreateTopics: no answer before the timeout");
  } else if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    status = KafkaStatus(rd_kafka_event_error(ev), "CreateTopics", rd_kafka_event_error_string(ev));
  } else {
    size_t n = 0;
    const rd_kafka_topic_result_t** results =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    for (size_t i = 0; i < n && status.ok(); ++i) {
      const rd_kafka_resp_err_t e = rd_kafka_topic_result_error(results[i]);
      if (e != RD_KAFKA_RESP_ERR_NO_ERROR && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        const char* detail = rd_kafka_topic_result_error_string(results[i]);
        status =
            KafkaStatus(e, absl::StrCat("create topic ", rd_kafka_topic_result_name(results[i])),
                        detail != nullptr ? detail : "");
      }
    }
  }
  if (ev != nullptr) rd_kafka_event_destroy(ev);
  rd_kafka_queue_destroy(queue);
  rd_kafka_AdminOptions_destroy(opts);
  destroy_topics();
  if (!status.ok()) return status;

  // Creation is acknowledged by the controller before every partition has a leader; wait until
  // producers and consumers can use each topic.
  for (const TopicSpec& t : topics) {
    for (;;) {
      rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, t.name.c_str(), nullptr);
      const rd_kafka_metadata_t* md = nullptr;
      rd_kafka_resp_err_t e =
          rd_kafka_metadata(rk, 0, rkt, &md, std::max(1, RemainingMs(deadline)));
      bool ready = false;
      if (e == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1 && md->topics[0].err == 0 &&
          md->topics[0].partition_cnt > 0) {
        ready = true;
        for (int p = 0; p < md->topics[0].partition_cnt; ++p) {
          if (md->topics[0].partitions[p].leader < 0) ready = false;
        }
      }
      if (md != nullptr) rd_kafka_metadata_destroy(md);
      rd_kafka_topic_destroy(rkt);
      if (ready) break;
      if (Clock::now() >= deadline) {
        return absl::DeadlineExceededError(
            absl::StrCat("kafka topic ", t.name, " has no leader for every partition yet"));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  return absl::OkStatus();
}

}  // namespace orderly::kafka
