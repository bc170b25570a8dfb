// open, release, flush, fsync.
#include <fcntl.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "channels/base/file_io.h"
#include "fs/fuse/ops.h"
#include "fs/fuse/stream_io.h"
#include "fs/tree/filesystem.h"

namespace chanfs::fs {

namespace {

// A read-only open of a channel that hands one line per read is opened
// seekable: GNU head -n1 (and bash's read builtin) call lseek(fd, -extra,
// SEEK_CUR) after the line they wanted and, on a regular file, report the
// ESPIPE a stream gives as an error (a FIFO's S_ISFIFO keeps them quiet,
// but a channel must be a regular file). With one line per read the
// extra is always 0, so the seek changes nothing and nothing is lost.
// Everything else stays FOPEN_STREAM: only a stream is free of the
// kernel's file-position lock, which would make a shared O_RDWR
// descriptor's writer wait for its blocked reader; on a shared read-only
// descriptor the lock only queues readers behind each other
// (docs/limits-programs.md). Other framings stay streams because a
// message may hold several lines, and a reader's seek back over the rest
// would lose it silently (the daemon never sees an lseek).
bool takesOneLinePerRead(const Settings &s)
{
    return s.delivery == ReadDelivery::One && s.framing == Framing::Lines;
}

// Whether the process behind `req` holds CAP_FSETID (its effective set in
// /proc). The kernel would say so in FUSE_OPEN_KILL_SUIDGID, but only
// under FUSE_HANDLE_KILLPRIV_V2, which libfuse 3.14 cannot ask for. A
// caller whose /proc entry cannot be read (gone, another pid namespace)
// counts as capable only if it is root.
bool callerHasFsetid(fuse_req_t req)
{
    const fuse_ctx *ctx = fuse_req_ctx(req);
    constexpr int kCapFsetid = 4;  // linux/capability.h
    std::string status;
    if (ctx->pid > 0 &&
        readWholeFile("/proc/" + std::to_string(ctx->pid) + "/status", &status) == 0) {
        const size_t at = status.find("\nCapEff:");
        if (at != std::string::npos) {
            const unsigned long long eff =
                std::strtoull(status.c_str() + at + sizeof "\nCapEff:" - 1, nullptr, 16);
            return (eff >> kCapFsetid) & 1;
        }
    }
    return ctx->uid == 0;
}

}  // namespace

void opOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info *fi) noexcept
{
    Filesystem &fs = fsOf(req);
    auto of = std::make_unique<OpenFile>();
    std::vector<std::shared_ptr<Endpoint>> endpoints;
    bool killsPrivilege = false;
    {
        std::shared_lock lock(fs.inodes.mutex());
        Node *n = fs.inodes.get(ino);
        if (!n || n->isDir || !n->channel) {
            const int err = !n ? ENOENT : EISDIR;
            lock.unlock();
            fuse_reply_err(req, err);
            return;
        }
        of->channel = n->channel;
        of->ino = ino;
        endpoints = n->endpoints.all();
        killsPrivilege = (fi->flags & O_TRUNC) && privilegeBitsToKill(n->mode);
    }
    // An O_TRUNC open truncates in the OPEN itself (atomic_o_trunc), so no
    // SETATTR follows and the kernel clears nothing: `: > chan` by someone
    // without CAP_FSETID must clear set-user-ID as truncate(1) does.
    if (killsPrivilege && !callerHasFsetid(req)) clearPrivilegeBits(fs, ino);
    // O_TRUNC and O_APPEND change nothing on a channel; O_NONBLOCK is read
    // per request. Opening never waits (a Unix-socket connect does not).
    // The first endpoint that takes the file over (a uds connection or
    // listening socket) gives it its file side.
    const OpenMode mode = openModeOf(fi->flags);
    const bool reads = mode.reads, writes = mode.writes;
    if (mode.watches()) endpoints.clear();  // a watcher watches the channel itself
    const auto opener = [req] { return callerOf(req); };
    for (const auto &e : endpoints) {
        if (int rc = e->openFile(opener, reads, writes, &of->conn); rc < 0) {
            spdlog::debug("open {}: {} failed: {}", ino, e->describe(), std::strerror(-rc));
            fuse_reply_err(req, -rc);
            return;
        }
        if (of->conn) break;
    }
    if (!of->conn) of->handle = of->channel->open(reads, writes);
    of->seekable = !of->conn && reads && !writes && takesOneLinePerRead(of->channel->settings());
    OpenFile *raw = of.get();
    const bool seekable = of->seekable;
    fi->fh = fs.files.adopt(std::move(of));
    fi->direct_io = 1;
    fi->nonseekable = seekable ? 0 : 1;
    fi->noflush = 1;
    if ((seekable ? fuse_reply_open(req, fi) : replyOpenStream(req, fi)) != 0) {
        // The opener is gone and no RELEASE will come.
        raw->close();
        fs.files.take(fi->fh);
    }
}

void opRelease(fuse_req_t req, fuse_ino_t, fuse_file_info *fi) noexcept
{
    Filesystem &fs = fsOf(req);
    if (std::unique_ptr<OpenFile> of = fs.files.take(fi->fh)) of->close();
    fuse_reply_err(req, 0);
}

void opFlush(fuse_req_t req, fuse_ino_t, fuse_file_info *) noexcept
{
    // Opened with noflush, so the kernel sends none; counting happens on
    // OPEN/RELEASE, since FLUSH comes once per duplicate descriptor.
    fuse_reply_err(req, 0);
}

void opFsync(fuse_req_t req, fuse_ino_t, int, fuse_file_info *) noexcept
{
    fuse_reply_err(req, 0);
}

}  // namespace chanfs::fs
