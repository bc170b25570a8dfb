#include "tools/bench/report.h"

#include <sys/utsname.h>

#include <algorithm>
#include <ctime>

#ifndef CHANFS_VERSION
#define CHANFS_VERSION "dev"
#endif

namespace chanfs::bench {

namespace {

const char *const kFifo = "kernel FIFO";
const char *const kBare = kBareToday;
const char *const kChanfsFiles[] = {"chanfs pipe/bytes", "chanfs queue/lines delivery=one",
                                    "chanfs queue/lines delivery=batch", "chanfs topic/lines"};
// Files a 64 KiB reader drains many messages at a time (not delivery=one).
const char *const kChanfsBatchFiles[] = {"chanfs pipe/bytes", "chanfs queue/lines delivery=batch",
                                         "chanfs topic/lines"};
const char *const kKernelUds = "kernel UDS stream";
// What a user moving bulk data from socket clients into the file would
// set: delivery=batch (the queue default, one, costs a request per message).
const char *const kListenIn = "chanfs uds-listen socket->file delivery=batch";
// One message per read against batch, the same channel otherwise.
const std::pair<const char *, const char *> kDeliveryPairs[] = {
    {"chanfs queue/lines delivery=one", "chanfs queue/lines delivery=batch"},
    {"chanfs uds-listen socket->file delivery=one",
     "chanfs uds-listen socket->file delivery=batch"},
};
const char *const kChanfsTopic = "chanfs topic/lines";
// What durable channels (queues, delivery=one) are compared with.
const char *const kChanfsQueue = "chanfs queue/lines delivery=one";
constexpr double kMiB = 1024.0 * 1024.0;
constexpr double kRssGoalMiB = 64;

template <typename Get>
double median(const std::vector<Sample> &samples, Get get)
{
    std::vector<double> v;
    for (const Sample &s : samples) v.push_back(get(s));
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Median of the samples that measured log bytes; 0 if none did.
double medianLogBytes(const std::vector<Sample> &samples)
{
    std::vector<Sample> measured;
    for (const Sample &x : samples)
        if (x.logBytesPerMsg > 0) measured.push_back(x);
    return median(measured, [](const Sample &x) { return x.logBytesPerMsg; });
}

double medianValue(const std::vector<Sample> &s)
{
    return median(s, [](const Sample &x) { return x.value; });
}

std::pair<double, double> minMax(const std::vector<Sample> &samples)
{
    if (samples.empty()) return {0, 0};
    double lo = samples.front().value, hi = lo;
    for (const Sample &s : samples) lo = std::min(lo, s.value), hi = std::max(hi, s.value);
    return {lo, hi};
}

// 1.40M, 65.6k, 2.63, 21.4: three significant digits, SI suffix for rates.
std::string num(double v)
{
    char buf[32];
    if (v >= 999.5e3)
        std::snprintf(buf, sizeof buf, "%.3gM", v / 1e6);
    else if (v >= 999.5)
        std::snprintf(buf, sizeof buf, "%.3gk", v / 1e3);
    else
        std::snprintf(buf, sizeof buf, "%.3g", v);
    return buf;
}

// "(lo-hi)". Built by appending: GCC 12 at -O3 misreports a chain of
// operator+ on strings as an overlapping memcpy (-Wrestrict).
std::string rangeText(double lo, double hi)
{
    std::string out = "(";
    out += num(lo);
    out += '-';
    out += num(hi);
    out += ')';
    return out;
}

// A reason short enough for one table line.
std::string clip(const std::string &why, size_t max)
{
    if (why.size() <= max) return why;
    return why.substr(0, max - 3) + "...";
}

std::string ratioText(double r)
{
    if (r <= 0) return "-";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f", r);
    return buf;
}

std::string jsonString(const std::string &s)
{
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out + "\"";
}

std::string jsonNum(double v)
{
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", v);
    return buf;
}

}  // namespace

void Report::setContext(unsigned cpus, unsigned chanfsThreads, unsigned pollUs, bool pollUsGiven)
{
    pollUsGiven_ = pollUsGiven;
    cpus_ = cpus;
    chanfsThreads_ = chanfsThreads;
    pollUs_ = pollUs;
    std::time_t now = std::time(nullptr);
    char buf[64];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
    when_ = buf;
    utsname u;
    if (::uname(&u) == 0) kernel_ = std::string(u.sysname) + " " + u.release;
}

std::string natsRawJsName(int replicas)
{
    return "raw nats JetStream publish-async R" + std::to_string(replicas);
}

std::string natsChanfsName(const std::string &kind, int replicas)
{
    return "chanfs " + kind + "/lines nats R" + std::to_string(replicas);
}

std::string natsFlowName(const std::string &line, const NatsFlow &flow)
{
    return *flow.name ? line + ", " + flow.name : line;
}

std::string natsMemoryFlowName(const std::string &kind, const NatsFlow &flow)
{
    return natsFlowName("chanfs " + kind + "/lines memory", flow);
}

std::string natsMemoryReference(const std::string &name)
{
    for (const NatsFlow &flow : kNatsFlows)
        for (int r : {1, 3})
            for (const char *kind : {"queue", "topic"})
                if (name == natsFlowName(natsChanfsName(kind, r), flow)) {
                    // One writer: the main bench's own line of that kind.
                    if (!*flow.name) return kind[0] == 'q' ? kChanfsQueue : kChanfsTopic;
                    return natsMemoryFlowName(kind, flow);
                }
    return {};
}

std::string natsRawReference(const std::string &name)
{
    for (const NatsFlow &flow : kNatsFlows)
        for (int r : {1, 3})
            for (const char *kind : {"queue", "topic"})
                if (name == natsFlowName(natsChanfsName(kind, r), flow)) return natsRawJsName(r);
    return {};
}

Report::Series &Report::seriesFor(const Figure &f, const std::string &transport, Group g)
{
    auto fit = std::find_if(figures_.begin(), figures_.end(),
                            [&](const FigureData &d) { return d.figure.id == f.id; });
    if (fit == figures_.end()) fit = figures_.insert(figures_.end(), FigureData{f, {}});
    auto sit = std::find_if(fit->series.begin(), fit->series.end(),
                            [&](const Series &x) { return x.transport == transport; });
    if (sit == fit->series.end())
        sit = fit->series.insert(fit->series.end(), Series{transport, g, {}, 0, {}});
    return *sit;
}

void Report::add(const Figure &f, const std::string &transport, Group g, const Sample &s)
{
    seriesFor(f, transport, g).samples.push_back(s);
}

void Report::addUnavailable(const Figure &f, const std::string &transport, Group g,
                            const std::string &why)
{
    Series &s = seriesFor(f, transport, g);
    ++s.unavailable;
    if (s.why.empty()) s.why = clip(why, 150);
}

void Report::setNatsPair(unsigned nodes, const std::vector<std::string> &urls, bool treeShared,
                         const std::string &why)
{
    natsPairs_.push_back({nodes, urls, treeShared, clip(why, 400)});
}

double Report::natsVsMemory(const FigureData &f, const Series &s) const
{
    const std::string ref = natsMemoryReference(s.transport);
    return ref.empty() ? 0 : ratio(f, s, ref);
}

double Report::natsVsRaw(const FigureData &f, const Series &s) const
{
    const std::string ref = natsRawReference(s.transport);
    return ref.empty() || f.figure.id != "msg1k" ? 0 : ratio(f, s, ref);
}

void Report::addFanout(const std::string &source, unsigned subscribers, const Sample &s)
{
    auto it = std::find_if(fanout_.begin(), fanout_.end(), [&](const FanoutSeries &f) {
        return f.source == source && f.subscribers == subscribers;
    });
    if (it == fanout_.end())
        it = fanout_.insert(fanout_.end(), FanoutSeries{source, subscribers, {}});
    it->samples.push_back(s);
}

const Report::FigureData *Report::figure(const std::string &id) const
{
    for (const FigureData &f : figures_)
        if (f.figure.id == id) return &f;
    return nullptr;
}

const Report::Series *Report::series(const std::string &figureId,
                                     const std::string &transport) const
{
    const FigureData *f = figure(figureId);
    if (!f) return nullptr;
    for (const Series &s : f->series)
        if (s.transport == transport) return &s;
    return nullptr;
}

double Report::ratio(const FigureData &f, const Series &s, const std::string &ref) const
{
    const Series *r = series(f.figure.id, ref);
    if (!r) return 0;
    const double a = medianValue(s.samples), b = medianValue(r->samples);
    if (a <= 0 || b <= 0) return 0;
    return f.figure.higherIsBetter ? a / b : b / a;
}

double Report::ratioPolling(const FigureData &f, const Series &s) const
{
    return ratio(f, s, series(f.figure.id, kBarePolling) ? kBarePolling : kBare);
}

double Report::fanoutMedian(const std::string &source, unsigned subscribers) const
{
    for (const FanoutSeries &f : fanout_)
        if (f.source == source && f.subscribers == subscribers) return medianValue(f.samples);
    return 0;
}

std::vector<Report::Target> Report::targets() const
{
    std::vector<Target> out;
    // Issue 16: with polling, beat the bare loop as it was by 1.25x on
    // small messages and the round trip and match it on throughput; and
    // match the bare loop that polls the same way on everything.
    for (const char *id : {"thr64k", "thr1m", "msg1k", "pingpong"}) {
        const FigureData *f = figure(id);
        if (!f) continue;
        const bool small = f->figure.id == "msg1k" || f->figure.id == "pingpong";
        const double goalToday = small ? 1.25 : 1.0;
        for (const char *t : kChanfsFiles) {
            const Series *s = series(id, t);
            if (!s) continue;
            const double r = ratio(*f, *s, kBare);
            if (r <= 0) continue;  // --only left the bare loop out
            out.push_back({std::string(t) + " vs bare FUSE, " + f->figure.title, r, goalToday, "x",
                           r >= goalToday});
            if (!series(id, kBarePolling)) continue;
            const double p = ratio(*f, *s, kBarePolling);
            out.push_back({std::string(t) + " vs bare FUSE polling, " + f->figure.title, p, 1.0,
                           "x", p >= 1.0});
        }
    }
    for (const auto &[daemon, percent] : idleCpu_)
        out.push_back({daemon + ": idle CPU, % of a core", percent, 1.0, "%", percent < 1.0});
    // The reader's rate can only trail the writer's; within 5% means the
    // 64 KiB reader keeps up by taking many messages per read.
    for (const char *t : kChanfsBatchFiles) {
        if (const Series *s = series("msg1k", t)) {
            const double reader = medianValue(s->samples);
            const double writer = median(s->samples, [](const Sample &x) { return x.writerRate; });
            const double r = writer > 0 ? reader / writer : 0;
            out.push_back(
                {std::string(t) + " 1 KiB reader rate vs writer rate", r, 0.95, "x", r >= 0.95});
        }
    }
    if (const FigureData *f = figure("msg1k")) {
        if (const Series *s = series("msg1k", kListenIn)) {
            const double r = ratio(*f, *s, kKernelUds);
            if (r > 0)
                out.push_back({std::string(kListenIn) + " vs kernel UDS stream, 1 KiB messages", r,
                               0.5, "x", r >= 0.5});
        }
    }
    const double one = fanoutMedian(kChanfsTopic, 1), many = fanoutMedian(kChanfsTopic, 64);
    if (one > 0 && many > 0)
        out.push_back({"fan-out to 64 per subscriber vs 1 subscriber", many / one, 0.5, "x",
                       many / one >= 0.5});
    if (parkedN_ > 0) {
        const double extra = static_cast<double>(parked_.during.threads) - parked_.before.threads;
        out.push_back({std::to_string(parkedN_) + " parked readers: extra daemon threads", extra, 0,
                       "threads", extra <= 0});
        const double rss = parked_.during.rssBytes / kMiB;
        out.push_back({std::to_string(parkedN_) + " parked readers: daemon RSS", rss, kRssGoalMiB,
                       "MiB", rss < kRssGoalMiB});
    }
    // Issue 14: a NATS-backed channel end to end >= 0.5x the same channel
    // in memory at R1, and >= 0.7x raw JetStream async publish at R3.
    // Every flow (one writer, 8 writers, 64 lines per write) against the
    // same flow in memory.
    if (const FigureData *f = figure("msg1k")) {
        for (const NatsFlow &flow : kNatsFlows)
            for (const char *kind : {"queue", "topic"}) {
                if (const Series *s = series("msg1k", natsFlowName(natsChanfsName(kind, 1), flow))) {
                    if (const double r = natsVsMemory(*f, *s); r > 0)
                        out.push_back({s->transport + " vs the same channel in memory", r, 0.5,
                                       "x", r >= 0.5});
                }
                if (const Series *s = series("msg1k", natsFlowName(natsChanfsName(kind, 3), flow))) {
                    if (const double r = natsVsRaw(*f, *s); r > 0)
                        out.push_back({s->transport + " vs raw JetStream async publish R3", r,
                                       0.7, "x", r >= 0.7});
                }
            }
    }
    if (idleN_ > 0) {
        const double rss = idle_.during.rssBytes / kMiB;
        out.push_back({std::to_string(idleN_) + " idle channels: daemon RSS", rss, kRssGoalMiB,
                       "MiB", rss < kRssGoalMiB});
    }
    return out;
}

void Report::printDelivery(std::FILE *out) const
{
    const FigureData *f = figure("msg1k");
    if (!f) return;
    bool header = false;
    for (const auto &[one, batch] : kDeliveryPairs) {
        const Series *o = series("msg1k", one), *b = series("msg1k", batch);
        if (!o || !b) continue;
        if (!header) {
            std::fprintf(out, "\n%-40s %11s %11s %9s\n", "delivery: one message per read vs batch",
                         "one msg/s", "batch msg/s", "one/batch");
            header = true;
        }
        std::string name = one;
        name.erase(name.rfind(" delivery="));
        const double a = medianValue(o->samples), z = medianValue(b->samples);
        std::fprintf(out, "  %-38s %11s %11s %9s\n", name.c_str(), num(a).c_str(), num(z).c_str(),
                     ratioText(z > 0 ? a / z : 0).c_str());
    }
}

void Report::printDurable(std::FILE *out) const
{
    std::vector<const FigureData *> figs;
    std::vector<std::string> names;  // durable transports, in the order they ran
    for (const FigureData &f : figures_) {
        bool any = false;
        for (const Series &s : f.series) {
            if (s.transport.rfind("chanfs durable", 0) != 0) continue;
            any = true;
            if (std::find(names.begin(), names.end(), s.transport) == names.end())
                names.push_back(s.transport);
        }
        if (any) figs.push_back(&f);
    }
    if (figs.empty()) return;
    std::fprintf(out, "\ndurable queue/lines channels; journals in %s (%s)%s\n", stateDir_.c_str(),
                 stateFsType_.c_str(),
                 stateFsType_ == "tmpfs" ? ": NOT A DISK, fsync costs nothing" : "");
    auto header = [&](const char *what) {
        std::fprintf(out, "  %-40s", what);
        for (const FigureData *f : figs) std::fprintf(out, " %9s", f->figure.id.c_str());
        std::fprintf(out, "\n");
    };
    header("speed against chanfs queue/lines in memory");
    for (const std::string &n : names) {
        std::fprintf(out, "    %-38s", n.c_str());
        for (const FigureData *f : figs) {
            const Series *s = series(f->figure.id, n);
            std::fprintf(out, " %9s", s ? ratioText(ratio(*f, *s, kChanfsQueue)).c_str() : "-");
        }
        std::fprintf(out, "\n");
    }
    header("journal bytes per message (median)");  // what the segment files grew by
    for (const std::string &n : names) {
        std::fprintf(out, "    %-38s", n.c_str());
        for (const FigureData *f : figs) {
            const Series *s = series(f->figure.id, n);
            const double b = s ? medianLogBytes(s->samples) : 0;
            char text[32] = "-";
            if (b > 0) std::snprintf(text, sizeof text, "%.1f", b);
            std::fprintf(out, " %9s", text);
        }
        std::fprintf(out, "\n");
    }
    if (!unmetered_.empty())
        std::fprintf(out, "  journal bytes not measured: %s\n", unmetered_.c_str());
}

void Report::printNats(std::FILE *out) const
{
    bool any = !natsPairs_.empty() || !natsScale_.empty();
    for (const FigureData &f : figures_)
        for (const Series &s : f.series) any = any || s.group == Group::Nats;
    if (!any) return;
    std::fprintf(out,
                 "\nacross machines: chanfs over NATS, host A writes, host B reads (two chanfs\n"
                 "daemons; nats-servers the bench started on 127.0.0.1, no network namespaces)\n");
    for (const NatsPairInfo &p : natsPairs_) {
        const char *tag = p.nodes == 1 ? "R1" : "R3";
        if (!p.why.empty()) {
            std::fprintf(out, "  %s: n/a (%s)\n", tag, p.why.c_str());
            continue;
        }
        std::string urls;
        for (const std::string &u : p.urls) urls += (urls.empty() ? "" : " ") + u;
        std::fprintf(out, "  %s: %s %s; host B %s\n", tag,
                     p.nodes == 1 ? "one nats-server" : "a 3-node JetStream cluster", urls.c_str(),
                     p.treeShared ? "saw host A's directories through the shared tree"
                                  : "did NOT see host A's tree within 2 s: the bench created the "
                                    "same channels there (they meet on the same stream)");
    }
    std::fprintf(out, "  %-42s %9s %9s %9s %12s %11s %11s\n", "1 KiB messages, 64 KiB reader",
                 "msg/s", "xmemory", "xraw JS", "writer msg/s", "daemon CPU", "server CPU");
    auto line = [&](const FigureData &f, const Series &s, bool ratios) {
        if (s.samples.empty()) {
            std::fprintf(out, "    %-40s n/a (%s)\n", s.transport.c_str(), s.why.c_str());
            return;
        }
        const double us = median(s.samples, [](const Sample &x) { return x.daemonCpuUs; });
        const double server = median(s.samples, [](const Sample &x) { return x.serverCpuUs; });
        std::fprintf(out, "    %-40s %9s %9s %9s %12s %11s %11s\n", s.transport.c_str(),
                     num(medianValue(s.samples)).c_str(),
                     ratios ? ratioText(natsVsMemory(f, s)).c_str() : "",
                     ratios ? ratioText(natsVsRaw(f, s)).c_str() : "",
                     num(median(s.samples, [](const Sample &x) { return x.writerRate; })).c_str(),
                     us > 0 ? (num(us) + " us").c_str() : "-",
                     server > 0 ? (num(server) + " us").c_str() : "-");
    };
    if (const FigureData *f = figure("msg1k")) {
        for (const Series &s : f->series)
            if (s.group == Group::Nats) line(*f, s, !natsRawReference(s.transport).empty());
    }
    if (const FigureData *f = figure("pingpong")) {
        std::fprintf(out, "  %-42s %9s %9s %11s\n", "round trip, 64 B each way", "us", "xmemory",
                     "server CPU");
        for (const Series &s : f->series) {
            if (s.group != Group::Nats) continue;
            if (s.samples.empty()) {
                std::fprintf(out, "    %-40s n/a (%s)\n", s.transport.c_str(), s.why.c_str());
                continue;
            }
            const double server = median(s.samples, [](const Sample &x) { return x.serverCpuUs; });
            std::fprintf(out, "    %-40s %9s %9s %11s\n", s.transport.c_str(),
                         num(medianValue(s.samples)).c_str(),
                         ratioText(natsVsMemory(*f, s)).c_str(),
                         server > 0 ? (num(server) + " us").c_str() : "-");
        }
    }
    std::fprintf(out, "  daemon CPU: host A's and host B's chanfs together; server CPU: every "
                      "nats-server's; per message\n");
    if (!natsScale_.empty())
        std::fprintf(out, "  host A's daemon with N queue channels: before -> created -> a reader "
                          "open on each\n");
    for (const auto &[label, sc] : natsScale_) {
        const std::string name = std::to_string(sc.n) + " " + label + " channels";
        if (!sc.why.empty()) {
            std::fprintf(out, "    %-30s n/a (%s)\n", name.c_str(), sc.why.c_str());
            continue;
        }
        std::fprintf(out,
                     "    %-30s threads %u -> %u -> %u, RSS %.1f -> %.1f -> %.1f MiB; created in "
                     "%.2f s, opened in %.2f s, removed in %.2f s\n",
                     name.c_str(), sc.before.threads, sc.created.threads, sc.opened.threads,
                     sc.before.rssBytes / kMiB, sc.created.rssBytes / kMiB,
                     sc.opened.rssBytes / kMiB, sc.createSeconds, sc.openSeconds,
                     sc.removeSeconds);
        if (!sc.note.empty()) std::fprintf(out, "      (%s)\n", sc.note.c_str());
    }
}

void Report::print(std::FILE *out) const
{
    std::fprintf(out, "chanfs-bench %s, %s, %s, %u CPUs%s\n", CHANFS_VERSION, when_.c_str(),
                 kernel_.c_str(), cpus_, quick_ ? ", --quick" : "");
    std::fprintf(out,
                 "chanfs request threads: %s, poll_us: %s; bare FUSE loop: 1 thread, and a copy "
                 "polling %u us\n",
                 chanfsThreads_ ? std::to_string(chanfsThreads_).c_str() : "default",
                 pollUsGiven_ ? std::to_string(pollUs_).c_str() : "chanfs's default", pollUs_);
    std::fprintf(
        out,
        "%u rounds, interleaved; median (min-max). Ratios are speed against the kernel FIFO,\n"
        "the bare FUSE loop as it always was (xbare) and the bare loop polling as chanfs\n"
        "does (xbare+p), in this run: above 1 is faster, below 1 slower. Daemon CPU:\n"
        "user+system time of the FUSE daemon per message or round trip (10 ms ticks).\n",
        rounds_);
    for (const FigureData &f : figures_) {
        const bool msg = f.figure.id == "msg1k";
        const bool cpu = msg || f.figure.id == "pingpong";
        std::fprintf(out, "\n%-46s %9s %19s %6s %6s %7s", (f.figure.title).c_str(),
                     f.figure.unit.c_str(), "(min-max)", "xFIFO", "xbare", "xbare+p");
        if (cpu) std::fprintf(out, " %11s", "daemon CPU");
        if (msg) std::fprintf(out, " %12s %8s", "writer msg/s", "msg/read");
        std::fprintf(out, "\n");
        for (const Series &s : f.series) {
            if (s.samples.empty()) {
                std::fprintf(out, "  %-44s n/a (%s)\n", s.transport.c_str(), s.why.c_str());
                continue;
            }
            const auto [lo, hi] = minMax(s.samples);
            const std::string range = rangeText(lo, hi);
            std::fprintf(out, "  %-44s %9s %19s %6s %6s %7s", s.transport.c_str(),
                         num(medianValue(s.samples)).c_str(), range.c_str(),
                         ratioText(ratio(f, s, kFifo)).c_str(),
                         ratioText(ratio(f, s, kBare)).c_str(),
                         ratioText(ratioPolling(f, s)).c_str());
            if (cpu) {
                const double us = median(s.samples, [](const Sample &x) { return x.daemonCpuUs; });
                std::fprintf(out, " %11s", us > 0 ? (num(us) + " us").c_str() : "-");
            }
            if (msg) {
                std::fprintf(
                    out, " %12s %8s",
                    num(median(s.samples, [](const Sample &x) { return x.writerRate; })).c_str(),
                    s.group == Group::Nats && s.transport.rfind("raw ", 0) == 0
                        ? "-"
                        : num(median(s.samples, [](const Sample &x) { return x.msgsPerRead; }))
                              .c_str());
            }
            if (s.unavailable > 0)
                std::fprintf(out, "  [%u of %zu rounds n/a: %s]", s.unavailable,
                             s.unavailable + s.samples.size(), s.why.c_str());
            std::fprintf(out, "\n");
        }
    }
    printDelivery(out);
    printDurable(out);
    printNats(out);
    if (!fanout_.empty()) {
        std::fprintf(out, "\n%-36s %9s %19s %6s %11s\n", "fan-out to N, per subscriber", "msg/s",
                     "(min-max)", "xN=1", "all N msg/s");
        for (const FanoutSeries &f : fanout_) {
            const auto [lo, hi] = minMax(f.samples);
            const std::string label = f.source + ", N=" + std::to_string(f.subscribers);
            const std::string range = rangeText(lo, hi);
            const double one = fanoutMedian(f.source, 1);
            std::fprintf(out, "  %-34s %9s %19s %6s %11s\n", label.c_str(),
                         num(medianValue(f.samples)).c_str(), range.c_str(),
                         ratioText(one > 0 ? medianValue(f.samples) / one : 0).c_str(),
                         num(medianValue(f.samples) * f.subscribers).c_str());
        }
    }
    auto scaleLine = [&](const std::string &label, const ScaleResult &r, const char *setup,
                         const char *undo) {
        std::fprintf(
            out, "  %-34s RSS %.1f -> %.1f -> %.1f MiB, threads %u -> %u, %s %.2f s, %s %.2f s\n",
            label.c_str(), r.before.rssBytes / kMiB, r.during.rssBytes / kMiB,
            r.after.rssBytes / kMiB, r.before.threads, r.during.threads, setup, r.setupSeconds,
            undo, r.undoSeconds);
    };
    if (parkedN_ || idleN_)
        std::fprintf(out, "\nscale (chanfs daemon: before -> during -> after)\n");
    if (parkedN_)
        scaleLine(std::to_string(parkedN_) + " readers parked on a queue", parked_, "parked in",
                  "all woken in");
    if (idleN_)
        scaleLine(std::to_string(idleN_) + " idle channels", idle_, "created in", "removed in");

    if (!idleCpu_.empty()) {
        std::fprintf(out, "\nidle daemon CPU (%% of one core, right after the rounds)\n");
        for (const auto &[daemon, percent] : idleCpu_)
            std::fprintf(out, "  %-34s %.3f%%\n", daemon.c_str(), percent);
    }
    std::fprintf(out, "\ntargets (from this run)\n");
    for (const Target &t : targets()) {
        const char *cmp = t.unit == "x" ? ">=" : (t.unit == "threads" ? "<=" : "<");
        std::fprintf(out, "  %-86s %8.2f %-7s goal %s %g  %s\n", t.name.c_str(), t.value,
                     t.unit.c_str(), cmp, t.goal, t.met ? "met" : "NOT MET");
    }
}

void Report::writeJson(std::ostream &out) const
{
    out << "{\n  \"tool\": \"chanfs-bench\", \"version\": " << jsonString(CHANFS_VERSION)
        << ", \"date\": " << jsonString(when_) << ", \"kernel\": " << jsonString(kernel_)
        << ", \"cpus\": " << cpus_ << ", \"chanfs_threads\": " << chanfsThreads_
        << ", \"poll_us\": " << pollUs_
        << ", \"poll_us_given\": " << (pollUsGiven_ ? "true" : "false")
        << ", \"rounds\": " << rounds_ << ", \"quick\": " << (quick_ ? "true" : "false");
    if (!stateDir_.empty())
        out << ", \"state_dir\": " << jsonString(stateDir_)
            << ", \"state_fs\": " << jsonString(stateFsType_);
    out << ",\n  \"figures\": [";
    bool firstFig = true;
    for (const FigureData &f : figures_) {
        for (const Series &s : f.series) {
            out << (firstFig ? "\n" : ",\n") << "    {\"figure\": " << jsonString(f.figure.id)
                << ", \"title\": " << jsonString(f.figure.title)
                << ", \"unit\": " << jsonString(f.figure.unit)
                << ", \"transport\": " << jsonString(s.transport)
                << ", \"median\": " << jsonNum(medianValue(s.samples))
                << ", \"vs_fifo\": " << jsonNum(ratio(f, s, kFifo))
                << ", \"vs_bare\": " << jsonNum(ratio(f, s, kBare))
                << ", \"vs_bare_polling\": " << jsonNum(ratioPolling(f, s)) << ", \"samples\": [";
            for (size_t i = 0; i < s.samples.size(); ++i)
                out << (i ? ", " : "") << jsonNum(s.samples[i].value);
            out << "]";
            if (s.unavailable > 0)
                out << ", \"unavailable_rounds\": " << s.unavailable
                    << ", \"unavailable\": " << jsonString(s.why);
            if (const std::string ref = natsMemoryReference(s.transport); !ref.empty())
                out << ", \"vs_memory\": " << jsonNum(natsVsMemory(f, s))
                    << ", \"vs_memory_ref\": " << jsonString(ref);
            if (const std::string ref = natsRawReference(s.transport);
                !ref.empty() && f.figure.id == "msg1k")
                out << ", \"vs_raw_js\": " << jsonNum(natsVsRaw(f, s))
                    << ", \"vs_raw_js_ref\": " << jsonString(ref);
            if (s.transport.rfind("chanfs durable", 0) == 0) {
                out << ", \"vs_queue\": " << jsonNum(ratio(f, s, kChanfsQueue))
                    << ", \"vs_queue_ref\": " << jsonString(kChanfsQueue);
                if (const double b = medianLogBytes(s.samples); b > 0)
                    out << ", \"log_bytes_per_msg\": " << jsonNum(b);
            }
            if (s.group == Group::Nats && !s.samples.empty())
                out << ", \"server_cpu_us\": "
                    << jsonNum(median(s.samples, [](const Sample &x) { return x.serverCpuUs; }));
            if (f.figure.id == "msg1k" || f.figure.id == "pingpong")
                out << ", \"daemon_cpu_us\": "
                    << jsonNum(median(s.samples, [](const Sample &x) { return x.daemonCpuUs; }));
            if (f.figure.id == "msg1k") {
                out << ", \"writer_rate\": "
                    << jsonNum(median(s.samples, [](const Sample &x) { return x.writerRate; }))
                    << ", \"msgs_per_read\": "
                    << jsonNum(median(s.samples, [](const Sample &x) { return x.msgsPerRead; }));
            }
            out << "}";
            firstFig = false;
        }
    }
    out << "\n  ],\n  \"fanout\": [";
    for (size_t i = 0; i < fanout_.size(); ++i) {
        const FanoutSeries &f = fanout_[i];
        out << (i ? ",\n" : "\n") << "    {\"source\": " << jsonString(f.source)
            << ", \"subscribers\": " << f.subscribers
            << ", \"per_subscriber_msgs_per_s\": " << jsonNum(medianValue(f.samples))
            << ", \"delivered_msgs_per_s\": " << jsonNum(medianValue(f.samples) * f.subscribers)
            << ", \"samples\": [";
        for (size_t j = 0; j < f.samples.size(); ++j)
            out << (j ? ", " : "") << jsonNum(f.samples[j].value);
        out << "]}";
    }
    auto scale = [&](const ScaleResult &r, unsigned n) {
        out << "{\"n\": " << n << ", \"rss_before\": " << r.before.rssBytes
            << ", \"rss_during\": " << r.during.rssBytes << ", \"rss_after\": " << r.after.rssBytes
            << ", \"threads_before\": " << r.before.threads
            << ", \"threads_during\": " << r.during.threads
            << ", \"setup_seconds\": " << jsonNum(r.setupSeconds)
            << ", \"undo_seconds\": " << jsonNum(r.undoSeconds) << "}";
    };
    out << "\n  ],\n  \"scale\": {\"parked_readers\": ";
    scale(parked_, parkedN_);
    out << ", \"idle_channels\": ";
    scale(idle_, idleN_);
    out << "},\n  \"idle_cpu_percent\": {";
    for (size_t i = 0; i < idleCpu_.size(); ++i)
        out << (i ? ", " : "") << jsonString(idleCpu_[i].first) << ": "
            << jsonNum(idleCpu_[i].second);
    out << "},\n  \"nats\": {\"pairs\": [";
    for (size_t i = 0; i < natsPairs_.size(); ++i) {
        const NatsPairInfo &p = natsPairs_[i];
        out << (i ? ", " : "") << "{\"nodes\": " << p.nodes
            << ", \"tree_shared\": " << (p.treeShared ? "true" : "false");
        if (!p.why.empty()) out << ", \"unavailable\": " << jsonString(p.why);
        out << "}";
    }
    out << "], \"scale\": [";
    for (size_t i = 0; i < natsScale_.size(); ++i) {
        const auto &[label, sc] = natsScale_[i];
        out << (i ? ", " : "") << "{\"channels\": " << jsonString(label) << ", \"n\": " << sc.n;
        if (!sc.why.empty()) {
            out << ", \"unavailable\": " << jsonString(sc.why) << "}";
            continue;
        }
        out << ", \"threads_before\": " << sc.before.threads
            << ", \"threads_created\": " << sc.created.threads
            << ", \"threads_opened\": " << sc.opened.threads
            << ", \"rss_before\": " << sc.before.rssBytes
            << ", \"rss_created\": " << sc.created.rssBytes
            << ", \"rss_opened\": " << sc.opened.rssBytes
            << ", \"create_seconds\": " << jsonNum(sc.createSeconds)
            << ", \"open_seconds\": " << jsonNum(sc.openSeconds)
            << ", \"remove_seconds\": " << jsonNum(sc.removeSeconds);
        if (!sc.note.empty()) out << ", \"note\": " << jsonString(sc.note);
        out << "}";
    }
    out << "]},\n  \"targets\": [";
    const std::vector<Target> ts = targets();
    for (size_t i = 0; i < ts.size(); ++i) {
        out << (i ? ",\n" : "\n") << "    {\"name\": " << jsonString(ts[i].name)
            << ", \"value\": " << jsonNum(ts[i].value) << ", \"goal\": " << jsonNum(ts[i].goal)
            << ", \"unit\": " << jsonString(ts[i].unit)
            << ", \"met\": " << (ts[i].met ? "true" : "false") << "}";
    }
    out << "\n  ]\n}\n";
}

}  // namespace chanfs::bench
