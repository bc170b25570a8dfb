// chanfs-bench results: samples per figure and transport, medians, ratios
// against the kernel FIFO and the bare FUSE loop, the targets, and
// the table and JSON they are printed as.
//
// Threading: main thread only.
#pragma once

#include <cstdio>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "tools/bench/nats_bench.h"
#include "tools/bench/transports.h"
#include "tools/bench/workloads.h"

namespace chanfs::bench {

// The bare FUSE loop as it always was (blocking reads) and the same loop
// polling /dev/fuse as chanfs does (--poll-us).
inline constexpr const char *kBareToday = "bare FUSE loop";
inline constexpr const char *kBarePolling = "bare FUSE loop, polling";

// The NATS lines (issue 14): raw cnats baselines and chanfs over NATS.
inline constexpr const char *kNatsRawCore = "raw nats core pub/sub";
std::string natsRawJsName(int replicas);  // "raw nats JetStream publish-async R1"
std::string natsChanfsName(const std::string &kind, int replicas);  // "chanfs queue/lines nats R1"
// The flows every chanfs NATS line runs in: "" (one writer, one line per
// write), "8 writers", "64 lines/write"; a line's name for a flow, and the
// same flow on a channel in memory (measured in the same run).
struct NatsFlow {
    const char *name;
    unsigned writers, perWrite;
};
inline constexpr NatsFlow kNatsFlows[] = {{"", 1, 1}, {"8 writers", 8, 1}, {"64 lines/write", 1, 64}};
std::string natsFlowName(const std::string &line, const NatsFlow &flow);
std::string natsMemoryFlowName(const std::string &kind, const NatsFlow &flow);
// The same channel (and flow) in memory ("" if name is not a chanfs NATS line).
std::string natsMemoryReference(const std::string &name);
// The raw JetStream publish of the same replicas ("" if not a chanfs NATS line).
std::string natsRawReference(const std::string &name);

struct Figure {
    std::string id;  // stable key for JSON: thr64k, thr1m, msg1k, pingpong
    std::string title;
    std::string unit;  // GiB/s, msg/s, us
    bool higherIsBetter;
};

struct Sample {
    double value;
    double writerRate = 0;   // msg1k: the writer's own rate
    double msgsPerRead = 0;  // msg1k: messages per read(2) on the reader
    double daemonCpuUs = 0;  // msg1k, pingpong: daemon CPU per message / round trip
    double logBytesPerMsg =
        0;  // durable channels: journal segment bytes per message (0: not measured)
    double serverCpuUs = 0;  // NATS lines: the nats-servers' CPU per message
};

class Report {
public:
    Report(unsigned rounds, bool quick) : rounds_(rounds), quick_(quick) {}
    // pollUs: the polling bare loop's window, and chanfs's -o poll_us if
    // pollUsGiven (else chanfs ran with its own default).
    void setContext(unsigned cpus, unsigned chanfsThreads, unsigned pollUs, bool pollUsGiven);
    // A daemon's CPU while idle, in percent of one core.
    void addIdleCpu(const std::string &daemon, double percent)
    {
        idleCpu_.emplace_back(daemon, percent);
    }
    void add(const Figure &f, const std::string &transport, Group g, const Sample &s);
    // A round in which this line could not run; printed "n/a (why)".
    void addUnavailable(const Figure &f, const std::string &transport, Group g,
                        const std::string &why);
    // The NATS servers and chanfs daemons of R1 (nodes 1) or R3 (nodes 3):
    // their URLs and whether the tree was shared, or why they did not come up.
    void setNatsPair(unsigned nodes, const std::vector<std::string> &urls, bool treeShared,
                     const std::string &why);
    void addNatsScale(const std::string &label, const NatsPair::Scale &s)
    {
        natsScale_.emplace_back(label, s);
    }
    void addFanout(const std::string &source, unsigned subscribers, const Sample &s);
    void setParked(unsigned n, const ScaleResult &r) { parkedN_ = n, parked_ = r; }
    void setIdle(unsigned n, const ScaleResult &r) { idleN_ = n, idle_ = r; }
    // Where durable channels kept their journals: the path, its filesystem
    // type, and why log bytes were not measured (empty if they were).
    void setDurableContext(const std::string &stateDir, const std::string &fsType,
                           const std::string &unmetered)
    {
        stateDir_ = stateDir, stateFsType_ = fsType, unmetered_ = unmetered;
    }

    void print(std::FILE *out) const;
    void writeJson(std::ostream &out) const;

private:
    struct Series {
        std::string transport;
        Group group;
        std::vector<Sample> samples;
        unsigned unavailable = 0;  // rounds that could not run
        std::string why;           // the first round's reason
    };
    struct NatsPairInfo {
        unsigned nodes;
        std::vector<std::string> urls;
        bool treeShared;
        std::string why;
    };
    struct FigureData {
        Figure figure;
        std::vector<Series> series;
    };
    struct FanoutSeries {
        std::string source;
        unsigned subscribers;
        std::vector<Sample> samples;
    };
    struct Target {
        std::string name;
        double value;
        double goal;
        std::string unit;  // "x" for ratios, "MiB", "threads"
        bool met;
    };

    const FigureData *figure(const std::string &id) const;
    const Series *series(const std::string &figureId, const std::string &transport) const;
    // Speed of `s` against `ref` in the same figure (>1 is faster); 0 if absent.
    double ratio(const FigureData &f, const Series &s, const std::string &ref) const;
    // Against the bare loop polling as chanfs does (the loop as it always
    // was when nothing polls).
    double ratioPolling(const FigureData &f, const Series &s) const;
    double fanoutMedian(const std::string &source, unsigned subscribers) const;
    std::vector<Target> targets() const;
    // msg1k with delivery=one beside delivery=batch on the same channel.
    void printDelivery(std::FILE *out) const;
    void printDurable(std::FILE *out) const;
    void printNats(std::FILE *out) const;
    // chanfs over NATS against its memory channel / raw JetStream; 0 if absent.
    double natsVsMemory(const FigureData &f, const Series &s) const;
    double natsVsRaw(const FigureData &f, const Series &s) const;
    Series &seriesFor(const Figure &f, const std::string &transport, Group g);

    unsigned rounds_;
    bool quick_;
    unsigned cpus_ = 0;
    unsigned chanfsThreads_ = 0;
    unsigned pollUs_ = 0;
    bool pollUsGiven_ = false;
    std::vector<std::pair<std::string, double>> idleCpu_;
    std::string when_;
    std::string kernel_;
    std::vector<FigureData> figures_;
    std::vector<FanoutSeries> fanout_;
    unsigned parkedN_ = 0, idleN_ = 0;
    ScaleResult parked_, idle_;
    std::string stateDir_, stateFsType_, unmetered_;
    std::vector<NatsPairInfo> natsPairs_;
    std::vector<std::pair<std::string, NatsPair::Scale>> natsScale_;
};

}  // namespace chanfs::bench
