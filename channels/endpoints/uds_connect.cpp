#include "channels/endpoints/uds_connect.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>

#include <spdlog/spdlog.h>

#include "channels/base/unique_fd.h"

namespace chanfs {

namespace {

constexpr size_t kChunk = 64 * 1024;

// All members but the file-side handles are touched on the loop thread only.
class Conn final : public UdsConnection, public std::enable_shared_from_this<Conn> {
public:
    Conn(EventLoop &loop, std::shared_ptr<UdsConnectBridge::Counters> counters, std::string path,
         std::shared_ptr<Channel> in, std::shared_ptr<Channel> out)
        : loop_(loop), counters_(std::move(counters)), path_(std::move(path)), in_(std::move(in)),
          out_(std::move(out))
    {
    }

    Channel &in() override { return *in_; }
    Handle *inHandle() override { return fileIn_.get(); }
    Channel &out() override { return *out_; }
    Handle *outHandle() override { return fileOut_.get(); }

    // File side, before start(): the opener's handles.
    void openFileSide(bool reads, bool writes)
    {
        if (reads) fileIn_ = in_->open(true, false);
        if (writes) fileOut_ = out_->open(false, true);
    }

    // Loop thread: connects as `as`. 0 or -errno.
    int start(const Credentials &as)
    {
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        if (path_.size() >= sizeof addr.sun_path) return -ENAMETOOLONG;
        std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
        UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        if (!fd) return -errno;
        {
            AsUser user(as);
            if (user.status() < 0) return user.status();
            if (::connect(fd.get(), reinterpret_cast<const sockaddr *>(&addr), sizeof addr) < 0)
                return -errno;
        }
        sock_ = std::move(fd);
        loopWriter_ = in_->open(false, true);
        loopReader_ = out_->open(true, false);
        self_ = shared_from_this();
        ++counters_->open;
        rewatch();
        pumpOut();
        return 0;
    }

    void close() override
    {
        if (closed_.exchange(true)) return;
        const bool hadWriter = fileOut_ != nullptr;
        // Releasing the writer queues the end mark after what it wrote.
        if (fileIn_) in_->release(*fileIn_);
        if (fileOut_) out_->release(*fileOut_);
        auto self = shared_from_this();
        loop_.post([self, hadWriter] {
            self->closing_ = true;
            if (!hadWriter) self->outEnded_ = true;
            self->maybeFinish();
        });
    }

    void abort() override
    {
        if (finished_) return;
        endIn();
        out_->breakPipe();
        sendBuf_.clear();
        closing_ = true;
        outEnded_ = true;
        maybeFinish();
    }

private:
    // Watches the socket for what we can act on now. Unwatched while a write
    // into `in` waits and nothing is to be sent: a hang-up is reported
    // whatever the mask and would spin the loop.
    void rewatch()
    {
        if (!sock_) return;
        uint32_t ev = 0;
        if (!inWaiting_ && !inEnded_ && !closing_) ev |= EPOLLIN | EPOLLRDHUP;
        if (!sendBuf_.empty()) ev |= EPOLLOUT;
        if (ev == 0) {
            loop_.unwatch(sock_.get());
            return;
        }
        std::weak_ptr<Conn> weak = weak_from_this();
        loop_.watch(sock_.get(), ev, [weak](uint32_t fired) {
            if (auto c = weak.lock()) c->onEvent(fired);
        });
    }

    void onEvent(uint32_t fired)
    {
        if ((fired & EPOLLOUT) || ((fired & (EPOLLERR | EPOLLHUP)) && !sendBuf_.empty())) pumpOut();
        if (sock_ && (fired & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) && !inWaiting_ &&
            !inEnded_ && !closing_)
            readSock(fired);
    }

    // Server -> in.
    void readSock(uint32_t fired)
    {
        recvBuf_.resize(kChunk);
        const ssize_t n = ::recv(sock_.get(), recvBuf_.data(), recvBuf_.size(), 0);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) return;
            spdlog::debug("uds connect {}: receive failed: {}", path_, std::strerror(errno));
            peerGone();
            return;
        }
        if (n == 0) {
            // EPOLLHUP: the server closed both ways; otherwise it only
            // stopped sending and may still read what we send.
            if (fired & EPOLLHUP) {
                peerGone();
                return;
            }
            endIn();
            rewatch();
            return;
        }
        recvBuf_.resize(static_cast<size_t>(n));
        counters_->bytes += static_cast<uint64_t>(n);
        recvOff_ = 0;
        inWaiting_ = true;
        rewatch();
        writeIn();
    }
    void writeIn()
    {
        WriteRequest w;
        w.data = std::span<const char>(recvBuf_.data() + recvOff_, recvBuf_.size() - recvOff_);
        in_->write(
            *loopWriter_, w,
            std::make_unique<LoopWriteWaiter<Conn>>(
                weak_from_this(), loop_, [](Conn &c, size_t n, int err) { c.inWritten(n, err); }));
    }
    void inWritten(size_t n, int err)
    {
        if (finished_) return;
        recvOff_ += n;
        if (err == 0 && recvOff_ < recvBuf_.size()) {
            writeIn();
            return;
        }
        inWaiting_ = false;
        recvBuf_.clear();
        rewatch();
    }
    // The server sent all it will: readers get the rest, then end-of-file.
    void endIn()
    {
        if (inEnded_) return;
        inEnded_ = true;
        if (loopWriter_) in_->release(*loopWriter_);
        loopWriter_.reset();
        in_->detach();
    }
    // The connection broke: reads end, writes fail with EPIPE.
    void peerGone()
    {
        // Writes fail before readers see the end, so a program that reads
        // end-of-file and then writes gets EPIPE, as on a socket.
        out_->breakPipe();
        endIn();
        sendBuf_.clear();
        outEnded_ = true;
        if (closing_) {
            maybeFinish();
        } else {
            rewatch();
        }
    }

    // out -> server.
    void pumpOut()
    {
        if (finished_ || !sock_) return;
        if (!sendBuf_.empty()) {
            const ssize_t n = ::send(sock_.get(), sendBuf_.data(), sendBuf_.size(), MSG_NOSIGNAL);
            if (n < 0 && errno != EAGAIN && errno != EINTR) {
                spdlog::debug("uds connect {}: send failed: {}", path_, std::strerror(errno));
                peerGone();
                return;
            }
            if (n > 0) {
                counters_->bytes += static_cast<uint64_t>(n);
                sendBuf_.erase(0, static_cast<size_t>(n));
            }
            if (!sendBuf_.empty()) {
                rewatch();
                return;
            }
            rewatch();
        }
        if (outEnded_) {
            ::shutdown(sock_.get(), SHUT_WR);
            maybeFinish();
            return;
        }
        if (readingOut_) return;
        readingOut_ = true;
        ReadRequest r;
        r.maxBytes = kChunk;
        out_->read(
            *loopReader_, r,
            std::make_unique<LoopReadWaiter<Conn>>(
                weak_from_this(), loop_,
                [](Conn &c, std::string data, bool mark) { c.outDelivered(std::move(data), mark); },
                [](Conn &c, int err) { c.outFailed(err); }));
    }
    void outDelivered(std::string data, bool mark)
    {
        readingOut_ = false;
        if (finished_) return;
        if (mark) {
            outEnded_ = true;  // the file's writer closed
        } else {
            sendBuf_.append(data);
        }
        pumpOut();
    }
    void outFailed(int) { readingOut_ = false; }

    // After the file closed, once everything it wrote was sent (or can no
    // longer be): hang up and let go.
    void maybeFinish()
    {
        if (finished_ || !closing_ || !outEnded_ || !sendBuf_.empty()) return;
        finished_ = true;
        if (sock_) loop_.unwatch(sock_.get());
        sock_.reset();
        if (loopWriter_) in_->release(*loopWriter_);
        if (loopReader_) out_->release(*loopReader_);
        loopWriter_.reset();
        loopReader_.reset();
        --counters_->open;
        self_.reset();  // may destroy this: nothing after it
    }

    EventLoop &loop_;
    std::shared_ptr<UdsConnectBridge::Counters> counters_;
    const std::string path_;
    std::shared_ptr<Channel> in_;
    std::shared_ptr<Channel> out_;
    std::shared_ptr<Handle> fileIn_;
    std::shared_ptr<Handle> fileOut_;
    std::atomic<bool> closed_{false};

    UniqueFd sock_;
    std::shared_ptr<Handle> loopWriter_;
    std::shared_ptr<Handle> loopReader_;
    std::string recvBuf_;
    size_t recvOff_ = 0;
    bool inWaiting_ = false;
    bool inEnded_ = false;
    std::string sendBuf_;
    bool readingOut_ = false;
    bool outEnded_ = false;
    bool closing_ = false;
    bool finished_ = false;
    std::shared_ptr<Conn> self_;
};

}  // namespace

int parseUdsConnect(std::string_view value, std::string *path, std::string *why)
{
    if (value.substr(0, 8) != "connect:") {
        *why = "expected connect:/path, listen:/path or listen-seqpacket:/path";
        return -EINVAL;
    }
    const std::string_view p = value.substr(8);
    if (int rc = checkSocketPath(p, why); rc < 0) return rc;
    *path = std::string(p);
    return 0;
}

int checkSocketPath(std::string_view p, std::string *why)
{
    if (p.empty() || p[0] != '/') {
        *why = "the socket path must be absolute";
        return -EINVAL;
    }
    if (p.size() >= sizeof(sockaddr_un::sun_path)) {
        *why = "the socket path is longer than a Unix socket address allows";
        return -EINVAL;
    }
    if (p.find('\0') != std::string_view::npos) {
        *why = "the socket path is not a valid path";
        return -EINVAL;
    }
    return 0;
}

UdsConnectBridge::~UdsConnectBridge()
{
    auto counters = counters_;
    loop_.sync([counters] {
        for (auto &w : counters->live)
            if (auto c = w.lock()) c->abort();
        counters->live.clear();
    });
}

BridgeStats UdsConnectBridge::stats() const
{
    BridgeStats st;
    st.connected = counters_->open > 0;
    st.bytes = counters_->bytes;
    return st;
}

int UdsConnectBridge::connect(const Credentials &as, bool reads, bool writes,
                              std::shared_ptr<UdsConnection> *out)
{
    if (loop_.status() < 0) return loop_.status();
    Settings s = settings_;
    s.kind = Kind::Pipe;
    s.framing = Framing::Bytes;
    s.replay = 0;
    std::shared_ptr<Conn> conn;
    try {
        conn = std::make_shared<Conn>(loop_, counters_, path_,
                                      Channel::create(s, "connect:" + path_ + " (in)"),
                                      Channel::create(s, "connect:" + path_ + " (out)"));
        conn->openFileSide(reads, writes);
    } catch (const std::bad_alloc &) {
        return -ENOMEM;
    }
    int rc = 0;
    loop_.sync([&] {
        rc = conn->start(as);
        if (rc < 0) return;
        auto &live = counters_->live;
        std::erase_if(live, [](const std::weak_ptr<UdsConnection> &w) { return w.expired(); });
        live.push_back(conn);
    });
    if (rc < 0) {
        conn->close();
        return rc;
    }
    *out = std::move(conn);
    return 0;
}

}  // namespace chanfs
