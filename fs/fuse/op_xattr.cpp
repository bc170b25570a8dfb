// setxattr, getxattr, listxattr, removexattr: channel settings and live
// stats as `user.chanfs.*`, directory defaults.
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>

#include "channels/base/log_limit.h"
#include "channels/core/memory_budget.h"
#include "channels/storage/registry.h"
#include "fs/base/log.h"
#include "fs/fuse/node_reply.h"
#include "fs/fuse/ops.h"
#include "fs/tree/filesystem.h"
#include "fs/tree/node_ops.h"

namespace chanfs::fs {

namespace {

constexpr std::string_view kPrefix = kAttrPrefix;
// Why a change was refused when the state directory could not record it.
constexpr const char *kNotSaved = "the change cannot be saved in the state directory";

std::optional<uint64_t> statValue(const ChannelStats &s, std::string_view name)
{
    if (name == "queued_messages") return s.queuedMessages;
    if (name == "queued_bytes") return s.queuedBytes;
    if (name == "readers") return s.readers;
    if (name == "writers") return s.writers;
    if (name == "blocked_readers") return s.blockedReaders;
    if (name == "blocked_writers") return s.blockedWriters;
    if (name == "in_messages") return s.inMessages;
    if (name == "in_bytes") return s.inBytes;
    if (name == "out_messages") return s.outMessages;
    if (name == "out_bytes") return s.outBytes;
    if (name == "drops") return s.drops;
    if (name == "dropped_bytes") return s.droppedBytes;
    return std::nullopt;
}

// A durable channel's journal: "ok", or why writes are refused (names.h).
constexpr std::string_view kStorageErrorStat = "storage_error";
static_assert(isStatName(kStorageErrorStat));

// Appends the names of the stats (names.h) shown on `shownOn`.
void appendStatNames(std::string *names, unsigned shownOn)
{
    for (const StatName &s : kStats)
        if (s.shownOn & shownOn)
            names->append(kPrefix).append(kStatsPrefix).append(s.name).push_back('\0');
}

// Value of `key` (without the prefix) on a node. Needs the table lock.
int readValue(const Node &n, std::string_view key, std::string *out)
{
    if (n.isDir) {
        auto v = formatSetting(n.defaults, key);
        if (!v) return -ENODATA;
        *out = *v;
        return 0;
    }
    if (findEndpointKind(key)) {
        const Endpoint *e = n.endpoints.get(key);
        if (!e) return -ENODATA;
        *out = e->describe();
        return 0;
    }
    if (key.substr(0, kStatsPrefix.size()) == kStatsPrefix) {
        const std::string_view stat = key.substr(kStatsPrefix.size());
        for (const auto &[k, e] : n.endpoints.items())
            for (EndpointStat &st : e->stats())
                if (st.name == stat) {
                    *out = std::move(st.value);
                    return 0;
                }
        const ChannelStats st = fileStats(n);
        for (const auto &[name, value] : st.storeStats)
            if (name == stat) {
                *out = value;
                return 0;
            }
        if (stat == kStorageErrorStat) {
            if (st.storageError.empty()) return -ENODATA;  // not durable
            *out = st.storageError;
            return 0;
        }
        auto v = statValue(st, stat);
        if (!v) return -ENODATA;
        *out = std::to_string(*v);
        return 0;
    }
    if (key == "max_message") {
        // What a write is held to: the setting, clamped by the store.
        *out = std::to_string(n.channel->maxMessage());
        return 0;
    }
    auto v = formatSetting(n.channel->settings(), key);
    if (!v) return -ENODATA;
    *out = *v;
    return 0;
}

// The mount root's own stats, readable by name (not listed, so tools that
// read a directory's listed attributes as its settings are not confused):
// the memory budget (-o max_memory) and the entry count (-o max_channels).
int readMountStat(Filesystem &fs, std::string_view stat, std::string *out)
{
    const MemoryBudget &budget = MemoryBudget::global();
    if (stat == "memory_bytes")
        *out = std::to_string(budget.used());
    else if (stat == "max_memory")
        *out = std::to_string(budget.limit());
    else if (stat == "entries")
        *out = std::to_string(fs.inodes.namedEntries());
    else if (stat == "max_channels")
        *out = std::to_string(fs.opts.maxChannels);
    else
        return -ENODATA;
    return 0;
}

void replySized(fuse_req_t req, size_t size, const std::string &value, bool sizeMayGrow)
{
    if (size == 0) {
        // Stats change between the size query and the read: leave room.
        fuse_reply_xattr(req, sizeMayGrow ? std::max<size_t>(value.size(), 24) : value.size());
    } else if (size < value.size()) {
        fuse_reply_err(req, ERANGE);
    } else {
        fuse_reply_buf(req, value.data(), value.size());
    }
}

}  // namespace

namespace {

// Logs how setting or removing bridge `key` went and answers `req`.
void replyBridge(fuse_req_t req, std::string_view key, const std::string &val,
                 const std::string &path, int rc, const std::string &why, bool remove)
{
    if (rc < 0) {
        if (rc != -ENODATA)
            spdlog::warn("setxattr {}{}='{}' on {} refused ({}): {}", kPrefix, key, printable(val),
                         printable(path), std::strerror(-rc), why);
        fuse_reply_err(req, -rc);
        return;
    }
    logLimited(spdlog::level::info, "setxattr bridge", "{}: {} {}", printable(path), key,
               remove ? "bridge removed" : "set to " + printable(val));
    fuse_reply_err(req, 0);
}

}  // namespace

namespace {

// Records node `ino` in the state directory (if there is one): 0 or -errno.
int saveNode(Filesystem &fs, fuse_ino_t ino)
{
    if (!fs.state) return 0;
    std::shared_lock lock(fs.inodes.mutex());
    Node *n = fs.inodes.get(ino);
    return n ? fs.state->save(fs, *n) : 0;
}

// The bridge `key` of channel `ino` as its value reads ("" for none).
std::string bridgeValue(Filesystem &fs, fuse_ino_t ino, std::string_view key)
{
    std::shared_lock lock(fs.inodes.mutex());
    const Node *n = fs.inodes.get(ino);
    std::string v;
    if (n && !n->isDir && readValue(*n, key, &v) < 0) v.clear();
    return v;
}

// setxattr/removexattr of a bridge key: does it as the caller and replies.
void setBridge(fuse_req_t req, Filesystem &fs, fuse_ino_t ino, std::string_view key,
               const std::string &val, bool remove)
{
    const uid_t uid = fuse_req_ctx(req)->uid;
    const auto as = [req] { return callerOf(req); };
    const auto apply = [&](const std::string &v, bool rm, std::string *path, std::string *why) {
        return setEndpoint(fs, ino, key, v, rm, uid, as, path, why);
    };
    const std::string was = fs.state ? bridgeValue(fs, ino, key) : std::string();
    std::string path, why;
    int rc = apply(val, remove, &path, &why);
    if (rc == 0) {
        if (const int saved = saveNode(fs, ino); saved < 0) {
            // Not saved: the bridge the log names comes back.
            std::string ignoredPath, ignoredWhy;
            apply(was, was.empty(), &ignoredPath, &ignoredWhy);
            rc = saved;
            why = kNotSaved;
        }
    }
    replyBridge(req, key, val, path, rc, why, remove);
}

}  // namespace

namespace {

// Whether `key` exists on `n`, for XATTR_CREATE/XATTR_REPLACE: a channel
// always has every setting; a directory has the ones set on it; a bridge
// key exists while the bridge does. Needs the table lock.
bool hasKey(const Node &n, std::string_view key)
{
    if (findEndpointKind(key)) return n.endpoints.get(key) != nullptr;
    if (n.isDir) return formatSetting(n.defaults, key).has_value();
    return n.channel && formatSetting(n.channel->settings(), key).has_value();
}

// XATTR_CREATE of an existing key is EEXIST, XATTR_REPLACE of a missing
// one ENODATA, as on any filesystem. 0 or -errno with `why`.
int checkCreateReplace(Filesystem &fs, fuse_ino_t ino, std::string_view key, int flags,
                       std::string *why)
{
    if (!(flags & (XATTR_CREATE | XATTR_REPLACE))) return 0;
    std::shared_lock lock(fs.inodes.mutex());
    const Node *n = fs.inodes.get(ino);
    if (!n) return -ENOENT;
    const bool exists = hasKey(*n, key);
    if ((flags & XATTR_CREATE) && exists) {
        *why = "XATTR_CREATE, but it is already set";
        return -EEXIST;
    }
    if ((flags & XATTR_REPLACE) && !exists) {
        *why = "XATTR_REPLACE, but it is not set";
        return -ENODATA;
    }
    return 0;
}

// A directory whose channels would be NATS-backed (its own or an inherited
// default): the mount must have a link and, once the link knows the
// cluster, enough servers for `replicas`. Needs the table lock.
int checkDirStorage(Filesystem &fs, Node &dir, std::string *why)
{
    const Settings s = resolveSettings(fs.opts.defaults, fs.inodes.defaultsChain(dir));
    if (!s.nats && !s.natsDefault) return 0;
    return checkNatsWanted(s.replicas, why);
}

std::string pathOf(Filesystem &fs, fuse_ino_t ino)
{
    std::shared_lock lock(fs.inodes.mutex());
    Node *n = fs.inodes.get(ino);
    return n ? fs.inodes.path(*n) : "inode " + std::to_string(ino);
}

}  // namespace

void opSetxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size,
                int flags) noexcept
{
    Filesystem &fs = fsOf(req);
    const std::string_view full(name);
    if (full.substr(0, kPrefix.size()) != kPrefix) {
        spdlog::warn(
            "setxattr {} on {} refused (not supported): only user.chanfs.* attributes "
            "exist here",
            printable(full), printable(pathOf(fs, ino)));
        fuse_reply_err(req, ENOTSUP);
        return;
    }
    const std::string key(full.substr(kPrefix.size()));
    const std::string val(value, size);
    if (std::string why; int rc = checkCreateReplace(fs, ino, key, flags, &why)) {
        spdlog::warn("setxattr {}{}='{}' on {} refused ({}): {}", kPrefix, printable(key),
                     printable(val), printable(pathOf(fs, ino)), std::strerror(-rc), why);
        fuse_reply_err(req, -rc);
        return;
    }
    if (findEndpointKind(key)) {
        setBridge(req, fs, ino, key, val, false);
        return;
    }
    const fuse_ctx *ctx = fuse_req_ctx(req);
    std::string path;
    std::string why;
    int rc = 0;
    std::shared_ptr<Channel> ch;
    {
        std::unique_lock lock(fs.inodes.mutex());
        Node *n = nodeOrReplyEnoent(req, fs, ino, lock);
        if (!n) return;
        path = fs.inodes.path(*n);
        if (ctx->uid != 0 && ctx->uid != n->uid) {
            rc = -EPERM;
            why = "only the owner or root may change settings";
        } else if (key.substr(0, kStatsPrefix.size()) == kStatsPrefix) {
            rc = -EPERM;
            why = "stats are read-only";
        } else if (key == "durable" && val == "1" && !fs.state) {
            rc = -EINVAL;
            why = "durable channels need a state directory: mount as chanfs STATE_DIR MOUNTPOINT";
        } else if (n->isDir) {
            const PartialSettings was = n->defaults;
            rc = applySetting(&n->defaults, key, val, &why);
            if (rc == 0 && (key == "backend" || key == "durable" || key == "replicas")) {
                // A directory's storage default is checked as a channel's
                // would be, so it is refused here and not at every create.
                rc = checkDirStorage(fs, *n, &why);
                if (rc < 0) n->defaults = was;
            }
            if (rc == 0 && fs.state && (rc = fs.state->save(fs, *n)) < 0) {
                n->defaults = was;  // not saved: the directory keeps what the log says
                why = kNotSaved;
            }
            if (rc == 0 && fs.tree) fs.tree->nodeChanged(*n, true);
        } else {
            ch = n->channel;
        }
    }
    std::optional<std::string> oldValue;
    if (ch) {
        oldValue = formatSetting(ch->settings(), key);
        rc = ch->changeSetting(key, val, &why);
    }
    if (ch && rc == 0) {
        // Durable turned on or off: the journal follows. The channel's other
        // settings are recorded either way. Not once it is unlinked (an
        // unlink or rename over it since changeSetting): its messages went
        // with its name, and a journal made now would be left on disk.
        std::unique_lock lock(fs.inodes.mutex());
        Node *n = fs.inodes.get(ino);
        if (n && n->channel == ch && !n->unlinked) {
            const bool hadJournal = ch->messageStore()->durable();
            // Turning durable off deletes the journal: only once the log
            // says so, or a refused change would have lost the messages.
            const bool turningOff = hadJournal && !ch->settings().durable;
            if (!turningOff) {
                rc = matchDurability(fs, *n, &why);
                if (rc < 0) {
                    // The store refused: the setting goes back to what it was.
                    std::string ignored;
                    if (oldValue && key != "durable")
                        ch->changeSetting(key, *oldValue, &ignored);
                    else
                        ch->changeSetting("backend", "memory", &ignored);
                }
            }
            if (const int saved = fs.state ? fs.state->save(fs, *n) : 0; saved < 0) {
                // Not saved: the channel goes back to what the log says.
                if (!hadJournal)
                    if (auto st = ch->leaveStore()) st->destroy();
                std::string ignored;
                if (oldValue) ch->changeSetting(key, *oldValue, &ignored);
                rc = saved;
                why = kNotSaved;
            } else if (turningOff) {
                rc = matchDurability(fs, *n, &why);
            }
            if (rc == 0 && fs.tree) fs.tree->nodeChanged(*n);
        }
    }
    if (rc == -ENODATA) rc = -EINVAL;  // an unknown chanfs key is a bad setting
    if (rc < 0) {
        spdlog::warn("setxattr {}{}='{}' on {} refused ({}): {}", kPrefix, printable(key),
                     printable(val), printable(path), std::strerror(-rc), why);
        fuse_reply_err(req, -rc);
        return;
    }
    // Limited: a client looping over setxattr gave 6,650 lines a second.
    logLimited(spdlog::level::info, "setxattr", "{}: {} set to {}", printable(path), key,
               printable(val));
    fuse_reply_err(req, 0);
}

void opGetxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size) noexcept
{
    Filesystem &fs = fsOf(req);
    const std::string_view full(name);
    if (full.substr(0, kPrefix.size()) != kPrefix) {
        fuse_reply_err(req, ENODATA);
        return;
    }
    const std::string_view key = full.substr(kPrefix.size());
    std::string value;
    int rc;
    bool isStat = false;
    {
        std::shared_lock lock(fs.inodes.mutex());
        Node *n = nodeOrReplyEnoent(req, fs, ino, lock);
        if (!n) return;
        isStat = key.substr(0, kStatsPrefix.size()) == kStatsPrefix &&
                 (!n->isDir || ino == FUSE_ROOT_ID);
        rc = isStat && n->isDir ? readMountStat(fs, key.substr(kStatsPrefix.size()), &value)
                                : readValue(*n, key, &value);
    }
    if (rc < 0) {
        fuse_reply_err(req, -rc);
        return;
    }
    replySized(req, size, value, isStat);
}

void opListxattr(fuse_req_t req, fuse_ino_t ino, size_t size) noexcept
{
    Filesystem &fs = fsOf(req);
    std::string names;
    {
        std::shared_lock lock(fs.inodes.mutex());
        Node *n = nodeOrReplyEnoent(req, fs, ino, lock);
        if (!n) return;
        for (std::string_view s : kSettingNames) {
            if (n->isDir && !formatSetting(n->defaults, s)) continue;
            names.append(kPrefix).append(s).push_back('\0');
        }
        for (const auto &[key, e] : n->endpoints.items())
            names.append(kPrefix).append(key).push_back('\0');
        if (!n->isDir) appendStatNames(&names, kChannelStat);
        if (!n->isDir && n->channel->settings().durable) appendStatNames(&names, kDurableStat);
        if (!n->isDir && n->channel->settings().nats) appendStatNames(&names, kNatsStat);
        for (const auto &[key, e] : n->endpoints.items())
            for (const EndpointStat &st : e->stats())
                names.append(kPrefix).append(kStatsPrefix).append(st.name).push_back('\0');
    }
    replySized(req, size, names, false);
}

void opRemovexattr(fuse_req_t req, fuse_ino_t ino, const char *name) noexcept
{
    Filesystem &fs = fsOf(req);
    const std::string_view full(name);
    if (full.substr(0, kPrefix.size()) != kPrefix) {
        fuse_reply_err(req, ENODATA);
        return;
    }
    const std::string key(full.substr(kPrefix.size()));
    if (findEndpointKind(key)) {
        setBridge(req, fs, ino, key, {}, true);
        return;
    }
    int rc = 0;
    std::string why;
    std::string path;
    {
        std::unique_lock lock(fs.inodes.mutex());
        Node *n = fs.inodes.get(ino);
        const fuse_ctx *ctx = fuse_req_ctx(req);
        if (n) path = fs.inodes.path(*n);
        if (!n) {
            rc = -ENOENT;
        } else if (ctx->uid != 0 && ctx->uid != n->uid) {
            rc = -EPERM;
            why = "only the owner or root may change settings";
        } else if (!n->isDir && key.substr(0, kStatsPrefix.size()) == kStatsPrefix) {
            rc = -EPERM;
            why = "stats are read-only";
        } else if (!hasKey(*n, key)) {
            rc = -ENODATA;
            why = "it is not set";
        } else if (!n->isDir) {
            rc = -EPERM;
            why = "a channel always has every setting; set it to another value instead";
        } else {
            const PartialSettings was = n->defaults;
            rc = clearSetting(&n->defaults, key);
            if (rc == 0 && fs.state && (rc = fs.state->save(fs, *n)) < 0) {
                n->defaults = was;
                why = kNotSaved;
            }
            if (rc == 0 && fs.tree) fs.tree->nodeChanged(*n, true);
        }
    }
    if (rc < 0 && rc != -ENOENT)
        spdlog::warn("removexattr {}{} on {} refused ({}): {}", kPrefix, printable(key),
                     printable(path), std::strerror(-rc), why);
    else if (rc == 0)
        logLimited(spdlog::level::info, "removexattr", "{}: default {} removed", printable(path),
                   printable(key));
    fuse_reply_err(req, -rc);
}

}  // namespace chanfs::fs
