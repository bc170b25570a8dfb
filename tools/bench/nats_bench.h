// chanfs-bench across machines: the nats-servers the bench starts (one
// node for R1, a 3-node cluster routed on loopback for R3), the raw cnats
// baselines (JetStream async publish, core NATS pub/sub), and chanfs
// channels over NATS between two chanfs daemons standing for two hosts
// ("host A" writes, "host B" reads).
//
// Everything listens on 127.0.0.1 with ports chosen at run time; no network
// namespaces (the cluster suite, tests/cluster, is where hosts are really
// apart: the bench measures what the NATS path costs, not a network).
//
// Nothing here fails the run: a server that does not come up, a daemon
// that does not mount or a measurement that times out gives a NatsResult
// without a value and with why, printed as "n/a (why)". A measurement that
// times out kills its two daemons (SIGKILL and a lazy unmount, so every
// thread blocked on their files returns); the pair then answers n/a.
//
// Threading: main thread only; each measurement starts and joins its own
// threads.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tools/bench/harness.h"

namespace chanfs::bench {

struct NatsResult {
    std::optional<double> value;  // msg/s, or us for a round trip
    double writerRate = 0;        // stream: the writer's own msg/s
    double msgsPerRead = 0;       // stream: messages per read(2) on host B
    double daemonCpuUs = 0;       // stream: host A's + host B's daemon CPU per message
    double serverCpuUs = 0;       // every nats-server's CPU per message (or round trip)
    std::string why;              // without a value: why it is n/a
};

class NatsServers {
public:
    // nodes 1: one nats-server -js; 3: three, routed to each other, one
    // JetStream cluster. Store directories under dir. Ready means every
    // node answers a JetStream account-info request (in a cluster: a meta
    // leader was elected). nullptr and *why if not within readySeconds.
    static std::unique_ptr<NatsServers> start(unsigned nodes, const std::string &dir,
                                              double readySeconds, std::string *why);
    ~NatsServers();
    NatsServers(const NatsServers &) = delete;
    NatsServers &operator=(const NatsServers &) = delete;

    const std::vector<std::string> &urls() const { return urls_; }
    unsigned nodes() const { return static_cast<unsigned>(urls_.size()); }
    // User+system seconds of all nodes so far.
    double cpuSeconds() const;
    // SIGTERM (SIGKILL after 5 s) to every node. Stop the chanfs daemons
    // first: a daemon whose cluster vanished takes longer to stop.
    void stop();

    NatsServers() = default;  // use start()

private:
    std::vector<pid_t> pids_;
    std::vector<std::string> urls_;
};

// Messages/s of count messages of msgBytes published with js_PublishAsync
// (at most maxPending unacknowledged) into a fresh file-storage stream
// with `replicas`, until every one is acknowledged (js_PublishAsyncComplete)
// and the stream holds them all. The stream is created before the clock
// starts and deleted after it stops.
NatsResult rawJetStreamPublish(const NatsServers &s, int replicas, size_t count, size_t msgBytes,
                               int64_t maxPending, double timeoutSeconds);
// Messages/s received by a subscriber connection from a publisher
// connection (core NATS, no JetStream), count messages of msgBytes, at
// most `window` in flight (so the server never cuts a slow consumer off).
NatsResult rawCorePubSub(const NatsServers &s, size_t count, size_t msgBytes, size_t window,
                         double timeoutSeconds);

// Two chanfs daemons mounted against the same NATS servers. Host A holds
// two directories, q (kind=queue) and t (kind=topic), both backend=nats
// with `replicas` and capacity 4M; host B sees them through the shared
// tree, or, if the tree does not show them within 2 s (a chanfs without
// the shared tree), gets the same directories and channels created by
// the bench (the stream behind a channel is named by its path, so both
// daemons meet on it). treeShared() says which.
class NatsPair {
public:
    static std::unique_ptr<NatsPair> start(const std::string &label,
                                           const std::vector<std::string> &chanfsArgv,
                                           const std::string &scratch, const NatsServers &servers,
                                           int replicas, std::string *why);
    ~NatsPair();
    NatsPair(const NatsPair &) = delete;
    NatsPair &operator=(const NatsPair &) = delete;

    // A writes count lines of msgBytes into the channel of `kind` (made by
    // the first call, used by every later one)
    // (queue or topic), B reads them with a 64 KiB buffer: messages/s
    // from the first write to the last byte on B. Before the clock
    // starts, probes written on A until one is read on B (a topic
    // subscriber only sees what is published after its consumer exists).
    // A flow: `writers` threads on A, each with its own open file, share
    // the count, `perWrite` lines per write(2). memory: the same flow on a
    // channel in memory on host A (written and read on A), the reference
    // a NATS line of that flow is compared with.
    NatsResult stream(const std::string &kind, size_t count, size_t msgBytes,
                      double timeoutSeconds, unsigned writers = 1, unsigned perWrite = 1,
                      bool memory = false);
    // Microseconds per round trip of msgBytes: A writes a queue B reads,
    // B answers on a second queue A reads.
    NatsResult pingPong(size_t rounds, size_t msgBytes, double timeoutSeconds);

    struct Scale {
        unsigned n = 0;
        ProcStats before, created, opened;
        double createSeconds = 0, openSeconds = 0, removeSeconds = 0;
        std::string why;   // non-empty: not measured (or not to the end)
        std::string note;  // measured, but: (e.g. channels not ready yet)
    };
    // Host A's daemon with n queue channels created in a new directory
    // (in memory, or backend=nats with this pair's replicas), then with a
    // reader open on each, then all removed.
    Scale scale(bool nats, unsigned n, double timeoutSeconds);

    bool usable() const { return why_.empty(); }
    const std::string &why() const { return why_; }
    bool treeShared() const { return treeShared_; }
    pid_t pidA() const;
    // Stops B, then A (SIGTERM, then SIGKILL after 5 s).
    void stop();

    NatsPair() = default;  // use start()

private:
    // A channel made for a measurement, removed by stop(): removing NATS
    // channels while the run goes on made later channels of the same
    // directory lose their deliveries now and then (a NATS store bug,
    // reported; docs/performance.md "Across machines").
    void keep(const std::string &pathA, const std::string &pathB);
    // Kills both daemons after a timeout; the pair answers n/a from then on.
    void abandon(const std::string &why);
    // The channel at rel (below the mount) on host B: waited for if the
    // tree is shared, else created like A's. "" or why not.
    std::string mirror(const std::string &rel, bool dir,
                       const std::vector<std::pair<std::string, std::string>> &attrs);

    std::string label_;
    std::unique_ptr<Daemon> a_, b_;
    std::string mntA_, mntB_;
    const NatsServers *servers_ = nullptr;
    int replicas_ = 1;
    bool treeShared_ = false;
    std::string why_;
    std::vector<std::string> leftovers_;
    std::map<std::string, std::string> channels_;  // kind -> the channel every round uses
};

}  // namespace chanfs::bench
