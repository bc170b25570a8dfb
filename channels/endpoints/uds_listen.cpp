#include "channels/endpoints/uds_listen.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <new>

#include <spdlog/spdlog.h>

#include "channels/base/mutex.h"
#include "channels/base/unique_fd.h"
#include "channels/endpoints/bridge.h"
#include "channels/endpoints/fd_pump.h"
#include "channels/endpoints/uds_connect.h"

namespace chanfs {

namespace {

constexpr int kBacklog = 128;

// The file side of one open() of a listening channel.
class SplitFile final : public FileSide {
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

private:
    std::shared_ptr<Channel> in_, out_;
    std::shared_ptr<Handle> inH_, outH_;
    std::atomic<bool> closed_{false};
};

// The listening socket and its clients; loop thread only, but for the
// counters and lastError.
class Listener : public std::enable_shared_from_this<Listener> {
public:
    EventLoop *loop = nullptr;
    std::shared_ptr<Channel> channel;      // file writers -> clients
    std::shared_ptr<Channel> fromClients;  // clients -> file readers
    UdsListenSpec spec;
    UniqueFd fd;
    std::map<uint64_t, std::shared_ptr<FdPump>> clients;
    uint64_t nextId = 1;
    std::atomic<uint64_t> clientCount{0};
    std::shared_ptr<std::atomic<uint64_t>> bytes = std::make_shared<std::atomic<uint64_t>>(0);
    mutable Mutex errMu;  // a leaf lock
    std::string lastError GUARDED_BY(errMu);

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
                    MutexLock g(errMu);
                    lastError = std::string("accept: ") + std::strerror(errno);
                }
                return;
            }
            startClient(UniqueFd(c));
        }
    }
    void startClient(UniqueFd cfd)
    {
        const uint64_t id = nextId++;
        auto reader = channel->open(true, false);
        // One message per read: clients of a pipe or queue take turns.
        channel->setOneMessagePerRead(*reader);
        FdPump::Options opts;
        opts.name = "uds listen " + spec.path + ": client " + std::to_string(id);
        opts.packets = spec.seqpacket;
        opts.hangUpOnRefusal = true;
        FdPump::Hooks hooks;
        std::weak_ptr<Listener> weak = weak_from_this();
        hooks.finished = [weak, id] {
            if (auto l = weak.lock(); l && l->clients.erase(id)) --l->clientCount;
        };
        auto pump = std::make_shared<FdPump>(*loop, std::move(cfd), std::move(opts), bytes,
                                             fromClients, fromClients->open(false, true), channel,
                                             std::move(reader), std::move(hooks));
        clients[id] = pump;
        ++clientCount;
        pump->start();
    }
    void stop()
    {
        if (fd) loop->unwatch(fd.get());
        fd.reset();
        auto all = std::move(clients);
        clients.clear();
        for (auto &[id, c] : all) c->hangUp(nullptr);
        clientCount = 0;
        // File readers waiting on what clients send get end-of-file.
        fromClients->detach();
    }
};

class UdsListenEndpoint final : public Endpoint {
public:
    UdsListenEndpoint(std::shared_ptr<Listener> l, dev_t dev, ino_t ino, Credentials as)
        : l_(std::move(l)), dev_(dev), ino_(ino), as_(std::move(as))
    {
    }
    ~UdsListenEndpoint() override
    {
        auto l = l_;
        l_->loop->sync([l] { l->stop(); });
        removeMadeFile(l_->spec.path, dev_, ino_, as_);
    }
    UdsListenEndpoint(const UdsListenEndpoint &) = delete;
    UdsListenEndpoint &operator=(const UdsListenEndpoint &) = delete;

    std::string describe() const override
    {
        return (l_->spec.seqpacket ? "listen-seqpacket:" : "listen:") + l_->spec.path;
    }
    std::string outsidePath() const override { return l_->spec.path; }
    std::vector<EndpointStat> stats() const override
    {
        MutexLock g(l_->errMu);
        return {{"uds_clients", std::to_string(l_->clientCount.load())},
                {"uds_bytes", std::to_string(l_->bytes->load())},
                {"uds_error", l_->lastError, false}};
    }
    int followChannel(mode_t mode, uid_t uid, gid_t gid) override
    {
        return giveFileTo(l_->spec.path, dev_, ino_, mode, uid, gid);
    }
    int openFile(const std::function<Credentials()> &, bool reads, bool writes,
                 std::shared_ptr<FileSide> *out) override
    {
        try {
            *out = std::make_shared<SplitFile>(l_->fromClients, l_->channel, reads, writes);
        } catch (const std::bad_alloc &) {
            return -ENOMEM;
        }
        return 0;
    }
    const Channel *queuedForFile() const override { return l_->fromClients.get(); }

private:
    std::shared_ptr<Listener> l_;
    dev_t dev_;
    ino_t ino_;
    Credentials as_;
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

int makeUdsListen(EventLoop &loop, const EndpointTarget &target, const UdsListenSpec &spec,
                  std::shared_ptr<Endpoint> *out, std::string *why)
{
    if (loop.status() < 0) {
        *why = "the bridge event loop is not running";
        return loop.status();
    }
    const std::shared_ptr<Channel> &channel = target.channel;
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
        AsUser as(target.as);
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
    if (int rc = giveFileTo(spec.path, st.st_dev, st.st_ino, target.mode, target.uid, target.gid);
        rc < 0) {
        removeMadeFile(spec.path, st.st_dev, st.st_ino, target.as);
        *why = "cannot give the socket " + spec.path + " the channel's owner and mode";
        return rc;
    }
    if (::listen(fd.get(), kBacklog) < 0) {
        const int err = errno;
        removeMadeFile(spec.path, st.st_dev, st.st_ino, target.as);
        *why = "cannot listen on " + spec.path;
        return -err;
    }
    l->fd = std::move(fd);
    loop.sync([l] { l->start(); });
    *out = std::make_shared<UdsListenEndpoint>(l, st.st_dev, st.st_ino, target.as);
    spdlog::info("uds bridge {} listening for channel {}", (*out)->describe(), channel->name());
    return 0;
}

}  // namespace chanfs
