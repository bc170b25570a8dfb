// The directory tree: nodes (directories and channels) by inode number.
// Inode numbers are never reused while mounted, so they stay stable for the
// life of an entry (sockets and FIFOs bound inside the mount rely on it);
// with a state directory, never across restarts either (reserveBelow()).
//
// Thread-safety: the table's shared_mutex guards every Node field and the
// tree shape; callers hold it (shared to read, exclusive to change) while
// touching nodes. Lock order: this mutex, then a channel's mutex.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <atomic>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "channels/base/settings.h"
#include "channels/core/channel.h"
#include "fs/base/fuse_api.h"
#include "fs/tree/endpoint_slots.h"

namespace chanfs::fs {

struct Node {
    fuse_ino_t ino = 0;
    bool isDir = false;
    mode_t mode = 0;  // st_mode with the file type
    uid_t uid = 0;
    gid_t gid = 0;
    timespec atime{}, mtime{}, ctime{};
    uint64_t nlookup = 0;
    fuse_ino_t parent = 0;
    std::string name;
    bool unlinked = false;
    std::map<std::string, fuse_ino_t> children;  // directories
    uint32_t subdirs = 0;                        // directories, for st_nlink
    PartialSettings defaults;                    // directories
    std::shared_ptr<Channel> channel;            // channels
    // A channel's endpoints (bridges): FIFO, socket, ... Destroy them
    // outside the table lock: that waits for the bridge event loop.
    EndpointSlots endpoints;
};

class InodeTable {
public:
    InodeTable(uid_t rootUid, gid_t rootGid, mode_t rootMode);

    std::shared_mutex &mutex() { return mu_; }

    // All of these need mutex() held.
    Node *get(fuse_ino_t ino);
    Node *child(const Node &dir, const std::string &name);
    // ino 0: the next free number; else that one (restoring a saved tree).
    Node &add(Node &dir, const std::string &name, bool isDir, mode_t mode, uid_t uid, gid_t gid,
              fuse_ino_t ino = 0);
    // A nameless node the kernel holds until it forgets it (see opMknod).
    Node &addDetached(mode_t mode, uid_t uid, gid_t gid);
    // Removes the name; the node lives on while the kernel still knows it.
    void removeName(Node &dir, const std::string &name);
    void move(Node &from, const std::string &name, Node &to, const std::string &newName);
    void forget(fuse_ino_t ino, uint64_t nlookup);
    std::string path(const Node &n);
    // Directory defaults from the root down to `dir`, for resolveSettings().
    std::vector<const PartialSettings *> defaultsChain(Node &dir);
    size_t size() const { return nodes_.size(); }
    // The number add() hands out next, and a floor under it: numbers
    // below `next` were used in an earlier run (the state store's
    // high-water mark) and never come back.
    fuse_ino_t nextIno() const { return nextIno_.load(); }
    void reserveBelow(fuse_ino_t next)
    {
        if (nextIno_.load() < next) nextIno_.store(next);
    }
    template <typename F>
    void forEach(F &&f) const
    {
        for (const auto &[ino, n] : nodes_) f(*n);
    }
    // Named channels and directories, the root not counted (max_channels).
    size_t namedEntries() const { return named_; }
    // Takes every endpoint out of the tree (the daemon is stopping).
    std::vector<std::shared_ptr<Endpoint>> takeAllEndpoints()
    {
        std::vector<std::shared_ptr<Endpoint>> all;
        for (auto &[ino, n] : nodes_)
            for (auto &e : n->endpoints.takeAll()) all.push_back(std::move(e));
        return all;
    }

private:
    void maybeErase(Node &n);

    std::shared_mutex mu_;
    std::unordered_map<fuse_ino_t, std::unique_ptr<Node>> nodes_;
    std::atomic<fuse_ino_t> nextIno_{FUSE_ROOT_ID + 1};
    size_t named_ = 0;
};

timespec nowRealtime();

}  // namespace chanfs::fs
