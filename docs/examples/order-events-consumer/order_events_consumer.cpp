// order_events_consumer: an example consumer of Orderly's domain events (see docs/events.md).
//
// What every consumer of Orderly's topics must do, in the smallest form:
//   - join a consumer group, commit offsets by hand and only after an event was processed
//     (at-least-once: a crash between processing and commit redelivers, never loses);
//   - decode the record value as orderly.events.v1.EventEnvelope and switch on payload_case();
//   - skip events it has already processed (same event_id: the outbox relay may publish twice);
//   - drop stale events (sequence <= the last one applied for the same aggregate);
//   - skip payload cases it does not know (a newer producer added an event): they are not errors.
//
// Dependencies: librdkafka's C++ API (rdkafka++) and the classes protoc generates from
// proto/orderly/events/v1. Nothing from Orderly's own libraries.
#include <librdkafka/rdkafkacpp.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "orderly/events/v1/event_envelope.pb.h"

namespace {

namespace ev = orderly::events::v1;

volatile std::sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

// Decides whether an envelope is new, a duplicate or stale. Plain class: no Kafka in here.
//
// In memory for the example only. In production keep both in your database and update them in
// the same transaction as the event's effects (an "inbox" table keyed by (consumer, event_id)
// and a last-sequence table keyed by (consumer, aggregate_type, aggregate_id)); otherwise a
// restart forgets what was applied and redelivered events are applied twice.
class DeliveryFilter {
 public:
  enum class Verdict { kNew, kDuplicate, kStale };

  explicit DeliveryFilter(size_t remembered_ids) : capacity_(remembered_ids) {}

  // `gap` is set when a new event skips sequences of an aggregate seen before (e.g. the consumer
  // started mid-stream on an older aggregate); it is informational, the event is still new.
  Verdict Check(const ev::EventEnvelope& e, bool* gap) {
    *gap = false;
    if (!seen_ids_.insert(e.event_id()).second) return Verdict::kDuplicate;
    order_.push_back(e.event_id());
    if (order_.size() > capacity_) {
      seen_ids_.erase(order_.front());
      order_.pop_front();
    }
    const std::string aggregate = e.aggregate_type() + "/" + e.aggregate_id();
    auto it = last_sequence_.find(aggregate);
    if (it != last_sequence_.end()) {
      if (e.sequence() <= it->second) return Verdict::kStale;
      *gap = e.sequence() > it->second + 1;
    }
    last_sequence_[aggregate] = e.sequence();
    return Verdict::kNew;
  }

 private:
  size_t capacity_;
  std::unordered_set<std::string> seen_ids_;
  std::deque<std::string> order_;  // eviction order of seen_ids_
  std::unordered_map<std::string, int64_t> last_sequence_;
};

std::string MoneyText(const orderly::common::v1::Money& m) {
  return std::to_string(m.amount_minor()) + " " + m.currency_code() + " (minor units)";
}

std::string TransitionText(const orderly::order::v1::OrderStatusTransition& t) {
  return orderly::order::v1::OrderStatus_Name(t.from_status()) + " -> " +
         orderly::order::v1::OrderStatus_Name(t.to_status());
}

// The part of the line that depends on the event. A consumer reacts here; this one only prints.
// Returns false for a payload case this build does not know.
bool Describe(const ev::EventEnvelope& e, std::ostream& out) {
  switch (e.payload_case()) {
    case ev::EventEnvelope::kOrderCreated: {
      const auto& p = e.order_created();
      out << "buyer=" << p.buyer_id() << " merchant=" << p.merchant_id()
          << " lines=" << p.lines_size() << " payable=" << MoneyText(p.price().payable_total());
      if (!p.parent_order_id().empty()) out << " parent=" << p.parent_order_id();
      return true;
    }
    case ev::EventEnvelope::kOrderPaid:
      out << "payment=" << e.order_paid().payment_id()
          << " amount=" << MoneyText(e.order_paid().amount())
          << " status=" << TransitionText(e.order_paid().transition());
      return true;
    case ev::EventEnvelope::kOrderCancelled:
      out << "reason=" << orderly::order::v1::CancelReason_Name(e.order_cancelled().reason())
          << " was_paid=" << (e.order_cancelled().was_paid() ? "true" : "false")
          << " status=" << TransitionText(e.order_cancelled().transition());
      return true;
    case ev::EventEnvelope::kOrderShipped:
      out << "shipments=" << e.order_shipped().shipment_ids_size()
          << " status=" << TransitionText(e.order_shipped().transition());
      return true;
    case ev::EventEnvelope::kOrderDelivered:
      out << "status=" << TransitionText(e.order_delivered().transition());
      return true;
    case ev::EventEnvelope::kOrderCompleted:
      out << "auto_confirmed=" << (e.order_completed().auto_confirmed() ? "true" : "false")
          << " status=" << TransitionText(e.order_completed().transition());
      return true;
    case ev::EventEnvelope::kOrderStatusChanged:
      out << "status=" << TransitionText(e.order_status_changed().transition());
      return true;
    case ev::EventEnvelope::kOrderRefundRequested:
      out << "refund_request=" << e.order_refund_requested().refund_request_id()
          << " amount=" << MoneyText(e.order_refund_requested().amount());
      return true;
    case ev::EventEnvelope::kOrderAddressChanged:
      out << "city=" << e.order_address_changed().shipping_address().city();
      return true;
    // Events of the other topics: this example subscribes to orderly.order.v1 by default, but the
    // same envelope carries them all, so a consumer of several topics shares this switch.
    case ev::EventEnvelope::kPaymentSucceeded:
      out << "payment=" << e.payment_succeeded().payment_id()
          << " amount=" << MoneyText(e.payment_succeeded().amount());
      return true;
    case ev::EventEnvelope::kStockReserved:
      out << "lines=" << e.stock_reserved().lines_size();
      return true;
    case ev::EventEnvelope::kShipmentShipped:
      out << "shipment=" << e.shipment_shipped().shipment_id()
          << " all_lines_shipped=" << (e.shipment_shipped().all_lines_shipped() ? "true" : "false");
      return true;
    case ev::EventEnvelope::PAYLOAD_NOT_SET:
      // A payload field this build's generated code does not know (it is kept as an unknown
      // field) or an empty envelope: skip it and commit. event_type still names it.
      return false;
    default:
      // Known to the generated code but not interesting to this consumer.
      out << "(not handled here)";
      return true;
  }
}

struct Options {
  std::string brokers = "127.0.0.1:19092";
  std::string group = "example-order-events";
  std::vector<std::string> topics{"orderly.order.v1"};
  std::string offset_reset = "earliest";
  int exit_when_idle_ms = 0;  // 0 = run until SIGINT/SIGTERM
};

void Usage() {
  std::cerr << "usage: order_events_consumer [--brokers HOST:PORT] [--group ID] "
               "[--topics T1,T2] [--offset-reset earliest|latest] [--exit-when-idle SECONDS]\n";
}

bool ParseArgs(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= argc) return false;
      *out = argv[++i];
      return true;
    };
    std::string v;
    if (a == "--brokers" && value(&o->brokers)) continue;
    if (a == "--group" && value(&o->group)) continue;
    if (a == "--offset-reset" && value(&o->offset_reset)) continue;
    if (a == "--topics" && value(&v)) {
      o->topics.clear();
      std::stringstream ss(v);
      for (std::string t; std::getline(ss, t, ',');) {
        if (!t.empty()) o->topics.push_back(t);
      }
      if (o->topics.empty()) return false;
      continue;
    }
    if (a == "--exit-when-idle" && value(&v)) {
      o->exit_when_idle_ms = std::atoi(v.c_str()) * 1000;
      continue;
    }
    return false;
  }
  return true;
}

// Offsets processed but not yet committed, per partition. Committed in batches (a synchronous
// commit per record would cap throughput at the broker's round trip) and before partitions go.
class PendingOffsets {
 public:
  void Processed(const std::string& topic, int32_t partition, int64_t offset) {
    next_[{topic, partition}] = offset + 1;  // Kafka commits the offset of the next record
    ++count_;
  }
  size_t count() const { return count_; }

  // Commits everything pending (or only `only`, when given). Returns false when the commit
  // failed: the records are then redelivered later, which dedupe absorbs.
  bool Commit(RdKafka::KafkaConsumer* consumer,
              const std::vector<RdKafka::TopicPartition*>* only = nullptr) {
    std::vector<RdKafka::TopicPartition*> offsets;
    for (auto it = next_.begin(); it != next_.end();) {
      bool selected = only == nullptr;
      if (only) {
        for (const auto* tp : *only) {
          selected =
              selected || (tp->topic() == it->first.first && tp->partition() == it->first.second);
        }
      }
      if (!selected) {
        ++it;
        continue;
      }
      offsets.push_back(
          RdKafka::TopicPartition::create(it->first.first, it->first.second, it->second));
      it = next_.erase(it);
    }
    if (only == nullptr || next_.empty()) count_ = 0;
    if (offsets.empty()) return true;
    RdKafka::ErrorCode err = consumer->commitSync(offsets);
    bool ok = err == RdKafka::ERR_NO_ERROR;
    for (const auto* tp : offsets) ok = ok && tp->err() == RdKafka::ERR_NO_ERROR;
    if (!ok) std::cerr << "offset commit failed: " << RdKafka::err2str(err) << "\n";
    RdKafka::TopicPartition::destroy(offsets);
    return ok;
  }

 private:
  std::map<std::pair<std::string, int32_t>, int64_t> next_;
  size_t count_ = 0;
};

// Commits what was processed on partitions before they move to another group member, so the
// new owner does not redo them (it would be harmless with a database inbox, but wasteful).
class CommitOnRevoke : public RdKafka::RebalanceCb {
 public:
  explicit CommitOnRevoke(PendingOffsets& pending) : pending_(pending) {}
  void rebalance_cb(RdKafka::KafkaConsumer* consumer, RdKafka::ErrorCode err,
                    std::vector<RdKafka::TopicPartition*>& partitions) override {
    const bool cooperative = consumer->rebalance_protocol() == "COOPERATIVE";
    if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
      std::cerr << "assigned " << partitions.size() << " partition(s)\n";
      if (cooperative) {
        delete consumer->incremental_assign(partitions);
      } else {
        consumer->assign(partitions);
      }
      return;
    }
    if (err == RdKafka::ERR__REVOKE_PARTITIONS) {
      pending_.Commit(consumer, &partitions);
    }
    if (cooperative) {
      delete consumer->incremental_unassign(partitions);
    } else {
      consumer->unassign();
    }
  }

 private:
  PendingOffsets& pending_;
};

std::string HeaderOf(RdKafka::Message& msg, const std::string& name) {
  RdKafka::Headers* headers = msg.headers();
  if (headers == nullptr) return "";
  RdKafka::Headers::Header h = headers->get_last(name);
  if (h.err() != RdKafka::ERR_NO_ERROR || h.value() == nullptr) return "";
  return std::string(static_cast<const char*>(h.value()), h.value_size());
}

}  // namespace

int main(int argc, char** argv) {
  GOOGLE_PROTOBUF_VERIFY_VERSION;
  Options opt;
  if (argc == 2 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h")) {
    Usage();
    return 0;
  }
  if (!ParseArgs(argc, argv, &opt)) {
    Usage();
    return 2;
  }
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);

  PendingOffsets pending;
  CommitOnRevoke rebalance(pending);
  std::string errstr;
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  const std::vector<std::pair<std::string, std::string>> settings = {
      {"bootstrap.servers", opt.brokers},
      {"group.id", opt.group},
      {"client.id", "order-events-consumer"},
      // Offsets are committed by hand, after processing.
      {"enable.auto.commit", "false"},
      // Where a new group starts: "earliest" reads what the topic still retains.
      {"auto.offset.reset", opt.offset_reset},
  };
  for (const auto& [key, value] : settings) {
    if (conf->set(key, value, errstr) != RdKafka::Conf::CONF_OK) {
      std::cerr << "config " << key << ": " << errstr << "\n";
      return 2;
    }
  }
  if (conf->set("rebalance_cb", &rebalance, errstr) != RdKafka::Conf::CONF_OK) {
    std::cerr << "config rebalance_cb: " << errstr << "\n";
    return 2;
  }
  std::unique_ptr<RdKafka::KafkaConsumer> consumer(
      RdKafka::KafkaConsumer::create(conf.get(), errstr));
  if (!consumer) {
    std::cerr << "cannot create consumer: " << errstr << "\n";
    return 1;
  }
  if (RdKafka::ErrorCode err = consumer->subscribe(opt.topics); err != RdKafka::ERR_NO_ERROR) {
    std::cerr << "subscribe: " << RdKafka::err2str(err) << "\n";
    return 1;
  }
  std::cerr << "consuming " << opt.topics.size() << " topic(s) as group " << opt.group << " from "
            << opt.brokers << "; Ctrl-C to stop\n";

  DeliveryFilter filter(/*remembered_ids=*/100000);
  int64_t applied = 0, duplicates = 0, stale = 0, unknown = 0, undecodable = 0;
  auto last_record = std::chrono::steady_clock::now();
  auto last_commit = last_record;

  while (!g_stop) {
    std::unique_ptr<RdKafka::Message> msg(consumer->consume(200));
    const auto now = std::chrono::steady_clock::now();
    if (msg->err() == RdKafka::ERR_NO_ERROR) {
      last_record = now;
      ev::EventEnvelope e;
      std::ostringstream line;
      line << msg->topic_name() << "/" << msg->partition() << "@" << msg->offset() << " ";
      if (!e.ParseFromArray(msg->payload(), static_cast<int>(msg->len())) || e.event_id().empty()) {
        // Not an envelope. A production consumer sends it to a dead-letter topic with the error
        // and moves on; blocking the partition on it would stop every later order behind it.
        ++undecodable;
        line << "UNDECODABLE ce_type=" << HeaderOf(*msg, "ce_type") << " (" << msg->len()
             << " bytes)";
      } else {
        bool gap = false;
        const auto verdict = filter.Check(e, &gap);
        line << e.event_type() << " " << e.aggregate_type() << "/" << e.aggregate_id() << "#"
             << e.sequence() << " order=" << e.order_id() << " id=" << e.event_id() << " ";
        if (verdict == DeliveryFilter::Verdict::kDuplicate) {
          ++duplicates;
          line << "DUPLICATE (already processed)";
        } else if (verdict == DeliveryFilter::Verdict::kStale) {
          ++stale;
          line << "STALE (sequence already applied)";
        } else if (!Describe(e, line)) {
          ++unknown;
          line << "UNKNOWN payload case (newer producer?): skipped";
        } else {
          ++applied;
          if (gap) line << " [gap before this sequence]";
        }
      }
      std::cout << line.str() << std::endl;
      // Processed (applied or deliberately skipped): only now may the offset move past it.
      pending.Processed(msg->topic_name(), msg->partition(), msg->offset());
    } else if (msg->err() != RdKafka::ERR__TIMED_OUT && msg->err() != RdKafka::ERR__PARTITION_EOF) {
      std::cerr << "consume: " << msg->errstr() << "\n";
    }
    if (pending.count() >= 500 ||
        (pending.count() > 0 && now - last_commit > std::chrono::seconds(1))) {
      pending.Commit(consumer.get());
      last_commit = now;
    }
    if (opt.exit_when_idle_ms > 0 &&
        now - last_record > std::chrono::milliseconds(opt.exit_when_idle_ms)) {
      std::cerr << "idle for " << opt.exit_when_idle_ms / 1000 << " s, stopping\n";
      break;
    }
  }

  pending.Commit(consumer.get());
  consumer->close();  // leaves the group now instead of after the session timeout
  std::cerr << "applied=" << applied << " duplicates=" << duplicates << " stale=" << stale
            << " unknown=" << unknown << " undecodable=" << undecodable << "\n";
  google::protobuf::ShutdownProtobufLibrary();
  return 0;
}
