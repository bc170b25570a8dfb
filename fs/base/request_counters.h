// What the FUSE layer counts for the metrics endpoint (fs/daemon/metrics.*):
// requests by operation and how long their handlers held a request thread,
// interrupts, and replies the kernel refused. One instance per process
// (requestCounters()); the counting happens in fs/fuse/ops.cpp's dispatch
// and fs/fuse/fuse_waiters.cpp.
//
// Threading contract: thread-safe and lock-free: the request path only does
// relaxed atomic increments; a scrape reads whatever has landed.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "channels/base/latency_histogram.h"

namespace chanfs::fs {

enum class RequestOp : uint8_t {
    Lookup,
    Forget,
    ForgetMulti,
    Getattr,
    Setattr,
    Mknod,
    Mkdir,
    Create,
    Unlink,
    Rmdir,
    Rename,
    Link,
    Symlink,
    Open,
    Release,
    Flush,
    Fsync,
    Read,
    Write,
    Poll,
    Opendir,
    Readdir,
    Releasedir,
    Statfs,
    Setxattr,
    Getxattr,
    Listxattr,
    Removexattr,
    Count,  // not an operation: the number of them
};

inline constexpr size_t kRequestOpCount = static_cast<size_t>(RequestOp::Count);

// The label value for `op`: the FUSE opcode's name in lower case.
inline constexpr std::array<std::string_view, kRequestOpCount> kRequestOpNames = {
    "lookup",  "forget",     "batch_forget", "getattr",  "setattr",  "mknod",     "mkdir",
    "create",  "unlink",     "rmdir",        "rename",   "link",     "symlink",   "open",
    "release", "flush",      "fsync",        "read",     "write",    "poll",      "opendir",
    "readdir", "releasedir", "statfs",       "setxattr", "getxattr", "listxattr", "removexattr"};

struct RequestCounters {
    std::array<std::atomic<uint64_t>, kRequestOpCount> requests{};
    // From the handler's start to its return: the time a request held the
    // request thread. A read that parks returns at once; its wait is not
    // counted (that is the channel's blocked_readers, not latency).
    LatencyHistogram handlerLatency;
    std::atomic<uint64_t> interrupts{0};
    // Replies fuse_reply_* reported as failed, "requester gone" included.
    std::atomic<uint64_t> failedReplies{0};

    void count(RequestOp op) noexcept
    {
        requests[static_cast<size_t>(op)].fetch_add(1, std::memory_order_relaxed);
    }
};

inline RequestCounters &requestCounters()
{
    static RequestCounters counters;
    return counters;
}

}  // namespace chanfs::fs
