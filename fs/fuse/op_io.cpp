// read, write, poll: the data path, answered by the channel now or later.
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include "fs/fuse/fuse_waiters.h"
#include "fs/fuse/ops.h"
#include "fs/fuse/stream_io.h"
#include "fs/fuse/wait_arming.h"
#include "fs/tree/filesystem.h"
#include "fs/tree/state_store.h"

namespace chanfs::fs {

namespace {
// The kernel splits a read(2) into requests of whole user pages.
size_t pageBytes()
{
    static const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    return page;
}
}  // namespace

void opRead(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info *fi) noexcept
{
    const OpenFile *of = FhTable<OpenFile>::get(fi->fh);
    const OpenFile::Target t = of->reading();
    if (!t.handle) {
        fuse_reply_err(req, EBADF);
        return;
    }
    ReadRequest r;
    r.maxBytes = size;
    r.nonblock = (fi->flags & O_NONBLOCK) != 0;
    if (of->seekable) {
        // Offsets are the file position here, so nothing marks the next
        // chunk of one large read(2). The kernel sends one only after a
        // request that used all its pages was answered in full: never
        // fill one that large, and every request starts a read(2).
        if (size > kMaxWriteRequestBytes - pageBytes()) r.maxBytes = size - 1;
    } else {
        // FOPEN_STREAM starts every read(2) at offset 0, so a non-zero
        // offset is the next chunk of one large read that already has
        // data: never make it wait.
        r.continuation = off > 0;
    }
    // Armed for an interrupt only if it must wait (wait_arming.h).
    readArmedToWait(*t.channel, *t.handle, r, makeReadWaiter(req),
                    [&] { armInterrupt(req, t.channel->id()); });
}

mode_t privilegeBitsToKill(mode_t mode)
{
    mode_t kill = mode & S_ISUID;
    if ((mode & S_ISGID) && (mode & S_IXGRP)) kill |= S_ISGID;
    return kill;
}

// As ext4 and tmpfs do (should_remove_suid); the kernel leaves it to us
// for a write (FUSE_WRITE_KILL_SUIDGID) and for an O_TRUNC open.
void clearPrivilegeBits(Filesystem &fs, fuse_ino_t ino)
{
    const auto kills = privilegeBitsToKill;
    {
        std::shared_lock lock(fs.inodes.mutex());
        Node *n = fs.inodes.get(ino);
        if (!n || !kills(n->mode)) return;
    }
    std::unique_lock lock(fs.inodes.mutex());
    Node *n = fs.inodes.get(ino);
    if (!n || !kills(n->mode)) return;
    n->mode &= ~kills(n->mode);
    n->ctime = nowRealtime();
    if (fs.state) fs.state->save(fs, *n);
    if (fs.tree) fs.tree->nodeChanged(*n);
}

void opWrite(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t,
             fuse_file_info *fi) noexcept
{
    // The offset means nothing here: O_APPEND writes carry the cached file
    // size, which is the queued byte count.
    const OpenFile::Target t = FhTable<OpenFile>::get(fi->fh)->writing();
    if (!t.handle) {
        fuse_reply_err(req, EBADF);
        return;
    }
    if (writeKillsSuidgid()) clearPrivilegeBits(fsOf(req), ino);
    WriteRequest w;
    w.data = std::span<const char>(buf, size);
    w.nonblock = (fi->flags & O_NONBLOCK) != 0;
    // Armed for an interrupt only if it must wait for room (wait_arming.h).
    writeArmedToWait(*t.channel, *t.handle, w, makeWriteWaiter(req),
                     [&] { armInterrupt(req, t.channel->id()); });
}

void opPoll(fuse_req_t req, fuse_ino_t, fuse_file_info *fi, fuse_pollhandle *ph) noexcept
{
    OpenFile *of = FhTable<OpenFile>::get(fi->fh);
    std::shared_ptr<PollNotifier> notifier = ph ? makePollNotifier(ph) : nullptr;
    if (!of->conn) {
        fuse_reply_poll(req, of->channel->poll(*of->handle, std::move(notifier)));
        return;
    }
    // A connection: readable from its `in` channel, writable to its `out`
    // channel; both keep the same notifier.
    unsigned events = 0;
    if (Handle *h = of->conn->inHandle()) events |= of->conn->in().poll(*h, notifier);
    if (Handle *h = of->conn->outHandle())
        events |= of->conn->out().poll(*h, notifier) & (POLLOUT | POLLWRNORM | POLLERR);
    fuse_reply_poll(req, events);
}

}  // namespace chanfs::fs
