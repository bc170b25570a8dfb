#include "fs/tree/state_store.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
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
#include "channels/base/log_limit.h"
#include "channels/storage/registry.h"
#include "fs/tree/filesystem.h"
#include "fs/tree/node_ops.h"
#include "fs/tree/tree_log.h"

namespace chanfs::fs {

namespace {

constexpr const char *kTreeLogName = "tree.log";
constexpr const char *kLockName = "lock";
constexpr const char *kOrphanDirName = "orphaned";

// `base`, or `base.1`, `base.2`... : the first name not taken.
std::string freeName(const std::string &base)
{
    struct stat st {};
    if (::lstat(base.c_str(), &st) < 0) return base;
    for (unsigned i = 1;; ++i) {
        const std::string candidate = base + "." + std::to_string(i);
        if (::lstat(candidate.c_str(), &st) < 0) return candidate;
    }
}

// The inode number a journal directory is named after ("12", or "12.3"
// once set aside twice); 0 if it is named otherwise.
uint64_t inoOfName(const std::string &name)
{
    uint64_t v = 0;
    size_t i = 0;
    for (; i < name.size() && name[i] >= '0' && name[i] <= '9'; ++i) {
        if (v > (UINT64_MAX - 9) / 10) return 0;
        v = v * 10 + static_cast<uint64_t>(name[i] - '0');
    }
    return i > 0 && (i == name.size() || name[i] == '.') ? v : 0;
}

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
        // Framing, delivery and max_message follow the kind unless set.
        if (k == "framing" && !s.framingExplicit) continue;
        if (k == "delivery" && !s.deliveryExplicit) continue;
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
    // One daemon per state directory: a second one would hand out the same
    // inode numbers and make its journals over the first one's. flock, not
    // a pid file: the kernel drops it when the holder dies, even by kill -9.
    const std::string lockPath = dir + "/" + kLockName;
    struct stat st {};
    const bool usedBefore = ::stat(lockPath.c_str(), &st) == 0;
    UniqueFd lock(::open(lockPath.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!lock) {
        *why = "cannot open the lock file " + lockPath + ": " + std::strerror(errno);
        return -errno;
    }
    if (::flock(lock.get(), LOCK_EX | LOCK_NB) < 0) {
        const int e = errno;
        if (e != EWOULDBLOCK) {
            *why = "cannot lock " + lockPath + ": " + std::strerror(e);
            return -e;
        }
        std::string holder;
        readWholeFile(lockPath, &holder);
        while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' '))
            holder.pop_back();
        *why = "state directory " + source + " is in use by another chanfs (pid " +
               (holder.empty() ? std::string("unknown") : holder) + ", holding " + lockPath +
               "); stop it or pick another state directory";
        return -EBUSY;
    }
    const std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(lock.get(), 0) < 0 || ::pwrite(lock.get(), pid.data(), pid.size(), 0) < 0)
        spdlog::warn("state: cannot write the pid into {}: {}", lockPath, std::strerror(errno));
    *out = std::make_shared<StateStore>(Token{}, dir);
    (*out)->lock_ = std::move(lock);
    (*out)->usedBefore_ = usedBefore;
    return 0;
}

std::string StateStore::storeDir(uint64_t ino) const
{
    return dir_ + "/channels/" + std::to_string(ino);
}

int StateStore::restore(Filesystem &fs, std::string *why)
{
    const std::string path = dir_ + "/" + kTreeLogName;
    std::string data;
    const int readRc = readWholeFile(path, &data);
    if (readRc < 0 && readRc != -ENOENT) {
        *why = "cannot read " + path + ": " + std::strerror(-readRc);
        return readRc;
    }
    TreeReplay replay = replayTreeLog(data);
    replayedEnd_ = replay.validEnd;
    for (const std::string &p : replay.problems) spdlog::error("state {}: {}", path, p);
    if (replay.validEnd < data.size())
        spdlog::error("state {}: {} damaged bytes at the end cut off", path,
                      data.size() - replay.validEnd);
    if (!replay.problems.empty() || replay.validEnd < data.size()) {
        // The rewrite at the end of the mount replaces the file: the
        // damaged one stays as it was found, for whoever looks into it.
        const std::string aside = freeName(path + ".damaged");
        if (::link(path.c_str(), aside.c_str()) == 0)
            spdlog::error("state {}: damaged; kept as it was in {}", path, aside);
        else
            spdlog::error("state {}: damaged, and cannot be kept aside as {}: {}", path, aside,
                          std::strerror(errno));
    }
    std::unordered_set<uint64_t> claimed;  // journal directories restored channels use

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
                    if (n && !storageFor(s).durable && s.nats) {
                        // Its messages are in the cluster's stream: the store
                        // connects to it (when the cluster is reachable).
                        const std::string label = fs.inodes.path(*n);
                        StoreRequest req{"", s, label, false};
                        std::shared_ptr<MessageStore> store;
                        StoreRecovery rec;
                        std::string w;
                        if (storageFor(s).open(req, &store, &rec, &w) < 0)
                            spdlog::error("channel {}: backend=nats: {}; it stays in memory",
                                          label, w);
                        else
                            n->channel->useStore(std::move(store), false);
                    }
                    if (n && storageFor(s).durable) {
                        const std::string label = fs.inodes.path(*n);
                        struct stat st {};
                        if (::stat(storeDir(ino).c_str(), &st) < 0)
                            spdlog::error(
                                "durable channel {}: its journal {} is missing ({}); it comes "
                                "back empty: whatever it held is lost",
                                label, storeDir(ino), std::strerror(errno));
                        claimed.insert(ino);
                        StoreRequest req{storeDir(ino), s, label, false};
                        std::shared_ptr<MessageStore> store;
                        StoreRecovery rec;
                        std::string w;
                        if (storageFor(s).open(req, &store, &rec, &w) < 0) {
                            *why = "durable channel " + label + ": " + w;
                            return -EIO;
                        }
                        n->channel->useStore(std::move(store), false);
                        ++durable;
                        messages += rec.entries;
                        spdlog::info("durable channel {}: {} entries restored from {} segment(s){}",
                                     label, rec.entries, rec.units,
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
    const uint64_t journals = setOrphansAside(claimed);
    if (readRc == -ENOENT && (journals || usedBefore_))
        spdlog::error(
            "state {}: missing, but this state directory was used before: the saved tree "
            "(names, settings) is lost; any journals are kept in {}/{}",
            path, dir_, kOrphanDirName);
    // Never the number of anything that was: a journal named after it
    // would be taken for the new channel's.
    std::unique_lock lock(fs.inodes.mutex());
    fs.inodes.reserveBelow(std::max(replay.nextIno, journals + 1));
    return 0;
}

uint64_t StateStore::setOrphansAside(const std::unordered_set<uint64_t> &claimed)
{
    uint64_t highest = 0;
    std::error_code ec;
    const std::string orphans = dir_ + "/" + kOrphanDirName;
    std::error_code orphansEc;
    for (const auto &e : std::filesystem::directory_iterator(orphans, orphansEc))
        highest = std::max(highest, inoOfName(e.path().filename().string()));
    const std::string channelsDir = dir_ + "/channels";
    std::vector<std::string> stray;
    for (const auto &e : std::filesystem::directory_iterator(channelsDir, ec)) {
        const std::string name = e.path().filename().string();
        const uint64_t ino = inoOfName(name);
        highest = std::max(highest, ino);
        if (ino == 0 || name != std::to_string(ino) || !claimed.count(ino)) stray.push_back(name);
    }
    if (ec) spdlog::error("state: cannot list {}: {}", channelsDir, ec.message());
    for (const std::string &name : stray) keepJournalAside(name);
    return highest;
}

void StateStore::keepJournalAside(const std::string &name)
{
    const std::string orphans = dir_ + "/" + kOrphanDirName;
    if (::mkdir(orphans.c_str(), 0700) < 0 && errno != EEXIST) {
        spdlog::error("state: cannot make {}: {}", orphans, std::strerror(errno));
        return;
    }
    const std::string channelsDir = dir_ + "/channels";
    const std::string from = channelsDir + "/" + name;
    const std::string to = freeName(orphans + "/" + name);
    uint64_t bytes = 0;
    std::error_code ec;
    for (const auto &f : std::filesystem::recursive_directory_iterator(from, ec))
        if (f.is_regular_file(ec)) bytes += f.file_size(ec);
    if (::rename(from.c_str(), to.c_str()) == 0) {
        spdlog::error(
            "state: {} ({} bytes) belongs to no saved channel; kept aside as {}, never "
            "reused",
            from, bytes, to);
        syncDirectory(channelsDir);
        syncDirectory(orphans);
    } else {
        spdlog::error("state: {} belongs to no saved channel and cannot be set aside: {}", from,
                      std::strerror(errno));
    }
}

int StateStore::compact(Filesystem &fs)
{
    std::lock_guard g(mu_);
    const int rc = rewrite(fs);
    if (rc == 0 || recording_) return rc;
    // At mount, with no room for a second copy (a full disk): go on with
    // the log as replayed, its damaged tail cut off, rather than not
    // mounting at all. Changes are saved while there is room.
    const std::string path = dir_ + "/" + kTreeLogName;
    if (replayedEnd_ < kFileMagicBytes) return rc;
    log_.reset(::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
    struct stat st {};
    if (!log_ || ::fstat(log_.get(), &st) < 0 ||
        (static_cast<uint64_t>(st.st_size) > replayedEnd_ &&
         ::ftruncate(log_.get(), static_cast<off_t>(replayedEnd_)) < 0)) {
        log_.reset();
        return rc;
    }
    spdlog::error("state: {} not rewritten ({}); going on with it as it is", path,
                  std::strerror(-rc));
    goodEnd_ = replayedEnd_;
    recording_ = true;
    return 0;
}

int StateStore::rewrite(Filesystem &fs)
{
    std::string out(kTreeLogMagic, kFileMagicBytes);
    appendHighWaterRecord(out, fs.inodes.nextIno());
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
        logLimited(spdlog::level::err, "tree.log rewrite", "state: cannot rewrite {}: {}", path,
                   std::strerror(-rc));
        ::unlink(tmp.c_str());
        return rc;
    }
    syncDirectory(dir_);
    // From here on the new file is the log, whatever happens next.
    log_.reset(::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
    if (!log_) {
        rc = -errno;
        spdlog::error("state: cannot open {}: {}", path, std::strerror(-rc));
        rewriteNeeded_ = true;
        return rc;
    }
    if (rewriteNeeded_) spdlog::info("state: {} rewritten whole; changes are saved again", path);
    rewriteNeeded_ = false;
    goodEnd_ = out.size();
    records_ = live.size();
    live_ = std::move(live);
    recording_ = true;
    return 0;
}

int StateStore::append(Filesystem &fs, const std::string &records)
{
    if (!recording_) return 0;
    if (rewriteNeeded_ || !log_) {
        if (int rc = rewrite(fs); rc < 0) return rc;
    }
    if (int rc = writeFully(log_.get(), records); rc < 0) {
        // Part of the record may be in the file: cut it off now, or the
        // records appended after it would be lost behind it at replay.
        const bool cut = ::ftruncate(log_.get(), static_cast<off_t>(goodEnd_)) == 0;
        if (!cut) rewriteNeeded_ = true;
        logLimited(spdlog::level::err, "tree.log append",
                   "state: cannot append to {}/{}: {}; the change is refused{}", dir_, kTreeLogName,
                   std::strerror(-rc),
                   cut ? ""
                       : " (and the torn record cannot be cut off: the log is rewritten whole "
                         "before the next change)");
        return rc;
    }
    goodEnd_ += records.size();
    if (!dirty_) syncSoon(shared_from_this());
    dirty_ = true;
    return 0;
}

int StateStore::save(Filesystem &fs, const Node &n)
{
    std::lock_guard g(mu_);
    if (!recording_ || n.unlinked) return 0;
    std::string rec;
    appendNodeRecord(rec, recordOf(n));
    if (int rc = append(fs, rec); rc < 0) return rc;
    ++records_;
    live_.insert(n.ino);
    // Replaying stays proportional to the tree, not to its history. The
    // record is in the log already: a failed rewrite leaves it there.
    if (records_ > 4 * live_.size() + 1024) rewrite(fs);
    return 0;
}

int StateStore::saveMove(Filesystem &fs, const Node &src, uint64_t newParent,
                         const std::string &newName, uint64_t replacedIno)
{
    std::lock_guard g(mu_);
    if (!recording_ || src.unlinked) return 0;
    std::string rec;
    if (replacedIno) appendDropRecord(rec, replacedIno);
    TreeRecord moved = recordOf(src);
    moved.parent = newParent;
    moved.name = newName;
    appendNodeRecord(rec, moved);
    if (int rc = append(fs, rec); rc < 0) return rc;
    records_ += replacedIno ? 2 : 1;
    if (replacedIno) live_.erase(replacedIno);
    return 0;
}

int StateStore::drop(Filesystem &fs, uint64_t ino)
{
    std::lock_guard g(mu_);
    if (!recording_) return 0;
    std::string rec;
    appendDropRecord(rec, ino);
    if (int rc = append(fs, rec); rc < 0) return rc;
    ++records_;
    live_.erase(ino);
    return 0;
}

int StateStore::sync()
{
    std::lock_guard g(mu_);
    if (!dirty_ || !log_) return 0;
    dirty_ = false;
    if (::fdatasync(log_.get()) == 0) return 0;
    const int rc = -errno;
    // Never retried on this file: after a failed fdatasync the kernel may
    // have dropped the pages and a second call would report success. The
    // next change rewrites the log whole, through a new file, first.
    rewriteNeeded_ = true;
    logLimited(spdlog::level::err, "tree.log sync",
               "state: fdatasync of {}/{} failed: {}; the last changes may not survive a crash "
               "until the log is rewritten (at the next change)",
               dir_, kTreeLogName, std::strerror(-rc));
    return rc;
}

int matchDurability(Filesystem &fs, Node &n, std::string *why)
{
    if (n.isDir || !n.channel) return 0;
    const Settings s = n.channel->settings();
    const StorageBackend &wanted = storageFor(s);
    const std::shared_ptr<MessageStore> current = n.channel->messageStore();
    if (current->name() == wanted.name && current->suits(s)) return 0;
    if (!wanted.durable && wanted.name != "memory") {
        // A store kept elsewhere (backend=nats): no state directory needed.
        StoreRequest req{"", s, fs.inodes.path(n), true};
        std::shared_ptr<MessageStore> store;
        if (int rc = wanted.open(req, &store, nullptr, why); rc < 0) return rc;
        if (int rc = n.channel->useStore(store, true); rc < 0) {
            store->destroy();
            *why = std::string("cannot move the channel into its store: ") + std::strerror(-rc);
            return rc;
        }
        if (current->durable()) current->destroy();
        return 0;
    }
    if (wanted.durable) {
        if (!fs.state) {
            *why = "durable channels need a state directory: mount as chanfs STATE_DIR MOUNTPOINT";
            return -EINVAL;
        }
        const std::string dir = fs.state->storeDir(n.ino);
        // Inode numbers are never reused, so a journal here belongs to no
        // one we know of; it is set aside, never deleted.
        struct stat st {};
        if (::lstat(dir.c_str(), &st) == 0) fs.state->keepJournalAside(std::to_string(n.ino));
        StoreRequest req{dir, s, fs.inodes.path(n), true};
        std::shared_ptr<MessageStore> store;
        if (int rc = wanted.open(req, &store, nullptr, why); rc < 0) return rc;
        if (int rc = n.channel->useStore(store, true); rc < 0) {
            store->destroy();
            *why = "cannot write the journal in " + dir + ": " + std::strerror(-rc);
            return -EIO;
        }
        if (current->durable()) current->destroy();
    } else {
        n.channel->leaveStore()->destroy();
    }
    return 0;
}

}  // namespace chanfs::fs
