// FIFO bridges. `in:` reads a real named FIFO and writes what arrives into
// the channel, one writer session per FIFO writer session; `out:` is one
// reader of the channel (a subscriber for a topic) that writes into a real
// FIFO whenever it has data and a program has the FIFO open for reading.
//
// All FIFO I/O and all bridge state live on the EventLoop thread. Channel
// callbacks (ReadWaiter/WriteWaiter), which run on whichever thread made
// data or room, only post to the loop.
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <new>

#include <spdlog/spdlog.h>

#include "channels/base/mutex.h"
#include "channels/endpoints/bridge.h"

namespace chanfs {

namespace {

using namespace std::chrono_literals;

constexpr size_t kChunk = 64 * 1024;
// How often an `out:` bridge looks for a reader while it has none.
constexpr auto kReconnectDelay = 100ms;
// The least time between an `out:` pipe session's end and the next one.
constexpr auto kSessionGap = 100ms;

std::string errText(int err)
{
    return std::strerror(err);
}

// Shared by both directions: identity, the channel, and the stats.
struct FifoCore {
    std::shared_ptr<Channel> channel;
    FifoBridgeSpec spec;
    EventLoop *loop = nullptr;
    bool stopped = false;  // loop thread only

    std::atomic<bool> connected{false};
    std::atomic<uint64_t> bytes{0};
    mutable Mutex errMu;  // a leaf lock
    std::string lastError GUARDED_BY(errMu);

    // Logs an error once, not on every retry.
    void setError(std::string e)
    {
        MutexLock g(errMu);
        if (e == lastError) return;
        spdlog::warn("fifo bridge {} of channel {}: {}", spec.path, channel->name(), e);
        lastError = std::move(e);
    }
    int openAsUser(int flags)
    {
        AsUser as(spec.as);
        if (as.status() < 0) return as.status();
        const int fd = ::open(spec.path.c_str(), flags | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
    }
};

// ---------------------------------------------------------------- in: ----

class FifoIn : public std::enable_shared_from_this<FifoIn> {
public:
    FifoCore core;

    void start(UniqueFd fd)
    {
        fd_ = std::move(fd);
        watchReadable();
    }
    void stop()
    {
        core.stopped = true;
        if (fd_) core.loop->unwatch(fd_.get());
        fd_.reset();
        endSession();
    }

private:
    // Edge-triggered, on one read end for the bridge's whole life: the
    // kernel wakes it when data comes and when the last writer closes, and
    // does not report the hang-up again until the next writer has come and
    // gone. (Level-triggered, the hang-up would be reported for as long as
    // no writer is there; a fresh read end instead would miss the close of
    // a writer that opened before it.) Each wake-up is read until EAGAIN.
    void watchReadable()
    {
        std::weak_ptr<FifoIn> weak = weak_from_this();
        const int rc = core.loop->watch(fd_.get(), EPOLLIN | EPOLLET, [weak](uint32_t) {
            if (auto b = weak.lock()) b->readSome();
        });
        if (rc < 0) core.setError("cannot watch the FIFO: " + errText(-rc));
    }

    void readSome()
    {
        if (core.stopped || writing_) return;
        buf_.resize(kChunk);
        const ssize_t n = ::read(fd_.get(), buf_.data(), buf_.size());
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR) core.setError("read: " + errText(errno));
            return;
        }
        if (n == 0) {
            // Every writer closed: the session ends. The read end stays
            // open, so writers never find the FIFO without a reader.
            core.connected = false;
            endSession();
            return;
        }
        buf_.resize(static_cast<size_t>(n));
        if (!handle_) handle_ = core.channel->open(false, true);
        core.connected = true;
        off_ = 0;
        writing_ = true;
        writeRest();
    }
    void writeRest()
    {
        WriteRequest w;
        w.data = std::span<const char>(buf_.data() + off_, buf_.size() - off_);
        core.channel->write(*handle_, w,
                            std::make_unique<LoopWriteWaiter<FifoIn>>(
                                weak_from_this(), *core.loop, [](FifoIn &b, size_t n, int err) {
                                    if (b.core.stopped) return;
                                    if (err == 0)
                                        b.written(n);
                                    else
                                        b.writeFailed(err);
                                }));
    }
    void written(size_t n)
    {
        core.bytes += n;
        off_ += n;
        if (off_ < buf_.size()) {
            writeRest();
            return;
        }
        resume();
    }
    void writeFailed(int err)
    {
        // EMSGSIZE/ENOBUFS lose this chunk only; the channel logged why.
        core.setError("channel refused " + std::to_string(buf_.size() - off_) +
                      " bytes: " + errText(err));
        resume();
    }
    // The chunk is in the channel: read on (edge-triggered, nothing else
    // would tell us about what arrived meanwhile).
    void resume()
    {
        writing_ = false;
        buf_.clear();
        if (fd_) readSome();
    }
    void endSession()
    {
        if (handle_) core.channel->release(*handle_);
        handle_.reset();
    }

    UniqueFd fd_;
    std::shared_ptr<Handle> handle_;
    std::string buf_;
    size_t off_ = 0;
    bool writing_ = false;
};

// --------------------------------------------------------------- out: ----

class FifoOut : public std::enable_shared_from_this<FifoOut> {
public:
    FifoCore core;

    void start()
    {
        handle_ = core.channel->open(true, false);
        connect();
    }
    void stop()
    {
        core.stopped = true;
        disconnect();
        if (handle_) core.channel->release(*handle_);
        handle_.reset();
    }

private:
    void connect()
    {
        if (core.stopped || fd_ || draining_) return;
        const int fd = core.openAsUser(O_WRONLY | O_NONBLOCK);
        if (fd < 0) {
            if (fd != -ENXIO) core.setError("open: " + errText(-fd));  // ENXIO: no reader yet
            retryLater();
            return;
        }
        fd_.reset(fd);
        core.connected = true;
        std::weak_ptr<FifoOut> weak = weak_from_this();
        core.loop->watch(fd_.get(), 0, [weak](uint32_t ev) {
            if (auto b = weak.lock()) b->onEvent(ev);
        });
        pump();
    }
    // After a session's end the FIFO is opened again only when the next
    // session has data, and not before kSessionGap: a reader that is done
    // with a session (cat) has closed by then and sees its end-of-file; one
    // that keeps the FIFO open gets the next session, as from a kernel FIFO
    // writer. (Probing for readers with an open() would wake a reader
    // blocked in its own open() with an empty end-of-file.)
    class DataNotifier final : public PollNotifier {
    public:
        explicit DataNotifier(std::weak_ptr<FifoOut> b) : b_(std::move(b)) {}
        void notify() noexcept override
        {
            try {
                if (auto b = b_.lock()) b->core.loop->post([b] { b->dataReady(); });
            } catch (const std::bad_alloc &) {
                spdlog::error("fifo bridge: out of memory");
            }
        }

    private:
        std::weak_ptr<FifoOut> b_;
    };
    void dataReady()
    {
        if (!draining_ || core.stopped || !handle_) return;
        const unsigned ev =
            core.channel->poll(*handle_, std::make_shared<DataNotifier>(weak_from_this()));
        // POLLHUP: the next item is an empty session's end, which is due
        // to the next reader too.
        if (!(ev & (POLLIN | POLLHUP))) return;  // notified again when that changes
        const auto wait = sessionEnd_ + kSessionGap - std::chrono::steady_clock::now();
        if (wait > std::chrono::steady_clock::duration::zero()) {
            std::weak_ptr<FifoOut> weak = weak_from_this();
            core.loop->postAfter(std::chrono::ceil<std::chrono::milliseconds>(wait), [weak] {
                if (auto b = weak.lock()) b->dataReady();
            });
            return;
        }
        draining_ = false;
        connect();
    }
    void retryLater()
    {
        if (retryPending_ || core.stopped) return;
        retryPending_ = true;
        std::weak_ptr<FifoOut> weak = weak_from_this();
        core.loop->postAfter(kReconnectDelay, [weak] {
            if (auto b = weak.lock()) {
                b->retryPending_ = false;
                b->connect();
            }
        });
    }
    void disconnect()
    {
        if (fd_) core.loop->unwatch(fd_.get());
        fd_.reset();
        core.connected = false;
        // What the reader did not take goes back to the channel.
        if (!out_.empty() && handle_) core.channel->unread(*handle_, out_);
        out_.clear();
        endAfterFlush_ = false;
    }
    void onEvent(uint32_t ev)
    {
        if (ev & (EPOLLERR | EPOLLHUP)) {
            // The reading program went away.
            disconnect();
            retryLater();
            return;
        }
        if (ev & EPOLLOUT) pump();
    }
    void pump()
    {
        if (core.stopped || !fd_) return;
        if (!out_.empty()) {
            const ssize_t n = ::write(fd_.get(), out_.data(), out_.size());
            if (n < 0 && errno != EAGAIN && errno != EINTR) {
                if (errno != EPIPE) core.setError("write: " + errText(errno));
                disconnect();
                retryLater();
                return;
            }
            if (n > 0) {
                core.bytes += static_cast<uint64_t>(n);
                out_.erase(0, static_cast<size_t>(n));
            }
            if (!out_.empty()) {
                watchWritable(true);
                return;
            }
        }
        watchWritable(false);
        if (endAfterFlush_) {
            // A pipe session ended: the reader sees end-of-file.
            disconnect();
            draining_ = true;
            sessionEnd_ = std::chrono::steady_clock::now();
            dataReady();
            return;
        }
        if (reading_) return;
        int queued = 0;
        const int size = ::fcntl(fd_.get(), F_GETPIPE_SZ);
        if (size <= 0 || ::ioctl(fd_.get(), FIONREAD, &queued) < 0) queued = 0;
        const size_t room = size > queued ? static_cast<size_t>(size - queued) : 0;
        if (room == 0) {
            watchWritable(true);
            return;
        }
        reading_ = true;
        ReadRequest r;
        r.maxBytes = room;
        core.channel->read(
            *handle_, r,
            std::make_unique<LoopReadWaiter<FifoOut>>(
                weak_from_this(), *core.loop,
                [](FifoOut &b, std::string data, bool mark) { b.delivered(std::move(data), mark); },
                [](FifoOut &b, int err) { b.readFailed(err); }));
    }
    void watchWritable(bool on)
    {
        std::weak_ptr<FifoOut> weak = weak_from_this();
        core.loop->watch(fd_.get(), on ? uint32_t{EPOLLOUT} : 0u, [weak](uint32_t ev) {
            if (auto b = weak.lock()) b->onEvent(ev);
        });
    }
    void delivered(std::string data, bool mark)
    {
        reading_ = false;
        if (core.stopped) {
            if (handle_) core.channel->unread(*handle_, data);
            return;
        }
        if (mark) {
            endAfterFlush_ = fd_.get() >= 0;
        } else if (!fd_) {
            core.channel->unread(*handle_, data);
            return;
        } else {
            out_.append(data);
        }
        pump();
    }
    void readFailed(int err)
    {
        reading_ = false;
        if (core.stopped) return;
        core.setError("channel read failed: " + errText(err));
    }

    UniqueFd fd_;
    std::shared_ptr<Handle> handle_;
    std::string out_;  // taken from the channel, not yet in the FIFO
    bool reading_ = false;
    bool retryPending_ = false;
    bool endAfterFlush_ = false;
    bool draining_ = false;
    std::chrono::steady_clock::time_point sessionEnd_;
};

// ------------------------------------------------------------- wrapper ----

template <typename Impl>
class FifoBridge final : public Endpoint {
public:
    FifoBridge(std::shared_ptr<Impl> impl, bool created, dev_t dev, ino_t ino)
        : impl_(std::move(impl)), created_(created), dev_(dev), ino_(ino)
    {
    }
    ~FifoBridge() override
    {
        EventLoop &loop = *impl_->core.loop;
        auto impl = impl_;
        loop.sync([impl] { impl->stop(); });
        if (created_) removeMadeFile(impl_->core.spec.path, dev_, ino_, impl_->core.spec.as);
    }
    FifoBridge(const FifoBridge &) = delete;
    FifoBridge &operator=(const FifoBridge &) = delete;

    std::string describe() const override
    {
        const auto &s = impl_->core.spec;
        return (s.direction == FifoDirection::In ? "in:" : "out:") + s.path;
    }
    std::string outsidePath() const override { return impl_->core.spec.path; }
    std::vector<EndpointStat> stats() const override
    {
        MutexLock g(impl_->core.errMu);
        return {{"fifo_connected", impl_->core.connected ? "1" : "0"},
                {"fifo_bytes", std::to_string(impl_->core.bytes.load())},
                {"fifo_error", impl_->core.lastError, false}};
    }
    int followChannel(mode_t mode, uid_t uid, gid_t gid) override
    {
        if (!created_) return 0;
        return giveFileTo(impl_->core.spec.path, dev_, ino_, mode, uid, gid);
    }

private:
    std::shared_ptr<Impl> impl_;
    bool created_;
    dev_t dev_;
    ino_t ino_;
};

}  // namespace

int parseFifoSpec(std::string_view value, FifoBridgeSpec *spec, std::string *why)
{
    std::string_view path;
    if (value.substr(0, 3) == "in:") {
        spec->direction = FifoDirection::In;
        path = value.substr(3);
    } else if (value.substr(0, 4) == "out:") {
        spec->direction = FifoDirection::Out;
        path = value.substr(4);
    } else {
        *why = "expected in:/path or out:/path";
        return -EINVAL;
    }
    if (path.empty() || path[0] != '/') {
        *why = "the FIFO path must be absolute";
        return -EINVAL;
    }
    if (path.find('\0') != std::string_view::npos || path.size() >= PATH_MAX) {
        *why = "the FIFO path is not a valid path";
        return -EINVAL;
    }
    spec->path = std::string(path);
    return 0;
}

int makeFifoBridge(EventLoop &loop, std::shared_ptr<Channel> ch, const FifoBridgeSpec &spec,
                   std::shared_ptr<Endpoint> *out, std::string *why)
{
    if (loop.status() < 0) {
        *why = "the bridge event loop is not running";
        return loop.status();
    }
    const std::string name = ch->name();
    bool created = false;
    struct stat st {};
    UniqueFd inFd;
    {
        AsUser as(spec.as);
        if (as.status() < 0) {
            *why = "cannot take the caller's identity";
            return as.status();
        }
        const char *path = spec.path.c_str();
        if (::lstat(path, &st) == 0) {
            if (!S_ISFIFO(st.st_mode)) {
                *why = spec.path + " exists and is not a FIFO";
                return -EEXIST;
            }
        } else if (errno != ENOENT) {
            *why = "cannot look at " + spec.path;
            return -errno;
        } else {
            if (::mkfifo(path, spec.mode & 07777) < 0) {
                const int err = errno;
                *why = "cannot create the FIFO " + spec.path;
                return -err;
            }
            created = true;
            if (::lstat(path, &st) < 0) {
                *why = "the new FIFO vanished";
                return -errno;
            }
        }
        if (spec.direction == FifoDirection::In) {
            const int fd = ::open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
            if (fd < 0) {
                const int err = errno;
                if (created) ::unlink(path);
                *why = "cannot open the FIFO " + spec.path + " for reading";
                return -err;
            }
            inFd.reset(fd);
        } else if (::faccessat(AT_FDCWD, path, W_OK, AT_EACCESS) < 0) {
            // AT_EACCESS: checked with the fsuid taken above, not the
            // daemon's real uid. (Opening it here would hand a reader an
            // early end-of-file when we closed it again.)
            const int err = errno;
            if (created) ::unlink(path);
            *why = "cannot write to the FIFO " + spec.path;
            return -err;
        }
    }
    // Owned and moded like the channel, whatever the umask and even where
    // the caller could not give it the channel's group: with the daemon's
    // identity, on the inode just made. mkfifo gave it at most the
    // channel's mode meanwhile.
    if (created) {
        if (int rc = giveFileTo(spec.path, st.st_dev, st.st_ino, spec.mode, spec.ownerUid,
                                spec.ownerGid);
            rc < 0) {
            removeMadeFile(spec.path, st.st_dev, st.st_ino, spec.as);
            *why = "cannot give the FIFO " + spec.path + " the channel's owner and mode";
            return rc;
        }
    }
    try {
        if (spec.direction == FifoDirection::In) {
            auto impl = std::make_shared<FifoIn>();
            impl->core.channel = std::move(ch);
            impl->core.spec = spec;
            impl->core.loop = &loop;
            loop.sync([impl, &inFd] { impl->start(std::move(inFd)); });
            *out = std::make_shared<FifoBridge<FifoIn>>(impl, created, st.st_dev, st.st_ino);
        } else {
            auto impl = std::make_shared<FifoOut>();
            impl->core.channel = std::move(ch);
            impl->core.spec = spec;
            impl->core.loop = &loop;
            loop.sync([impl] { impl->start(); });
            *out = std::make_shared<FifoBridge<FifoOut>>(impl, created, st.st_dev, st.st_ino);
        }
    } catch (const std::bad_alloc &) {
        *why = "out of memory";
        return -ENOMEM;
    }
    spdlog::info("fifo bridge {} {} channel {}", (*out)->describe(),
                 created ? "created for" : "attached to", name);
    return 0;
}

}  // namespace chanfs
