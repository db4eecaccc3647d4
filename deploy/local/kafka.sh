# Apache Kafka (KRaft, one broker+controller) on 127.0.0.1:19092. Filled in below.
kafka_start() { die "kafka: not wired yet"; }
kafka_stop() { :; }
kafka_status() { echo "kafka     down"; return 1; }
