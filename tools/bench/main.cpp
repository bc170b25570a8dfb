// chanfs-bench: chanfs against the kernel's pipe, FIFO and Unix sockets
// and a bare FUSE loop, in one interleaved run; medians of N rounds.
//
//   chanfs-bench [--quick] [--rounds N] [--json FILE] [--chanfs PATH]
//                [--bare-fuse PATH] [--threads N]
//
// A benchmark, not a test: it exits 0 whatever the numbers are, and 1 only
// if something did not work (a mount, a lost message, a hang).
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"
#include "report.h"
#include "transports.h"
#include "workloads.h"

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
    std::string only;      // run only figures whose "id transport" contains this
};

[[noreturn]] void usage(int code)
{
    std::fprintf(code ? stderr : stdout,
                 "usage: chanfs-bench [--quick] [--rounds N] [--json FILE] [--chanfs PATH]\n"
                 "                    [--bare-fuse PATH] [--threads N] [--only TEXT]\n"
                 "  --quick      small sizes (under a minute); same rounds and transports\n"
                 "  --rounds N   rounds per figure, medians reported (default 5, at least 5)\n"
                 "  --json FILE  also write every sample, median and ratio as JSON\n"
                 "  --threads N  chanfs request threads (-o threads=N; default: chanfs's own)\n"
                 "  --only TEXT  run only the figures whose \"ID TRANSPORT\" contains TEXT, e.g.\n"
                 "               \"msg1k chanfs\", \"fanout\", \"scale\" (IDs: thr64k thr1m msg1k pingpong)\n");
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
        if (s == "--quick") a.quick = true;
        else if (s == "--rounds") a.rounds = static_cast<unsigned>(std::atoi(value().c_str()));
        else if (s == "--json") a.json = value();
        else if (s == "--chanfs") a.chanfs = value();
        else if (s == "--bare-fuse") a.bare = value();
        else if (s == "--threads") a.threads = static_cast<unsigned>(std::atoi(value().c_str()));
        else if (s == "--only") a.only = value();
        else if (s == "--help" || s == "-h") usage(0);
        else usage(2);
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
        if (tty_) std::fprintf(stderr, "\r\033[K%s", what.c_str());
        else std::fprintf(stderr, "%s\n", what.c_str());
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
    stopOnSignals();
    raiseFdLimit();
    Watchdog watchdog;

    char tmpl[] = "/tmp/chanfs-bench.XXXXXX";
    if (!::mkdtemp(tmpl)) failErrno("mkdtemp");
    const std::string tmp = tmpl;
    setScratchDir(tmp);
    for (const char *d : {"/mnt-chanfs", "/mnt-bare", "/fifo", "/sock"})
        std::filesystem::create_directory(tmp + d);

    std::vector<std::string> chanfsArgv{args.chanfs, tmp + "/mnt-chanfs", "-f", "-o", "log_level=warn"};
    if (args.threads > 0) {
        chanfsArgv.push_back("-o");
        chanfsArgv.push_back("threads=" + std::to_string(args.threads));
    }
    auto chanfs = Daemon::start("chanfs", chanfsArgv, tmp + "/mnt-chanfs", tmp + "/chanfs.log");
    auto bare = Daemon::start("chanfs-bare-fuse", {args.bare, tmp + "/mnt-bare"}, tmp + "/mnt-bare",
                              tmp + "/bare.log");
    const std::string chDir = chanfs->mountpoint();

    std::vector<std::unique_ptr<Transport>> transports;
    transports.push_back(kernelPipe());
    transports.push_back(kernelFifo(tmp + "/fifo"));
    transports.push_back(kernelUnixSocket(false));
    transports.push_back(kernelUnixSocket(true));
    transports.push_back(bareFuse(bare->mountpoint()));
    transports.push_back(chanfsChannel(chDir, "pipe", "bytes"));
    transports.push_back(chanfsChannel(chDir, "queue", "lines"));
    transports.push_back(chanfsChannel(chDir, "topic", "lines"));
    transports.push_back(chanfsListen(chDir, tmp + "/sock", true));
    transports.push_back(chanfsListen(chDir, tmp + "/sock", false));

    // Sizes: the kernel moves data ~10x faster, so it gets ~10x more to
    // move; every figure is a rate, so the amounts do not bias the ratios.
    const bool q = args.quick;
    const size_t thrTotal = (q ? 64ul : 512ul) << 20;
    auto msgCount = [&](const Transport &t) -> size_t {
        return t.group() == Group::Kernel ? (q ? 40000 : 400000) : (q ? 6000 : 60000);
    };
    auto pingRounds = [&](const Transport &t) -> size_t {
        return t.group() == Group::Kernel ? (q ? 4000 : 20000) : (q ? 800 : 4000);
    };
    const size_t fanCount = q ? 2000 : 20000;
    const unsigned scaleN = 10000;

    Report report(args.rounds, args.quick);
    report.setContext(std::thread::hardware_concurrency(), args.threads);

    using Run = std::function<std::optional<Sample>(Transport &)>;
    struct Work {
        Figure figure;
        Run run;
    };
    // CPU the daemon behind a transport spent on one measurement, per item.
    auto daemonPid = [&](const Transport &t) -> pid_t {
        return t.group() == Group::Chanfs ? chanfs->pid() : t.group() == Group::BareFuse ? bare->pid() : 0;
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
             const StreamResult r = runStream(t, 64 << 10, thrTotal, 64 << 10);
             return Sample{thrTotal / r.seconds / (1 << 30)};
         }},
        {{"thr1m", "throughput, 1 MiB writes", "GiB/s", true},
         [&](Transport &t) -> std::optional<Sample> {
             if (t.maxWriteBytes() < (1u << 20)) return std::nullopt;
             const StreamResult r = runStream(t, 1 << 20, thrTotal, 1 << 20);
             return Sample{thrTotal / r.seconds / (1 << 30)};
         }},
        {{"msg1k", "1 KiB messages, 64 KiB reader", "msg/s", true},
         [&](Transport &t) -> std::optional<Sample> {
             const size_t n = msgCount(t);
             return withCpu(t, n, [&] {
                 const StreamResult r = runStream(t, 1024, n * 1024, 64 << 10);
                 return Sample{n / r.seconds, n / r.writerSeconds, static_cast<double>(n) / r.reads};
             });
         }},
        {{"pingpong", "round trip, 64 B each way", "us", false},
         [&](Transport &t) -> std::optional<Sample> {
             const size_t n = pingRounds(t);
             return withCpu(t, n, [&] { return Sample{runPingPong(t, n, 64) / n * 1e6}; });
         }},
    };

    auto selected = [&](const std::string &what) {
        return args.only.empty() || what.find(args.only) != std::string::npos;
    };
    Progress progress(args.rounds);
    const unsigned fanSubs[] = {1, 8, 64};
    for (unsigned round = 1; round <= args.rounds; ++round) {
        for (const Work &w : work) {
            for (auto &t : transports) {
                if (!selected(w.figure.id + " " + t->name())) continue;
                progress.step(round, w.figure.title + ": " + t->name());
                watchdog.arm(w.figure.id + " on " + t->name(), 120);
                if (std::optional<Sample> s = w.run(*t)) report.add(w.figure, t->name(), t->group(), *s);
                watchdog.disarm();
            }
        }
        for (unsigned subs : fanSubs) {
            for (bool kernel : {true, false}) {
                const std::string source = kernel ? "kernel pipe per subscriber" : "chanfs topic/lines";
                if (!selected("fanout " + source)) continue;
                progress.step(round, "fan-out to " + std::to_string(subs) + ": " + source);
                watchdog.arm("fan-out to " + std::to_string(subs) + " on " + source, 120);
                const double s = runFanout(kernel ? "" : chDir, subs, fanCount, 1024);
                report.addFanout(source, subs, Sample{fanCount / s});
                watchdog.disarm();
            }
        }
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
    watchdog.disarm();
    progress.done();

    const int chanfsExit = chanfs->stop();
    const int bareExit = bare->stop();
    std::error_code ec;
    std::filesystem::remove_all(tmp, ec);

    report.print(stdout);
    if (!args.json.empty()) {
        std::ofstream out(args.json);
        report.writeJson(out);
        if (!out) fail("cannot write " + args.json);
    }
    if (chanfsExit != 0 || bareExit != 0) {
        std::fprintf(stderr, "chanfs-bench: a daemon did not exit cleanly (chanfs %d, bare loop %d)\n",
                     chanfsExit, bareExit);
        return 1;
    }
    return 0;
}
