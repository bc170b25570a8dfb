// mknod, mkdir, create: new directories and channels.
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <shared_mutex>

#include "channels/base/log_limit.h"
#include "fs/fuse/node_reply.h"
#include "fs/fuse/ops.h"
#include "fs/fuse/stream_io.h"
#include "fs/tree/filesystem.h"
#include "fs/tree/node_ops.h"
#include "fs/tree/state_store.h"

namespace chanfs::fs {

int checkNewEntry(Filesystem &fs, Node &dir, const std::string &name, size_t belowBytes,
                  bool counts, const char *op)
{
    if (name.size() > kMaxNameBytes) {
        spdlog::warn("{} {:.64}...: the name is {} bytes, over the {}-byte limit", op, name,
                     name.size(), kMaxNameBytes);
        return ENAMETOOLONG;
    }
    const std::string dirPath = fs.inodes.path(dir);
    const size_t length =
        (dir.ino == FUSE_ROOT_ID ? 0 : dirPath.size()) + 1 + name.size() + belowBytes;
    if (length > kMaxPathBytes) {
        spdlog::warn("{} {}: a path inside the mount would be {} bytes, over the {}-byte limit", op,
                     name, length, kMaxPathBytes);
        return ENAMETOOLONG;
    }
    if (counts && fs.inodes.namedEntries() >= fs.opts.maxChannels) {
        spdlog::warn(
            "{} {}: refused, the mount already holds max_channels={} channels and "
            "directories",
            op, name, fs.opts.maxChannels);
        return ENOSPC;
    }
    return 0;
}

Settings newChannelSettings(Filesystem &fs, Node &dir)
{
    return resolveSettings(fs.opts.defaults, fs.inodes.defaultsChain(dir));
}

Node *makeChannelNode(Filesystem &fs, Node &dir, const std::string &name, mode_t mode, uid_t uid,
                      gid_t gid, const Settings &s, int *err, fuse_ino_t ino)
{
    if (fs.inodes.child(dir, name)) {
        *err = EEXIST;
        return nullptr;
    }
    if ((*err = checkNewEntry(fs, dir, name, 0, true, "create"))) return nullptr;
    Node &n = fs.inodes.add(dir, name, false, mode, uid, gid, ino);
    n.channel = Channel::create(s, fs.inodes.path(n));
    if (ino == 0 && (s.durable || s.nats)) {
        std::string why;
        if (int rc = matchDurability(fs, n, &why); rc < 0) {
            spdlog::error("channel {}: not created: {}", fs.inodes.path(n), why);
            fs.inodes.removeName(dir, name);
            *err = -rc;
            return nullptr;
        }
    }
    if (int rc = fs.state ? fs.state->save(fs, n) : 0; rc < 0) {
        // Not saved: it never existed. A journal just made goes with it.
        if (auto st = n.channel->leaveStore()) st->destroy();
        n.channel->detach();
        fs.inodes.removeName(dir, name);
        *err = -rc;
        return nullptr;
    }
    logLimited(spdlog::level::info, "channel created",
               "channel {} created: kind {}, framing {}, capacity {}", fs.inodes.path(n),
               toString(s.kind), toString(s.framing), s.capacityBytes);
    return &n;
}

Node *makeDirNode(Filesystem &fs, Node &dir, const std::string &name, mode_t mode, uid_t uid,
                  gid_t gid, int *err, fuse_ino_t ino)
{
    if (fs.inodes.child(dir, name)) {
        *err = EEXIST;
        return nullptr;
    }
    if ((*err = checkNewEntry(fs, dir, name, 0, true, "mkdir"))) return nullptr;
    Node &n = fs.inodes.add(dir, name, true, mode, uid, gid, ino);
    if (int rc = fs.state ? fs.state->save(fs, n) : 0; rc < 0) {
        fs.inodes.removeName(dir, name);  // not saved: it never existed
        *err = -rc;
        return nullptr;
    }
    return &n;
}

Node *parentDir(Filesystem &fs, fuse_ino_t parent, int *err)
{
    Node *dir = fs.inodes.get(parent);
    if (!dir)
        *err = ENOENT;
    else if (!dir->isDir)
        *err = ENOTDIR;
    else if (dir->unlinked)
        *err = ENOENT;
    else
        return dir;
    return nullptr;
}

void replyEntry(fuse_req_t req, Filesystem &fs, Node *n, int err,
                std::unique_lock<std::shared_mutex> &lock)
{
    if (!n) {
        lock.unlock();
        fuse_reply_err(req, err);
        return;
    }
    ++n->nlookup;
    const fuse_entry_param e = entryFor(*n);
    lock.unlock();
    if (fuse_reply_entry(req, &e) != 0) {
        std::unique_lock again(fs.inodes.mutex());
        fs.inodes.forget(e.ino, 1);
    }
}

namespace {

// Makes a channel node under `dir` for mknod/create; `refusePipeOverNats`
// (create) refuses a pipe in a NATS directory with EINVAL. Needs the table lock
// held exclusively. Returns nullptr with *err set on failure.
Node *makeChannel(Filesystem &fs, Node &dir, const char *name, mode_t mode, bool fifo,
                  bool refusePipeOverNats, const fuse_ctx *ctx, int *err)
{
    Settings s = newChannelSettings(fs, dir);
    if (fifo && s.kind != Kind::Pipe) {
        // mkfifo promises FIFO behaviour: a pipe, whatever the directory says.
        std::string why;
        applySetting(&s, "kind", "pipe", &why);
    }
    if (refusePipeOverNats && s.natsDefault) {
        // open(O_CREAT) (touch, `>`) in a NATS directory whose default kind
        // is pipe would hand the opener a pipe that cannot be over NATS.
        // mknod (chanctl create) makes the name to be given a kind first.
        spdlog::warn(
            "create {}/{} refused (Invalid argument): the directory's channels are "
            "backend=nats but its default kind is pipe, and a pipe cannot be over NATS: "
            "use kind queue or topic (chanctl create --kind queue|topic, or set "
            "user.chanfs.kind on the directory)",
            dir.ino == FUSE_ROOT_ID ? "" : fs.inodes.path(dir), name);
        *err = EINVAL;
        return nullptr;
    }
    return makeChannelNode(fs, dir, name, mode, ctx->uid, ctx->gid, s, err);
}

}  // namespace

void opMknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t) noexcept
{
    if (nameTooLong(name)) {
        fuse_reply_err(req, ENAMETOOLONG);
        return;
    }
    Filesystem &fs = fsOf(req);
    const mode_t type = mode & S_IFMT;
    if (type != S_IFREG && type != S_IFIFO) {
        // Sockets and devices would bypass the daemon; bridges (a later
        // feature) are how sockets join a channel.
        spdlog::warn(
            "mknod {}: file type {:o} is not supported, only regular files and FIFOs "
            "(both become channels)",
            name, type);
        fuse_reply_err(req, EPERM);
        return;
    }
    std::unique_lock lock(fs.inodes.mutex());
    int err = 0;
    Node *n = nullptr;
    if (Node *dir = parentDir(fs, parent, &err))
        n = makeChannel(fs, *dir, name, mode, type == S_IFIFO, false, fuse_req_ctx(req), &err);
    if (n && fs.tree) fs.tree->nodeChanged(*n);
    if (!n || type != S_IFIFO) {
        replyEntry(req, fs, n, err, lock);
        return;
    }
    // The kernel refuses a MKNOD reply whose type differs from the request
    // (EIO), but an inode it knows as a FIFO is served by its own pipe code
    // and never reaches us. So mkfifo gets a FIFO-typed stand-in that
    // expires at once; the name itself is the regular channel inode, which
    // the next lookup finds.
    Node &ghost = fs.inodes.addDetached(S_IFIFO | (mode & 07777), n->uid, n->gid);
    ghost.nlookup = 1;
    fuse_entry_param e{};
    e.ino = ghost.ino;
    e.generation = 1;
    fillStat(ghost, &e.attr);
    lock.unlock();
    if (fuse_reply_entry(req, &e) != 0) {
        std::unique_lock again(fs.inodes.mutex());
        fs.inodes.forget(e.ino, 1);
    }
}

void opMkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode) noexcept
{
    Filesystem &fs = fsOf(req);
    std::unique_lock lock(fs.inodes.mutex());
    int err = 0;
    Node *n = nullptr;
    if (Node *dir = parentDir(fs, parent, &err)) {
        const fuse_ctx *ctx = fuse_req_ctx(req);
        n = makeDirNode(fs, *dir, name, mode, ctx->uid, ctx->gid, &err);
    }
    if (n && fs.tree) fs.tree->nodeChanged(*n);
    replyEntry(req, fs, n, err, lock);
}

void opCreate(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
              fuse_file_info *fi) noexcept
{
    Filesystem &fs = fsOf(req);
    std::unique_lock lock(fs.inodes.mutex());
    int err = 0;
    Node *n = nullptr;
    if (Node *dir = parentDir(fs, parent, &err))
        n = makeChannel(fs, *dir, name, mode, false, true, fuse_req_ctx(req), &err);
    if (n && fs.tree) fs.tree->nodeChanged(*n);
    if (!n) {
        lock.unlock();
        fuse_reply_err(req, err);
        return;
    }
    const OpenMode openMode = openModeOf(fi->flags);
    auto of = std::make_unique<OpenFile>();
    of->channel = n->channel;
    of->ino = n->ino;
    ++n->nlookup;
    const fuse_entry_param e = entryFor(*n);
    lock.unlock();
    of->handle = of->channel->open(openMode.reads, openMode.writes);
    OpenFile *raw = of.get();
    fi->fh = fs.files.adopt(std::move(of));
    fi->direct_io = 1;
    fi->nonseekable = 1;
    fi->noflush = 1;
    if (replyCreateStream(req, &e, fi) != 0) {
        // No RELEASE follows a failed open reply.
        raw->channel->release(*raw->handle);
        fs.files.take(fi->fh);
        std::unique_lock again(fs.inodes.mutex());
        fs.inodes.forget(e.ino, 1);
    }
}

void opLink(fuse_req_t req, fuse_ino_t, fuse_ino_t, const char *newname) noexcept
{
    if (nameTooLong(newname)) {
        fuse_reply_err(req, ENAMETOOLONG);
        return;
    }
    spdlog::warn("link {}: hard links are not supported", newname);
    fuse_reply_err(req, EPERM);
}

void opSymlink(fuse_req_t req, const char *, fuse_ino_t, const char *name) noexcept
{
    if (nameTooLong(name)) {
        fuse_reply_err(req, ENAMETOOLONG);
        return;
    }
    spdlog::warn("symlink {}: symbolic links are not supported", name);
    fuse_reply_err(req, EPERM);
}

}  // namespace chanfs::fs
