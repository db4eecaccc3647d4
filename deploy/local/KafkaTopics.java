// Creates the project's Kafka topics that do not exist yet, in one JVM start.
// Run by deploy/local/kafka.sh as a single-file source program:
//   java -cp '.deps/kafka/libs/*' deploy/local/KafkaTopics.java 127.0.0.1:19092 name:partitions...
// A topic that exists with fewer partitions is grown; one with more is reported, never shrunk.
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.errors.TopicExistsException;

public class KafkaTopics {
  public static void main(String[] args) throws Exception {
    if (args.length < 2) {
      System.err.println("usage: KafkaTopics BOOTSTRAP name:partitions...");
      System.exit(2);
    }
    Map<String, Integer> wanted = new HashMap<>();
    for (int i = 1; i < args.length; i++) {
      String[] parts = args[i].split(":");
      wanted.put(parts[0], Integer.parseInt(parts[1]));
    }
    Properties props = new Properties();
    props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
    props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 15000);
    props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 60000);
    int failures = 0;
    try (Admin admin = Admin.create(props)) {
      var existing = admin.listTopics().names().get();
      List<NewTopic> create = new ArrayList<>();
      for (var e : wanted.entrySet()) {
        if (!existing.contains(e.getKey())) create.add(new NewTopic(e.getKey(), e.getValue(), (short) 1));
      }
      for (var r : admin.createTopics(create).values().entrySet()) {
        try {
          r.getValue().get();
          System.out.printf("created %s (%d partitions)%n", r.getKey(), wanted.get(r.getKey()));
        } catch (ExecutionException ex) {
          // Another start may have created it between our list and create: that is success.
          if (!(ex.getCause() instanceof TopicExistsException)) {
            System.err.printf("cannot create %s: %s%n", r.getKey(), ex.getCause());
            failures++;
          }
        }
      }
      Map<String, TopicDescription> described =
          admin.describeTopics(wanted.keySet()).allTopicNames().get();
      Map<String, NewPartitions> grow = new HashMap<>();
      for (var d : described.values()) {
        int have = d.partitions().size();
        int want = wanted.get(d.name());
        if (have < want) grow.put(d.name(), NewPartitions.increaseTo(want));
        if (have > want) {
          System.err.printf("%s has %d partitions, more than the %d wanted; left as is%n",
              d.name(), have, want);
        }
      }
      if (!grow.isEmpty()) {
        admin.createPartitions(grow).all().get();
        System.out.println("grew partitions of " + grow.keySet());
      }
    }
    System.exit(failures == 0 ? 0 : 1);
  }
}
