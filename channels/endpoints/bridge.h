// What the endpoint implementations share (fs/ never includes this file):
// the files they make outside the mount, the channel waiters that post to
// the bridge event loop, and the FIFO bridge's own spec. Each endpoint is
// one more reader or writer of its channel, driven by the shared EventLoop.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <memory>
#include <new>
#include <span>
#include <string>

#include <spdlog/spdlog.h>

#include "channels/base/credentials.h"
#include "channels/base/event_loop.h"
#include "channels/core/channel.h"
#include "channels/endpoints/endpoint.h"

namespace chanfs {

// Gives the file at `path` the permission bits `mode` and the owner
// `uid`:`gid`, if it is still the file with that device and inode (a file
// someone put in its place, symlinks included, is left alone: -ESTALE).
// Runs with the calling thread's identity: the daemon's, which may give a
// file away, so the inode check is what keeps it to files a bridge made.
// 0 or -errno.
int giveFileTo(const std::string &path, dev_t dev, ino_t ino, mode_t mode, uid_t uid, gid_t gid);

// Removes `path` if it is still the file a bridge made there (same device
// and inode, so never a file someone put in its place), as the user who
// made it.
inline void removeMadeFile(const std::string &path, dev_t dev, ino_t ino, const Credentials &as)
{
    AsUser user(as);
    struct stat st {};
    if (user.status() == 0 && ::lstat(path.c_str(), &st) == 0 && st.st_dev == dev &&
        st.st_ino == ino && ::unlink(path.c_str()) == 0)
        spdlog::info("bridge: removed {}", path);
}

// Channel waiters for a bridge. The channel calls them on whichever thread
// brought data or room; they touch no bridge state, but post the outcome to
// the bridge's event loop, where `T`'s handlers run. A bridge that is gone
// refuses a delivery (-EPIPE), so the channel keeps the data.
template <typename T>
class LoopReadWaiter final : public ReadWaiter {
public:
    // `endOfStream`: a pipe's end mark (no data).
    using OnData = void (*)(T &, std::string data, bool endOfStream);
    using OnFail = void (*)(T &, int err);
    LoopReadWaiter(std::weak_ptr<T> target, EventLoop &loop, OnData onData, OnFail onFail)
        : target_(std::move(target)), loop_(loop), onData_(onData), onFail_(onFail)
    {
    }
    uintptr_t key() const override { return reinterpret_cast<uintptr_t>(this); }
    bool interrupted() const override { return false; }
    int deliver(std::span<const iovec> data) noexcept override
    {
        auto t = target_.lock();
        if (!t) return -EPIPE;
        try {
            const bool mark = data.empty();
            if (!loop_.post([t, f = onData_, copy = flatten(data), mark]() mutable {
                    f(*t, std::move(copy), mark);
                }))
                return -EPIPE;
            return 0;
        } catch (const std::bad_alloc &) {
            return -ENOMEM;
        }
    }
    void fail(int err) noexcept override
    {
        try {
            if (auto t = target_.lock()) loop_.post([t, f = onFail_, err] { f(*t, err); });
        } catch (const std::bad_alloc &) {
            spdlog::error("bridge: out of memory");
        }
    }

private:
    std::weak_ptr<T> target_;
    EventLoop &loop_;
    OnData onData_;
    OnFail onFail_;
};

template <typename T>
class LoopWriteWaiter final : public WriteWaiter {
public:
    // `err` 0: `accepted` bytes went in; otherwise the write was refused.
    using OnDone = void (*)(T &, size_t accepted, int err);
    LoopWriteWaiter(std::weak_ptr<T> target, EventLoop &loop, OnDone onDone)
        : target_(std::move(target)), loop_(loop), onDone_(onDone)
    {
    }
    uintptr_t key() const override { return reinterpret_cast<uintptr_t>(this); }
    bool interrupted() const override { return false; }
    int done(size_t n) noexcept override
    {
        post(n, 0);
        return 0;
    }
    void fail(int err) noexcept override { post(0, err); }

private:
    void post(size_t n, int err) noexcept
    {
        try {
            if (auto t = target_.lock()) loop_.post([t, f = onDone_, n, err] { f(*t, n, err); });
        } catch (const std::bad_alloc &) {
            spdlog::error("bridge: out of memory");
        }
    }
    std::weak_ptr<T> target_;
    EventLoop &loop_;
    OnDone onDone_;
};

enum class FifoDirection { In, Out };

struct FifoBridgeSpec {
    FifoDirection direction = FifoDirection::In;
    std::string path;    // absolute
    mode_t mode = 0600;  // permission bits for a FIFO chanfs creates
    uid_t ownerUid = 0;  // owner and group for a FIFO chanfs creates
    gid_t ownerGid = 0;
    Credentials as;  // whose rights create and open the path
};

// Parses "in:/path" or "out:/path". -EINVAL with `why` if malformed.
int parseFifoSpec(std::string_view value, FifoBridgeSpec *spec, std::string *why);

// Creates (or adopts) the FIFO and starts moving data between it and `ch`.
// Destroying the bridge stops it, and removes the FIFO if it created it.
// 0 or -errno, with `why` for the log.
int makeFifoBridge(EventLoop &loop, std::shared_ptr<Channel> ch, const FifoBridgeSpec &spec,
                   std::shared_ptr<Endpoint> *out, std::string *why);

}  // namespace chanfs
