#include "fs/daemon/metrics.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <mutex>
#include <shared_mutex>
#include <string_view>
#include <vector>

#include "channels/base/latency_histogram.h"
#include "channels/base/unique_fd.h"
#include "channels/core/memory_budget.h"
#include "channels/storage/registry.h"
#include "fs/base/request_counters.h"

namespace chanfs::fs {

namespace {

// The bridge families below, read from an endpoint's named stats
// (<key>_connected, _clients, _bytes, _error), so any endpoint kind shows up
// the same way.
struct BridgeStats {
    bool connected = false;
    uint64_t clients = 0;
    uint64_t bytes = 0;
    std::string lastError;
};

BridgeStats bridgeStatsOf(const Endpoint &e)
{
    BridgeStats b;
    bool sawConnected = false;
    for (const EndpointStat &st : e.stats()) {
        const std::string_view n = st.name;
        const auto is = [&n](std::string_view suffix) { return n.ends_with(suffix); };
        if (is("_connected")) {
            b.connected = st.value == "1";
            sawConnected = true;
        } else if (is("_clients")) {
            b.clients = std::strtoull(st.value.c_str(), nullptr, 10);
        } else if (is("_bytes")) {
            b.bytes = std::strtoull(st.value.c_str(), nullptr, 10);
        } else if (is("_error")) {
            b.lastError = st.value;
        }
    }
    if (!sawConnected) b.connected = b.clients > 0;  // a listener: connected while it has clients
    return b;
}

// What one bridge or endpoint of a channel reports.
struct EndpointSample {
    std::string type;  // "fifo", "uds", "uds_listen"
    std::string spec;  // the xattr value it was made from
    BridgeStats stats;
};

struct ChannelSample {
    std::string path;
    Kind kind = Kind::Pipe;
    bool durable = false;
    ChannelStats stats;
    std::vector<EndpointSample> endpoints;
};

// References copied under the table lock; everything else is read after.
struct ChannelRef {
    std::string path;
    std::shared_ptr<Channel> channel;
    std::vector<std::pair<std::string, std::shared_ptr<Endpoint>>> endpoints;
};

std::vector<ChannelRef> collectChannels(Filesystem &fs, size_t *entries)
{
    std::vector<ChannelRef> refs;
    std::shared_lock lock(fs.inodes.mutex());
    *entries = fs.inodes.namedEntries();
    refs.reserve(fs.inodes.size());
    fs.inodes.forEach([&](const Node &n) {
        if (!n.channel || n.unlinked) return;
        ChannelRef r;
        r.channel = n.channel;
        for (const auto &[key, e] : n.endpoints.items()) {
            // uds=listen... is its own bridge type on the scrape.
            const bool listen = key == "uds" && e->describe().starts_with("listen");
            r.endpoints.emplace_back(listen ? "uds_listen" : std::string(key), e);
        }
        refs.push_back(std::move(r));
    });
    // path() walks parents: done in a second pass so forEach's lambda
    // stays simple; both under the same shared lock.
    size_t i = 0;
    fs.inodes.forEach([&](const Node &n) {
        if (!n.channel || n.unlinked) return;
        refs[i++].path = fs.inodes.path(n);
    });
    return refs;
}

// Label values are UTF-8 with \, " and newline escaped; bytes that are not
// UTF-8 (a name is any bytes) become U+FFFD so the scrape stays valid.
void appendLabelValue(std::string &out, std::string_view v)
{
    size_t i = 0;
    while (i < v.size()) {
        const auto c = static_cast<unsigned char>(v[i]);
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        bool valid = len > 0 && i + len <= v.size();
        for (size_t k = 1; valid && k < len; ++k)
            valid = (static_cast<unsigned char>(v[i + k]) & 0xC0) == 0x80;
        if (!valid) {
            out += "\xEF\xBF\xBD";
            ++i;
            continue;
        }
        if (c == '\\')
            out += "\\\\";
        else if (c == '"')
            out += "\\\"";
        else if (c == '\n')
            out += "\\n";
        else
            out.append(v.substr(i, len));
        i += len;
    }
}

void appendHeader(std::string &out, std::string_view name, std::string_view type,
                  std::string_view help)
{
    fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void appendGauge(std::string &out, std::string_view name, std::string_view help, double value,
                 std::string_view type = "gauge")
{
    appendHeader(out, name, type, help);
    fmt::format_to(std::back_inserter(out), "{} {}\n", name, value);
}

void appendHistogram(std::string &out, std::string_view name, std::string_view help,
                     const LatencyHistogram::Snapshot &s)
{
    appendHeader(out, name, "histogram", help);
    for (size_t i = 0; i < LatencyHistogram::kBoundsSeconds.size(); ++i)
        fmt::format_to(std::back_inserter(out), "{}_bucket{{le=\"{}\"}} {}\n", name,
                       LatencyHistogram::kBoundsSeconds[i], s.cumulative[i]);
    fmt::format_to(std::back_inserter(out), "{}_bucket{{le=\"+Inf\"}} {}\n{}_sum {}\n{}_count {}\n",
                   name, s.count(), name, s.sumSeconds, name, s.count());
}

std::string channelLabels(const ChannelSample &c)
{
    std::string l = "path=\"";
    appendLabelValue(l, c.path);
    l += "\",kind=\"";
    l += toString(c.kind);
    // The store names itself in its stats (a NATS store: backend=nats);
    // the others are memory or journal.
    std::string_view backend = c.durable ? "journal" : "memory";
    for (const auto &[name, value] : c.stats.storeStats)
        if (name == "backend" && !value.empty()) backend = value;
    l += "\",backend=\"";
    appendLabelValue(l, backend);
    l += '"';
    return l;
}

// Per-channel series from the store's own stats (ChannelStats::storeStats),
// by stat name: a channel whose store has no such stat gets no sample.
struct StoreFamily {
    const char *stat;
    const char *name;
    const char *type;
    const char *help;
};

constexpr StoreFamily kStoreFamilies[] = {
    {"nats_connected", "chanfs_channel_nats_connected", "gauge",
     "NATS channels: 1 while the link is up and the channel's stream is ready."},
    {"nats_pending", "chanfs_channel_nats_pending_messages", "gauge",
     "NATS channels: messages written that JetStream has not acknowledged yet."},
    {"nats_acked", "chanfs_channel_nats_acked_total", "counter",
     "NATS queues: messages acknowledged to JetStream after their read's reply succeeded."},
    {"nats_redelivered", "chanfs_channel_nats_redelivered_total", "counter",
     "NATS queues: messages taken whose JetStream delivery count was above 1."},
};

const std::string *storeStat(const ChannelStats &s, std::string_view name)
{
    for (const auto &[n, v] : s.storeStats)
        if (n == name) return &v;
    return nullptr;
}

struct ChannelFamily {
    const char *name;
    const char *type;
    const char *help;
    uint64_t (*value)(const ChannelStats &);
};

constexpr ChannelFamily kChannelFamilies[] = {
    {"chanfs_channel_queued_messages", "gauge", "Messages stored in the channel.",
     [](const ChannelStats &s) { return s.queuedMessages; }},
    {"chanfs_channel_queued_bytes", "gauge", "Bytes of messages stored in the channel.",
     [](const ChannelStats &s) { return s.queuedBytes; }},
    {"chanfs_channel_readers", "gauge", "Open reading handles.",
     [](const ChannelStats &s) { return s.readers; }},
    {"chanfs_channel_writers", "gauge", "Open writing handles.",
     [](const ChannelStats &s) { return s.writers; }},
    {"chanfs_channel_blocked_readers", "gauge", "Reads waiting for data.",
     [](const ChannelStats &s) { return s.blockedReaders; }},
    {"chanfs_channel_blocked_writers", "gauge", "Writes waiting for room.",
     [](const ChannelStats &s) { return s.blockedWriters; }},
    {"chanfs_channel_in_messages_total", "counter", "Messages written into the channel.",
     [](const ChannelStats &s) { return s.inMessages; }},
    {"chanfs_channel_in_bytes_total", "counter", "Bytes written into the channel.",
     [](const ChannelStats &s) { return s.inBytes; }},
    {"chanfs_channel_out_messages_total", "counter", "Messages delivered to readers.",
     [](const ChannelStats &s) { return s.outMessages; }},
    {"chanfs_channel_out_bytes_total", "counter", "Bytes delivered to readers.",
     [](const ChannelStats &s) { return s.outBytes; }},
    {"chanfs_channel_dropped_messages_total", "counter",
     "Messages dropped by overflow=drop-oldest or retention.",
     [](const ChannelStats &s) { return s.drops; }},
    {"chanfs_channel_dropped_bytes_total", "counter", "Bytes of the dropped messages.",
     [](const ChannelStats &s) { return s.droppedBytes; }},
};

}  // namespace

std::string renderMetrics(Filesystem &fs, uint64_t maxChannels)
{
    size_t entries = 0;
    std::vector<ChannelRef> refs = collectChannels(fs, &entries);
    // Every channel counts towards the totals; only the first maxChannels
    // by path get their own series (a stable choice from one scrape to the
    // next, so series do not flap).
    std::sort(refs.begin(), refs.end(),
              [](const ChannelRef &a, const ChannelRef &b) { return a.path < b.path; });
    std::vector<ChannelSample> samples;
    samples.reserve(std::min<uint64_t>(refs.size(), maxChannels));
    uint64_t parked = 0;
    for (size_t i = 0; i < refs.size(); ++i) {
        ChannelStats st = refs[i].channel->stats();
        parked += st.blockedReaders + st.blockedWriters;
        if (i >= maxChannels) continue;
        const Settings set = refs[i].channel->settings();
        ChannelSample s{std::move(refs[i].path), set.kind, set.durable, st, {}};
        for (auto &[type, bridge] : refs[i].endpoints)
            s.endpoints.push_back({type, bridge->describe(), bridgeStatsOf(*bridge)});
        samples.push_back(std::move(s));
    }
    const uint64_t omitted = refs.size() - samples.size();
    refs.clear();  // drop the references before formatting

    std::string out;
    out.reserve(4096 + samples.size() * 1800);
    appendHeader(out, "chanfs_build_info", "gauge", "The running chanfs version (always 1).");
    out += "chanfs_build_info{version=\"";
    appendLabelValue(out, CHANFS_VERSION);
    out += "\"} 1\n";
    const MemoryBudget &budget = MemoryBudget::global();
    appendGauge(out, "chanfs_memory_bytes", "Bytes of queued messages charged to max_memory.",
                static_cast<double>(budget.used()));
    appendGauge(out, "chanfs_memory_limit_bytes", "The max_memory limit.",
                static_cast<double>(budget.limit()));
    appendGauge(out, "chanfs_entries", "Channels and directories in the tree.",
                static_cast<double>(entries));
    appendGauge(out, "chanfs_entries_limit", "The max_channels limit.",
                static_cast<double>(fs.opts.maxChannels));
    appendGauge(out, "chanfs_channels", "Channels in the tree.",
                static_cast<double>(samples.size() + omitted));
    appendGauge(out, "chanfs_parked_requests", "Reads and writes waiting in all channels.",
                static_cast<double>(parked));
    appendGauge(out, "chanfs_metrics_omitted_channels",
                "Channels past metrics_max_channels, left out of the per-channel series.",
                static_cast<double>(omitted));

    const RequestCounters &rc = requestCounters();
    appendHeader(out, "chanfs_fuse_requests_total", "counter", "FUSE requests by operation.");
    for (size_t i = 0; i < kRequestOpCount; ++i)
        fmt::format_to(std::back_inserter(out), "chanfs_fuse_requests_total{{op=\"{}\"}} {}\n",
                       kRequestOpNames[i], rc.requests[i].load(std::memory_order_relaxed));
    appendHistogram(out, "chanfs_fuse_request_duration_seconds",
                    "Time a FUSE request's handler held the request thread (waiting not counted).",
                    rc.handlerLatency.snapshot());
    appendGauge(out, "chanfs_fuse_interrupts_total", "Interrupts the kernel sent for requests.",
                static_cast<double>(rc.interrupts.load(std::memory_order_relaxed)), "counter");
    appendGauge(out, "chanfs_fuse_failed_replies_total",
                "Replies the kernel refused (the requester had gone, or worse).",
                static_cast<double>(rc.failedReplies.load(std::memory_order_relaxed)), "counter");
    appendHistogram(out, "chanfs_journal_fsync_duration_seconds",
                    "Time each fdatasync of a durable channel's journal took.",
                    journalFsyncLatency().snapshot());
    // The storage links' own numbers (chanfs_nats_* with -o nats=).
    for (const StorageLinkStat &st : storageLinkStats()) {
        const std::string name = "chanfs_" + st.name;
        appendHeader(out, name, st.counter ? "counter" : "gauge", st.help);
        fmt::format_to(std::back_inserter(out), "{} {}\n", name, st.value);
    }

    std::vector<std::string> labels;
    labels.reserve(samples.size());
    for (const ChannelSample &c : samples) labels.push_back(channelLabels(c));
    for (const ChannelFamily &f : kChannelFamilies) {
        appendHeader(out, f.name, f.type, f.help);
        for (size_t i = 0; i < samples.size(); ++i)
            fmt::format_to(std::back_inserter(out), "{}{{{}}} {}\n", f.name, labels[i],
                           f.value(samples[i].stats));
    }
    for (const StoreFamily &f : kStoreFamilies) {
        bool any = false;
        for (size_t i = 0; i < samples.size(); ++i) {
            const std::string *v = storeStat(samples[i].stats, f.stat);
            if (!v) continue;
            if (!any) appendHeader(out, f.name, f.type, f.help);
            any = true;
            fmt::format_to(std::back_inserter(out), "{}{{{}}} {}\n", f.name, labels[i],
                           std::strtoull(v->c_str(), nullptr, 10));
        }
    }
    appendHeader(out, "chanfs_channel_subscriber_backlog_max_bytes", "gauge",
                 "Topics: bytes the slowest subscriber has yet to read.");
    for (size_t i = 0; i < samples.size(); ++i)
        if (samples[i].kind == Kind::Topic)
            fmt::format_to(std::back_inserter(out),
                           "chanfs_channel_subscriber_backlog_max_bytes{{{}}} {}\n", labels[i],
                           samples[i].stats.maxBacklogBytes);

    struct EndpointFamily {
        const char *name;
        const char *type;
        const char *help;
        uint64_t (*value)(const BridgeStats &);
    };
    static constexpr EndpointFamily kEndpointFamilies[] = {
        {"chanfs_bridge_connected", "gauge", "1 if a program has the bridge's other end open.",
         [](const BridgeStats &s) -> uint64_t { return s.connected ? 1 : 0; }},
        {"chanfs_bridge_clients", "gauge", "Connected socket clients (listening bridges).",
         [](const BridgeStats &s) { return s.clients; }},
        {"chanfs_bridge_bytes_total", "counter", "Bytes moved through the bridge, either way.",
         [](const BridgeStats &s) { return s.bytes; }},
        {"chanfs_bridge_failed", "gauge", "1 if the bridge's last operation failed.",
         [](const BridgeStats &s) -> uint64_t { return s.lastError.empty() ? 0 : 1; }},
    };
    for (const EndpointFamily &f : kEndpointFamilies) {
        appendHeader(out, f.name, f.type, f.help);
        for (size_t i = 0; i < samples.size(); ++i) {
            for (const EndpointSample &e : samples[i].endpoints) {
                fmt::format_to(std::back_inserter(out), "{}{{{},bridge=\"{}\",spec=\"", f.name,
                               labels[i], e.type);
                appendLabelValue(out, e.spec);
                fmt::format_to(std::back_inserter(out), "\"}} {}\n", f.value(e.stats));
            }
        }
    }
    return out;
}

// ---- HTTP ----------------------------------------------------------------

struct MetricsServer::Impl {
    Filesystem &fs;
    uint64_t maxChannels;
    MHD_Daemon *daemon = nullptr;
    // unix:/path: the socket file this server made, removed at the end if
    // it is still that file.
    std::string socketPath;
    dev_t socketDev = 0;
    ino_t socketIno = 0;

    Impl(Filesystem &f, uint64_t max) : fs(f), maxChannels(max) {}
    ~Impl()
    {
        if (daemon) MHD_stop_daemon(daemon);
        struct stat st {};
        if (!socketPath.empty() && ::lstat(socketPath.c_str(), &st) == 0 &&
            st.st_dev == socketDev && st.st_ino == socketIno)
            ::unlink(socketPath.c_str());
    }
};

namespace {

MHD_Result reply(MHD_Connection *conn, unsigned status, std::string_view body,
                 const char *contentType)
{
    MHD_Response *resp = MHD_create_response_from_buffer(
        body.size(), const_cast<char *>(body.data()), MHD_RESPMEM_MUST_COPY);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, contentType);
    const MHD_Result rc = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

MHD_Result onRequest(void *cls, MHD_Connection *conn, const char *url, const char *method,
                     const char *, const char *, size_t *uploadSize, void **)
{
    auto *impl = static_cast<MetricsServer::Impl *>(cls);
    constexpr const char *kText = "text/plain; charset=utf-8";
    if (*uploadSize != 0) {
        *uploadSize = 0;  // a body is not expected; ignore it
        return MHD_YES;
    }
    const std::string_view m(method);
    if (m != MHD_HTTP_METHOD_GET && m != MHD_HTTP_METHOD_HEAD)
        return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET\n", kText);
    const std::string_view path(url);
    if (path == "/") return reply(conn, MHD_HTTP_OK, "chanfs metrics: see /metrics\n", kText);
    if (path != "/metrics") return reply(conn, MHD_HTTP_NOT_FOUND, "not found\n", kText);
    try {
        const std::string body = renderMetrics(impl->fs, impl->maxChannels);
        return reply(conn, MHD_HTTP_OK, body, "text/plain; version=0.0.4; charset=utf-8");
    } catch (const std::exception &e) {
        spdlog::error("metrics: cannot render a scrape: {}", e.what());
        return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot render metrics\n", kText);
    }
}

void onMhdLog(void *, const char *format, va_list ap)
{
    char buf[512];
    std::vsnprintf(buf, sizeof buf, format, ap);
    std::string_view msg(buf);
    while (!msg.empty() && msg.back() == '\n') msg.remove_suffix(1);
    spdlog::warn("metrics: {}", msg);
}

bool isLoopback(const sockaddr_storage &sa)
{
    if (sa.ss_family == AF_INET) {
        const auto &in = reinterpret_cast<const sockaddr_in &>(sa);
        return (ntohl(in.sin_addr.s_addr) >> 24) == 127;
    }
    const auto &in6 = reinterpret_cast<const sockaddr_in6 &>(sa);
    return IN6_IS_ADDR_LOOPBACK(&in6.sin6_addr);
}

// "127.0.0.1:9187", "[::1]:9187", "localhost:9187". -EINVAL if malformed.
int parseTcpAddress(const std::string &text, sockaddr_storage *out, std::string *why)
{
    const size_t colon = text.rfind(':');
    if (colon == std::string::npos || colon + 1 >= text.size()) {
        *why = "expected ADDR:PORT";
        return -EINVAL;
    }
    std::string host = text.substr(0, colon);
    uint64_t port = 0;
    if (parseCount(text.substr(colon + 1), &port) < 0 || port > 65535) {
        *why = "the port must be 0 to 65535";
        return -EINVAL;
    }
    if (host == "localhost") host = "127.0.0.1";
    std::memset(out, 0, sizeof *out);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        auto &in6 = reinterpret_cast<sockaddr_in6 &>(*out);
        in6.sin6_family = AF_INET6;
        in6.sin6_port = htons(static_cast<uint16_t>(port));
        if (::inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), &in6.sin6_addr) == 1)
            return 0;
    } else {
        auto &in = reinterpret_cast<sockaddr_in &>(*out);
        in.sin_family = AF_INET;
        in.sin_port = htons(static_cast<uint16_t>(port));
        if (::inet_pton(AF_INET, host.c_str(), &in.sin_addr) == 1) return 0;
    }
    *why = "'" + host + "' is not a numeric IPv4 or [IPv6] address (or localhost)";
    return -EINVAL;
}

// A listening Unix socket at `path`. A socket file nobody answers on (left
// by a daemon that was killed) is replaced; one that answers is in use.
UniqueFd listenUnix(const std::string &path, std::string *why)
{
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (path.size() >= sizeof sa.sun_path) {
        *why = "socket path too long";
        return UniqueFd();
    }
    std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) {
        *why = std::string("socket: ") + std::strerror(errno);
        return fd;
    }
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) {
        UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        if (probe && ::connect(probe.get(), reinterpret_cast<sockaddr *>(&sa), sizeof sa) == 0) {
            *why = "another program is listening there";
            return UniqueFd();
        }
        if (errno == ECONNREFUSED) ::unlink(path.c_str());
    }
    if (::bind(fd.get(), reinterpret_cast<sockaddr *>(&sa), sizeof sa) < 0 ||
        ::listen(fd.get(), 16) < 0) {
        *why = std::string("bind: ") + std::strerror(errno);
        return UniqueFd();
    }
    // The scraper may run as another user of the daemon's group.
    ::chmod(path.c_str(), 0660);
    return fd;
}

}  // namespace

MetricsServer::MetricsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

MetricsServer::~MetricsServer() = default;

std::unique_ptr<MetricsServer> MetricsServer::start(Filesystem &fs, const Options &opts,
                                                    std::string *err)
{
    const std::string &addr = opts.metricsAddress;
    auto impl = std::make_unique<Impl>(fs, opts.metricsMaxChannels);
    // One connection at a time is plenty for a scraper and bounds what a
    // misbehaving client can take; a stalled one is dropped after 10 s.
    const unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    std::string why;
    std::string shown;
    if (addr.rfind("unix:", 0) == 0) {
        const std::string path = addr.substr(5);
        UniqueFd fd = listenUnix(path, &why);
        if (!fd) {
            *err = "-o metrics=" + addr + ": " + why;
            return nullptr;
        }
        struct stat st {};
        if (::stat(path.c_str(), &st) == 0) {
            impl->socketPath = path;
            impl->socketDev = st.st_dev;
            impl->socketIno = st.st_ino;
        }
        impl->daemon = MHD_start_daemon(
            flags, 0, nullptr, nullptr, &onRequest, impl.get(), MHD_OPTION_LISTEN_SOCKET, fd.get(),
            MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_CONNECTION_LIMIT, 8u,
            MHD_OPTION_EXTERNAL_LOGGER, &onMhdLog, nullptr, MHD_OPTION_END);
        if (impl->daemon) (void)fd.release();  // libmicrohttpd closes it now
        shown = addr;
    } else {
        sockaddr_storage sa{};
        if (parseTcpAddress(addr, &sa, &why) < 0) {
            *err = "-o metrics=" + addr + ": " + why;
            return nullptr;
        }
        if (!opts.metricsBindAny && !isLoopback(sa)) {
            *err = "-o metrics=" + addr +
                   ": not a loopback address (add -o metrics_bind_any to serve other hosts)";
            return nullptr;
        }
        impl->daemon =
            MHD_start_daemon(flags | (sa.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0), 0, nullptr,
                             nullptr, &onRequest, impl.get(), MHD_OPTION_SOCK_ADDR, &sa,
                             MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_CONNECTION_LIMIT, 8u,
                             MHD_OPTION_EXTERNAL_LOGGER, &onMhdLog, nullptr, MHD_OPTION_END);
        if (impl->daemon) {
            const MHD_DaemonInfo *info =
                MHD_get_daemon_info(impl->daemon, MHD_DAEMON_INFO_BIND_PORT);
            const std::string host = addr.substr(0, addr.rfind(':'));
            shown = host + ":" + std::to_string(info ? info->port : 0);
        }
    }
    if (!impl->daemon) {
        *err = "-o metrics=" + addr + ": cannot listen (address in use?)";
        return nullptr;
    }
    auto server = std::make_unique<MetricsServer>(std::move(impl));
    server->address_ = shown;
    return server;
}

}  // namespace chanfs::fs
