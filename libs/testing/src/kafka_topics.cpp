#include <absl/strings/str_cat.h>

#include "orderly/kafka/kafka.hpp"
#include "orderly/testing/env.hpp"

namespace orderly::testing {

absl::StatusOr<std::string> UniqueTopic(const std::string& prefix, int partitions) {
  auto brokers = KafkaBrokersFromEnv();
  if (!brokers.ok()) return brokers.status();
  std::string name = absl::StrCat(prefix, ".", UniqueSuffix());
  kafka::TopicSpec spec;
  spec.name = name;
  spec.partitions = partitions;
  spec.replication_factor = 1;
  if (absl::Status s = kafka::EnsureTopics(*brokers, {spec}); !s.ok()) return s;
  return name;
}

}  // namespace orderly::testing
