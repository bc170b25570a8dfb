#include "fs/tree/filesystem.h"

#include "fs/tree/node_ops.h"

#include <mutex>

#include <spdlog/spdlog.h>

#include "channels/core/memory_budget.h"
#include "channels/storage/registry.h"

#include <unistd.h>

namespace chanfs::fs {

Filesystem::Filesystem(const Options &o) : opts(o), inodes(getuid(), getgid(), 0755)
{
    const uint64_t maxMemory = o.maxMemoryBytes ? o.maxMemoryBytes : defaultMaxMemory();
    MemoryBudget::global().setLimit(maxMemory);
    // Debug: at info the mount logs one line (see the README's daemon section).
    spdlog::debug("max_memory {} bytes{}, max_channels {}", maxMemory,
                  o.maxMemoryBytes ? "" : " (a quarter of RAM)", o.maxChannels);
    // Fan-out batching wakes held topic readers from the bridge loop.
    Channel::setWakeScheduler([this](std::chrono::milliseconds delay, std::function<void()> task) {
        return loop.postAfter(delay, std::move(task));
    });
}

Filesystem::~Filesystem()
{
    Channel::setWakeScheduler({});
}

void Filesystem::closeAll()
{
    Channel::setWakeScheduler({});
    std::vector<std::shared_ptr<Endpoint>> bridges;
    {
        std::unique_lock lock(inodes.mutex());
        bridges = inodes.takeAllEndpoints();
    }
    bridges.clear();  // stops them and removes the FIFOs they created
    for (auto &of : files.takeAll()) {
        of->reading().channel->shutdown();
        of->writing().channel->shutdown();
        of->close();
    }
    dirs.takeAll();
    // Writes waiting for an fsync are answered before the session ends.
    finishPendingSyncs();
    if (state) state->sync();
}

void Filesystem::releaseEarly(uint64_t fh)
{
    // Only the thread that read this RELEASE will dispatch it, so the file
    // cannot be freed under us.
    if (OpenFile *of = files.find(fh)) of->close();
}

namespace {
bool later(const timespec &a, const timespec &b)
{
    return a.tv_sec != b.tv_sec ? a.tv_sec > b.tv_sec : a.tv_nsec > b.tv_nsec;
}
}  // namespace

ChannelStats fileStats(const Node &n)
{
    ChannelStats s = n.channel->stats();
    for (const auto &[key, e] : n.endpoints.items()) {
        const Channel *extra = e->queuedForFile();
        if (!extra) continue;
        const ChannelStats x = extra->stats();
        s.queuedMessages += x.queuedMessages;
        s.queuedBytes += x.queuedBytes;
        s.inMessages += x.inMessages;
        s.inBytes += x.inBytes;
        s.totalBytes += x.totalBytes;
        if (later(x.lastWrite, s.lastWrite)) s.lastWrite = x.lastWrite;
    }
    return s;
}

void fillStat(const Node &n, struct stat *st)
{
    *st = {};
    st->st_ino = n.ino;
    st->st_mode = n.mode;
    st->st_uid = n.uid;
    st->st_gid = n.gid;
    st->st_atim = n.atime;
    st->st_mtim = n.mtime;
    st->st_ctim = n.ctime;
    // Big enough that cat & co. read many messages per call.
    st->st_blksize = 128 * 1024;
    if (n.isDir) {
        st->st_nlink = 2 + n.subdirs;
        st->st_size = static_cast<off_t>(n.children.size());
    } else {
        st->st_nlink = n.unlinked ? 0 : 1;
        if (n.channel) {
            const ChannelStats s = fileStats(n);
            st->st_size = static_cast<off_t>(s.totalBytes);
            if (later(s.lastWrite, st->st_mtim)) st->st_mtim = s.lastWrite;
        }
        st->st_blocks = (st->st_size + 511) / 512;
    }
}

fuse_entry_param entryFor(Node &n)
{
    fuse_entry_param e{};
    e.ino = n.ino;
    e.generation = 1;
    fillStat(n, &e.attr);
    // Channel sizes and times change with every message: never cache them.
    e.attr_timeout = n.isDir ? 1.0 : 0.0;
    e.entry_timeout = 1.0;
    return e;
}

// The caller's identity for a bridge: uid, gid and supplementary groups.
Credentials callerOf(fuse_req_t req)
{
    const fuse_ctx *ctx = fuse_req_ctx(req);
    Credentials c;
    c.uid = ctx->uid;
    c.gid = ctx->gid;
    std::vector<gid_t> groups(64);
    int n = fuse_req_getgroups(req, static_cast<int>(groups.size()), groups.data());
    if (n > static_cast<int>(groups.size())) {
        groups.resize(static_cast<size_t>(n));
        n = fuse_req_getgroups(req, n, groups.data());
    }
    if (n > 0) {
        groups.resize(static_cast<size_t>(n));
        c.groups = std::move(groups);
    }
    return c;
}

}  // namespace chanfs::fs
