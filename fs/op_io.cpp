// read, write, poll: the data path, answered by the channel now or later.
#include <fcntl.h>

#include "filesystem.h"
#include "fuse_waiters.h"
#include "ops.h"

namespace chanfs::fs {

void opRead(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info *fi) noexcept
{
    OpenFile *of = FhTable<OpenFile>::get(fi->fh);
    ReadRequest r;
    r.maxBytes = size;
    r.nonblock = (fi->flags & O_NONBLOCK) != 0;
    // FOPEN_STREAM starts every read(2) at offset 0, so a non-zero offset
    // is the next chunk of one large read that already has data: never
    // make it wait.
    r.continuation = off > 0;
    if (!r.nonblock && !r.continuation) armInterrupt(req, of->channel->id());
    of->channel->read(*of->handle, r, makeReadWaiter(req));
}

void opWrite(fuse_req_t req, fuse_ino_t, const char *buf, size_t size, off_t,
             fuse_file_info *fi) noexcept
{
    // The offset means nothing here: O_APPEND writes carry the cached file
    // size, which is the queued byte count.
    OpenFile *of = FhTable<OpenFile>::get(fi->fh);
    WriteRequest w;
    w.data = std::span<const char>(buf, size);
    w.nonblock = (fi->flags & O_NONBLOCK) != 0;
    if (!w.nonblock) armInterrupt(req, of->channel->id());
    of->channel->write(*of->handle, w, makeWriteWaiter(req));
}

void opPoll(fuse_req_t req, fuse_ino_t, fuse_file_info *fi, fuse_pollhandle *ph) noexcept
{
    OpenFile *of = FhTable<OpenFile>::get(fi->fh);
    const unsigned events =
        of->channel->poll(*of->handle, ph ? makePollNotifier(ph) : nullptr);
    fuse_reply_poll(req, events);
}

}  // namespace chanfs::fs
