#include "tools/bench/nats_bench.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <nats/nats.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include "channels/base/unique_fd.h"

namespace chanfs::bench {

namespace {

// unique_ptr deleters for the cnats handles the bench holds, so none is
// freed by hand. (The store has its own in channels/storage/nats; the bench
// is a separate program and keeps to the four it uses.)
struct OptionsFree {
    void operator()(natsOptions *p) const { natsOptions_Destroy(p); }
};
struct ConnectionFree {
    void operator()(natsConnection *p) const { natsConnection_Destroy(p); }
};
struct JsFree {
    void operator()(jsCtx *p) const { jsCtx_Destroy(p); }
};
struct SubscriptionFree {
    void operator()(natsSubscription *p) const { natsSubscription_Destroy(p); }
};
struct StreamInfoFree {
    void operator()(jsStreamInfo *p) const { jsStreamInfo_Destroy(p); }
};
struct AccountInfoFree {
    void operator()(jsAccountInfo *p) const { jsAccountInfo_Destroy(p); }
};
using Options = std::unique_ptr<natsOptions, OptionsFree>;
using Connection = std::unique_ptr<natsConnection, ConnectionFree>;
using Js = std::unique_ptr<jsCtx, JsFree>;
using Subscription = std::unique_ptr<natsSubscription, SubscriptionFree>;
using StreamInfo = std::unique_ptr<jsStreamInfo, StreamInfoFree>;
using AccountInfo = std::unique_ptr<jsAccountInfo, AccountInfoFree>;

std::atomic<unsigned> gSerial{0};

std::string natsWhy(const std::string &what, natsStatus s)
{
    const char *last = nats_GetLastError(nullptr);
    std::string out = what + ": " + natsStatus_GetText(s);
    if (last && *last && std::strstr(last, natsStatus_GetText(s)) == nullptr)
        out += std::string(" (") + last + ")";
    return out;
}

NatsResult na(std::string why)
{
    NatsResult r;
    r.why = std::move(why);
    return r;
}

// A connection to these servers; nullptr and *why if none answers.
Connection connect(const std::vector<std::string> &urls, std::string *why)
{
    natsOptions *raw = nullptr;
    natsStatus s = natsOptions_Create(&raw);
    Options opts(raw);
    if (s != NATS_OK) {
        *why = natsWhy("natsOptions_Create", s);
        return nullptr;
    }
    std::vector<const char *> list;
    for (const std::string &u : urls) list.push_back(u.c_str());
    s = natsOptions_SetServers(opts.get(), list.data(), static_cast<int>(list.size()));
    if (s == NATS_OK) s = natsOptions_SetTimeout(opts.get(), 2000);
    if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts.get(), 0);
    if (s != NATS_OK) {
        *why = natsWhy("nats options", s);
        return nullptr;
    }
    natsConnection *nc = nullptr;
    s = natsConnection_Connect(&nc, opts.get());
    if (s != NATS_OK) {
        *why = natsWhy("connect to " + urls.front(), s);
        return nullptr;
    }
    return Connection(nc);
}

unsigned freePort(std::vector<UniqueFd> *held)
{
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return 0;
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    if (::bind(fd.get(), reinterpret_cast<sockaddr *>(&sa), sizeof sa) != 0) return 0;
    if (::getsockname(fd.get(), reinterpret_cast<sockaddr *>(&sa), &len) != 0) return 0;
    held->push_back(std::move(fd));  // held until every port is picked: no duplicates
    return ntohs(sa.sin_port);
}

std::chrono::steady_clock::duration secondsToDuration(double s)
{
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

// Runs body on a thread; if it has not finished within `seconds`, calls
// onTimeout (which must make body return, e.g. by killing the daemons whose
// files it blocks on) and joins it. True if body finished in time.
bool runWithDeadline(const std::function<void()> &body, double seconds,
                     const std::function<void()> &onTimeout)
{
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    std::thread t([&] {
        body();
        std::lock_guard g(mu);
        done = true;
        cv.notify_all();
    });
    bool inTime;
    {
        std::unique_lock lk(mu);
        inTime = cv.wait_for(lk, secondsToDuration(seconds), [&] { return done; });
    }
    if (!inTime) onTimeout();
    t.join();
    return inTime;
}

std::string errnoText(const std::string &what, int err)
{
    return what + ": " + std::strerror(err);
}

// "" or why not.
std::string setAttr(const std::string &path, const std::string &key, const std::string &value)
{
    if (::setxattr(path.c_str(), ("user.chanfs." + key).c_str(), value.data(), value.size(), 0) ==
        0)
        return {};
    return errnoText("setxattr " + key + "=" + value + " on " + path, errno);
}

std::string getAttr(const std::string &path, const std::string &key)
{
    char buf[256];
    const ssize_t n = ::getxattr(path.c_str(), ("user.chanfs." + key).c_str(), buf, sizeof buf - 1);
    if (n < 0) return {};
    return std::string(buf, static_cast<size_t>(n));
}

// write(2) until done; 0 or errno.
int writeFully(int fd, const char *p, size_t len)
{
    while (len > 0) {
        const ssize_t n = ::write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        p += n;
        len -= static_cast<size_t>(n);
    }
    return 0;
}

// The first of the errors several threads may report.
class FirstError {
public:
    void set(const std::string &why)
    {
        std::lock_guard g(mu_);
        if (text_.empty()) text_ = why;
    }
    std::string get() const
    {
        std::lock_guard g(mu_);
        return text_;
    }

private:
    mutable std::mutex mu_;
    std::string text_;  // guarded by mu_
};

// read(2) exactly len bytes; 0, errno, or -1 on end of stream.
int readFully(int fd, char *p, size_t len)
{
    while (len > 0) {
        const ssize_t n = ::read(fd, p, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        if (n == 0) return -1;
        p += n;
        len -= static_cast<size_t>(n);
    }
    return 0;
}

}  // namespace

// ---------------------------------------------------------------- servers

std::unique_ptr<NatsServers> NatsServers::start(unsigned nodes, const std::string &dir,
                                                double readySeconds, std::string *why)
{
    if (runQuiet({"nats-server", "--version"}) != 0) {
        *why = "nats-server not found (Debian: apt-get install nats-server)";
        return nullptr;
    }
    auto s = std::make_unique<NatsServers>();
    std::vector<UniqueFd> held;
    std::vector<unsigned> client, cluster;
    for (unsigned i = 0; i < nodes; ++i) {
        client.push_back(freePort(&held));
        cluster.push_back(nodes > 1 ? freePort(&held) : 1);
        if (!client.back() || !cluster.back()) {
            *why = errnoText("no free loopback port", errno);
            return nullptr;
        }
    }
    held.clear();
    std::string routes;
    for (unsigned i = 0; nodes > 1 && i < nodes; ++i)
        routes += (routes.empty() ? "" : ",") + std::string("nats://127.0.0.1:") +
                  std::to_string(cluster[i]);
    const std::string tag = nodes > 1 ? "r3" : "r1";
    for (unsigned i = 0; i < nodes; ++i) {
        const std::string name = "bench-" + tag + "-n" + std::to_string(i + 1);
        const std::string store = dir + "/" + name;
        std::filesystem::create_directories(store);
        std::vector<std::string> argv{
            "nats-server", "-a",  "127.0.0.1",     "-p", std::to_string(client[i]), "-js",
            "-sd",         store, "--server_name", name};
        if (nodes > 1) {
            argv.insert(argv.end(),
                        {"--cluster_name", "chanfs-bench-" + tag, "--cluster",
                         "nats://127.0.0.1:" + std::to_string(cluster[i]), "--routes", routes});
        }
        const pid_t pid = startChild(argv, dir + "/" + name + ".log");
        if (pid < 0) {
            *why = "cannot start nats-server";
            return nullptr;  // the destructor stops the nodes already started
        }
        s->pids_.push_back(pid);
        s->urls_.push_back("nats://127.0.0.1:" + std::to_string(client[i]));
    }
    // Ready: every node answers a JetStream account-info request.
    const auto deadline = Clock::now() + secondsToDuration(readySeconds);
    for (unsigned i = 0; i < nodes; ++i) {
        std::string last = "not tried";
        for (;;) {
            if (Connection nc = connect({s->urls_[i]}, &last)) {
                jsCtx *js = nullptr;
                if (natsConnection_JetStream(&js, nc.get(), nullptr) == NATS_OK) {
                    Js ctx(js);
                    jsAccountInfo *ai = nullptr;
                    jsErrCode jerr = static_cast<jsErrCode>(0);
                    const natsStatus st = js_GetAccountInfo(&ai, ctx.get(), nullptr, &jerr);
                    AccountInfo info(ai);
                    if (st == NATS_OK) break;
                    last = natsWhy("JetStream account info", st);
                }
            }
            if (Clock::now() > deadline) {
                *why = "nats-server " + std::to_string(i + 1) + " of " + std::to_string(nodes) +
                       " not ready within " + std::to_string(static_cast<int>(readySeconds)) +
                       " s: " + last + "; its log: " +
                       tailOf(dir + "/bench-" + tag + "-n" + std::to_string(i + 1) + ".log", 2);
                return nullptr;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    }
    return s;
}

double NatsServers::cpuSeconds() const
{
    double sum = 0;
    for (pid_t pid : pids_) sum += bench::cpuSeconds(pid);
    return sum;
}

NatsServers::~NatsServers()
{
    stop();
}

void NatsServers::stop()
{
    for (pid_t pid : pids_) ::kill(pid, SIGTERM);  // all at once: a cluster goes down together
    for (pid_t pid : pids_) stopChild(pid, 5);
    pids_.clear();
}

// ---------------------------------------------------------------- raw baselines

namespace {

struct PubErrors {
    std::atomic<size_t> count{0};
    std::mutex mu;
    std::string first;
};

void onPubError(jsCtx *, jsPubAckErr *pae, void *closure)
{
    auto *e = static_cast<PubErrors *>(closure);
    if (e->count++ == 0) {
        std::lock_guard g(e->mu);
        e->first = pae->ErrText ? pae->ErrText : natsStatus_GetText(pae->Err);
    }
}

}  // namespace

NatsResult rawJetStreamPublish(const NatsServers &servers, int replicas, size_t count,
                               size_t msgBytes, int64_t maxPending, double timeoutSeconds)
{
    std::string why;
    Connection nc = connect(servers.urls(), &why);
    if (!nc) return na(why);
    PubErrors errors;
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = maxPending;
    // At MaxPending a publish waits for acks; the default 200 ms is too
    // short for a 3-node cluster on a busy 2-core machine.
    jo.PublishAsync.StallWait = static_cast<int64_t>(timeoutSeconds * 1000);
    jo.PublishAsync.ErrHandler = onPubError;
    jo.PublishAsync.ErrHandlerClosure = &errors;
    jsCtx *rawJs = nullptr;
    natsStatus s = natsConnection_JetStream(&rawJs, nc.get(), &jo);
    Js js(rawJs);
    if (s != NATS_OK) return na(natsWhy("JetStream context", s));

    const std::string serial = std::to_string(::getpid()) + "_" + std::to_string(gSerial++);
    const std::string stream = "BENCHRAW_" + serial;
    const std::string subject = "benchraw." + serial;
    const char *subjects[] = {subject.c_str()};
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    cfg.Name = stream.c_str();
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    cfg.Replicas = replicas;
    // A new cluster may still be placing its first streams: retry a while.
    const auto createBy = Clock::now() + std::chrono::seconds(10);
    for (;;) {
        jsStreamInfo *si = nullptr;
        jsErrCode jerr = static_cast<jsErrCode>(0);
        s = js_AddStream(&si, js.get(), &cfg, nullptr, &jerr);
        StreamInfo info(si);
        if (s == NATS_OK) break;
        if (Clock::now() > createBy)
            return na(natsWhy("create stream R" + std::to_string(replicas), s));
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    struct DeleteStream {
        jsCtx *js;
        const std::string &name;
        ~DeleteStream()
        {
            jsErrCode jerr = static_cast<jsErrCode>(0);
            js_DeleteStream(js, name.c_str(), nullptr, &jerr);
        }
    } deleteAfter{js.get(), stream};

    Buffer msg(msgBytes);
    const double serverCpu = servers.cpuSeconds();
    const Clock::time_point t0 = Clock::now();
    for (size_t i = 0; i < count; ++i) {
        s = js_PublishAsync(js.get(), subject.c_str(), msg.data(), static_cast<int>(msgBytes),
                            nullptr);
        if (s != NATS_OK) return na(natsWhy("js_PublishAsync", s));
    }
    const double writerSeconds = secondsBetween(t0, Clock::now());
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = static_cast<int64_t>(timeoutSeconds * 1000);
    s = js_PublishAsyncComplete(js.get(), &po);
    const double seconds = secondsBetween(t0, Clock::now());
    const double serverCpuUs = (servers.cpuSeconds() - serverCpu) / count * 1e6;
    if (s != NATS_OK) return na(natsWhy("js_PublishAsyncComplete", s));
    if (errors.count > 0) {
        std::lock_guard g(errors.mu);
        return na(std::to_string(errors.count.load()) + " publishes failed: " + errors.first);
    }
    jsStreamInfo *si = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    s = js_GetStreamInfo(&si, js.get(), stream.c_str(), nullptr, &jerr);
    StreamInfo info(si);
    if (s != NATS_OK) return na(natsWhy("stream info", s));
    if (si->State.Msgs != count)
        return na("the stream holds " + std::to_string(si->State.Msgs) + " of " +
                  std::to_string(count) + " acknowledged messages");
    NatsResult r;
    r.value = count / seconds;
    r.writerRate = count / writerSeconds;
    r.serverCpuUs = serverCpuUs;
    return r;
}

namespace {

// Counted on the subscription's delivery thread; the publisher waits on
// cv, notified (under mu, so no wake-up is lost) every 256 messages.
struct CoreCounter {
    std::mutex mu;
    std::condition_variable cv;
    std::atomic<size_t> received{0};
    std::atomic<size_t> bytes{0};
};

void onCoreMsg(natsConnection *, natsSubscription *, natsMsg *m, void *closure)
{
    auto *c = static_cast<CoreCounter *>(closure);
    c->bytes += static_cast<size_t>(natsMsg_GetDataLength(m));
    natsMsg_Destroy(m);
    if (++c->received % 256 == 0) {
        std::lock_guard g(c->mu);
        c->cv.notify_all();
    }
}

}  // namespace

NatsResult rawCorePubSub(const NatsServers &servers, size_t count, size_t msgBytes, size_t window,
                         double timeoutSeconds)
{
    std::string why;
    Connection subConn = connect(servers.urls(), &why);
    if (!subConn) return na(why);
    Connection pubConn = connect(servers.urls(), &why);
    if (!pubConn) return na(why);
    const std::string subject =
        "benchcore." + std::to_string(::getpid()) + "." + std::to_string(gSerial++);
    CoreCounter counter;
    natsSubscription *rawSub = nullptr;
    natsStatus s =
        natsConnection_Subscribe(&rawSub, subConn.get(), subject.c_str(), onCoreMsg, &counter);
    Subscription sub(rawSub);
    if (s != NATS_OK) return na(natsWhy("subscribe", s));
    s = natsSubscription_SetPendingLimits(sub.get(), -1, -1);
    if (s == NATS_OK) s = natsConnection_Flush(subConn.get());  // the server knows the interest
    if (s != NATS_OK) return na(natsWhy("subscription setup", s));

    Buffer msg(msgBytes);
    const auto deadline = Clock::now() + secondsToDuration(timeoutSeconds);
    const double serverCpu = servers.cpuSeconds();
    const Clock::time_point t0 = Clock::now();
    for (size_t i = 0; i < count; ++i) {
        if (i >= window && i % 256 == 0) {
            std::unique_lock lk(counter.mu);
            if (!counter.cv.wait_until(lk, deadline, [&] { return i - counter.received < window; }))
                return na("core NATS: " + std::to_string(counter.received.load()) + " of " +
                          std::to_string(i) + " sent messages received before the timeout");
        }
        s = natsConnection_Publish(pubConn.get(), subject.c_str(), msg.data(),
                                   static_cast<int>(msgBytes));
        if (s != NATS_OK) return na(natsWhy("publish", s));
    }
    const double writerSeconds = secondsBetween(t0, Clock::now());
    s = natsConnection_Flush(pubConn.get());
    if (s != NATS_OK) return na(natsWhy("flush", s));
    {
        std::unique_lock lk(counter.mu);
        // The last batch may not reach a multiple of 256: poll the tail.
        while (counter.received < count) {
            if (Clock::now() > deadline)
                return na("core NATS: " + std::to_string(counter.received.load()) + " of " +
                          std::to_string(count) + " messages received before the timeout");
            counter.cv.wait_for(lk, std::chrono::milliseconds(1));
        }
        if (counter.bytes != count * msgBytes) return na("core NATS: message sizes changed");
    }
    const double seconds = secondsBetween(t0, Clock::now());
    natsSubscription_Unsubscribe(sub.get());
    NatsResult r;
    r.value = count / seconds;
    r.writerRate = count / writerSeconds;
    r.serverCpuUs = (servers.cpuSeconds() - serverCpu) / count * 1e6;
    return r;
}

// ---------------------------------------------------------------- chanfs over NATS

namespace {

using Attrs = std::vector<std::pair<std::string, std::string>>;

// The directory settings of host A's q and t.
Attrs dirAttrs(const std::string &kind, int replicas)
{
    return {{"kind", kind},
            {"framing", "lines"},
            {"capacity", "4M"},
            {"backend", "nats"},
            {"replicas", std::to_string(replicas)}};
}

std::string makeNode(const std::string &path, bool dir, const Attrs &attrs)
{
    if (dir) {
        if (::mkdir(path.c_str(), 0700) != 0) return errnoText("mkdir " + path, errno);
    } else {
        UniqueFd fd(::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600));
        if (!fd) return errnoText("create " + path, errno);
    }
    for (const auto &[k, v] : attrs)
        if (std::string e = setAttr(path, k, v); !e.empty()) return e;
    return {};
}

bool waitFor(const std::function<bool()> &cond, double seconds)
{
    const auto deadline = Clock::now() + secondsToDuration(seconds);
    while (!cond()) {
        if (Clock::now() > deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
}

bool exists(const std::string &path)
{
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0;
}

}  // namespace

std::unique_ptr<NatsPair> NatsPair::start(const std::string &label,
                                          const std::vector<std::string> &chanfsArgv,
                                          const std::string &scratch, const NatsServers &servers,
                                          int replicas, std::string *why)
{
    auto p = std::make_unique<NatsPair>();
    p->label_ = label;
    p->servers_ = &servers;
    p->replicas_ = replicas;
    p->mntA_ = scratch + "/mnt-" + label + "-A";
    p->mntB_ = scratch + "/mnt-" + label + "-B";
    for (int host = 0; host < 2; ++host) {
        const std::string &mnt = host == 0 ? p->mntA_ : p->mntB_;
        std::filesystem::create_directories(mnt);
        std::vector<std::string> argv = chanfsArgv;
        argv[1] = mnt;
        // Each host lists every server, starting from a different one.
        const std::vector<std::string> &urls = servers.urls();
        for (size_t i = 0; i < urls.size(); ++i)
            argv.insert(argv.end(), {"-o", "nats=" + urls[(i + host) % urls.size()]});
        const std::string name = label + (host == 0 ? " host A" : " host B");
        auto d = Daemon::tryStart("chanfs " + name, argv, mnt,
                                  scratch + "/chanfs-" + label + (host == 0 ? "-A" : "-B") + ".log",
                                  10, why);
        if (!d) return nullptr;
        (host == 0 ? p->a_ : p->b_) = std::move(d);
    }
    for (const char *kind : {"queue", "topic"}) {
        const std::string rel = kind[0] == 'q' ? "q" : "t";
        if (std::string e = makeNode(p->mntA_ + "/" + rel, true, dirAttrs(kind, replicas));
            !e.empty()) {
            *why = "host A: " + e;
            return nullptr;
        }
    }
    // The shared tree shows A's directories on B within a second.
    p->treeShared_ = waitFor([&] { return exists(p->mntB_ + "/q") && exists(p->mntB_ + "/t"); }, 2);
    if (!p->treeShared_) {
        for (const char *kind : {"queue", "topic"}) {
            const std::string rel = kind[0] == 'q' ? "q" : "t";
            if (exists(p->mntB_ + "/" + rel)) continue;
            if (std::string e = makeNode(p->mntB_ + "/" + rel, true, dirAttrs(kind, replicas));
                !e.empty()) {
                *why = "host B: " + e;
                return nullptr;
            }
        }
    }
    // Ready: a channel on each host reports its link connected.
    const std::string probe = "q/ready";
    if (std::string e = makeNode(p->mntA_ + "/" + probe, false, {}); !e.empty()) {
        *why = "host A: " + e;
        return nullptr;
    }
    if (std::string e = p->mirror(probe, false, {}); !e.empty()) {
        *why = e;
        return nullptr;
    }
    for (const std::string &mnt : {p->mntA_, p->mntB_}) {
        const std::string path = mnt + "/" + probe;
        if (getAttr(path, "stats.nats_connected").empty()) continue;  // no such stat: go on
        if (!waitFor([&] { return getAttr(path, "stats.nats_connected") == "1"; }, 10)) {
            *why = (mnt == p->mntA_ ? "host A" : "host B") +
                   std::string(": link not connected within 10 s: ") +
                   getAttr(path, "stats.nats_error");
            return nullptr;
        }
    }
    p->keep(p->mntA_ + "/" + probe, p->mntB_ + "/" + probe);
    return p;
}

NatsPair::~NatsPair()
{
    stop();
}

void NatsPair::keep(const std::string &pathA, const std::string &pathB)
{
    leftovers_.push_back(pathA);
    if (!treeShared_ && !pathB.empty()) leftovers_.push_back(pathB);
}

void NatsPair::stop()
{
    if (usable())
        for (const std::string &p : leftovers_) ::unlink(p.c_str());
    leftovers_.clear();
    if (b_) b_->stop();
    if (a_) a_->stop();
}

pid_t NatsPair::pidA() const
{
    return a_ ? a_->pid() : 0;
}

void NatsPair::abandon(const std::string &why)
{
    if (why_.empty()) why_ = why;
    if (b_) b_->kill();
    if (a_) a_->kill();
}

std::string NatsPair::mirror(const std::string &rel, bool dir, const Attrs &attrs)
{
    const std::string b = mntB_ + "/" + rel;
    if (treeShared_) {
        if (waitFor([&] { return exists(b); }, 5)) return {};
        return "host B: " + rel + " created on host A did not appear within 5 s";
    }
    if (std::string e = makeNode(b, dir, attrs); !e.empty()) return "host B: " + e;
    return {};
}

NatsResult NatsPair::stream(const std::string &kind, size_t count, size_t msgBytes,
                            double timeoutSeconds, unsigned writers, unsigned perWrite,
                            bool memory)
{
    if (!usable()) return na(why_);
    writers = std::max(1u, writers);
    perWrite = std::max(1u, perWrite);
    // One channel per kind, made by the first round and used by every
    // round: setting a NATS channel up (stream, consumers) takes seconds at
    // R3, which would be most of the run.
    std::string &rel = channels_[memory ? kind + " memory" : kind];
    if (rel.empty() && memory) {
        // In memory on host A, beside the NATS directories.
        const std::string fresh = "m-" + kind + "-" + std::to_string(gSerial++);
        Attrs attrs = dirAttrs(kind, replicas_);
        attrs.erase(std::remove_if(attrs.begin(), attrs.end(),
                                   [](const auto &kv) {
                                       return kv.first == "backend" || kv.first == "replicas";
                                   }),
                    attrs.end());
        if (std::string e = makeNode(mntA_ + "/" + fresh, false, attrs); !e.empty())
            return na("host A: " + e);
        keep(mntA_ + "/" + fresh, "");
        rel = fresh;
    } else if (rel.empty()) {
        const std::string fresh =
            std::string(kind == "queue" ? "q" : "t") + "/" + kind + "-" + std::to_string(gSerial++);
        if (std::string e = makeNode(mntA_ + "/" + fresh, false, {}); !e.empty())
            return na("host A: " + e);
        keep(mntA_ + "/" + fresh, mntB_ + "/" + fresh);
        if (std::string e = mirror(fresh, false, {}); !e.empty()) return na(e);
        rel = fresh;
    }
    const std::string pathA = mntA_ + "/" + rel, pathB = (memory ? mntA_ : mntB_) + "/" + rel;
    UniqueFd r(::open(pathB.c_str(), O_RDONLY | O_CLOEXEC));
    if (!r) return na(errnoText("host B: open " + rel, errno));
    UniqueFd w(::open(pathA.c_str(), O_WRONLY | O_CLOEXEC));
    if (!w) return na(errnoText("host A: open " + rel, errno));

    // Probes until B reads one, then "go": after it, only the measured lines.
    FirstError failure;
    std::atomic<bool> synced{false};
    auto sync = [&] {
        std::thread probe([&] {
            for (unsigned k = 0; !synced; ++k) {
                const std::string line = "probe " + std::to_string(k) + "\n";
                if (int e = writeFully(w.get(), line.data(), line.size())) {
                    failure.set(errnoText("host A: probe write", e));
                    return;
                }
                for (int i = 0; i < 20 && !synced; ++i)
                    std::this_thread::sleep_for(std::chrono::milliseconds(5));
            }
            if (int e = writeFully(w.get(), "go\n", 3)) failure.set(errnoText("host A: write", e));
        });
        std::string pending;
        char buf[4096];
        for (;;) {
            const ssize_t n = ::read(r.get(), buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                failure.set(n == 0 ? "host B: end of stream while waiting for probes"
                                   : errnoText("host B: read", errno));
                synced = true;
                break;
            }
            pending.append(buf, static_cast<size_t>(n));
            synced = true;
            if (pending.size() >= 3 && pending.compare(pending.size() - 3, 3, "go\n") == 0 &&
                (pending.size() == 3 || pending[pending.size() - 4] == '\n'))
                break;
        }
        probe.join();
    };
    const bool inTime = runWithDeadline(sync, std::min(10.0, timeoutSeconds), [&] {
        abandon(label_ + ": " + kind + " on host B got no probe written on host A within " +
                std::to_string(static_cast<int>(std::min(10.0, timeoutSeconds))) +
                " s; daemons killed");
    });
    if (!inTime) return na(why_);
    if (std::string e = failure.get(); !e.empty()) return na(e);

    NatsResult res;
    std::atomic<size_t> got{0};
    size_t reads = 0;
    double writerSeconds = 0;
    const double cpuBefore = cpuSeconds(a_->pid()) + cpuSeconds(b_->pid());
    const double serverCpu = servers_->cpuSeconds();
    Clock::time_point t0, t1;
    // Every writer but the first (the probe's) opens its own file.
    std::vector<UniqueFd> more;
    for (unsigned i = 1; i < writers; ++i) {
        more.emplace_back(::open(pathA.c_str(), O_WRONLY | O_CLOEXEC));
        if (!more.back()) return na(errnoText("host A: open " + rel, errno));
    }
    auto measure = [&] {
        Buffer msg(msgBytes);
        std::string lines;
        for (unsigned k = 0; k < perWrite; ++k) lines.append(msg.data(), msgBytes);
        t0 = Clock::now();
        std::mutex doneMu;
        std::vector<std::thread> writerThreads;
        for (unsigned wi = 0; wi < writers; ++wi) {
            // Writer wi's share of the count, in writes of up to perWrite lines.
            const size_t share = count / writers + (wi < count % writers ? 1 : 0);
            const int fd = wi == 0 ? w.get() : more[wi - 1].get();
            writerThreads.emplace_back([&, share, fd] {
                for (size_t i = 0; i < share; i += perWrite) {
                    const size_t n = std::min<size_t>(perWrite, share - i);
                    if (int e = writeFully(fd, lines.data(), n * msgBytes)) {
                        failure.set(errnoText("host A: write", e));
                        return;
                    }
                }
                std::lock_guard<std::mutex> g(doneMu);
                writerSeconds = std::max(writerSeconds, secondsBetween(t0, Clock::now()));
            });
        }
        std::vector<char> buf(64 * 1024);
        const size_t total = count * msgBytes;
        while (got < total) {
            const ssize_t n = ::read(r.get(), buf.data(), std::min(buf.size(), total - got));
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                failure.set(n == 0 ? "host B: end of stream after " + std::to_string(got) + " of " +
                                         std::to_string(total) + " bytes"
                                   : errnoText("host B: read", errno));
                break;
            }
            if (buf[static_cast<size_t>(n) - 1] != '\n') {
                failure.set("host B: a read ended inside a line");
                break;
            }
            got += static_cast<size_t>(n);
            ++reads;
        }
        t1 = Clock::now();
        for (std::thread &t : writerThreads) t.join();  // one parked for good: freed by the timeout
    };
    if (!runWithDeadline(measure, timeoutSeconds, [&] {
            abandon(label_ + ": " + kind + " timed out after " +
                    std::to_string(static_cast<int>(timeoutSeconds)) + " s with " +
                    std::to_string(got / msgBytes) + " of " + std::to_string(count) +
                    " messages on host B; daemons killed");
        }))
        return na(why_);
    if (std::string e = failure.get(); !e.empty()) return na(e);
    const double seconds = secondsBetween(t0, t1);
    res.value = count / seconds;
    res.writerRate = writerSeconds > 0 ? count / writerSeconds : 0;
    res.msgsPerRead = reads ? static_cast<double>(count) / reads : 0;
    res.daemonCpuUs = (cpuSeconds(a_->pid()) + cpuSeconds(b_->pid()) - cpuBefore) / count * 1e6;
    res.serverCpuUs = (servers_->cpuSeconds() - serverCpu) / count * 1e6;
    return res;
}

NatsResult NatsPair::pingPong(size_t rounds, size_t msgBytes, double timeoutSeconds)
{
    if (!usable()) return na(why_);
    const std::string ping = "q/ping", pong = "q/pong";  // made once, used by every round
    if (channels_.count(ping) == 0) {
        for (const std::string &rel : {ping, pong}) {
            if (std::string e = makeNode(mntA_ + "/" + rel, false, {}); !e.empty())
                return na("host A: " + e);
            keep(mntA_ + "/" + rel, mntB_ + "/" + rel);
            if (std::string e = mirror(rel, false, {}); !e.empty()) return na(e);
        }
        channels_[ping] = ping;
    }
    UniqueFd pingR(::open((mntB_ + "/" + ping).c_str(), O_RDONLY | O_CLOEXEC));
    UniqueFd pongR(::open((mntA_ + "/" + pong).c_str(), O_RDONLY | O_CLOEXEC));
    UniqueFd pingW(::open((mntA_ + "/" + ping).c_str(), O_WRONLY | O_CLOEXEC));
    UniqueFd pongW(::open((mntB_ + "/" + pong).c_str(), O_WRONLY | O_CLOEXEC));
    if (!pingR || !pongR || !pingW || !pongW) return na(errnoText("open ping/pong queues", errno));
    FirstError failure;
    double seconds = 0, serverCpu = 0;
    auto body = [&] {
        std::thread echo([&] {
            std::vector<char> buf(msgBytes);
            for (size_t i = 0; i <= rounds; ++i) {
                if (int e = readFully(pingR.get(), buf.data(), msgBytes)) {
                    failure.set(e < 0 ? "host B: end of stream" : errnoText("host B: read", e));
                    return;
                }
                if (int e = writeFully(pongW.get(), buf.data(), msgBytes)) {
                    failure.set(errnoText("host B: write", e));
                    return;
                }
            }
        });
        Buffer msg(msgBytes);
        std::vector<char> buf(msgBytes);
        Clock::time_point t0 = Clock::now();
        // Round 0 is a warm-up (the first read on each host sets its pull up).
        for (size_t i = 0; i <= rounds; ++i) {
            if (i == 1) t0 = Clock::now(), serverCpu = servers_->cpuSeconds();
            if (int e = writeFully(pingW.get(), msg.data(), msgBytes)) {
                failure.set(errnoText("host A: write", e));
                break;
            }
            if (int e = readFully(pongR.get(), buf.data(), msgBytes)) {
                failure.set(e < 0 ? "host A: end of stream" : errnoText("host A: read", e));
                break;
            }
        }
        seconds = secondsBetween(t0, Clock::now());
        serverCpu = servers_->cpuSeconds() - serverCpu;
        echo.join();  // an echo parked for good is freed by the timeout
    };
    if (!runWithDeadline(body, timeoutSeconds, [&] {
            abandon(label_ + ": round trip timed out after " +
                    std::to_string(static_cast<int>(timeoutSeconds)) + " s; daemons killed");
        }))
        return na(why_);
    if (std::string e = failure.get(); !e.empty()) return na(e);
    NatsResult r;
    r.value = seconds / rounds * 1e6;
    r.serverCpuUs = serverCpu / rounds * 1e6;
    return r;
}

NatsPair::Scale NatsPair::scale(bool nats, unsigned n, double timeoutSeconds)
{
    Scale s;
    s.n = n;
    if (!usable()) {
        s.why = why_;
        return s;
    }
    const std::string dir =
        mntA_ + "/scale-" + (nats ? "nats-" : "memory-") + std::to_string(gSerial++);
    Attrs attrs{{"kind", "queue"}, {"framing", "lines"}};
    if (nats)
        attrs.insert(attrs.end(), {{"backend", "nats"}, {"replicas", std::to_string(replicas_)}});
    if (std::string e = makeNode(dir, true, attrs); !e.empty()) {
        s.why = e;
        return s;
    }
    s.before = procStats(a_->pid());
    std::atomic<unsigned> made{0};
    std::vector<UniqueFd> fds;
    auto body = [&] {
        Clock::time_point t0 = Clock::now();
        for (; made < n; ++made) {
            const std::string p = dir + "/" + std::to_string(made.load());
            UniqueFd fd(::open(p.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600));
            if (!fd) {
                s.why = errnoText("create " + p, errno);
                return;
            }
        }
        // A NATS channel sets its stream and consumer up in the background:
        // measure once the last one says it is ready (stats.nats_connected
        // is 1 once its stream is, and the link up).
        const std::string last = dir + "/" + std::to_string(n - 1);
        if (nats && !getAttr(last, "stats.nats_connected").empty() &&
            !waitFor([&] { return getAttr(last, "stats.nats_connected") == "1"; }, 5))
            s.note =
                "the last channel was not ready after 5 s: " + getAttr(last, "stats.nats_error");
        s.createSeconds = secondsBetween(t0, Clock::now());
        s.created = procStats(a_->pid());
        t0 = Clock::now();
        for (unsigned i = 0; i < n; ++i) {
            const std::string p = dir + "/" + std::to_string(i);
            fds.emplace_back(::open(p.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
            if (!fds.back()) {
                s.why = errnoText("open " + p, errno);
                return;
            }
        }
        s.openSeconds = secondsBetween(t0, Clock::now());
        s.opened = procStats(a_->pid());
        fds.clear();
        t0 = Clock::now();
        for (unsigned i = 0; i < made; ++i) ::unlink((dir + "/" + std::to_string(i)).c_str());
        ::rmdir(dir.c_str());
        s.removeSeconds = secondsBetween(t0, Clock::now());
    };
    if (!runWithDeadline(body, timeoutSeconds, [&] {
            abandon(label_ + ": " + std::to_string(n) + " channels not done within " +
                    std::to_string(static_cast<int>(timeoutSeconds)) + " s (" +
                    std::to_string(made.load()) + " created); daemons killed");
        }))
        s.why = why_;
    return s;
}

}  // namespace chanfs::bench
