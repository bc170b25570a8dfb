#include "channels/endpoints/uds_connect.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>
#include <new>
#include <vector>

#include <spdlog/spdlog.h>

#include "channels/base/unique_fd.h"
#include "channels/endpoints/fd_pump.h"

namespace chanfs {

namespace {

class Conn;

struct Counters {
    std::atomic<uint64_t> open{0};
    std::shared_ptr<std::atomic<uint64_t>> bytes = std::make_shared<std::atomic<uint64_t>>(0);
    std::vector<std::weak_ptr<Conn>> live;  // loop thread only
};

// One connection, owned by the open file that made it; the pump, once
// started, keeps itself alive until what the file wrote is sent.
class Conn final : public FileSide, public std::enable_shared_from_this<Conn> {
public:
    Conn(EventLoop &loop, std::shared_ptr<Counters> counters, std::string path,
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
        FdPump::Hooks hooks;
        // Writes fail before readers see the end, so a program that reads
        // end-of-file and then writes gets EPIPE, as on a socket.
        hooks.broken = [out = out_] { out->breakPipe(); };
        hooks.inboundEnded = [in = in_] { in->detach(); };
        hooks.finished = [c = counters_] { --c->open; };
        FdPump::Options opts;
        opts.name = "uds connect " + path_;
        opts.hangUpLevel = spdlog::level::debug;
        ++counters_->open;
        pump_ = std::make_shared<FdPump>(loop_, std::move(fd), std::move(opts), counters_->bytes,
                                         in_, in_->open(false, true), out_, out_->open(true, false),
                                         std::move(hooks));
        pump_->start();
        return 0;
    }

    void close() override
    {
        if (closed_.exchange(true)) return;
        const bool hadWriter = fileOut_ != nullptr;
        // Releasing the writer queues the end mark after what it wrote: the
        // pump sends it all, then half-closes.
        if (fileIn_) in_->release(*fileIn_);
        if (fileOut_) out_->release(*fileOut_);
        if (!pump_) return;
        loop_.post([pump = pump_, hadWriter] {
            pump->stopReceiving();
            if (!hadWriter) pump->finishSending();
        });
    }

    // Loop thread: hangs up now (the endpoint is going away). Readers get
    // end-of-file, writers EPIPE.
    void abort()
    {
        if (pump_) pump_->hangUp(nullptr);
    }

private:
    EventLoop &loop_;
    std::shared_ptr<Counters> counters_;
    const std::string path_;
    std::shared_ptr<Channel> in_;
    std::shared_ptr<Channel> out_;
    std::shared_ptr<Handle> fileIn_;
    std::shared_ptr<Handle> fileOut_;
    std::atomic<bool> closed_{false};
    std::shared_ptr<FdPump> pump_;  // set on the loop thread before the file sees it
};

class UdsConnectEndpoint final : public Endpoint {
public:
    UdsConnectEndpoint(EventLoop &loop, std::shared_ptr<Channel> channel, std::string path)
        : loop_(loop), channel_(std::move(channel)), path_(std::move(path))
    {
    }
    // Hangs up every connection still open through it.
    ~UdsConnectEndpoint() override
    {
        auto counters = counters_;
        loop_.sync([counters] {
            for (auto &w : counters->live)
                if (auto c = w.lock()) c->abort();
            counters->live.clear();
        });
    }
    UdsConnectEndpoint(const UdsConnectEndpoint &) = delete;
    UdsConnectEndpoint &operator=(const UdsConnectEndpoint &) = delete;

    std::string describe() const override { return "connect:" + path_; }
    std::string outsidePath() const override { return path_; }
    std::vector<EndpointStat> stats() const override
    {
        return {{"uds_connected", counters_->open > 0 ? "1" : "0"},
                {"uds_bytes", std::to_string(counters_->bytes->load())}};
    }

    int openFile(const std::function<Credentials()> &opener, bool reads, bool writes,
                 std::shared_ptr<FileSide> *out) override
    {
        if (loop_.status() < 0) return loop_.status();
        // The connection's own channels: the channel's limits, as a byte
        // stream (what a socket is).
        Settings s = channel_->settings();
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
        const Credentials as = opener();
        int rc = 0;
        loop_.sync([&] {
            rc = conn->start(as);
            if (rc < 0) return;
            auto &live = counters_->live;
            std::erase_if(live, [](const std::weak_ptr<Conn> &w) { return w.expired(); });
            live.push_back(conn);
        });
        if (rc < 0) {
            conn->close();
            return rc;
        }
        *out = std::move(conn);
        return 0;
    }

private:
    EventLoop &loop_;
    std::shared_ptr<Channel> channel_;
    const std::string path_;
    std::shared_ptr<Counters> counters_ = std::make_shared<Counters>();
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

std::shared_ptr<Endpoint> makeUdsConnect(EventLoop &loop, std::shared_ptr<Channel> channel,
                                         std::string path)
{
    return std::make_shared<UdsConnectEndpoint>(loop, std::move(channel), std::move(path));
}

}  // namespace chanfs
