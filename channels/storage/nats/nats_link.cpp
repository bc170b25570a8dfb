// NatsLink (nats_link.h): one cnats connection with retry-on-failed-connect
// and endless reconnects, one PubAck inbox subscription, and one worker
// thread for requests that wait for a reply.
#include "channels/storage/nats/nats_link.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace chanfs {

namespace {

constexpr int64_t kConnectTimeoutMs = 1000;  // bounds open-to-first-try and close()
constexpr int64_t kReconnectWaitMs = 250;
constexpr int64_t kPingIntervalMs = 2000;  // a dead server is noticed in ~4 s

std::string statusText(natsStatus s)
{
    const char *t = natsStatus_GetText(s);
    return t ? t : "unknown error";
}

int checkReadable(const std::string &what, const std::string &path, std::string *why)
{
    if (path.empty()) return 0;
    if (::access(path.c_str(), R_OK) == 0) return 0;
    const int err = errno;
    *why = what + " file " + path + ": " + std::strerror(err);
    return -err;
}

}  // namespace

std::string checkNatsUrl(const std::string &url)
{
    std::string rest;
    for (const char *scheme : {"nats://", "tls://"})
        if (url.rfind(scheme, 0) == 0) rest = url.substr(std::strlen(scheme));
    if (rest.empty()) return "expected nats://HOST[:PORT] or tls://HOST[:PORT]";
    if (const auto at = rest.rfind('@'); at != std::string::npos)
        return "credentials in a URL are not accepted: use nats_creds=FILE";
    while (!rest.empty() && rest.back() == '/') rest.pop_back();
    std::string host = rest, port;
    if (!rest.empty() && rest[0] == '[') {
        const auto close = rest.find(']');
        if (close == std::string::npos) return "unterminated [IPv6] address";
        host = rest.substr(1, close - 1);
        if (close + 1 < rest.size()) {
            if (rest[close + 1] != ':') return "expected :PORT after the address";
            port = rest.substr(close + 2);
        }
    } else if (const auto colon = rest.rfind(':'); colon != std::string::npos) {
        host = rest.substr(0, colon);
        port = rest.substr(colon + 1);
    }
    if (host.empty()) return "no host";
    for (char c : host)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' ||
              c == ':'))
            return "bad character in host";
    if (rest.find(':') != std::string::npos && rest[0] != '[' && port.empty())
        return "empty port";
    if (!port.empty()) {
        if (port.size() > 5) return "port out of range";
        for (char c : port)
            if (!std::isdigit(static_cast<unsigned char>(c))) return "port is not a number";
        const long n = std::stol(port);
        if (n < 1 || n > 65535) return "port out of range";
    }
    return "";
}

std::string checkNatsPrefix(const std::string &prefix)
{
    if (prefix.empty() || prefix.size() > 32) return "expected 1 to 32 characters";
    for (char c : prefix)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_'))
            return "only letters, digits, '-' and '_'";
    return "";
}

NatsConfig mergeNatsConfig(const NatsConfig &options, const NatsConfig &table)
{
    NatsConfig m = options;
    const auto pick = [&](unsigned bit, auto member) {
        if (!(options.given & bit) && (table.given & bit)) m.*member = table.*member;
    };
    pick(kNatsServers, &NatsConfig::servers);
    pick(kNatsCreds, &NatsConfig::credsFile);
    pick(kNatsCa, &NatsConfig::caFile);
    pick(kNatsCert, &NatsConfig::certFile);
    pick(kNatsKey, &NatsConfig::keyFile);
    pick(kNatsPrefix, &NatsConfig::prefix);
    pick(kNatsAckWait, &NatsConfig::ackWaitSeconds);
    m.given = options.given | table.given;
    return m;
}

NatsLink::NatsLink(NatsConfig cfg) : cfg_(std::move(cfg)) {}

NatsLink::~NatsLink()
{
    close();
}

int NatsLink::open(const NatsConfig &cfg, std::shared_ptr<NatsLink> *out, std::string *why)
{
    if (cfg.servers.empty()) {
        *why = "no NATS server given (-o nats=URL)";
        return -EINVAL;
    }
    for (const std::string &url : cfg.servers)
        if (std::string bad = checkNatsUrl(url); !bad.empty()) {
            *why = "NATS server " + url + ": " + bad;
            return -EINVAL;
        }
    if (std::string bad = checkNatsPrefix(cfg.prefix); !bad.empty()) {
        *why = "nats_prefix " + cfg.prefix + ": " + bad;
        return -EINVAL;
    }
    if (cfg.certFile.empty() != cfg.keyFile.empty()) {
        *why = "nats_cert and nats_key go together";
        return -EINVAL;
    }
    if (int rc = checkReadable("nats_creds", cfg.credsFile, why); rc < 0) return rc;
    if (int rc = checkReadable("nats_ca", cfg.caFile, why); rc < 0) return rc;
    if (int rc = checkReadable("nats_cert", cfg.certFile, why); rc < 0) return rc;
    if (int rc = checkReadable("nats_key", cfg.keyFile, why); rc < 0) return rc;

    // Every async subscription shares cnats's delivery pool: 1,000
    // channels do not make 1,000 threads.
    nats_SetMessageDeliveryPoolSize(2);
    natsOptions *raw = nullptr;
    if (natsOptions_Create(&raw) != NATS_OK) {
        *why = "cannot create NATS options";
        return -ENOMEM;
    }
    nats::OptionsPtr opts(raw);
    std::vector<const char *> urls;
    for (const std::string &u : cfg.servers) urls.push_back(u.c_str());
    std::shared_ptr<NatsLink> link(new NatsLink(cfg));
    NatsLink *self = link.get();
    natsStatus s = natsOptions_SetServers(opts.get(), urls.data(), static_cast<int>(urls.size()));
    bool tls = !cfg.caFile.empty() || !cfg.certFile.empty();
    for (const std::string &u : cfg.servers) tls = tls || u.rfind("tls://", 0) == 0;
    if (s == NATS_OK) s = natsOptions_SetName(opts.get(), "chanfs");
    if (s == NATS_OK) s = natsOptions_SetTimeout(opts.get(), kConnectTimeoutMs);
    if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts.get(), -1);
    if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts.get(), kReconnectWaitMs);
    if (s == NATS_OK) s = natsOptions_SetPingInterval(opts.get(), kPingIntervalMs);
    if (s == NATS_OK) s = natsOptions_SetMaxPingsOut(opts.get(), 2);
    if (s == NATS_OK) s = natsOptions_SetSendAsap(opts.get(), true);
    if (s == NATS_OK) s = natsOptions_UseGlobalMessageDelivery(opts.get(), true);
    if (s == NATS_OK) s = natsOptions_SetMaxPendingMsgs(opts.get(), 1 << 20);
    if (s == NATS_OK) s = natsOptions_SetRetryOnFailedConnect(opts.get(), true, onConnected, self);
    if (s == NATS_OK) s = natsOptions_SetDisconnectedCB(opts.get(), onDisconnected, self);
    if (s == NATS_OK) s = natsOptions_SetReconnectedCB(opts.get(), onReconnected, self);
    if (s == NATS_OK) s = natsOptions_SetClosedCB(opts.get(), onClosed, self);
    if (s == NATS_OK) s = natsOptions_SetErrorHandler(opts.get(), onError, self);
    if (s == NATS_OK && !cfg.credsFile.empty())
        s = natsOptions_SetUserCredentialsFromFiles(opts.get(), cfg.credsFile.c_str(), nullptr);
    if (s == NATS_OK && tls) s = natsOptions_SetSecure(opts.get(), true);
    if (s == NATS_OK && !cfg.caFile.empty())
        s = natsOptions_LoadCATrustedCertificates(opts.get(), cfg.caFile.c_str());
    if (s == NATS_OK && !cfg.certFile.empty())
        s = natsOptions_LoadCertificatesChain(opts.get(), cfg.certFile.c_str(),
                                              cfg.keyFile.c_str());
    if (s != NATS_OK) {
        *why = "NATS options: " + statusText(s);
        return -EINVAL;
    }
    char *nuid = nullptr;
    if (natsInbox_Create(&nuid) != NATS_OK) {
        *why = "cannot create a NATS inbox";
        return -ENOMEM;
    }
    nats::InboxPtr inbox(nuid);
    // Two separate branches under the link's inbox: PubAck replies under
    // "a." (the ack wildcard), the stores' inboxes under "i." (never under
    // the wildcard: a JetStream delivery to an inbox carries the stream's
    // subject, which the ack handler would otherwise parse as a ticket).
    link->ackPrefix_ = std::string(inbox.get()) + ".a.";
    link->inboxPrefix_ = std::string(inbox.get()) + ".i.";
    {
        MutexLock g(link->mu_);
        link->lastError_ = "connecting";
    }
    link->start(std::move(opts));
    *out = std::move(link);
    return 0;
}

void NatsLink::start(nats::OptionsPtr opts)
{
    std::shared_ptr<natsOptions> shared(opts.release(), natsOptions_Destroy);
    // spdlog's registry is made on first use; make it here, before the worker
    // and cnats's threads log, so it is not first made on two threads at once
    // (TSan saw that race in shared_tree_test: libspdlog is not instrumented,
    // so its thread-safe static looks unguarded).
    (void)spdlog::default_logger_raw();
    // The first connect attempt may wait (up to the connect timeout per
    // server): it runs on the worker, not in open().
    post([this, shared] { connectOnce(shared); });
    worker_ = std::thread([this] { workerLoop(); });
}

void NatsLink::connectOnce(const std::shared_ptr<natsOptions> &opts)
{
    natsConnection *c = nullptr;
    natsStatus s = natsConnection_Connect(&c, opts.get());
    if (s != NATS_OK && s != NATS_NOT_YET_CONNECTED) {
        const std::string why = "connect: " + statusText(s);
        spdlog::warn("nats: {}; trying again in 2 s", why);
        {
            MutexLock g(mu_);
            lastError_ = why;
        }
        if (c) natsConnection_Destroy(c);
        // A configuration the server refused (bad creds contents): tried
        // again from scratch.
        post([this, opts] { connectOnce(opts); }, std::chrono::milliseconds(2000));
        return;
    }
    if (s == NATS_NOT_YET_CONNECTED) {
        std::string servers;
        for (const auto &u : cfg_.servers) servers += (servers.empty() ? "" : ",") + u;
        spdlog::warn("nats: no server of {} reachable yet; connecting in the background", servers);
        MutexLock g(mu_);
        lastError_ = "no NATS server reachable";
    }
    conn_.reset(c);
    natsSubscription *sub = nullptr;
    if (natsConnection_Subscribe(&sub, c, (ackPrefix_ + "*").c_str(), onAckMsg, this) == NATS_OK)
        ackSub_.reset(sub);
    jsCtx *js = nullptr;
    if (natsConnection_JetStream(&js, c, nullptr) == NATS_OK) js_.reset(js);
    jsRaw_.store(js);
    connRaw_.store(c);
    if (s == NATS_OK || natsConnection_Status(c) == NATS_CONN_STATUS_CONNECTED)
        setConnected(true, "");
}

void NatsLink::workerLoop()
{
    auto nextExpiry = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
    mu_.lock();
    while (!closed_.load()) {
        const auto now = std::chrono::steady_clock::now();
        if (now >= nextExpiry) {
            mu_.unlock();
            expireAcks();
            mu_.lock();
            nextExpiry = now + std::chrono::milliseconds(500);
            continue;
        }
        auto due = tasks_.end();
        auto wakeAt = nextExpiry;
        for (auto it = tasks_.begin(); it != tasks_.end(); ++it) {
            if (it->at <= now) {
                due = it;
                break;
            }
            wakeAt = std::min(wakeAt, it->at);
        }
        if (due == tasks_.end()) {
            wake_.waitUntil(mu_, wakeAt);
            continue;
        }
        std::function<void()> fn = std::move(due->fn);
        tasks_.erase(due);
        mu_.unlock();
        fn();
        mu_.lock();
    }
    tasks_.clear();
    mu_.unlock();
}

bool NatsLink::post(std::function<void()> task, std::chrono::milliseconds after)
{
    if (closed_.load()) return false;
    MutexLock g(mu_);
    tasks_.push_back(Task{std::chrono::steady_clock::now() + after, std::move(task)});
    wake_.notifyAll();
    return true;
}

bool NatsLink::whenConnected(std::function<void()> task)
{
    if (closed_.load()) return false;
    MutexLock g(mu_);
    // Read under mu_: setConnected(true) sets connected_ before it takes
    // mu_ to move onConnect_ to the worker, so no task is left behind.
    if (connected_.load()) {
        tasks_.push_back(Task{std::chrono::steady_clock::now(), std::move(task)});
        wake_.notifyAll();
    } else {
        onConnect_.push_back(std::move(task));
    }
    return true;
}

void NatsLink::close()
{
    if (closed_.exchange(true)) return;
    {
        MutexLock g(mu_);
        wake_.notifyAll();
    }
    if (worker_.joinable()) worker_.join();
    connected_.store(false);
    // Acks that can no longer come: their owners keep the messages.
    std::unordered_map<uint64_t, PendingAck> acks;
    std::vector<std::function<void()>> dropped;  // freed outside mu_ (they may hold a store)
    {
        MutexLock g(mu_);
        acks.swap(acks_);
        stateCbs_.clear();
        dropped.swap(onConnect_);
    }
    PubAck gone;
    gone.err = -ESHUTDOWN;
    gone.why = "the link is closed";
    for (auto &[ticket, p] : acks) p.done(gone);
    jsRaw_.store(nullptr);
    connRaw_.store(nullptr);
    js_.reset();
    if (ackSub_) natsSubscription_Unsubscribe(ackSub_.get());
    ackSub_.reset();
    if (conn_) {
        natsConnection_Close(conn_.get());
        // The closed callback is delivered on a cnats thread and names
        // this link: wait (bounded) until it ran.
        const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
        while (!closedSeen_.load() && std::chrono::steady_clock::now() < until)
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    conn_.reset();
}

natsConnection *NatsLink::connection() const
{
    return connRaw_.load();
}

jsCtx *NatsLink::jetstream() const
{
    return jsRaw_.load();
}

bool NatsLink::connected() const
{
    return connected_.load();
}

std::string NatsLink::lastError() const
{
    MutexLock g(mu_);
    return lastError_;
}

int NatsLink::clusterSize() const
{
    return clusterSize_.load();
}

int64_t NatsLink::maxPayload() const
{
    return maxPayload_.load();
}

void NatsLink::onStateChange(std::function<void(bool)> cb)
{
    MutexLock g(mu_);
    stateCbs_.push_back(std::move(cb));
}

void NatsLink::setConnected(bool up, const std::string &why)
{
    if (closed_.load()) return;
    natsConnection *c = connRaw_.load();
    if (up && c) {
        char **servers = nullptr;
        int count = 0;
        if (natsConnection_GetServers(c, &servers, &count) == NATS_OK) {
            for (int i = 0; i < count; ++i) free(servers[i]);
            free(servers);
            clusterSize_.store(count > 0 ? count : 1);
        }
        maxPayload_.store(natsConnection_GetMaxPayload(c));
    }
    const bool was = connected_.exchange(up);
    std::vector<std::function<void(bool)>> cbs;
    {
        MutexLock g(mu_);
        lastError_ = up ? "" : why;
        cbs = stateCbs_;
        if (up) {
            const auto now = std::chrono::steady_clock::now();
            for (auto &fn : onConnect_) tasks_.push_back(Task{now, std::move(fn)});
            onConnect_.clear();
            wake_.notifyAll();
        }
    }
    if (was != up) {
        if (up) {
            char url[256] = "";
            if (c) natsConnection_GetConnectedUrl(c, url, sizeof url);
            spdlog::info("nats: connected to {} ({} server(s) known), prefix {}, ack wait {} s", url,
                         clusterSize(), cfg_.prefix, cfg_.ackWaitSeconds);
        } else {
            spdlog::warn("nats: {}; reconnecting", why);
        }
    }
    for (auto &cb : cbs) cb(up);
}

void NatsLink::onConnected(natsConnection *, void *closure)
{
    static_cast<NatsLink *>(closure)->setConnected(true, "");
}

void NatsLink::onReconnected(natsConnection *, void *closure)
{
    static_cast<NatsLink *>(closure)->setConnected(true, "");
}

void NatsLink::onDisconnected(natsConnection *, void *closure)
{
    static_cast<NatsLink *>(closure)->disconnects_.fetch_add(1, std::memory_order_relaxed);
    static_cast<NatsLink *>(closure)->setConnected(false, "disconnected from the NATS server");
}

void NatsLink::onClosed(natsConnection *, void *closure)
{
    auto *self = static_cast<NatsLink *>(closure);
    self->setConnected(false, "connection closed");
    self->closedSeen_.store(true);
}

void NatsLink::onError(natsConnection *, natsSubscription *, natsStatus s, void *closure)
{
    auto *self = static_cast<NatsLink *>(closure);
    if (self->closed_.load()) return;
    MutexLock g(self->mu_);
    self->lastError_ = statusText(s);
}

std::string NatsLink::newInbox()
{
    MutexLock g(mu_);
    return inboxPrefix_ + std::to_string(nextInbox_++);
}

int NatsLink::publish(const std::string &subject, std::string_view data, const std::string &msgId,
                      const std::vector<std::pair<std::string, std::string>> &headers,
                      PubAckFn done)
{
    if (closed_.load()) return -ESHUTDOWN;
    natsConnection *c = connRaw_.load();
    if (!c || !connected_.load()) return -ENOTCONN;
    uint64_t ticket = 0;
    {
        MutexLock g(mu_);
        ticket = nextTicket_++;
        acks_.emplace(ticket, PendingAck{std::chrono::steady_clock::now() + kAckTimeout,
                                         std::move(done)});
    }
    const std::string reply = ackPrefix_ + std::to_string(ticket);
    natsMsg *raw = nullptr;
    natsStatus s = natsMsg_Create(&raw, subject.c_str(), reply.c_str(), data.data(),
                                  static_cast<int>(data.size()));
    nats::MsgPtr msg(raw);
    if (s == NATS_OK && !msgId.empty()) s = natsMsgHeader_Set(raw, "Nats-Msg-Id", msgId.c_str());
    for (const auto &[k, v] : headers)
        if (s == NATS_OK) s = natsMsgHeader_Set(raw, k.c_str(), v.c_str());
    if (s == NATS_OK) s = natsConnection_PublishMsg(c, raw);
    if (s == NATS_OK) return 0;
    pubFailed_.fetch_add(1, std::memory_order_relaxed);
    MutexLock g(mu_);
    acks_.erase(ticket);
    return s == NATS_MAX_PAYLOAD ? -EMSGSIZE : -ENOTCONN;
}

void NatsLink::onAckMsg(natsConnection *, natsSubscription *, natsMsg *m, void *closure)
{
    nats::MsgPtr msg(m);
    auto *self = static_cast<NatsLink *>(closure);
    const uint64_t ticket = self->ackTicketOf(natsMsg_GetSubject(m));
    if (ticket == 0) return;  // not a PubAck of ours
    PubAckFn done;
    {
        MutexLock g(self->mu_);
        auto it = self->acks_.find(ticket);
        if (it == self->acks_.end()) return;  // timed out already
        done = std::move(it->second.done);
        self->acks_.erase(it);
    }
    PubAck ack;
    if (natsMsg_IsNoResponders(m)) {
        ack.err = -EAGAIN;
        ack.why = "no stream for the subject (yet)";
    } else {
        const std::string_view body(natsMsg_GetData(m),
                                    static_cast<size_t>(natsMsg_GetDataLength(m)));
        if (body.find("\"error\"") != std::string_view::npos) {
            ack.why = jsonString(body, "description");
            const bool full = ack.why.find("maximum") != std::string::npos ||
                              ack.why.find("exceeded") != std::string::npos;
            ack.err = full ? -ENOBUFS : -EIO;
        } else {
            ack.seq = static_cast<uint64_t>(jsonInt(body, "seq", 0));
            ack.duplicate = body.find("\"duplicate\":true") != std::string_view::npos;
        }
    }
    (ack.err == 0 ? self->pubAcked_ : self->pubFailed_).fetch_add(1, std::memory_order_relaxed);
    done(ack);
}

uint64_t NatsLink::ackTicketOf(const char *subject) const
{
    if (!subject) return 0;
    const std::string_view s(subject);
    if (s.size() <= ackPrefix_.size() || s.compare(0, ackPrefix_.size(), ackPrefix_) != 0) return 0;
    uint64_t v = 0;
    for (char c : s.substr(ackPrefix_.size())) {
        if (c < '0' || c > '9' || v > (UINT64_MAX - 9) / 10) return 0;
        v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    return v;
}

void NatsLink::expireAcks()
{
    std::vector<PubAckFn> late;
    {
        MutexLock g(mu_);
        const auto now = std::chrono::steady_clock::now();
        for (auto it = acks_.begin(); it != acks_.end();) {
            if (it->second.deadline <= now) {
                late.push_back(std::move(it->second.done));
                it = acks_.erase(it);
            } else {
                ++it;
            }
        }
    }
    PubAck ack;
    ack.err = -ETIMEDOUT;
    ack.why = "no acknowledgement from JetStream in time";
    pubFailed_.fetch_add(late.size(), std::memory_order_relaxed);
    for (auto &fn : late) fn(ack);
}

int NatsLink::apiRequest(const std::string &subject, const std::string &json, std::string *reply,
                         std::string *why, int64_t timeoutMs)
{
    natsConnection *c = connRaw_.load();
    if (closed_.load()) return -ESHUTDOWN;
    if (!c || !connected_.load()) {
        *why = "not connected";
        return -ENOTCONN;
    }
    natsMsg *raw = nullptr;
    natsStatus s = natsConnection_Request(&raw, c, subject.c_str(), json.data(),
                                          static_cast<int>(json.size()), timeoutMs);
    nats::MsgPtr msg(raw);
    if (s != NATS_OK) {
        *why = subject + ": " + statusText(s);
        return s == NATS_TIMEOUT ? -ETIMEDOUT : -ENOTCONN;
    }
    if (natsMsg_IsNoResponders(raw)) {
        *why = subject + ": JetStream is not enabled on the server (no responders)";
        return -ENOTCONN;
    }
    reply->assign(natsMsg_GetData(raw), static_cast<size_t>(natsMsg_GetDataLength(raw)));
    if (reply->find("\"error\"") != std::string::npos) {
        *why = jsonString(*reply, "description");
        return -EIO;
    }
    return 0;
}

std::string jsonString(std::string_view json, std::string_view key)
{
    const std::string needle = "\"" + std::string(key) + "\"";
    const auto at = json.find(needle);
    if (at == std::string_view::npos) return "";
    auto p = json.find(':', at + needle.size());
    if (p == std::string_view::npos) return "";
    p = json.find('"', p);
    if (p == std::string_view::npos) return "";
    std::string out;
    for (size_t i = p + 1; i < json.size() && json[i] != '"'; ++i) {
        if (json[i] == '\\' && i + 1 < json.size()) ++i;
        out += json[i];
    }
    return out;
}

int64_t jsonInt(std::string_view json, std::string_view key, int64_t dflt)
{
    const std::string needle = "\"" + std::string(key) + "\"";
    const auto at = json.find(needle);
    if (at == std::string_view::npos) return dflt;
    auto p = json.find(':', at + needle.size());
    if (p == std::string_view::npos) return dflt;
    ++p;
    while (p < json.size() && json[p] == ' ') ++p;
    bool neg = false;
    if (p < json.size() && json[p] == '-') {
        neg = true;
        ++p;
    }
    if (p >= json.size() || !std::isdigit(static_cast<unsigned char>(json[p]))) return dflt;
    int64_t v = 0;
    while (p < json.size() && std::isdigit(static_cast<unsigned char>(json[p])))
        v = v * 10 + (json[p++] - '0');
    return neg ? -v : v;
}

}  // namespace chanfs
