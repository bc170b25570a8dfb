// setxattr, getxattr, listxattr, removexattr: channel settings and live
// stats as `user.chanfs.*`, directory defaults.
#include <spdlog/spdlog.h>

#include <cerrno>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>

#include "filesystem.h"
#include "log.h"
#include "ops.h"

namespace chanfs::fs {

namespace {

constexpr std::string_view kPrefix = "user.chanfs.";
constexpr std::string_view kStatsPrefix = "stats.";

constexpr std::string_view kStatNames[] = {
    "queued_messages", "queued_bytes", "readers",      "writers",
    "blocked_readers", "blocked_writers", "in_messages", "in_bytes",
    "out_messages",    "out_bytes",    "drops",        "dropped_bytes"};

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

// Value of `key` (without the prefix) on a node. Needs the table lock.
int readValue(const Node &n, std::string_view key, std::string *out)
{
    if (n.isDir) {
        auto v = formatSetting(n.defaults, key);
        if (!v) return -ENODATA;
        *out = *v;
        return 0;
    }
    if (key.substr(0, kStatsPrefix.size()) == kStatsPrefix) {
        auto v = statValue(n.channel->stats(), key.substr(kStatsPrefix.size()));
        if (!v) return -ENODATA;
        *out = std::to_string(*v);
        return 0;
    }
    auto v = formatSetting(n.channel->settings(), key);
    if (!v) return -ENODATA;
    *out = *v;
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

void opSetxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size,
                int) noexcept
{
    Filesystem &fs = fsOf(req);
    const std::string_view full(name);
    if (full.substr(0, kPrefix.size()) != kPrefix) {
        fuse_reply_err(req, ENOTSUP);
        return;
    }
    const std::string key(full.substr(kPrefix.size()));
    const std::string val(value, size);
    const fuse_ctx *ctx = fuse_req_ctx(req);
    std::string path;
    std::string why;
    int rc = 0;
    std::shared_ptr<Channel> ch;
    {
        std::unique_lock lock(fs.inodes.mutex());
        Node *n = fs.inodes.get(ino);
        if (!n) {
            lock.unlock();
            fuse_reply_err(req, ENOENT);
            return;
        }
        path = fs.inodes.path(*n);
        if (ctx->uid != 0 && ctx->uid != n->uid) {
            rc = -EPERM;
            why = "only the owner or root may change settings";
        } else if (key.substr(0, kStatsPrefix.size()) == kStatsPrefix) {
            rc = -EPERM;
            why = "stats are read-only";
        } else if (n->isDir) {
            rc = applySetting(&n->defaults, key, val, &why);
        } else {
            ch = n->channel;
        }
    }
    if (ch) rc = ch->changeSetting(key, val, &why);
    if (rc == -ENODATA) rc = -EINVAL;  // an unknown chanfs key is a bad setting
    if (rc < 0) {
        spdlog::warn("setxattr {}{}='{}' on {} refused ({}): {}", kPrefix, printable(key),
                     printable(val), printable(path), std::strerror(-rc), why);
        fuse_reply_err(req, -rc);
        return;
    }
    spdlog::info("{}: {} set to {}", printable(path), key, printable(val));
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
        Node *n = fs.inodes.get(ino);
        if (!n) {
            lock.unlock();
            fuse_reply_err(req, ENOENT);
            return;
        }
        isStat = !n->isDir && key.substr(0, kStatsPrefix.size()) == kStatsPrefix;
        rc = readValue(*n, key, &value);
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
        Node *n = fs.inodes.get(ino);
        if (!n) {
            lock.unlock();
            fuse_reply_err(req, ENOENT);
            return;
        }
        for (std::string_view s : kSettingNames) {
            if (n->isDir && !formatSetting(n->defaults, s)) continue;
            names.append(kPrefix).append(s).push_back('\0');
        }
        if (!n->isDir)
            for (std::string_view s : kStatNames)
                names.append(kPrefix).append(kStatsPrefix).append(s).push_back('\0');
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
    int rc = 0;
    {
        std::unique_lock lock(fs.inodes.mutex());
        Node *n = fs.inodes.get(ino);
        const fuse_ctx *ctx = fuse_req_ctx(req);
        if (!n) rc = -ENOENT;
        else if (ctx->uid != 0 && ctx->uid != n->uid) rc = -EPERM;
        else if (!n->isDir) rc = -EPERM;  // a channel always has every setting
        else if (!formatSetting(n->defaults, key)) rc = -ENODATA;
        else rc = clearSetting(&n->defaults, key);
    }
    fuse_reply_err(req, -rc);
}

}  // namespace chanfs::fs
