#pragma once
// Thin librdkafka (rdkafka++) wrappers. Errors become absl::Status: broker/transport errors =
// UNAVAILABLE, message timeouts = DEADLINE_EXCEEDED, fatal idempotence errors = INTERNAL.
#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace orderly::kafka {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Record {
  std::string topic;
  std::string key;
  std::string value;
  Headers headers;
  int32_t partition = -1;  // -1 = by key (librdkafka's murmur2_random partitioner, Java-compatible)
  int64_t timestamp_ms = 0;  // 0 = now
};

struct DeliveryResult {
  absl::Status status;
  int32_t partition = -1;
  int64_t offset = -1;
};

struct ProducerOptions {
  std::string brokers = "127.0.0.1:9092";
  std::string client_id = "orderly";
  // Overrides/additions to the defaults (enable.idempotence=true, acks=all, linger.ms=5,
  // compression.type=lz4, partitioner=murmur2_random, max.in.flight=5).
  std::map<std::string, std::string> settings;
};

class Producer {
 public:
  static absl::StatusOr<std::unique_ptr<Producer>> Create(ProducerOptions options);
  ~Producer();
  // Produces every record and blocks until each delivery report arrives or the timeout passes
  // (then the still-pending ones report DEADLINE_EXCEEDED). Results are in input order. With
  // idempotence, records for one partition are written in the order given, and a record that
  // librdkafka refuses at once (too large, unknown partition) is not overtaken: the batch's later
  // records with the same topic and key are not sent and report UNAVAILABLE.
  std::vector<DeliveryResult> ProduceBatch(const std::vector<Record>& records,
                                           std::chrono::milliseconds timeout);
  absl::Status Flush(std::chrono::milliseconds timeout);

 private:
  Producer();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};
using ProducerPtr = std::unique_ptr<Producer>;

struct ConsumedRecord {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string key;
  std::string value;
  Headers headers;
  int64_t timestamp_ms = 0;
  std::string Header(const std::string& name) const;  // last value or ""
};

struct ConsumerOptions {
  std::string brokers = "127.0.0.1:9092";
  std::string group_id;
  std::vector<std::string> topics;
  std::string auto_offset_reset = "earliest";
  std::map<std::string, std::string> settings;  // enable.auto.commit is always false
  // Called from Poll() on partition revoke (before the revoke completes) and assign.
  std::function<void(const std::vector<std::pair<std::string, int32_t>>&)> on_revoke;
  std::function<void(const std::vector<std::pair<std::string, int32_t>>&)> on_assign;
};

class Consumer {
 public:
  static absl::StatusOr<std::unique_ptr<Consumer>> Create(ConsumerOptions options);
  ~Consumer();  // closes (leaves the group)
  // Up to max_records, waiting at most timeout for the first one.
  absl::StatusOr<std::vector<ConsumedRecord>> Poll(size_t max_records,
                                                   std::chrono::milliseconds timeout);
  // Synchronously commits offset+1 for the record's partition.
  absl::Status Commit(const ConsumedRecord& record);
  // Rewinds a partition (used after a handler failure to redeliver from that record).
  absl::Status Seek(const std::string& topic, int32_t partition, int64_t offset);
  // Lag per assigned partition: high watermark - committed/position.
  std::map<std::pair<std::string, int32_t>, int64_t> Lag();
  void Close();

 private:
  Consumer();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};
using ConsumerPtr = std::unique_ptr<Consumer>;

struct TopicSpec {
  std::string name;
  int partitions = 6;
  int replication_factor = 1;
  std::map<std::string, std::string> config;
};
// Creates topics that do not exist yet (existing ones are OK).
absl::Status EnsureTopics(const std::string& brokers, const std::vector<TopicSpec>& topics,
                          std::chrono::milliseconds timeout = std::chrono::milliseconds(15000));

}  // namespace orderly::kafka
