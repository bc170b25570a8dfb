#include "fs/tree/shared_tree.h"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <mutex>
#include <shared_mutex>

#include "channels/base/log_limit.h"
#include "fs/tree/filesystem.h"
#include "fs/tree/node_ops.h"

namespace chanfs::fs {

namespace {

// The setting that puts a node in the shared tree.
constexpr std::string_view kBackendKey = "backend";
constexpr std::string_view kSharedBackend = "nats";

bool sharedBackend(const std::optional<std::string> &v)
{
    return v && *v == kSharedBackend;
}

// The user.chanfs.* values a node's record carries: a channel's settings
// (framing, delivery and max_message only if set: they follow the kind),
// a directory's defaults. Needs the table lock.
std::vector<std::pair<std::string, std::string>> settingsOf(const Node &n)
{
    std::vector<std::pair<std::string, std::string>> out;
    if (n.isDir) {
        for (std::string_view k : kSettingNames)
            if (auto v = formatSetting(n.defaults, k)) out.emplace_back(k, *v);
        return out;
    }
    if (!n.channel) return out;
    const Settings s = n.channel->settings();
    for (std::string_view k : kSettingNames) {
        if (k == "framing" && !s.framingExplicit) continue;
        if (k == "delivery" && !s.deliveryExplicit) continue;
        if (k == "max_message" && !s.maxMessageExplicit) continue;
        if (auto v = formatSetting(s, k)) out.emplace_back(k, *v);
    }
    return out;
}

std::string parentOf(const std::string &path)
{
    const size_t slash = path.rfind('/');
    return slash == 0 ? "/" : path.substr(0, slash);
}

std::string baseOf(const std::string &path)
{
    return path.substr(path.rfind('/') + 1);
}

// Every node of the subtree at `n`, parents before children. Needs the
// table lock.
std::vector<Node *> subtreeOf(Filesystem &fs, Node &n)
{
    std::vector<Node *> out{&n};
    for (size_t i = 0; i < out.size(); ++i)
        for (const auto &[name, ino] : out[i]->children)
            if (Node *c = fs.inodes.get(ino)) out.push_back(c);
    return out;
}

// What leaves the tree with a removed channel, retired outside the table
// lock (as op_remove.cpp does): endpoints stop, waiting readers get
// end-of-stream, open files keep the unnamed channel.
struct Retired {
    std::shared_ptr<Channel> channel;
    std::vector<std::shared_ptr<Endpoint>> endpoints;
};

void retire(std::vector<Retired> &gone)
{
    for (Retired &r : gone) {
        r.endpoints.clear();
        if (!r.channel) continue;
        // Removed by another mount, which deleted what the stream held:
        // only what this mount holds goes.
        r.channel->leaveStore()->abandon();
        r.channel->detach();
    }
    gone.clear();
}

// What the apply() in progress took out (one thread applies): channels to
// retire and names the kernel may have cached, both dealt with after the
// table lock is released.
struct Taken {
    std::vector<Retired> retired;
    std::vector<std::pair<fuse_ino_t, std::string>> names;
};
thread_local Taken *tTaken = nullptr;

}  // namespace

SharedTree::SharedTree(Filesystem &fs, std::shared_ptr<TreeReplica> replica, std::string origin)
    : fs_(fs), replica_(std::move(replica)), origin_(std::move(origin))
{
}

SharedTree::~SharedTree()
{
    stop();
}

void SharedTree::start()
{
    if (started_) return;
    started_ = true;
    replica_->watch([this](const TreeChange &c) { apply(c); });
}

void SharedTree::stop()
{
    replica_->close();
}

uint64_t SharedTree::conflicts() const
{
    MutexLock g(mu_);
    return conflicts_;
}

bool SharedTree::isShared(Node &n)
{
    if (n.ino == FUSE_ROOT_ID || n.unlinked) return false;
    if (!n.isDir)
        return n.channel && sharedBackend(formatSetting(n.channel->settings(), kBackendKey));
    // The backend set last on the way down from the mount's defaults: a
    // directory's own value, not resolved channel settings (which turn a
    // pipe's inherited nats into memory).
    std::optional<std::string> backend = formatSetting(fs_.opts.defaults, kBackendKey);
    for (const PartialSettings *d : fs_.inodes.defaultsChain(n))
        if (auto v = formatSetting(*d, kBackendKey)) backend = v;
    return sharedBackend(backend);
}

void SharedTree::publish(const Node &n, const std::string &movedFrom)
{
    TreeNodeRecord r;
    r.path = fs_.inodes.path(n);
    r.type = n.isDir ? TreeNodeType::Dir : TreeNodeType::Channel;
    r.mode = n.mode & 07777;
    r.uid = n.uid;
    r.gid = n.gid;
    r.settings = settingsOf(n);
    r.movedFrom = movedFrom;
    r.origin = origin_;
    MutexLock g(mu_);
    r.seq = ++seq_;
    if (int rc = replica_->put(r); rc < 0) {
        spdlog::error("shared tree: {} cannot be published: {}; other mounts do not see it", r.path,
                      std::strerror(-rc));
        return;
    }
    pending_[r.path] = r.seq;
    live_.insert(r.path);
}

void SharedTree::publishRemoval(const std::string &path)
{
    TreeNodeRecord r;
    r.path = path;
    r.removed = true;
    r.origin = origin_;
    MutexLock g(mu_);
    if (!live_.count(path)) return;  // never shared: nothing to take back
    r.seq = ++seq_;
    if (int rc = replica_->put(r); rc < 0) {
        spdlog::error("shared tree: the removal of {} cannot be published: {}", path,
                      std::strerror(-rc));
        return;
    }
    pending_[path] = r.seq;
    live_.erase(path);
}

void SharedTree::nodeChanged(const Node &node, bool subtree)
{
    Node &n = const_cast<Node &>(node);
    const std::vector<Node *> nodes = subtree ? subtreeOf(fs_, n) : std::vector<Node *>{&n};
    // Parents before children for what is shared; children before parents
    // for what no longer is (a mount keeps a directory that still holds
    // entries).
    std::vector<Node *> unshared;
    for (Node *m : nodes) {
        if (isShared(*m))
            publish(*m);
        else
            unshared.push_back(m);
    }
    for (auto it = unshared.rbegin(); it != unshared.rend(); ++it)
        publishRemoval(fs_.inodes.path(**it));
}

void SharedTree::nodeRemoved(const std::string &path)
{
    publishRemoval(path);
}

void SharedTree::nodeMoved(const Node &node, const std::string &oldPath)
{
    Node &n = const_cast<Node &>(node);
    const std::string newPath = fs_.inodes.path(n);
    const std::vector<Node *> nodes = subtreeOf(fs_, n);
    bool srcLive;
    {
        MutexLock g(mu_);
        srcLive = live_.count(oldPath) > 0;
    }
    for (Node *m : nodes) {
        const std::string p = fs_.inodes.path(*m);
        if (isShared(*m))
            // Only the top names where it came from: the other mounts move
            // it, and what is below goes along.
            publish(*m, m == &n && srcLive ? oldPath : std::string());
        else
            publishRemoval(p);  // a node renamed over here was shared
    }
    // The old names, deepest first.
    for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {
        const std::string p = fs_.inodes.path(**it);
        publishRemoval(oldPath + p.substr(newPath.size()));
    }
}

Node *SharedTree::nodeAt(const std::string &path)
{
    Node *cur = fs_.inodes.get(FUSE_ROOT_ID);
    size_t pos = 1;
    while (cur && pos < path.size()) {
        size_t end = path.find('/', pos);
        if (end == std::string::npos) end = path.size();
        if (!cur->isDir) return nullptr;
        cur = fs_.inodes.child(*cur, path.substr(pos, end - pos));
        pos = end + 1;
    }
    return cur;
}

Node *SharedTree::ensureDir(const std::string &path, uint32_t uid, uint32_t gid)
{
    Node *cur = fs_.inodes.get(FUSE_ROOT_ID);
    size_t pos = 1;
    while (cur && pos < path.size()) {
        size_t end = path.find('/', pos);
        if (end == std::string::npos) end = path.size();
        const std::string name = path.substr(pos, end - pos);
        Node *next = fs_.inodes.child(*cur, name);
        if (!next) {
            // A directory the record's parent needs and whose own record
            // has not come (or never will: it is local on the writer).
            int err = 0;
            next = makeDirNode(fs_, *cur, name, 0755, uid, gid, &err);
            if (!next) {
                spdlog::error("shared tree: cannot make directory {}: {}", path.substr(0, end),
                              std::strerror(err));
                return nullptr;
            }
        } else if (!next->isDir) {
            spdlog::error("shared tree: {} is a channel here, not a directory; {} not applied",
                          path.substr(0, end), path);
            return nullptr;
        }
        cur = next;
        pos = end + 1;
    }
    return cur;
}

bool SharedTree::removeLocal(Node &n, const char *why)
{
    const std::string path = fs_.inodes.path(n);
    if (n.isDir && !n.children.empty()) {
        spdlog::warn("shared tree: {} {} on another mount, but holds {} entries here; kept", path,
                     why, n.children.size());
        return false;
    }
    if (fs_.state) {
        if (int rc = fs_.state->drop(fs_, n.ino); rc < 0) {
            spdlog::error(
                "shared tree: {} {} on another mount, but the state directory cannot "
                "record it here ({}); kept",
                path, why, std::strerror(-rc));
            return false;
        }
    }
    Node *dir = fs_.inodes.get(n.parent);
    if (!dir) return false;
    if (tTaken) {
        tTaken->retired.push_back({n.channel, n.endpoints.takeAll()});
        tTaken->names.emplace_back(dir->ino, n.name);
    }
    // Limited: a snapshot can bring thousands.
    logLimited(spdlog::level::info, "shared tree removed", "shared tree: {} {} on another mount",
               path, why);
    fs_.inodes.removeName(*dir, n.name);
    return true;
}

void SharedTree::updateNode(Node &n, const TreeNodeRecord &r)
{
    bool changed = false;
    const mode_t mode = (n.mode & S_IFMT) | (r.mode & 07777);
    if (n.mode != mode || n.uid != r.uid || n.gid != r.gid) {
        n.mode = mode;
        n.uid = r.uid;
        n.gid = r.gid;
        n.ctime = nowRealtime();
        changed = true;
    }
    const std::string path = fs_.inodes.path(n);
    if (n.isDir) {
        PartialSettings d;
        for (const auto &[k, v] : r.settings) {
            std::string why;
            if (applySetting(&d, k, v, &why) < 0)
                spdlog::error("shared tree: {} {}={}: {}; left unset", path, k, v, why);
        }
        if (settingsOf(n) != r.settings) {
            n.defaults = d;
            changed = true;
        }
    } else if (n.channel) {
        const Settings before = n.channel->settings();
        for (const auto &[k, v] : r.settings) {
            if (formatSetting(n.channel->settings(), k) == v) continue;
            std::string why;
            if (n.channel->changeSetting(k, v, &why) < 0)
                spdlog::error("shared tree: {} {}={} from another mount refused here: {}", path, k,
                              v, why);
        }
        if (n.channel->settings() != before) {
            changed = true;
            std::string why;
            if (matchDurability(fs_, n, &why) < 0)
                spdlog::error("shared tree: {}: its store does not follow the new settings: {}",
                              path, why);
        }
    }
    if (changed && fs_.state) fs_.state->save(fs_, n);
}

void SharedTree::applyRecord(const TreeNodeRecord &r)
{
    if (r.path.size() < 2 || r.path[0] != '/') return;
    if (r.removed) {
        if (Node *n = nodeAt(r.path); n && n->ino != FUSE_ROOT_ID) {
            // Only what is shared here: a local node of the same name is
            // this mount's own.
            if (isShared(*n))
                removeLocal(*n, "was removed");
            else
                logLimited(spdlog::level::info, "shared tree kept",
                           "shared tree: {} was removed on another mount; kept here, where it "
                           "is local",
                           r.path);
        }
        MutexLock g(mu_);
        live_.erase(r.path);
        return;
    }
    const bool wantDir = r.type == TreeNodeType::Dir;
    Node *dir = ensureDir(parentOf(r.path), r.uid, r.gid);
    if (!dir) return;
    const std::string name = baseOf(r.path);
    Node *n = fs_.inodes.child(*dir, name);
    if (!r.movedFrom.empty()) {
        Node *old = nodeAt(r.movedFrom);
        // Not into itself: a directory cannot move below itself.
        bool intoItself = false;
        for (Node *up = dir; old && up;
             up = up->ino == FUSE_ROOT_ID ? nullptr : fs_.inodes.get(up->parent))
            if (up == old) intoItself = true;
        if (old && old != n && old->ino != FUSE_ROOT_ID && old->isDir == wantDir && !intoItself &&
            (!n || removeLocal(*n, "was renamed over"))) {
            Node *from = fs_.inodes.get(old->parent);
            if (from) {
                if (tTaken) tTaken->names.emplace_back(from->ino, old->name);
                fs_.inodes.move(*from, old->name, *dir, name);
                logLimited(spdlog::level::info, "shared tree renamed",
                           "shared tree: {} renamed to {} on another mount", r.movedFrom, r.path);
                if (fs_.state) fs_.state->save(fs_, *old);
                n = old;
            }
        }
    }
    if (n && n->isDir != wantDir) {
        if (!removeLocal(*n, wantDir ? "became a directory" : "became a channel")) return;
        n = nullptr;
    }
    if (!n) {
        int err = 0;
        if (wantDir) {
            n = makeDirNode(fs_, *dir, name, r.mode, r.uid, r.gid, &err);
        } else {
            Settings s;
            for (const auto &[k, v] : r.settings) {
                std::string why;
                if (applySetting(&s, k, v, &why) < 0)
                    spdlog::error("shared tree: channel {} {}={}: {}; default kept", r.path, k, v,
                                  why);
            }
            n = makeChannelNode(fs_, *dir, name, r.mode, r.uid, r.gid, s, &err);
        }
        if (!n) {
            spdlog::error("shared tree: cannot make {} from another mount: {}", r.path,
                          std::strerror(err));
            return;
        }
        logLimited(spdlog::level::info, "shared tree made",
                   "shared tree: {} {} made on another mount", wantDir ? "directory" : "channel",
                   r.path);
    }
    updateNode(*n, r);
    MutexLock g(mu_);
    live_.insert(r.path);
}

void SharedTree::publishUnknown()
{
    Node *root = fs_.inodes.get(FUSE_ROOT_ID);
    size_t published = 0;
    for (Node *n : subtreeOf(fs_, *root)) {
        if (n == root || !isShared(*n)) continue;
        const std::string p = fs_.inodes.path(*n);
        {
            MutexLock g(mu_);
            if (revisions_.count(p) || pending_.count(p)) continue;
        }
        publish(*n);
        ++published;
    }
    if (published)
        spdlog::info("shared tree: {} local entries the other mounts did not know published",
                     published);
}

void SharedTree::apply(const TreeChange &c)
{
    Taken taken;
    {
        std::unique_lock lock(fs_.inodes.mutex());
        if (c.kind == TreeChange::Kind::SnapshotDone) {
            publishUnknown();
            return;
        }
        const TreeNodeRecord &r = c.record;
        {
            MutexLock g(mu_);
            uint64_t &rev = revisions_[r.path];
            if (c.revision <= rev) return;  // seen (a snapshot delivered again)
            rev = c.revision;
            auto p = pending_.find(r.path);
            if (r.origin == origin_) {
                // Our own change back: it is applied already.
                if (p != pending_.end() && p->second == r.seq) pending_.erase(p);
                return;
            }
            if (p != pending_.end()) {
                ++conflicts_;
                spdlog::warn(
                    "shared tree: conflict on {}: another mount's change (revision {}) is older "
                    "than this mount's, not stored yet; the later one (this mount's) wins",
                    r.path, c.revision);
                return;
            }
        }
        tTaken = &taken;
        applyRecord(r);
        tTaken = nullptr;
    }
    retire(taken.retired);
    if (fs_.invalidateEntry)
        for (const auto &[parent, name] : taken.names) fs_.invalidateEntry(parent, name);
}

}  // namespace chanfs::fs
