#include "channels/endpoints/uds_listen.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <new>

#include <spdlog/spdlog.h>

#include "channels/base/unique_fd.h"

namespace chanfs {

namespace {

constexpr size_t kChunk = 64 * 1024;
constexpr int kBacklog = 128;

// A packet from a SOCK_SEQPACKET client, framed as one message of `f`.
std::string frameMessage(Framing f, std::string body)
{
    switch (f) {
    case Framing::Lines:
        if (body.empty() || body.back() != '\n') body.push_back('\n');
        return body;
    case Framing::Lp32: {
        const auto n = static_cast<uint32_t>(body.size());
        const char hdr[4] = {static_cast<char>(n & 0xff), static_cast<char>((n >> 8) & 0xff),
                             static_cast<char>((n >> 16) & 0xff),
                             static_cast<char>((n >> 24) & 0xff)};
        return std::string(hdr, 4) + body;
    }
    case Framing::Bytes:
    case Framing::Messages: break;
    }
    return body;
}

// Whole messages read from the channel, split into SOCK_SEQPACKET packets
// (framing removed: the packet boundary is the framing).
std::deque<std::string> splitMessages(Framing f, const std::string &data)
{
    std::deque<std::string> out;
    if (f == Framing::Lines) {
        size_t start = 0;
        while (start < data.size()) {
            size_t nl = data.find('\n', start);
            if (nl == std::string::npos) nl = data.size();
            out.push_back(data.substr(start, nl - start));
            start = nl + 1;
        }
    } else if (f == Framing::Lp32) {
        size_t at = 0;
        while (at + 4 <= data.size()) {
            const auto *p = reinterpret_cast<const unsigned char *>(data.data() + at);
            const size_t n = p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<size_t>(p[3]) << 24);
            if (at + 4 + n > data.size()) break;
            out.push_back(data.substr(at + 4, n));
            at += 4 + n;
        }
    } else {
        out.push_back(data);
    }
    return out;
}

// The file side of one open() of a listening channel.
class SplitFile final : public UdsConnection {
public:
    SplitFile(std::shared_ptr<Channel> fromClients, std::shared_ptr<Channel> toClients, bool reads,
              bool writes)
        : in_(std::move(fromClients)), out_(std::move(toClients))
    {
        if (reads) inH_ = in_->open(true, false);
        if (writes) outH_ = out_->open(false, true);
    }
    Channel &in() override { return *in_; }
    Handle *inHandle() override { return inH_.get(); }
    Channel &out() override { return *out_; }
    Handle *outHandle() override { return outH_.get(); }
    void close() override
    {
        if (closed_.exchange(true)) return;
        if (inH_) in_->release(*inH_);
        if (outH_) out_->release(*outH_);
    }
    void abort() override { close(); }

private:
    std::shared_ptr<Channel> in_, out_;
    std::shared_ptr<Handle> inH_, outH_;
    std::atomic<bool> closed_{false};
};

class Listener;

// One accepted client; loop thread only.
class Client : public std::enable_shared_from_this<Client> {
public:
    Client(std::weak_ptr<Listener> l, EventLoop &loop, UniqueFd fd, uint64_t id)
        : listener_(std::move(l)), loop_(loop), fd_(std::move(fd)), id_(id)
    {
    }
    void start();
    void stop(const char *why);
    int fd() const { return fd_.get(); }

private:
    void onEvent(uint32_t ev);
    void rewatch();
    void readSock();
    void writeIn();
    void inWritten(size_t n, int err);
    void pumpOut();
    void outDelivered(std::string data, bool mark);

    std::weak_ptr<Listener> listener_;
    EventLoop &loop_;
    UniqueFd fd_;
    const uint64_t id_;
    std::shared_ptr<Handle> writer_;  // on the from-clients channel
    std::shared_ptr<Handle> reader_;  // on the channel itself
    // Bytes [recvOff_, recvLen_) of recvBuf_ are still to go into the
    // channel. recvBuf_ keeps its size between reads: growing a string
    // zero-fills it, 64 KiB per recv.
    std::string recvBuf_;
    std::string pktBuf_;  // seqpacket: one packet before framing
    size_t recvLen_ = 0;
    size_t recvOff_ = 0;
    bool inWaiting_ = false;
    uint32_t watchedMask_ = 0;           // what rewatch() last asked the loop for
    std::deque<std::string> sendQueue_;  // stream: one string; seqpacket: packets
    size_t sendOff_ = 0;
    bool reading_ = false;
    bool stopped_ = false;
};

class Listener : public std::enable_shared_from_this<Listener> {
public:
    EventLoop *loop = nullptr;
    std::shared_ptr<Channel> channel;      // file writers -> clients
    std::shared_ptr<Channel> fromClients;  // clients -> file readers
    UdsListenSpec spec;
    UniqueFd fd;
    std::map<int, std::shared_ptr<Client>> clients;  // loop thread only
    uint64_t nextId = 1;
    std::atomic<uint64_t> clientCount{0};
    std::atomic<uint64_t> bytes{0};
    mutable std::mutex errMu;  // leaf: lastError only
    std::string lastError;

    Settings settings() const { return channel->settings(); }
    void start()
    {
        std::weak_ptr<Listener> weak = weak_from_this();
        loop->watch(fd.get(), EPOLLIN, [weak](uint32_t) {
            if (auto l = weak.lock()) l->acceptAll();
        });
    }
    void acceptAll()
    {
        for (;;) {
            const int c = ::accept4(fd.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (c < 0) {
                if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
                    std::lock_guard g(errMu);
                    lastError = std::string("accept: ") + std::strerror(errno);
                }
                return;
            }
            auto client = std::make_shared<Client>(weak_from_this(), *loop, UniqueFd(c), nextId++);
            clients[c] = client;
            ++clientCount;
            client->start();
        }
    }
    void dropClient(int cfd)
    {
        if (clients.erase(cfd)) --clientCount;
    }
    void stop()
    {
        if (fd) loop->unwatch(fd.get());
        fd.reset();
        auto all = std::move(clients);
        clients.clear();
        for (auto &[cfd, c] : all) c->stop(nullptr);
        clientCount = 0;
        // File readers waiting on what clients send get end-of-file.
        fromClients->detach();
    }
};

void Client::start()
{
    auto l = listener_.lock();
    if (!l) return;
    writer_ = l->fromClients->open(false, true);
    reader_ = l->channel->open(true, false);
    // One message per read: clients of a pipe or queue take turns.
    l->channel->setOneMessagePerRead(*reader_);
    rewatch();
    pumpOut();
}

void Client::stop(const char *why)
{
    if (stopped_) return;
    stopped_ = true;
    auto l = listener_.lock();
    if (why && l) spdlog::warn("uds listen {}: client {} disconnected: {}", l->spec.path, id_, why);
    size_t unsent = 0;
    for (const auto &s : sendQueue_) unsent += s.size();
    unsent -= std::min(unsent, sendOff_);
    if (unsent && l)
        spdlog::warn("uds listen {}: client {} left with {} bytes not yet sent; they are dropped",
                     l->spec.path, id_, unsent);
    if (fd_) loop_.unwatch(fd_.get());
    const int cfd = fd_.get();
    if (l) {
        // Its writer session ends (a pipe gets its end-of-stream mark).
        if (writer_) l->fromClients->release(*writer_);
        if (reader_) l->channel->release(*reader_);
    }
    writer_.reset();
    reader_.reset();
    fd_.reset();
    if (l) l->dropClient(cfd);  // may destroy this
}

void Client::rewatch()
{
    if (!fd_ || stopped_) return;
    uint32_t ev = 0;
    if (!inWaiting_) ev |= EPOLLIN | EPOLLRDHUP;
    if (!sendQueue_.empty()) ev |= EPOLLOUT;
    if (ev == watchedMask_) return;
    watchedMask_ = ev;
    if (ev == 0) {
        // A hang-up is reported whatever the mask: unwatched while a write
        // into the channel waits and nothing is to be sent.
        loop_.unwatch(fd_.get());
        return;
    }
    std::weak_ptr<Client> weak = weak_from_this();
    loop_.watch(fd_.get(), ev, [weak](uint32_t fired) {
        if (auto c = weak.lock()) c->onEvent(fired);
    });
}

void Client::onEvent(uint32_t ev)
{
    auto self = shared_from_this();
    if (ev & EPOLLOUT) pumpOut();
    if (!stopped_ && (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) && !inWaiting_) readSock();
}

void Client::readSock()
{
    auto l = listener_.lock();
    if (!l) return;
    const Settings s = l->settings();
    // A seqpacket read takes one whole packet (MSG_TRUNC reports an
    // oversize one); a stream read takes up to kChunk into recvBuf_ itself.
    const bool packet = l->spec.seqpacket;
    std::string &buf = packet ? pktBuf_ : recvBuf_;
    const size_t room = packet ? static_cast<size_t>(s.maxMessageBytes) + 1 : kChunk;
    if (buf.size() < room) buf.resize(room);
    const ssize_t n = ::recv(fd_.get(), buf.data(), room, packet ? MSG_TRUNC : 0);
    if (n < 0) {
        if (errno != EAGAIN && errno != EINTR) stop(std::strerror(errno));
        return;
    }
    if (n == 0) {
        stop(nullptr);
        return;
    }
    if (packet) {
        if (static_cast<uint64_t>(n) > s.maxMessageBytes) {
            stop("a packet is larger than max_message");
            return;
        }
        recvBuf_ = frameMessage(s.framing, pktBuf_.substr(0, static_cast<size_t>(n)));
        recvLen_ = recvBuf_.size();
    } else {
        recvLen_ = static_cast<size_t>(n);
    }
    l->bytes += recvLen_;
    recvOff_ = 0;
    inWaiting_ = true;
    rewatch();
    writeIn();
}

void Client::writeIn()
{
    auto l = listener_.lock();
    if (!l || !writer_) return;
    WriteRequest w;
    w.data = std::span<const char>(recvBuf_.data() + recvOff_, recvLen_ - recvOff_);
    l->fromClients->write(
        *writer_, w,
        std::make_unique<LoopWriteWaiter<Client>>(
            weak_from_this(), loop_, [](Client &c, size_t n, int err) { c.inWritten(n, err); }));
}

void Client::inWritten(size_t n, int err)
{
    if (stopped_) return;
    if (err == EMSGSIZE) {
        stop("malformed frame: a message over max_message");
        return;
    }
    if (err != 0) {
        stop(std::strerror(err));
        return;
    }
    recvOff_ += n;
    if (recvOff_ < recvLen_) {
        writeIn();
        return;
    }
    inWaiting_ = false;
    recvLen_ = recvOff_ = 0;
    rewatch();
}

void Client::pumpOut()
{
    auto l = listener_.lock();
    if (!l || stopped_) return;
    while (!sendQueue_.empty()) {
        const std::string &front = sendQueue_.front();
        const ssize_t n = ::send(fd_.get(), front.data() + sendOff_, front.size() - sendOff_,
                                 MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                rewatch();
                return;
            }
            stop(std::strerror(errno));
            return;
        }
        l->bytes += static_cast<uint64_t>(n);
        sendOff_ += static_cast<size_t>(n);
        if (sendOff_ < front.size()) {
            rewatch();
            return;
        }
        sendQueue_.pop_front();
        sendOff_ = 0;
    }
    rewatch();
    if (reading_ || !reader_) return;
    reading_ = true;
    const Settings s = l->settings();
    ReadRequest r;
    // Seqpacket: room for a whole message, so packets are never split.
    r.maxBytes = l->spec.seqpacket ? static_cast<size_t>(s.maxMessageBytes) + 4 : kChunk;
    l->channel->read(
        *reader_, r,
        std::make_unique<LoopReadWaiter<Client>>(
            weak_from_this(), loop_,
            [](Client &c, std::string data, bool mark) { c.outDelivered(std::move(data), mark); },
            [](Client &c, int) { c.reading_ = false; }));
}

void Client::outDelivered(std::string data, bool mark)
{
    reading_ = false;
    if (stopped_) return;
    auto l = listener_.lock();
    if (!l) return;
    if (!mark) {
        if (l->spec.seqpacket) {
            for (auto &m : splitMessages(l->settings().framing, data))
                sendQueue_.push_back(std::move(m));
        } else {
            sendQueue_.push_back(std::move(data));
        }
    }
    // A pipe's end-of-stream mark has no meaning on a socket: go on reading.
    pumpOut();
}

class ListenBridgeImpl final : public UdsListenBridge {
public:
    ListenBridgeImpl(std::shared_ptr<Listener> l, dev_t dev, ino_t ino)
        : l_(std::move(l)), dev_(dev), ino_(ino)
    {
    }
    ~ListenBridgeImpl() override
    {
        auto l = l_;
        l_->loop->sync([l] { l->stop(); });
        removeMadeFile(l_->spec.path, dev_, ino_, l_->spec.as);
    }
    std::string describe() const override
    {
        return (l_->spec.seqpacket ? "listen-seqpacket:" : "listen:") + l_->spec.path;
    }
    BridgeStats stats() const override
    {
        BridgeStats st;
        st.connected = l_->clientCount > 0;
        st.clients = l_->clientCount;
        st.bytes = l_->bytes;
        std::lock_guard g(l_->errMu);
        st.lastError = l_->lastError;
        return st;
    }
    int followChannel(mode_t mode, uid_t uid, gid_t gid) override
    {
        return giveFileTo(l_->spec.path, dev_, ino_, mode, uid, gid);
    }
    std::shared_ptr<UdsConnection> openFile(bool reads, bool writes) override
    {
        return std::make_shared<SplitFile>(l_->fromClients, l_->channel, reads, writes);
    }

private:
    std::shared_ptr<Listener> l_;
    dev_t dev_;
    ino_t ino_;
};

}  // namespace

int parseUdsListen(std::string_view value, UdsListenSpec *spec, std::string *why)
{
    std::string_view p;
    if (value.substr(0, 17) == "listen-seqpacket:") {
        spec->seqpacket = true;
        p = value.substr(17);
    } else if (value.substr(0, 7) == "listen:") {
        spec->seqpacket = false;
        p = value.substr(7);
    } else {
        return -ENOENT;
    }
    if (int rc = checkSocketPath(p, why); rc < 0) return rc;
    spec->path = std::string(p);
    return 0;
}

int UdsListenBridge::make(EventLoop &loop, std::shared_ptr<Channel> channel,
                          const UdsListenSpec &spec, std::shared_ptr<UdsListenBridge> *out,
                          std::string *why)
{
    if (loop.status() < 0) {
        *why = "the bridge event loop is not running";
        return loop.status();
    }
    auto l = std::make_shared<Listener>();
    l->loop = &loop;
    l->spec = spec;
    l->channel = channel;
    l->fromClients = Channel::create(channel->settings(), channel->name() + " (from clients)");
    UniqueFd fd(::socket(
        AF_UNIX, (spec.seqpacket ? SOCK_SEQPACKET : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC,
        0));
    if (!fd) {
        *why = "cannot make a socket";
        return -errno;
    }
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, spec.path.c_str(), spec.path.size() + 1);
    struct stat st {};
    {
        AsUser as(spec.as);
        if (as.status() < 0) {
            *why = "cannot take the caller's identity";
            return as.status();
        }
        if (::bind(fd.get(), reinterpret_cast<const sockaddr *>(&addr), sizeof addr) < 0) {
            const int err = errno;
            *why = err == EADDRINUSE ? spec.path + " already exists" : "cannot bind " + spec.path;
            return -err;
        }
        if (::lstat(spec.path.c_str(), &st) < 0) {
            const int err = errno;
            ::unlink(spec.path.c_str());
            *why = "cannot look at the new socket " + spec.path;
            return -err;
        }
    }
    // The channel's owner and mode before listen(): until then a connect()
    // is refused, so nobody gets in through the mode bind() gave it. With
    // the daemon's identity, on the inode just bound, so the channel's group
    // works even where the caller could not give the file to it.
    if (int rc =
            giveFileTo(spec.path, st.st_dev, st.st_ino, spec.mode, spec.ownerUid, spec.ownerGid);
        rc < 0) {
        removeMadeFile(spec.path, st.st_dev, st.st_ino, spec.as);
        *why = "cannot give the socket " + spec.path + " the channel's owner and mode";
        return rc;
    }
    if (::listen(fd.get(), kBacklog) < 0) {
        const int err = errno;
        removeMadeFile(spec.path, st.st_dev, st.st_ino, spec.as);
        *why = "cannot listen on " + spec.path;
        return -err;
    }
    l->fd = std::move(fd);
    loop.sync([l] { l->start(); });
    *out = std::make_shared<ListenBridgeImpl>(l, st.st_dev, st.st_ino);
    spdlog::info("uds bridge {} listening for channel {}", (*out)->describe(), channel->name());
    return 0;
}

}  // namespace chanfs
