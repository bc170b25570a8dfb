#include "stream_io.h"

#include <sys/uio.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <vector>

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
    out.openFlags |= kFopenStream;
    std::memcpy(tail.data() + tail.size() - sizeof out, &out, sizeof out);
    std::vector<iovec> patched(iov, iov + count);
    patched.back() = iovec{tail.data(), tail.size()};
    return ::writev(fd, patched.data(), count);
}

ssize_t plainRead(int fd, void *buf, size_t len, void *) { return ::read(fd, buf, len); }

struct StreamFlag {
    StreamFlag() { tlMarkStream = true; }
    ~StreamFlag() { tlMarkStream = false; }
    StreamFlag(const StreamFlag &) = delete;
    StreamFlag &operator=(const StreamFlag &) = delete;
};

}  // namespace

int installStreamIo(fuse_session *se)
{
    fuse_custom_io io{};
    io.writev = streamWritev;
    io.read = plainRead;
    return fuse_session_custom_io(se, &io, fuse_session_fd(se));
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
