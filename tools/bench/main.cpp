// chanfs-bench: chanfs against the kernel's pipe, FIFO and Unix sockets
// and a bare FUSE loop, in one interleaved run; medians of N rounds.
// Durable channels (fsync=never, batch, always) run on a second chanfs
// mounted with a state directory, against the same queue in memory.
//
//   chanfs-bench [--quick] [--rounds N] [--json FILE] [--chanfs PATH]
//                [--bare-fuse PATH] [--threads N] [--poll-us N] [--compare OLD.json]
//
// Across machines (issue 14): the bench starts its own nats-servers (one
// node, and a 3-node cluster on loopback), measures the raw cnats
// baselines and chanfs queue/topic channels over NATS between two chanfs
// daemons (tools/bench/nats_bench.h). --no-nats leaves all of that out.
//
// A benchmark, not a test: it exits 0 whatever the numbers are, and 1 only
// if something did not work (a mount, a lost message, a hang). A NATS line
// that cannot run (no nats-server, a daemon not ready, a timeout) prints
// "n/a (why)" instead and does not change the exit status.
#include <linux/magic.h>
#include <sys/resource.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <nats/nats.h>

#include "fs/base/options.h"
#include "tools/bench/compare.h"
#include "tools/bench/harness.h"
#include "tools/bench/nats_bench.h"
#include "tools/bench/report.h"
#include "tools/bench/transports.h"
#include "tools/bench/workloads.h"

#ifndef CHANFS_BIN
#define CHANFS_BIN "chanfs"
#endif
#ifndef BARE_FUSE_BIN
#define BARE_FUSE_BIN "chanfs-bare-fuse"
#endif

using namespace chanfs::bench;

namespace {

struct Args {
    bool quick = false;
    unsigned rounds = 5;
    std::string json;
    std::string chanfs = CHANFS_BIN;
    std::string bare = BARE_FUSE_BIN;
    unsigned threads = 0;  // 0: the daemon's default
    // chanfs -o poll_us and the polling bare loop's window.
    unsigned pollUs = chanfs::fs::kDefaultPollUs;
    bool pollUsGiven =
        false;            // else chanfs runs with its own default (an older one may not know it)
    std::string compare;  // an earlier run's --json: print each ratio's change
    std::string from;     // with --compare: this run's JSON instead of running
    std::string only;     // run only figures whose "id transport" contains this
    bool noNats = false;  // no nats-server, no NATS lines
};

[[noreturn]] void usage(int code)
{
    std::fprintf(
        code ? stderr : stdout,
        "usage: chanfs-bench [--quick] [--rounds N] [--json FILE] [--chanfs PATH]\n"
        "                    [--bare-fuse PATH] [--threads N] [--poll-us N] [--only TEXT]\n"
        "                    [--no-nats] [--compare OLD.json [--from NEW.json]]\n"
        "  --quick      small sizes (under a minute); same rounds and transports\n"
        "  --rounds N   rounds per figure, medians reported (default 5, at least 5)\n"
        "  --json FILE  also write every sample, median and ratio as JSON\n"
        "  --threads N  chanfs request threads (-o threads=N; default: chanfs's own)\n"
        "  --poll-us N  chanfs -o poll_us=N, and the second bare loop polls as long\n"
        "               (default: chanfs's own default; 0: no polling anywhere)\n"
        "  --compare OLD.json  after the run, each ratio against OLD's; a drop larger\n"
        "               than the spread of the rounds is flagged (exit status unchanged)\n"
        "  --from NEW.json     with --compare: compare NEW against OLD, run nothing\n"
        "  --only TEXT  run only the figures whose \"ID TRANSPORT\" contains TEXT, e.g.\n"
        "               \"msg1k chanfs\", \"fanout\", \"scale\" (IDs: thr64k thr1m msg1k "
        "pingpong);\n"
        "               a durable figure brings its references (\"--only durable\");\n"
        "               A|B selects either (\"msg1k|pingpong|idle cpu\");\n"
        "               \"nats\" runs only the NATS lines (with their references)\n"
        "  --no-nats    no nats-server and no NATS lines (raw cnats baselines, chanfs\n"
        "               queue/topic over NATS at R1 and R3, 1,000 NATS channels)\n");
    std::exit(code);
}

Args parseArgs(int argc, char **argv)
{
    Args a;
    for (int i = 1; i < argc; ++i) {
        const std::string s = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) usage(2);
            return argv[++i];
        };
        if (s == "--quick")
            a.quick = true;
        else if (s == "--rounds")
            a.rounds = static_cast<unsigned>(std::atoi(value().c_str()));
        else if (s == "--json")
            a.json = value();
        else if (s == "--chanfs")
            a.chanfs = value();
        else if (s == "--bare-fuse")
            a.bare = value();
        else if (s == "--threads")
            a.threads = static_cast<unsigned>(std::atoi(value().c_str()));
        else if (s == "--only")
            a.only = value();
        else if (s == "--poll-us")
            a.pollUs = static_cast<unsigned>(std::atoi(value().c_str())), a.pollUsGiven = true;
        else if (s == "--compare")
            a.compare = value();
        else if (s == "--from")
            a.from = value();
        else if (s == "--no-nats")
            a.noNats = true;
        else if (s == "--help" || s == "-h")
            usage(0);
        else
            usage(2);
    }
    if (a.rounds < 5) {
        std::fprintf(stderr, "chanfs-bench: --rounds must be at least 5 (medians of 5 or more)\n");
        std::exit(2);
    }
    // Installed copies find each other on the PATH.
    if (!std::filesystem::exists(a.chanfs)) a.chanfs = "chanfs";
    if (!std::filesystem::exists(a.bare)) a.bare = "chanfs-bare-fuse";
    return a;
}

// The filesystem a durable channel's journal lands on: fsync on tmpfs costs nothing.
std::string fsTypeOf(const std::string &path)
{
    struct statfs st {};
    if (::statfs(path.c_str(), &st) != 0) return "unknown";
    switch (static_cast<unsigned long>(st.f_type)) {
    case EXT4_SUPER_MAGIC: return "ext4";  // also ext2 and ext3
    case TMPFS_MAGIC: return "tmpfs";
    case XFS_SUPER_MAGIC: return "xfs";
    case BTRFS_SUPER_MAGIC: return "btrfs";
    case OVERLAYFS_SUPER_MAGIC: return "overlayfs";
    default: {
        char buf[32];
        std::snprintf(buf, sizeof buf, "fs type 0x%lx", static_cast<unsigned long>(st.f_type));
        return buf;
    }
    }
}

void raiseFdLimit()
{
    rlimit rl;
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &rl);
    }
}

class Progress {
public:
    explicit Progress(unsigned rounds) : rounds_(rounds), tty_(::isatty(2)) {}
    void step(unsigned round, const std::string &what)
    {
        if (tty_) {
            std::fprintf(stderr, "\r\033[K[round %u/%u] %s", round, rounds_, what.c_str());
        } else if (round != lastRound_) {
            std::fprintf(stderr, "round %u/%u ...\n", round, rounds_);
        }
        lastRound_ = round;
    }
    void note(const std::string &what)
    {
        if (tty_)
            std::fprintf(stderr, "\r\033[K%s", what.c_str());
        else
            std::fprintf(stderr, "%s\n", what.c_str());
    }
    void done()
    {
        if (tty_) std::fprintf(stderr, "\r\033[K");
    }

private:
    unsigned rounds_;
    bool tty_;
    unsigned lastRound_ = 0;
};

}  // namespace

int main(int argc, char **argv)
{
    const Args args = parseArgs(argc, argv);
    if (!args.from.empty()) {
        if (args.compare.empty()) usage(2);
        return printComparison(args.compare, args.from, stdout) ? 0 : 1;
    }
    stopOnSignals();
    raiseFdLimit();
    Watchdog watchdog;

    char tmpl[] = "/tmp/chanfs-bench.XXXXXX";
    if (!::mkdtemp(tmpl)) failErrno("mkdtemp");
    const std::string tmp = tmpl;
    setScratchDir(tmp);
    for (const char *d : {"/mnt-chanfs", "/mnt-bare", "/mnt-bare-poll", "/mnt-durable",
                          "/state-source", "/fifo", "/sock"})
        std::filesystem::create_directory(tmp + d);
    // Durable channels live on a second chanfs, mounted with a state
    // directory (SOURCE) in the run's temporary directory; the first keeps
    // measuring chanfs without one.
    const std::string stateSource = tmp + "/state-source";
    const std::string stateFs = fsTypeOf(stateSource);

    std::vector<std::string> chanfsArgv{args.chanfs, tmp + "/mnt-chanfs", "-f", "-o",
                                        "log_level=warn"};
    if (args.pollUsGiven) {
        chanfsArgv.push_back("-o");
        chanfsArgv.push_back("poll_us=" + std::to_string(args.pollUs));
    }
    if (args.threads > 0) {
        chanfsArgv.push_back("-o");
        chanfsArgv.push_back("threads=" + std::to_string(args.threads));
    }
    std::vector<std::string> durableArgv = chanfsArgv;
    durableArgv[1] = tmp + "/mnt-durable";
    durableArgv.insert(durableArgv.begin() + 1, stateSource);
    auto chanfs = Daemon::start("chanfs", chanfsArgv, tmp + "/mnt-chanfs", tmp + "/chanfs.log");
    // The bare loop as it always was, and one that polls as chanfs does:
    // "chanfs / bare, polling" is the comparison of our code.
    auto bare = Daemon::start("chanfs-bare-fuse", {args.bare, tmp + "/mnt-bare"}, tmp + "/mnt-bare",
                              tmp + "/bare.log");
    std::unique_ptr<Daemon> barePoll;
    if (args.pollUs > 0)
        barePoll = Daemon::start("chanfs-bare-fuse, polling",
                                 {args.bare, tmp + "/mnt-bare-poll", std::to_string(args.pollUs)},
                                 tmp + "/mnt-bare-poll", tmp + "/bare-poll.log");
    const std::string chDir = chanfs->mountpoint();

    std::vector<std::unique_ptr<Transport>> transports;
    transports.push_back(kernelPipe());
    transports.push_back(kernelFifo(tmp + "/fifo"));
    transports.push_back(kernelUnixSocket(false));
    transports.push_back(kernelUnixSocket(true));
    transports.push_back(bareFuse(bare->mountpoint(), kBareToday));
    if (barePoll) transports.push_back(bareFuse(barePoll->mountpoint(), kBarePolling));
    transports.push_back(chanfsChannel(chDir, "pipe", "bytes"));
    // A queue's default, one message per read, and what a single fast
    // consumer would set for bulk transfer (docs/performance.md).
    transports.push_back(chanfsChannel(chDir, "queue", "lines", "one"));
    transports.push_back(chanfsChannel(chDir, "queue", "lines", "batch"));
    transports.push_back(chanfsChannel(chDir, "topic", "lines"));
    for (const char *fsync : {"never", "batch", "always"})
        transports.push_back(chanfsDurable(tmp + "/mnt-durable", stateSource, fsync));
    transports.push_back(chanfsListen(chDir, tmp + "/sock", true, "one"));
    transports.push_back(chanfsListen(chDir, tmp + "/sock", true, "batch"));
    transports.push_back(chanfsListen(chDir, tmp + "/sock", false));

    // Sizes: the kernel moves data ~10x faster, so it gets ~10x more to
    // move; every figure is a rate, so the amounts do not bias the ratios.
    // Durable channels write each message to a file too, and with
    // fsync=always each write waits for an fdatasync (1-3 ms on a disk), so
    // they get less; --quick keeps only a taste of them (CI runs it).
    const bool q = args.quick;
    enum class Pace { Kernel, Fuse, Durable, Synced };
    auto pace = [](const Transport &t) {
        if (t.fsyncPolicy() == "always") return Pace::Synced;
        if (t.durable()) return Pace::Durable;
        return t.group() == Group::Kernel ? Pace::Kernel : Pace::Fuse;
    };
    auto pick = [&](const Transport &t, std::array<size_t, 4> full, std::array<size_t, 4> quick) {
        return (q ? quick : full)[static_cast<size_t>(pace(t))];
    };
    constexpr size_t MiB = 1 << 20;
    // Kernel, FUSE, durable, fsync=always.
    auto thrBytes = [&](const Transport &t) {
        return pick(t, {512 * MiB, 512 * MiB, 128 * MiB, 32 * MiB},
                    {64 * MiB, 64 * MiB, 2 * MiB, 1 * MiB});
    };
    auto msgCount = [&](const Transport &t) {
        return pick(t, {400000, 60000, 60000, 1500}, {40000, 6000, 500, 30});
    };
    auto pingRounds = [&](const Transport &t) {
        return pick(t, {20000, 4000, 4000, 400}, {4000, 800, 100, 10});
    };
    const size_t fanCount = q ? 2000 : 20000;
    const unsigned scaleN = 10000;

    Report report(args.rounds, args.quick);
    report.setContext(std::thread::hardware_concurrency(), args.threads, args.pollUs,
                      args.pollUsGiven);

    using Run = std::function<std::optional<Sample>(Transport &)>;
    struct Work {
        Figure figure;
        Run run;
        bool durableToo;  // also measured on durable channels
    };
    std::unique_ptr<Daemon> durable;  // started below if a durable figure is selected
    // CPU the daemon behind a transport spent on one measurement, per item.
    auto daemonPid = [&](const Transport &t) -> pid_t {
        if (t.durable()) return durable->pid();
        if (t.group() == Group::BareFuse)
            return t.name() == kBarePolling ? barePoll->pid() : bare->pid();
        return t.group() == Group::Chanfs ? chanfs->pid() : 0;
    };
    // A durable channel's journal bytes per message, once its links are gone.
    std::string unmetered;
    auto withLog = [&](Transport &t, size_t messages, Sample s) -> Sample {
        if (!t.durable()) return s;
        if (std::optional<DiskUse> u = t.takeDiskUse())
            s.logBytesPerMsg = static_cast<double>(u->bytes) / messages;
        else if (unmetered.empty())
            unmetered = t.whyNoDiskUse();
        return s;
    };
    auto withCpu = [&](const Transport &t, size_t items, auto &&measure) -> Sample {
        const pid_t pid = daemonPid(t);
        const double before = pid ? cpuSeconds(pid) : 0;
        Sample s = measure();
        if (pid) s.daemonCpuUs = (cpuSeconds(pid) - before) / items * 1e6;
        return s;
    };
    const std::vector<Work> work{
        {{"thr64k", "throughput, 64 KiB writes", "GiB/s", true},
         [&](Transport &t) -> std::optional<Sample> {
             const size_t total = thrBytes(t);
             const StreamResult r = runStream(t, 64 << 10, total, 64 << 10);
             return withLog(t, total / (64 << 10), Sample{total / r.seconds / (1 << 30)});
         },
         true},
        {{"thr1m", "throughput, 1 MiB writes", "GiB/s", true},
         [&](Transport &t) -> std::optional<Sample> {
             if (t.maxWriteBytes() < (1u << 20)) return std::nullopt;
             // A read-only open of a one-line-per-read channel is seekable,
             // and there a line of 1 MiB - 4 KiB or more comes in two reads
             // (docs/limits-programs.md): the 1 MiB figure is the batch one.
             if (t.name() == "chanfs queue/lines delivery=one") return std::nullopt;
             const size_t total = thrBytes(t);
             const StreamResult r = runStream(t, 1 << 20, total, 1 << 20);
             return Sample{total / r.seconds / (1 << 30)};
         },
         false},
        {{"msg1k", "1 KiB messages, 64 KiB reader", "msg/s", true},
         [&](Transport &t) -> std::optional<Sample> {
             const size_t n = msgCount(t);
             return withLog(t, n, withCpu(t, n, [&] {
                                const StreamResult r = runStream(t, 1024, n * 1024, 64 << 10);
                                return Sample{n / r.seconds, n / r.writerSeconds,
                                              static_cast<double>(n) / r.reads};
                            }));
         },
         true},
        {{"pingpong", "round trip, 64 B each way", "us", false},
         [&](Transport &t) -> std::optional<Sample> {
             const size_t n = pingRounds(t);
             // Two channels, one message each way per round trip.
             return withLog(t, 2 * n,
                            withCpu(t, n, [&] { return Sample{runPingPong(t, n, 64) / n * 1e6}; }));
         },
         true},
    };

    // --only A|B: either.
    std::vector<std::string> onlyAny;
    for (size_t start = 0; !args.only.empty();) {
        const size_t bar = args.only.find('|', start);
        onlyAny.push_back(args.only.substr(start, bar - start));
        if (bar == std::string::npos) break;
        start = bar + 1;
    }
    auto selected = [&](const std::string &what) {
        if (onlyAny.empty()) return true;
        for (const std::string &o : onlyAny)
            if (what.find(o) != std::string::npos) return true;
        return false;
    };
    // Across machines: the NATS lines of each figure (report.h names them).
    struct NatsLine {
        std::string figure, name;
        enum What { RawJs, RawCore, Queue, Topic, RoundTrip } what;
        int replicas;
        NatsFlow flow = kNatsFlows[0];
        bool memory = false;  // the flow on a channel in memory (host A)
    };
    std::vector<NatsLine> natsLines;
    if (!args.noNats) {
        natsLines = {
            {"msg1k", natsRawJsName(1), NatsLine::RawJs, 1},
            {"msg1k", natsRawJsName(3), NatsLine::RawJs, 3},
            {"msg1k", kNatsRawCore, NatsLine::RawCore, 1},
            {"msg1k", natsChanfsName("queue", 1), NatsLine::Queue, 1},
            {"msg1k", natsChanfsName("topic", 1), NatsLine::Topic, 1},
            {"msg1k", natsChanfsName("queue", 3), NatsLine::Queue, 3},
            {"msg1k", natsChanfsName("topic", 3), NatsLine::Topic, 3},
            {"pingpong", natsChanfsName("queue", 1), NatsLine::RoundTrip, 1},
            {"pingpong", natsChanfsName("queue", 3), NatsLine::RoundTrip, 3},
        };
        // The other flows of each chanfs line, and each flow in memory.
        for (const NatsFlow &flow : kNatsFlows) {
            if (!*flow.name) continue;
            for (const char *kind : {"queue", "topic"}) {
                const auto what = kind[0] == 'q' ? NatsLine::Queue : NatsLine::Topic;
                natsLines.push_back({"msg1k", natsMemoryFlowName(kind, flow), what, 1, flow, true});
                for (int r : {1, 3})
                    natsLines.push_back(
                        {"msg1k", natsFlowName(natsChanfsName(kind, r), flow), what, r, flow});
            }
        }
    }
    // A chanfs NATS line brings its references: the same channel in memory
    // and the raw JetStream publish of its replicas.
    auto natsSelected = [&](const NatsLine &l) { return selected(l.figure + " " + l.name); };
    auto natsRuns = [&](const NatsLine &l) {
        if (natsSelected(l)) return true;
        if (l.memory) {  // brought by the NATS lines of its flow
            for (const NatsLine &c : natsLines)
                if (c.figure == l.figure && natsMemoryReference(c.name) == l.name &&
                    natsSelected(c))
                    return true;
            return false;
        }
        if (l.what != NatsLine::RawJs) return false;
        for (const NatsLine &c : natsLines)
            if (c.figure == l.figure && c.replicas == l.replicas &&
                (c.what == NatsLine::Queue || c.what == NatsLine::Topic) && natsSelected(c))
                return true;
        return false;
    };
    auto natsBringsMemory = [&](const std::string &figure, const std::string &transport) {
        for (const NatsLine &l : natsLines)
            if (l.figure == figure && natsMemoryReference(l.name) == transport && natsSelected(l))
                return true;
        return false;
    };
    auto applies = [](const Work &w, const Transport &t) { return w.durableToo || !t.durable(); };
    // A durable figure brings the figures its ratios need: the same queue
    // in memory and the kernel FIFO.
    auto runs = [&](const Work &w, const Transport &t) {
        if (!applies(w, t)) return false;
        if (selected(w.figure.id + " " + t.name())) return true;
        if (natsBringsMemory(w.figure.id, t.name())) return true;
        if (t.name() != "chanfs queue/lines delivery=one" && t.name() != "kernel FIFO")
            return false;
        for (const auto &d : transports)
            if (d->durable() && applies(w, *d) && selected(w.figure.id + " " + d->name()))
                return true;
        return false;
    };
    bool anyDurable = false;
    for (const Work &w : work)
        for (const auto &t : transports) anyDurable = anyDurable || (t->durable() && runs(w, *t));
    if (anyDurable) {
        durable = Daemon::start("chanfs with a state directory", durableArgv, tmp + "/mnt-durable",
                                tmp + "/chanfs-durable.log");
    }
    // NATS servers and chanfs pairs, for the lines selected. Each that does
    // not come up leaves its lines n/a with why; the rest run.
    const bool natsScale = !args.noNats && selected("scale nats");
    // Servers for every selected line; the chanfs daemons only for chanfs lines.
    bool wantR1 = natsScale, wantR3 = false, pairsR1 = natsScale, pairsR3 = false;
    for (const NatsLine &l : natsLines) {
        if (!natsRuns(l)) continue;
        (l.replicas == 3 ? wantR3 : wantR1) = true;
        if (l.what != NatsLine::RawJs && l.what != NatsLine::RawCore)
            (l.replicas == 3 ? pairsR3 : pairsR1) = true;
    }
    std::unique_ptr<NatsServers> natsR1, natsR3;
    std::unique_ptr<NatsPair> pairR1, pairR3;
    std::string whyR1, whyR3;
    {
        Progress note(args.rounds);
        auto bringUp = [&](unsigned nodes, bool pairToo, std::unique_ptr<NatsServers> *servers,
                           std::unique_ptr<NatsPair> *pair, std::string *why) {
            const std::string tag = nodes == 1 ? "R1" : "R3";
            note.note("starting " +
                      std::string(nodes == 1 ? "a nats-server" : "a 3-node NATS cluster") +
                      (pairToo ? " and two chanfs daemons against it (" : " (") + tag + ")");
            watchdog.arm("starting NATS " + tag, 120);
            *servers = NatsServers::start(nodes, tmp + "/nats-" + tag, 30, why);
            if (*servers && pairToo) {
                *pair = NatsPair::start("nats-" + tag, chanfsArgv, tmp, **servers, nodes, why);
                if (*pair) report.setNatsPair(nodes, (*servers)->urls(), (*pair)->treeShared(), "");
            }
            if (!*servers || (pairToo && !*pair)) report.setNatsPair(nodes, {}, false, *why);
            watchdog.disarm();
        };
        if (wantR1) bringUp(1, pairsR1, &natsR1, &pairR1, &whyR1);
        if (wantR3) bringUp(3, pairsR3, &natsR3, &pairR3, &whyR3);
        note.done();
    }
    // Sizes: a NATS channel moves tens of thousands of messages a second;
    // --quick keeps all NATS lines to a few seconds (they run in .ci/run).
    const size_t natsRawCount = q ? 3000 : 100000;
    const size_t natsChanfsCount = q ? 150 : 5000;
    const size_t natsWritersCount = q ? 400 : 10000;  // 8 writers' share
    const size_t natsBatchCount = q ? 1280 : 32000;   // 64 lines per write
    const size_t natsPingRounds = q ? 20 : 300;
    const double natsTimeout = q ? 20 : 90;
    const unsigned natsScaleN = q ? 200 : 1000;
    auto figureById = [&](const std::string &id) -> const Figure & {
        for (const Work &w : work)
            if (w.figure.id == id) return w.figure;
        fail("no figure " + id);
    };
    auto runNatsLine = [&](const NatsLine &l) {
        NatsServers *servers = l.replicas == 3 ? natsR3.get() : natsR1.get();
        NatsPair *pair = l.replicas == 3 ? pairR3.get() : pairR1.get();
        const std::string &why = l.replicas == 3 ? whyR3 : whyR1;
        NatsResult r;
        auto unavailable = [&] {
            NatsResult u;
            u.why = why;
            return u;
        };
        switch (l.what) {
        case NatsLine::RawJs:
            r = servers ? rawJetStreamPublish(*servers, l.replicas, natsRawCount, 1024, 1024,
                                              natsTimeout)
                        : unavailable();
            break;
        case NatsLine::RawCore:
            r = servers ? rawCorePubSub(*servers, 2 * natsRawCount, 1024, 16384, natsTimeout)
                        : unavailable();
            break;
        case NatsLine::Queue:
        case NatsLine::Topic:
            r = pair ? pair->stream(l.what == NatsLine::Queue ? "queue" : "topic",
                                    l.flow.perWrite > 1  ? natsBatchCount
                                    : l.flow.writers > 1 ? natsWritersCount
                                                         : natsChanfsCount,
                                    1024, natsTimeout, l.flow.writers, l.flow.perWrite, l.memory)
                     : unavailable();
            break;
        case NatsLine::RoundTrip:
            r = pair ? pair->pingPong(natsPingRounds, 64, natsTimeout)
                     : unavailable();
            break;
        }
        const Figure &f = figureById(l.figure);
        if (r.value)
            report.add(f, l.name, Group::Nats,
                       Sample{*r.value, r.writerRate, r.msgsPerRead, r.daemonCpuUs, 0,
                              r.serverCpuUs});
        else
            report.addUnavailable(f, l.name, Group::Nats, r.why);
    };

    Progress progress(args.rounds);
    const unsigned fanSubs[] = {1, 8, 64};
    for (unsigned round = 1; round <= args.rounds; ++round) {
        for (const Work &w : work) {
            for (auto &t : transports) {
                if (!runs(w, *t)) continue;
                progress.step(round, w.figure.title + ": " + t->name());
                watchdog.arm(w.figure.id + " on " + t->name(), 120);
                if (std::optional<Sample> s = w.run(*t))
                    report.add(w.figure, t->name(), t->group(), *s);
                watchdog.disarm();
            }
            for (const NatsLine &l : natsLines) {
                if (l.figure != w.figure.id || !natsRuns(l)) continue;
                progress.step(round, w.figure.title + ": " + l.name);
                // Its own timeout answers n/a first; this one catches a hang
                // outside the measurement (setting a channel up).
                watchdog.arm(w.figure.id + " on " + l.name, natsTimeout + 60);
                runNatsLine(l);
                watchdog.disarm();
            }
        }
        for (unsigned subs : fanSubs) {
            for (bool kernel : {true, false}) {
                const std::string source =
                    kernel ? "kernel pipe per subscriber" : "chanfs topic/lines";
                if (!selected("fanout " + source)) continue;
                progress.step(round, "fan-out to " + std::to_string(subs) + ": " + source);
                watchdog.arm("fan-out to " + std::to_string(subs) + " on " + source, 120);
                const double s = runFanout(kernel ? "" : chDir, subs, fanCount, 1024);
                report.addFanout(source, subs, Sample{fanCount / s});
                watchdog.disarm();
            }
        }
    }

    if (selected("idle cpu")) {
        // What a daemon costs doing nothing, right after the rounds' traffic
        // stopped: a spin that never stops would show here.
        const double seconds = q ? 2 : 10;
        progress.note("idle daemon CPU over " + std::to_string(static_cast<int>(seconds)) + " s");
        std::vector<std::pair<std::string, pid_t>> daemons{{"chanfs", chanfs->pid()},
                                                           {kBareToday, bare->pid()}};
        if (barePoll) daemons.emplace_back(kBarePolling, barePoll->pid());
        std::vector<double> before;
        for (const auto &d : daemons) before.push_back(cpuSeconds(d.second));
        std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
        for (size_t i = 0; i < daemons.size(); ++i)
            report.addIdleCpu(daemons[i].first,
                              (cpuSeconds(daemons[i].second) - before[i]) / seconds * 100);
    }
    if (selected("scale parked")) {
        progress.note("scale: " + std::to_string(scaleN) + " parked readers");
        watchdog.arm("parked readers", 300);
        report.setParked(scaleN, runParkedReaders(chDir, chanfs->pid(), scaleN));
    }
    if (selected("scale idle")) {
        progress.note("scale: " + std::to_string(scaleN) + " idle channels");
        watchdog.arm("idle channels", 300);
        report.setIdle(scaleN, runIdleChannels(chDir, chanfs->pid(), scaleN));
    }
    if (natsScale) {
        // Host A's daemon: n channels in memory, then n over NATS at R1 and R3.
        for (auto [pair, label, nats] :
             {std::tuple{pairR1.get(), "memory", false}, std::tuple{pairR1.get(), "nats R1", true},
              std::tuple{pairR3.get(), "nats R3", true}}) {
            // --quick: R1 only (a new R3 stream can take seconds to be ready).
            if (label == std::string("nats R3") && (!wantR3 || q)) continue;
            progress.note("scale: " + std::to_string(natsScaleN) + " " + label + " channels");
            watchdog.arm(std::string("scale: ") + label + " channels", natsTimeout + 120);
            NatsPair::Scale sc;
            if (pair)
                sc = pair->scale(nats, natsScaleN, natsTimeout + 60);
            else
                sc.n = natsScaleN, sc.why = label == std::string("nats R3") ? whyR3 : whyR1;
            report.addNatsScale(label, sc);
            watchdog.disarm();
        }
    }
    watchdog.disarm();
    progress.done();

    // The chanfs daemons before their NATS servers: a daemon whose cluster
    // vanished takes longer to stop.
    if (pairR1) pairR1->stop();
    if (pairR3) pairR3->stop();
    if (natsR1) natsR1->stop();
    if (natsR3) natsR3->stop();

    const int chanfsExit = chanfs->stop();
    const int bareExit = bare->stop() | (barePoll ? barePoll->stop() : 0);
    const int durableExit = durable ? durable->stop() : 0;
    if (durable) report.setDurableContext(stateSource, stateFs, unmetered);
    std::error_code ec;
    std::filesystem::remove_all(tmp, ec);

    report.print(stdout);
    if (!args.json.empty()) {
        std::ofstream out(args.json);
        report.writeJson(out);
        if (!out) fail("cannot write " + args.json);
    }
    nats_Close();  // the cnats library's threads, once no connection is left
    if (!args.compare.empty()) {
        std::ostringstream now;
        report.writeJson(now);
        std::printf("\n");
        if (!printComparisonText(args.compare, now.str(), stdout)) return 1;
    }
    if (chanfsExit != 0 || bareExit != 0 || durableExit != 0) {
        std::fprintf(stderr,
                     "chanfs-bench: a daemon did not exit cleanly (chanfs %d, bare loop %d, chanfs "
                     "with a state "
                     "directory %d)\n",
                     chanfsExit, bareExit, durableExit);
        return 1;
    }
    return 0;
}
