#include "fs/tree/state_store.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <deque>
#include <filesystem>
#include <mutex>
#include <shared_mutex>

#include "channels/base/file_io.h"
#include "fs/tree/filesystem.h"
#include "fs/tree/node_ops.h"
#include "fs/tree/tree_log.h"

namespace chanfs::fs {

namespace {

constexpr const char *kTreeLogName = "tree.log";

bool isBridgeKey(std::string_view k)
{
    return findEndpointKind(k) != nullptr;
}

// The node as a record. Needs the table lock.
TreeRecord recordOf(const Node &n)
{
    TreeRecord r;
    r.ino = n.ino;
    r.parent = n.parent;
    r.isDir = n.isDir;
    r.mode = n.mode & 07777;
    r.uid = n.uid;
    r.gid = n.gid;
    r.name = n.name;
    if (n.isDir) {
        for (std::string_view k : kSettingNames)
            if (auto v = formatSetting(n.defaults, k)) r.values.emplace_back(k, *v);
        return r;
    }
    const Settings s = n.channel->settings();
    for (std::string_view k : kSettingNames) {
        // Framing and max_message follow the kind unless they were set.
        if (k == "framing" && !s.framingExplicit) continue;
        if (k == "max_message" && !s.maxMessageExplicit) continue;
        if (auto v = formatSetting(s, k)) r.values.emplace_back(k, *v);
    }
    for (const auto &[key, e] : n.endpoints.items()) r.values.emplace_back(key, e->describe());
    return r;
}

}  // namespace

StateStore::StateStore(Token, std::string dir) : dir_(std::move(dir)) {}

int StateStore::open(const std::string &source, std::shared_ptr<StateStore> *out, std::string *why)
{
    char abs[PATH_MAX];
    if (!::realpath(source.c_str(), abs)) {
        *why = "state directory " + source + ": " + std::strerror(errno);
        return -errno;
    }
    const std::string dir = std::string(abs) + "/state";
    for (const std::string &d : {dir, dir + "/channels"}) {
        if (::mkdir(d.c_str(), 0700) < 0 && errno != EEXIST) {
            *why = "cannot make " + d + ": " + std::strerror(errno);
            return -errno;
        }
    }
    if (::access(dir.c_str(), W_OK) < 0) {
        *why = "state directory " + dir + " is not writable: " + std::strerror(errno);
        return -errno;
    }
    *out = std::make_shared<StateStore>(Token{}, dir);
    return 0;
}

std::string StateStore::journalDir(uint64_t ino) const
{
    return dir_ + "/channels/" + std::to_string(ino);
}

int StateStore::restore(Filesystem &fs, std::string *why)
{
    const std::string path = dir_ + "/" + kTreeLogName;
    std::string data;
    if (int rc = readWholeFile(path, &data); rc < 0 && rc != -ENOENT) {
        *why = "cannot read " + path + ": " + std::strerror(-rc);
        return rc;
    }
    TreeReplay replay = replayTreeLog(data);
    for (const std::string &p : replay.problems) spdlog::error("state {}: {}", path, p);
    if (replay.validEnd < data.size())
        spdlog::error("state {}: {} damaged bytes at the end cut off", path,
                      data.size() - replay.validEnd);

    struct Bridged {
        fuse_ino_t ino;
        uid_t uid;
        gid_t gid;
        std::string key, value;
    };
    std::vector<Bridged> bridged;
    size_t dirs = 0, channels = 0, durable = 0, messages = 0;
    {
        std::unique_lock lock(fs.inodes.mutex());
        Node &root = *fs.inodes.get(FUSE_ROOT_ID);
        std::map<uint64_t, std::vector<uint64_t>> children;
        for (const auto &[ino, r] : replay.nodes)
            if (ino != FUSE_ROOT_ID) children[r.parent].push_back(ino);
        if (auto it = replay.nodes.find(FUSE_ROOT_ID); it != replay.nodes.end()) {
            root.mode = S_IFDIR | (it->second.mode & 07777);
            root.uid = it->second.uid;
            root.gid = it->second.gid;
            for (const auto &[k, v] : it->second.values) {
                std::string w;
                if (applySetting(&root.defaults, k, v, &w) < 0)
                    spdlog::error("state: / {}={}: {}; left unset", k, v, w);
            }
        }
        std::deque<uint64_t> todo{FUSE_ROOT_ID};
        size_t placed = 0;
        while (!todo.empty()) {
            const uint64_t parentIno = todo.front();
            todo.pop_front();
            auto kids = children.find(parentIno);
            if (kids == children.end()) continue;
            Node *dir = fs.inodes.get(parentIno);
            for (const uint64_t ino : kids->second) {
                const TreeRecord &r = replay.nodes[ino];
                int err = 0;
                Node *n = nullptr;
                if (!dir || !dir->isDir) {
                    err = ENOTDIR;
                } else if (r.isDir) {
                    n = makeDirNode(fs, *dir, r.name, r.mode, r.uid, r.gid, &err, ino);
                    for (const auto &[k, v] : r.values) {
                        std::string w;
                        if (n && applySetting(&n->defaults, k, v, &w) < 0)
                            spdlog::error("state: {} {}={}: {}; left unset", fs.inodes.path(*n), k,
                                          v, w);
                    }
                    if (n) {
                        ++dirs;
                        todo.push_back(ino);
                    }
                } else {
                    Settings s;
                    for (const auto &[k, v] : r.values) {
                        std::string w;
                        if (isBridgeKey(k)) continue;
                        if (applySetting(&s, k, v, &w) < 0)
                            spdlog::error("state: channel {} {}={}: {}; default kept", r.name, k, v,
                                          w);
                    }
                    n = makeChannelNode(fs, *dir, r.name, r.mode, r.uid, r.gid, s, &err, ino);
                    if (n) {
                        ++channels;
                        for (const auto &[k, v] : r.values)
                            if (isBridgeKey(k)) bridged.push_back({ino, r.uid, r.gid, k, v});
                    }
                    if (n && s.durable) {
                        std::shared_ptr<Journal> j;
                        RecoveredLog rec;
                        std::string w;
                        const std::string label = fs.inodes.path(*n);
                        if (Journal::open(journalDir(ino), s, label, &j, &rec, &w) < 0) {
                            *why = "durable channel " + label + ": " + w;
                            return -EIO;
                        }
                        const size_t restored = rec.entries.size();
                        n->channel->restore(rec);
                        n->channel->attachJournal(j, false);
                        ++durable;
                        messages += restored;
                        spdlog::info("durable channel {}: {} entries restored from {} segment(s){}",
                                     label, restored, rec.segments,
                                     rec.cutBytes ? ", " + std::to_string(rec.cutBytes) +
                                                        " damaged bytes cut off"
                                                  : "");
                    }
                }
                if (n)
                    ++placed;
                else
                    spdlog::error("state: cannot restore {} (inode {}): {}", r.name, ino,
                                  std::strerror(err));
            }
        }
        const size_t expected = replay.nodes.size() - replay.nodes.count(FUSE_ROOT_ID);
        if (placed < expected)
            spdlog::error("state: {} saved entries had no parent directory left and are dropped",
                          expected - placed);
    }
    for (const Bridged &b : bridged) {
        Credentials owner;
        owner.uid = b.uid;
        owner.gid = b.gid;
        const auto as = [&owner] { return owner; };
        std::string path, w;
        const int rc = setEndpoint(fs, b.ino, b.key, b.value, false, 0, as, &path, &w);
        if (rc < 0)
            spdlog::error("state: {}: bridge {}={} not restored: {}{}", path, b.key, b.value,
                          std::strerror(-rc), w.empty() ? "" : ": " + w);
    }
    if (dirs || channels)
        spdlog::info("state {}: {} directories and {} channels restored ({} durable, {} entries)",
                     dir_, dirs, channels, durable, messages);
    return 0;
}

int StateStore::compact(Filesystem &fs)
{
    std::lock_guard g(mu_);
    std::string out(kTreeLogMagic, kFileMagicBytes);
    std::unordered_set<uint64_t> live;
    fs.inodes.forEach([&](const Node &n) {
        if (n.unlinked) return;
        appendNodeRecord(out, recordOf(n));
        live.insert(n.ino);
    });
    const std::string path = dir_ + "/" + kTreeLogName;
    const std::string tmp = path + ".tmp";
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    int rc = fd ? writeFully(fd.get(), out) : -errno;
    if (rc == 0 && ::fdatasync(fd.get()) < 0) rc = -errno;
    if (rc == 0 && ::rename(tmp.c_str(), path.c_str()) < 0) rc = -errno;
    if (rc < 0) {
        spdlog::error("state: cannot rewrite {}: {}", path, std::strerror(-rc));
        ::unlink(tmp.c_str());
        return rc;
    }
    syncDirectory(dir_);
    log_.reset(::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
    if (!log_) {
        spdlog::error("state: cannot open {}: {}", path, std::strerror(errno));
        return -errno;
    }
    records_ = live.size();
    live_ = std::move(live);
    recording_ = true;
    return 0;
}

int StateStore::append(const std::string &records)
{
    if (int rc = writeFully(log_.get(), records); rc < 0) {
        spdlog::error("state: cannot append to {}/{}: {}; this change will not survive a restart",
                      dir_, kTreeLogName, std::strerror(-rc));
        return rc;
    }
    if (!dirty_) JournalSyncer::instance().markDirty(shared_from_this());
    dirty_ = true;
    return 0;
}

void StateStore::save(Filesystem &fs, const Node &n)
{
    std::unique_lock g(mu_);
    if (!recording_ || n.unlinked) return;
    std::string rec;
    appendNodeRecord(rec, recordOf(n));
    append(rec);
    ++records_;
    live_.insert(n.ino);
    // Replaying stays proportional to the tree, not to its history.
    if (records_ > 4 * live_.size() + 1024) {
        g.unlock();
        compact(fs);
    }
}

void StateStore::drop(uint64_t ino)
{
    std::lock_guard g(mu_);
    if (!recording_) return;
    std::string rec;
    appendDropRecord(rec, ino);
    append(rec);
    ++records_;
    live_.erase(ino);
}

int StateStore::sync()
{
    std::lock_guard g(mu_);
    if (!dirty_ || !log_) return 0;
    dirty_ = false;
    return ::fdatasync(log_.get()) < 0 ? -errno : 0;
}

int matchDurability(Filesystem &fs, Node &n, std::string *why)
{
    if (n.isDir || !n.channel) return 0;
    const Settings s = n.channel->settings();
    std::shared_ptr<Journal> j = n.channel->journal();
    if (s.durable && !j) {
        if (!fs.state) {
            *why = "durable channels need a state directory: mount as chanfs STATE_DIR MOUNTPOINT";
            return -EINVAL;
        }
        const std::string dir = fs.state->journalDir(n.ino);
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);  // a crash may have left an old one
        RecoveredLog rec;
        if (int rc = Journal::open(dir, s, fs.inodes.path(n), &j, &rec, why); rc < 0) return rc;
        if (int rc = n.channel->attachJournal(j, true); rc < 0) {
            n.channel->detachJournal();
            j->destroy();
            *why = "cannot write the journal in " + dir + ": " + std::strerror(-rc);
            return -EIO;
        }
    } else if (!s.durable && j) {
        n.channel->detachJournal();
        j->destroy();
    }
    return 0;
}

}  // namespace chanfs::fs
