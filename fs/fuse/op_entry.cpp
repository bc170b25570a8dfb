// lookup, forget, getattr, setattr.
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <shared_mutex>

#include "channels/base/log_limit.h"
#include "fs/base/log.h"
#include "fs/fuse/node_reply.h"
#include "fs/fuse/ops.h"
#include "fs/tree/filesystem.h"
#include "fs/tree/node_ops.h"

namespace chanfs::fs {

void opLookup(fuse_req_t req, fuse_ino_t parent, const char *name) noexcept
{
    if (nameTooLong(name)) {
        fuse_reply_err(req, ENAMETOOLONG);
        return;
    }
    Filesystem &fs = fsOf(req);
    std::unique_lock lock(fs.inodes.mutex());
    int err = ENOENT;
    Node *dir = parentDir(fs, parent, &err);
    replyEntry(req, fs, dir ? fs.inodes.child(*dir, name) : nullptr, err, lock);
}

void opForget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) noexcept
{
    Filesystem &fs = fsOf(req);
    {
        std::unique_lock lock(fs.inodes.mutex());
        fs.inodes.forget(ino, nlookup);
    }
    fuse_reply_none(req);
}

void opForgetMulti(fuse_req_t req, size_t count, fuse_forget_data *forgets) noexcept
{
    Filesystem &fs = fsOf(req);
    {
        std::unique_lock lock(fs.inodes.mutex());
        for (size_t i = 0; i < count; ++i) fs.inodes.forget(forgets[i].ino, forgets[i].nlookup);
    }
    fuse_reply_none(req);
}

void opGetattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info *) noexcept
{
    Filesystem &fs = fsOf(req);
    struct stat st {};
    double timeout = 0;
    {
        std::shared_lock lock(fs.inodes.mutex());
        Node *n = nodeOrReplyEnoent(req, fs, ino, lock);
        if (!n) return;
        fillStat(*n, &st);
        timeout = n->isDir ? 1.0 : 0.0;
    }
    fuse_reply_attr(req, &st, timeout);
}

namespace {

// The attributes setattr changes, without the node's children or channel.
Node copyOfAttributes(const Node &n)
{
    Node c;
    c.mode = n.mode;
    c.uid = n.uid;
    c.gid = n.gid;
    c.atime = n.atime;
    c.mtime = n.mtime;
    c.ctime = n.ctime;
    return c;
}

}  // namespace

void opSetattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int toSet,
               fuse_file_info *) noexcept
{
    Filesystem &fs = fsOf(req);
    struct stat st {};
    double timeout = 0;
    // Bridge files that follow a new owner or mode, and what they get.
    std::vector<std::shared_ptr<Endpoint>> followers;
    std::string path;
    {
        std::unique_lock lock(fs.inodes.mutex());
        Node *n = nodeOrReplyEnoent(req, fs, ino, lock);
        if (!n) return;
        if ((toSet & FUSE_SET_ATTR_SIZE) && attr->st_size != 0 && !n->isDir) {
            // Truncating to 0 (`> chan`, O_TRUNC) is accepted and changes
            // nothing; any other size would promise a file it is not.
            const std::string path = fs.inodes.path(*n);
            lock.unlock();
            spdlog::warn(
                "truncate {} to {} bytes refused: a channel's size is what is queued; "
                "only truncating to 0 is accepted (and changes nothing)",
                printable(path), static_cast<long long>(attr->st_size));
            fuse_reply_err(req, EINVAL);
            return;
        }
        const timespec now = nowRealtime();
        const Node was = copyOfAttributes(*n);
        if (toSet & FUSE_SET_ATTR_MODE) n->mode = (n->mode & S_IFMT) | (attr->st_mode & 07777);
        if (toSet & FUSE_SET_ATTR_UID) n->uid = attr->st_uid;
        if (toSet & FUSE_SET_ATTR_GID) n->gid = attr->st_gid;
        // Truncation (`> chan`, O_TRUNC) changes nothing: what is queued
        // belongs to the readers.
        if (toSet & FUSE_SET_ATTR_ATIME_NOW)
            n->atime = now;
        else if (toSet & FUSE_SET_ATTR_ATIME)
            n->atime = attr->st_atim;
        if (toSet & FUSE_SET_ATTR_MTIME_NOW)
            n->mtime = now;
        else if (toSet & FUSE_SET_ATTR_MTIME)
            n->mtime = attr->st_mtim;
        if (toSet & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
            n->ctime = now;
            if (int rc = fs.state ? fs.state->save(fs, *n) : 0; rc < 0) {
                // Not saved: the node keeps what the log says it has.
                n->mode = was.mode;
                n->uid = was.uid;
                n->gid = was.gid;
                n->atime = was.atime;
                n->mtime = was.mtime;
                n->ctime = was.ctime;
                const std::string where = fs.inodes.path(*n);
                lock.unlock();
                logLimited(spdlog::level::warn, "not saved",
                           "chmod/chown {} refused: the change cannot be saved ({})",
                           printable(where), std::strerror(-rc));
                fuse_reply_err(req, -rc);
                return;
            }
            if (fs.tree) fs.tree->nodeChanged(*n);
            followers = n->endpoints.all();
            if (!followers.empty()) path = fs.inodes.path(*n);
        }
        fillStat(*n, &st);
        timeout = n->isDir ? 1.0 : 0.0;
    }
    // Outside the table lock: these are system calls on other filesystems.
    // Done before the reply, so when chmod returns the bridge file is as
    // private as the channel.
    for (const auto &b : followers) {
        if (int rc = b->followChannel(st.st_mode & 07777, st.st_uid, st.st_gid); rc < 0)
            spdlog::warn("channel {}: bridge {} did not follow its new owner and mode: {}",
                         printable(path), printable(b->describe()), std::strerror(-rc));
    }
    fuse_reply_attr(req, &st, timeout);
}

}  // namespace chanfs::fs
