// What Strimzi's entity operator does for our KafkaTopics and KafkaUsers, done once against the
// stand-in broker of the ci environment (charts/ci-kafka), through the Admin API:
//   - every topic of the spec with its partitions, replicas and configs (existing ones are kept);
//   - every user's SCRAM-SHA-512 credential, the password read from the file the user's Secret is
//     mounted as (never from the command line);
//   - every ACL of the spec (allow, any host), as the KafkaUser's `simple` authorization does.
//
//   java -cp '/opt/kafka/libs/*:/opt/kafka/standin' KafkaStandIn SPEC USERS_DIR BOOTSTRAP
//
// SPEC has one item per line (rendered by charts/ci-kafka from the same values as charts/kafka):
//   topic NAME PARTITIONS REPLICAS [KEY=VALUE...]
//   user NAME
//   acl USER TOPIC|GROUP|CLUSTER LITERAL|PREFIXED RESOURCE_NAME OPERATION[,OPERATION...]
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialAlteration;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;

public final class KafkaStandIn {
    private static final int SCRAM_ITERATIONS = 4096;

    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: KafkaStandIn SPEC USERS_DIR BOOTSTRAP");
            System.exit(2);
        }
        List<NewTopic> topics = new ArrayList<>();
        List<UserScramCredentialAlteration> users = new ArrayList<>();
        List<AclBinding> acls = new ArrayList<>();
        for (String raw : Files.readAllLines(Path.of(args[0]), StandardCharsets.UTF_8)) {
            String line = raw.strip();
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            String[] f = line.split("\\s+");
            switch (f[0]) {
                case "topic" -> {
                    Map<String, String> configs = new HashMap<>();
                    for (int i = 4; i < f.length; i++) {
                        String[] kv = f[i].split("=", 2);
                        configs.put(kv[0], kv[1]);
                    }
                    topics.add(new NewTopic(f[1], Integer.parseInt(f[2]), Short.parseShort(f[3])).configs(configs));
                }
                case "user" -> {
                    String password = Files.readString(Path.of(args[1], f[1]), StandardCharsets.UTF_8).strip();
                    users.add(new UserScramCredentialUpsertion(
                            f[1], new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS), password));
                }
                case "acl" -> {
                    ResourceType type = ResourceType.fromString(f[2].toUpperCase(Locale.ROOT));
                    String name = type == ResourceType.CLUSTER ? "kafka-cluster" : f[4];
                    PatternType patternType = PatternType.fromString(f[3].toUpperCase(Locale.ROOT));
                    if (type == ResourceType.UNKNOWN || patternType == PatternType.UNKNOWN) {
                        throw new IllegalArgumentException("unknown resource or pattern type in: " + line);
                    }
                    ResourcePattern pattern = new ResourcePattern(type, name, patternType);
                    for (String op : f[5].split(",")) {
                        // Strimzi spells operations in CamelCase (DescribeConfigs), the enum in UPPER_SNAKE.
                        AclOperation operation = AclOperation.fromString(
                                op.replaceAll("([a-z])([A-Z])", "$1_$2").toUpperCase(Locale.ROOT));
                        if (operation == AclOperation.UNKNOWN) {
                            throw new IllegalArgumentException("unknown ACL operation in: " + line);
                        }
                        acls.add(new AclBinding(pattern, new AccessControlEntry(
                                "User:" + f[1], "*", operation, AclPermissionType.ALLOW)));
                    }
                }
                default -> throw new IllegalArgumentException("unknown spec line: " + line);
            }
        }
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[2]);
        try (Admin admin = Admin.create(props)) {
            for (var entry : admin.createTopics(topics).values().entrySet()) {
                try {
                    entry.getValue().get();
                    System.out.println("{\"event\": \"topic created\", \"topic\": \"" + entry.getKey() + "\"}");
                } catch (ExecutionException e) {
                    if (!(e.getCause() instanceof TopicExistsException)) {
                        throw e;
                    }
                }
            }
            admin.alterUserScramCredentials(users).all().get();
            admin.createAcls(acls).all().get();
        }
        System.out.println("{\"event\": \"entities reconciled\", \"topics\": " + topics.size()
                + ", \"users\": " + users.size() + ", \"acls\": " + acls.size() + "}");
    }
}
