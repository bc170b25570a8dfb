// unlink, rmdir, rename.
#include <linux/fs.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <shared_mutex>

#include "channels/base/log_limit.h"
#include "fs/base/log.h"
#include "fs/fuse/ops.h"
#include "fs/tree/filesystem.h"
#include "fs/tree/node_ops.h"

namespace chanfs::fs {

namespace {

// What leaves the tree with a channel's name (unlink, or rename over it),
// taken out under the table lock and retired after it.
struct Retired {
    std::shared_ptr<Channel> channel;
    std::vector<std::shared_ptr<Endpoint>> endpoints;
};

Retired takeOut(Node &n)
{
    return {n.channel, n.endpoints.takeAll()};
}

// Outside the table lock: the endpoints stop (connections hang up, the
// files they made are removed); readers waiting on the channel get
// end-of-stream; open handles keep working on the unnamed channel.
void retire(Retired gone)
{
    gone.endpoints.clear();
    if (!gone.channel) return;
    // Its messages go with its name; handles still open keep reading and
    // writing the unnamed channel, in memory only.
    gone.channel->leaveStore()->destroy();
    gone.channel->detach();
}

// Bytes of the longest path below `n` ("/x/y" under a directory; 0 for a
// channel or an empty directory): a move adds them to its new path.
size_t longestBelow(Filesystem &fs, const Node &n)
{
    size_t longest = 0;
    std::vector<std::pair<const Node *, size_t>> todo{{&n, 0}};
    while (!todo.empty()) {
        auto [cur, len] = todo.back();
        todo.pop_back();
        longest = std::max(longest, len);
        for (const auto &[name, ino] : cur->children)
            if (const Node *c = fs.inodes.get(ino)) todo.emplace_back(c, len + 1 + name.size());
    }
    return longest;
}

// unlink (`wantDir` false: a channel) and rmdir (an empty directory).
void removeEntry(fuse_req_t req, fuse_ino_t parent, const char *name, bool wantDir)
{
    Filesystem &fs = fsOf(req);
    Retired gone;
    int err = 0;
    {
        std::unique_lock lock(fs.inodes.mutex());
        Node *dir = fs.inodes.get(parent);
        Node *n = dir ? fs.inodes.child(*dir, name) : nullptr;
        if (!n)
            err = ENOENT;
        else if (n->isDir != wantDir)
            err = wantDir ? ENOTDIR : EISDIR;
        else if (!n->children.empty())
            err = ENOTEMPTY;
        else if (fs.state && (err = -fs.state->drop(fs, n->ino))) {
            // Not saved: the entry stays, so what the log says holds.
        } else {
            if (!n->isDir)
                logLimited(spdlog::level::info, "channel removed", "channel {} removed",
                           fs.inodes.path(*n));
            const std::string path = fs.tree ? fs.inodes.path(*n) : std::string();
            gone = takeOut(*n);
            fs.inodes.removeName(*dir, name);
            if (fs.tree) fs.tree->nodeRemoved(path);
        }
    }
    retire(std::move(gone));
    fuse_reply_err(req, err);
}

}  // namespace

void opUnlink(fuse_req_t req, fuse_ino_t parent, const char *name) noexcept
{
    removeEntry(req, parent, name, false);
}

void opRmdir(fuse_req_t req, fuse_ino_t parent, const char *name) noexcept
{
    removeEntry(req, parent, name, true);
}

void opRename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
              const char *newname, unsigned int flags) noexcept
{
    Filesystem &fs = fsOf(req);
    if (flags & ~RENAME_NOREPLACE) {
        // RENAME_EXCHANGE and RENAME_WHITEOUT have no use for channels.
        spdlog::warn(
            "rename {} -> {} refused: flags {:#x} (RENAME_EXCHANGE, RENAME_WHITEOUT) "
            "are not supported, only RENAME_NOREPLACE",
            printable(name), printable(newname), flags);
        fuse_reply_err(req, EINVAL);
        return;
    }
    if (nameTooLong(name) || nameTooLong(newname)) {
        fuse_reply_err(req, ENAMETOOLONG);
        return;
    }
    Retired replaced;
    int err = 0;
    {
        std::unique_lock lock(fs.inodes.mutex());
        Node *from = fs.inodes.get(parent);
        Node *to = fs.inodes.get(newparent);
        Node *src = from ? fs.inodes.child(*from, name) : nullptr;
        if (!from || !to || !src) {
            err = ENOENT;
        } else if (!to->isDir) {
            err = ENOTDIR;
        } else if (Node *dst = fs.inodes.child(*to, newname); dst == src) {
            err = 0;  // same entry: nothing to do
        } else if (dst && (flags & RENAME_NOREPLACE)) {
            err = EEXIST;
        } else if (dst && dst->isDir && !src->isDir) {
            err = EISDIR;
        } else if (dst && !dst->isDir && src->isDir) {
            err = ENOTDIR;
        } else if (dst && dst->isDir && !dst->children.empty()) {
            err = ENOTEMPTY;
        } else if ((err = checkNewEntry(fs, *to, newname, src->isDir ? longestBelow(fs, *src) : 0,
                                        false, "rename"))) {
            // a name or a path inside the moved tree would be too long
        } else if (fs.state &&
                   (err = -fs.state->saveMove(fs, *src, to->ino, newname, dst ? dst->ino : 0))) {
            // Not saved (one record for both halves): nothing moves.
        } else {
            const std::string oldPath = fs.tree ? fs.inodes.path(*src) : std::string();
            if (dst) {
                replaced = takeOut(*dst);
                fs.inodes.removeName(*to, newname);
            }
            fs.inodes.move(*from, name, *to, newname);
            if (fs.tree) fs.tree->nodeMoved(*src, oldPath);
        }
    }
    retire(std::move(replaced));
    fuse_reply_err(req, err);
}

}  // namespace chanfs::fs
