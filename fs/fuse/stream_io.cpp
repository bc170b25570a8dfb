#include "fs/fuse/stream_io.h"

#include "fs/fuse/request_poll.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <vector>

#include "channels/base/mutex.h"

namespace chanfs::fs {

namespace {

// Kernel ABI (include/uapi/linux/fuse.h), stable since protocol 7.x. The
// kernel header clashes with libfuse's, so the two layouts used are here.
struct OutHeader {
    uint32_t len;
    int32_t error;
    uint64_t unique;
};
struct OpenOut {
    uint64_t fh;
    uint32_t openFlags;
    uint32_t padding;
};
constexpr uint32_t kFopenStream = 1u << 4;
// Lets the kernel send several writes of one file at once (Linux 6.2+;
// libfuse 3.14 has no field for it). Without it, one write parked on a
// full channel or a NATS ack holds every other writer of the file in
// state D on the inode lock, deaf to O_NONBLOCK and to signals. The kernel
// still takes the lock for O_APPEND writes and for writes past the file's
// size (docs/limits-programs.md).
constexpr uint32_t kFopenParallelDirectWrites = 1u << 6;
struct InHeader {
    uint32_t len;
    uint32_t opcode;
    uint64_t unique;
    uint64_t nodeid;
    uint32_t uid;
    uint32_t gid;
    uint32_t pid;
    uint16_t totalExtlen;
    uint16_t padding;
};
struct ReleaseIn {
    uint64_t fh;
    uint32_t flags;
    uint32_t releaseFlags;
    uint64_t lockOwner;
};
constexpr uint32_t kOpRelease = 18;
struct WriteIn {
    uint64_t fh;
    uint64_t offset;
    uint32_t size;
    uint32_t writeFlags;
};
constexpr uint32_t kOpWrite = 16;
constexpr uint32_t kWriteKillSuidgid = 1u << 2;

// The request this thread read last was a WRITE carrying kWriteKillSuidgid.
thread_local bool tlWriteKillsSuidgid = false;

// Held for one non-blocking read and the early release it may carry.
Mutex gReadMu;  // a leaf lock
EarlyRelease gOnRelease;
// One request thread that never spins: /dev/fuse stays blocking and reads
// need no poll.
bool gBlockingRead = false;
unsigned gPollUs = 0;
fuse_session *gSession = nullptr;

// Set by replyOpenStream() around its fuse_reply_* call, which writes the
// reply synchronously on the same thread.
thread_local bool tlMarkStream = false;

ssize_t streamWritev(int fd, struct iovec *iov, int count, void *)
{
    if (!tlMarkStream || count < 2 || iov[0].iov_len < sizeof(OutHeader))
        return ::writev(fd, iov, count);
    const auto *hdr = static_cast<const OutHeader *>(iov[0].iov_base);
    iovec &last = iov[count - 1];
    if (hdr->error != 0 || last.iov_len < sizeof(OpenOut)) return ::writev(fd, iov, count);
    // fuse_open_out ends both the OPEN reply and the CREATE reply (after
    // fuse_entry_out). Patch a copy: libfuse's buffer is not ours.
    std::vector<char> tail(static_cast<char *>(last.iov_base),
                           static_cast<char *>(last.iov_base) + last.iov_len);
    OpenOut out;
    std::memcpy(&out, tail.data() + tail.size() - sizeof out, sizeof out);
    out.openFlags |= kFopenStream | kFopenParallelDirectWrites;
    std::memcpy(tail.data() + tail.size() - sizeof out, &out, sizeof out);
    std::vector<iovec> patched(iov, iov + count);
    patched.back() = iovec{tail.data(), tail.size()};
    return ::writev(fd, patched.data(), count);
}

// Disables thread cancellation for its scope: libfuse cancels its workers
// at exit, and a worker cancelled while holding gReadMu would leave the
// others stuck on it.
struct NoCancel {
    NoCancel() { pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old); }
    ~NoCancel() { pthread_setcancelstate(old, nullptr); }
    NoCancel(const NoCancel &) = delete;
    NoCancel &operator=(const NoCancel &) = delete;
    int old = 0;
};

// One read(2) under gReadMu, with the early release it may carry. The
// caller also holds NoCancel.
ssize_t readLocked(int fd, void *buf, size_t len) REQUIRES(gReadMu)
{
    const ssize_t n = ::read(fd, buf, len);
    tlWriteKillsSuidgid = false;
    if (n >= static_cast<ssize_t>(sizeof(InHeader) + sizeof(WriteIn))) {
        InHeader in;
        std::memcpy(&in, buf, sizeof in);
        if (in.opcode == kOpWrite) {
            WriteIn w;
            std::memcpy(&w, static_cast<const char *>(buf) + sizeof in, sizeof w);
            tlWriteKillsSuidgid = (w.writeFlags & kWriteKillSuidgid) != 0;
        }
    }
    if (n >= static_cast<ssize_t>(sizeof(InHeader) + sizeof(ReleaseIn))) {
        const int err = errno;
        InHeader in;
        std::memcpy(&in, buf, sizeof in);
        if (in.opcode == kOpRelease) {
            ReleaseIn rel;
            std::memcpy(&rel, static_cast<const char *>(buf) + sizeof in, sizeof rel);
            gOnRelease(rel.fh);
        }
        errno = err;
    }
    return n;
}

ssize_t orderedRead(int fd, void *buf, size_t len, void *)
{
    // Each request thread adapts its own window (request_poll.h).
    thread_local PollWindow window(gPollUs);
    auto exited = [] { return fuse_session_exited(gSession) != 0; };
    auto tryRead = [&] {
        NoCancel nc;
        MutexLock g(gReadMu);
        return readLocked(fd, buf, len);
    };
    // The spinning thread keeps gReadMu for its whole window, so at most
    // one thread spins; the others sleep on the mutex or in poll(2).
    auto spinRead = [&](uint64_t deadlineNs) {
        NoCancel nc;
        MutexLock g(gReadMu);
        // Called by spinUntil within g's scope; the analysis cannot follow
        // a lock into a callback.
        auto readHeld = [&]() NO_THREAD_SAFETY_ANALYSIS { return readLocked(fd, buf, len); };
        return spinUntil(deadlineNs, readHeld, exited);
    };
    return readPolling(fd, window, gBlockingRead, tryRead, spinRead, exited);
}

struct StreamFlag {
    StreamFlag() { tlMarkStream = true; }
    ~StreamFlag() { tlMarkStream = false; }
    StreamFlag(const StreamFlag &) = delete;
    StreamFlag &operator=(const StreamFlag &) = delete;
};

}  // namespace

int installStreamIo(fuse_session *se, EarlyRelease onRelease, unsigned threads, unsigned pollUs)
{
    const int fd = fuse_session_fd(se);
    gSession = se;
    gPollUs = pollUs;
    gBlockingRead = threads <= 1 && pollUs == 0;
    const int fl = ::fcntl(fd, F_GETFL);
    if (fl < 0) return -errno;
    if (!gBlockingRead && ::fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return -errno;
    gOnRelease = std::move(onRelease);
    fuse_custom_io io{};
    io.writev = streamWritev;
    io.read = orderedRead;
    return fuse_session_custom_io(se, &io, fd);
}

bool writeKillsSuidgid()
{
    return tlWriteKillsSuidgid;
}

int replyOpenStream(fuse_req_t req, const fuse_file_info *fi)
{
    StreamFlag flag;
    return fuse_reply_open(req, fi);
}

int replyCreateStream(fuse_req_t req, const fuse_entry_param *e, const fuse_file_info *fi)
{
    StreamFlag flag;
    return fuse_reply_create(req, e, fi);
}

}  // namespace chanfs::fs
