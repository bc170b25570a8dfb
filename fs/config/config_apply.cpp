#include "fs/config/config_apply.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <shared_mutex>

#include <spdlog/spdlog.h>

#include "fs/tree/node_ops.h"
#include "fs/tree/state_store.h"

namespace chanfs::fs {

namespace {

// The daemon's own identity: bridges in the config file are made with it,
// as the file is as trusted as the command line.
Credentials daemonCredentials()
{
    Credentials c;
    c.uid = ::geteuid();
    c.gid = ::getegid();
    const int n = ::getgroups(0, nullptr);
    if (n > 0) {
        c.groups.resize(static_cast<size_t>(n));
        if (::getgroups(n, c.groups.data()) < 0) c.groups.clear();
    }
    return c;
}

std::string failure(const Config &cfg, int line, const std::string &what)
{
    return formatProblem(cfg.file, {line, what});
}

void setOwnerAndMode(Node &n, const ConfigNode &c)
{
    if (c.mode) n.mode = (n.mode & S_IFMT) | *c.mode;
    if (c.uid) n.uid = *c.uid;
    if (c.gid) n.gid = *c.gid;
}

}  // namespace

int applyConfig(Filesystem &fs, const Config &cfg, std::string *err)
{
    struct Bridged {
        fuse_ino_t ino;
        const ConfigNode *node;
    };
    std::vector<Bridged> bridged;
    size_t dirs = 0, channels = 0;
    {
        std::unique_lock lock(fs.inodes.mutex());
        Node &root = *fs.inodes.get(FUSE_ROOT_ID);
        setOwnerAndMode(root, cfg.root);
        for (const auto &[key, value] : cfg.root.settings) {
            std::string why;
            if (applySetting(&root.defaults, key, value, &why) < 0) {
                *err = failure(cfg, cfg.root.lineOf(key), "[mount] " + key + ": " + why);
                return -EINVAL;
            }
        }
        for (const ConfigNode &c : cfg.nodes) {
            const std::vector<std::string> parts = pathComponents(c.path);
            Node *dir = &root;
            int e = 0;
            // Parents the file does not declare: plain directories owned by
            // the mount root's owner.
            for (size_t i = 0; i + 1 < parts.size() && dir; ++i) {
                Node *next = fs.inodes.child(*dir, parts[i]);
                if (!next) {
                    next = makeDirNode(fs, *dir, parts[i], kConfigDirMode, root.uid, root.gid, &e);
                    if (next) ++dirs;
                }
                dir = next && next->isDir ? next : nullptr;
            }
            Node *n = nullptr;
            const std::string &name = parts.back();
            if (!dir) {
                e = e ? e : ENOTDIR;
            } else if (c.isDir) {
                // An earlier channel's path may already have made it.
                n = fs.inodes.child(*dir, name);
                if (!n) {
                    n = makeDirNode(fs, *dir, name, kConfigDirMode, root.uid, root.gid, &e);
                    if (n) ++dirs;
                } else if (!n->isDir) {
                    n = nullptr;
                    e = EEXIST;
                }
                if (n) {
                    setOwnerAndMode(*n, c);
                    for (const auto &[key, value] : c.settings) {
                        std::string why;
                        if (applySetting(&n->defaults, key, value, &why) < 0) {
                            *err = failure(cfg, c.lineOf(key), c.table() + " " + key + ": " + why);
                            return -EINVAL;
                        }
                    }
                }
            } else if (Node *had = fs.inodes.child(*dir, name); had && !had->isDir) {
                // Restored from the state directory: the file's settings,
                // owner and mode apply on top of what it had.
                n = had;
                setOwnerAndMode(*n, c);
                for (const auto &[key, value] : c.settings) {
                    std::string why;
                    if (n->channel->changeSetting(key, value, &why) < 0) {
                        *err = failure(cfg, c.lineOf(key), c.table() + " " + key + ": " + why);
                        return -EINVAL;
                    }
                }
                std::string why;
                if (int rc = matchDurability(fs, *n, &why); rc < 0) {
                    *err = failure(cfg, c.line, c.table() + ": " + why);
                    return rc;
                }
                if (!c.endpoints.empty()) bridged.push_back({n->ino, &c});
            } else {
                Settings s;
                std::string why, badKey;
                if (channelSettings(fs.opts.defaults, fs.inodes.defaultsChain(*dir), c.settings, &s,
                                    &why, &badKey) < 0) {
                    *err = failure(cfg, c.lineOf(badKey), c.table() + " " + badKey + ": " + why);
                    return -EINVAL;
                }
                n = makeChannelNode(fs, *dir, name, c.mode.value_or(kConfigChannelMode),
                                    c.uid.value_or(root.uid), c.gid.value_or(root.gid), s, &e);
                if (n) {
                    ++channels;
                    if (!c.endpoints.empty()) bridged.push_back({n->ino, &c});
                }
            }
            if (!n) {
                *err = failure(cfg, c.line, c.table() + ": cannot create: " + std::strerror(e));
                return -e;
            }
        }
    }
    // Bridges last, once every channel has its owner and mode (the FIFO or
    // socket gets them), and outside the table lock: they wait for the
    // bridge event loop.
    const Credentials me = daemonCredentials();
    const auto as = [&me] { return me; };
    for (const Bridged &b : bridged) {
        for (const auto &[key, value] : b.node->endpoints) {
            std::string path, why;
            // Uid 0 for the owner check: the file is trusted like the command line.
            const int rc = setEndpoint(fs, b.ino, key, value, false, 0, as, &path, &why);
            if (rc < 0) {
                *err = failure(cfg, b.node->lineOf(key),
                               b.node->table() + " " + key + " = \"" + value +
                                   "\": " + std::strerror(-rc) + (why.empty() ? "" : ": " + why));
                return rc;
            }
            spdlog::info("{}: {} set to {}", path, key, value);
        }
    }
    spdlog::info("config {}: {} directories and {} channels created", cfg.file, dirs, channels);
    return 0;
}

}  // namespace chanfs::fs
