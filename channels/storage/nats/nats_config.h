// Where the NATS cluster is and how to log in: the -o nats=... mount options
// (and the config file's [nats] table). No cnats dependency, so fs/base's
// option parser can fill it in.
#pragma once

#include <string>
#include <vector>

namespace chanfs {

enum NatsField : unsigned {
    kNatsServers = 1u << 0,
    kNatsCreds = 1u << 1,
    kNatsCa = 1u << 2,
    kNatsCert = 1u << 3,
    kNatsKey = 1u << 4,
    kNatsPrefix = 1u << 5,
    kNatsAckWait = 1u << 6,
};

struct NatsConfig {
    // nats://host:port or tls://host:port, one per -o nats= (repeatable).
    std::vector<std::string> servers;
    // Paths only: secrets are read from these files and never appear in
    // argv, xattrs, stats or log lines.
    std::string credsFile, caFile, certFile, keyFile;
    // -o nats_prefix=: the namespace of stream, bucket and subject names, so
    // two chanfs installations can share one cluster.
    std::string prefix = "chanfs";
    // -o nats_ack_wait=SECONDS: how long a queue message handed to a mount
    // stays unacknowledged before JetStream gives it to another (a host
    // that died holding it). Shared per channel: the durable consumer is
    // made (or updated) with the value of the mount that set it up last.
    unsigned ackWaitSeconds = 30;
    // Which fields were given (NatsField bits), by -o or by the config
    // file's [nats] table: mergeNatsConfig() takes each field from the -o
    // options if given there, else from the table, else the default.
    unsigned given = 0;
    bool enabled() const { return !servers.empty(); }
};

// Field by field: what `options` (-o nats_*) gave, else what `table` (the
// config file's [nats]) gave, else the default. `given` is the union.
NatsConfig mergeNatsConfig(const NatsConfig &options, const NatsConfig &table);

// "" if `url` is a server address the link accepts (nats:// or tls://, a
// host, an optional port 1-65535); otherwise what is wrong with it.
std::string checkNatsUrl(const std::string &url);
// "" if `prefix` can name streams and subjects (letters, digits, '-', '_',
// at most 32 characters); otherwise what is wrong with it.
std::string checkNatsPrefix(const std::string &prefix);

}  // namespace chanfs
