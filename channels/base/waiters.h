// The channel's view of requests that may be answered later: a parked read
// or write, and a poll registration. fs/ implements them over fuse_req_t and
// fuse_pollhandle; bridges and tests implement them without FUSE.
//
// Threading contract: a channel calls interrupted() with its mutex held (it
// must not block or take locks that wait on the channel), and every other
// method with no channel lock held, exactly once per waiter.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace chanfs {

class ReadWaiter {
public:
    virtual ~ReadWaiter() = default;
    // Identifies the request for Channel::cancel().
    virtual uintptr_t key() const = 0;
    // True once the requester gave up (signal); the channel then fails it
    // with EINTR instead of handing it data.
    virtual bool interrupted() const = 0;
    // Hands over the data (empty: end of stream). Returns 0, or -errno if
    // the requester is gone; the channel then takes the data back.
    virtual int deliver(std::span<const iovec> data) noexcept = 0;
    virtual void fail(int err) noexcept = 0;
};

// The bytes of a delivery in one buffer (for a reply that cannot take many
// segments, or to hand them to another thread). Throws std::bad_alloc.
inline std::string flatten(std::span<const iovec> data)
{
    size_t total = 0;
    for (const iovec &v : data) total += v.iov_len;
    std::string out;
    out.reserve(total);
    for (const iovec &v : data) out.append(static_cast<const char *>(v.iov_base), v.iov_len);
    return out;
}

class WriteWaiter {
public:
    virtual ~WriteWaiter() = default;
    virtual uintptr_t key() const = 0;
    virtual bool interrupted() const = 0;
    virtual int done(size_t acceptedBytes) noexcept = 0;
    virtual void fail(int err) noexcept = 0;
};

// Wakes a poller whose readiness changed. Shared because a notification in
// flight may outlive the handle's registration.
class PollNotifier {
public:
    virtual ~PollNotifier() = default;
    virtual void notify() noexcept = 0;
};

}  // namespace chanfs
