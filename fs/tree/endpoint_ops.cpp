// The endpoint lifecycle, in one place for setxattr, the config file and the
// state directory: check a value, make the endpoint outside the table lock,
// install it in the node's slot or put the old one back.
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <mutex>
#include <shared_mutex>
#include <string>

#include "fs/tree/filesystem.h"
#include "fs/tree/node_ops.h"

namespace chanfs::fs {

namespace {

// True if `path` (absolute) would lead back into this mount: the daemon
// opening it would wait on itself.
bool insideMount(const std::string &mountpoint, const std::string &path)
{
    std::string dir = path.substr(0, path.rfind('/'));
    if (dir.empty()) dir = "/";
    char resolved[PATH_MAX];
    const std::string real = ::realpath(dir.c_str(), resolved) ? resolved : dir;
    return real == mountpoint || real.rfind(mountpoint + "/", 0) == 0;
}

// Where a bridge path may be: not inside this mount, and inside
// -o bridge_root=DIR if given (no `..` or symlink leading out of it).
// 0 or -EINVAL with `why`.
int checkBridgePath(const Filesystem &fs, const std::string &path, std::string *why)
{
    // An endpoint with no file outside the mount (a network link) has no
    // path to check.
    if (path.empty()) return 0;
    if (insideMount(fs.opts.mountpoint, path)) {
        *why = "a bridge path inside the chanfs mount would loop back into it";
        return -EINVAL;
    }
    if (fs.opts.bridgeRoot.empty()) return 0;
    const std::string base = path.substr(path.rfind('/') + 1);
    std::string dir = path.substr(0, path.rfind('/'));
    if (dir.empty()) dir = "/";
    char resolved[PATH_MAX];
    struct stat st {};
    const bool inside = base != ".." && base != "." && !base.empty() &&
                        ::realpath(dir.c_str(), resolved) != nullptr &&
                        (std::string(resolved) == fs.opts.bridgeRoot ||
                         std::string(resolved).rfind(fs.opts.bridgeRoot + "/", 0) == 0) &&
                        !(::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode));
    if (!inside) {
        *why = "the path is not inside bridge_root " + fs.opts.bridgeRoot;
        return -EINVAL;
    }
    return 0;
}

// Whether `uid` may put a bridge on `n`: 0, or -EPERM/-EINVAL with `why`.
int mayBridge(const Node &n, uid_t uid, std::string *why)
{
    if (uid != 0 && uid != n.uid) {
        *why = "only the owner or root may set a bridge";
        return -EPERM;
    }
    if (n.isDir) {
        *why = "bridges belong to channels, not directories";
        return -EINVAL;
    }
    return 0;
}

}  // namespace

int setEndpoint(Filesystem &fs, fuse_ino_t ino, std::string_view key, const std::string &value,
                bool remove, uid_t callerUid, const std::function<Credentials()> &as,
                std::string *pathOut, std::string *whyOut)
{
    const EndpointKind *kind = findEndpointKind(key);
    std::string why;
    std::string path;
    std::string outside;
    int rc = kind ? 0 : -ENODATA;
    if (rc == 0 && !remove) rc = kind->parse(value, &outside, &why);
    if (rc == 0 && !remove) rc = checkBridgePath(fs, outside, &why);
    EndpointTarget target;
    std::shared_ptr<Endpoint> old;
    {
        std::unique_lock lock(fs.inodes.mutex());
        Node *n = fs.inodes.get(ino);
        if (!n) {
            rc = -ENOENT;
        } else {
            path = fs.inodes.path(*n);
            if (int may = mayBridge(*n, callerUid, &why); may < 0) {
                rc = may;
            } else if (remove && !n->endpoints.get(key)) {
                rc = -ENODATA;
            } else if (rc == 0) {
                target.channel = n->channel;
                target.mode = n->mode & 07777;
                target.uid = n->uid;
                target.gid = n->gid;
                old = n->endpoints.take(key);
            }
        }
    }
    // Outside the lock: these wait for the event loop. An old endpoint on
    // the same path goes first, so the new one can take the path over; any
    // other stays until the new one works, so a refused value leaves the
    // channel as it was. Replacing or removing one hangs up its connections.
    if (old && (remove || old->outsidePath() == outside)) old.reset();
    std::shared_ptr<Endpoint> made;
    if (rc == 0 && !remove) {
        target.as = as();
        rc = kind->make(fs.loop, target, value, &made, &why);
    }
    if (old || made) {
        std::shared_ptr<Endpoint> stale;
        {
            std::unique_lock lock(fs.inodes.mutex());
            Node *n = fs.inodes.get(ino);
            const bool live = n && n->channel == target.channel && !n->unlinked;
            // Failed: the old endpoint goes back. Worked: the new one replaces it.
            std::shared_ptr<Endpoint> keep = made ? std::move(made) : std::move(old);
            if (live && !n->endpoints.get(key))
                n->endpoints.put(kind->key, std::move(keep));
            else
                stale = std::move(keep);  // the channel went away or got another
        }
    }
    old.reset();
    *pathOut = std::move(path);
    *whyOut = std::move(why);
    return rc;
}

}  // namespace chanfs::fs
