// Everything the FUSE handlers share: the tree, the open files, the mount's
// options. One per mount; handlers reach it through fuse_req_userdata().
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "channels/base/event_loop.h"
#include "channels/core/channel.h"
#include "channels/endpoints/endpoint.h"
#include "fs/base/fuse_api.h"
#include "fs/base/options.h"
#include "fs/tree/inode_table.h"
#include "fs/tree/shared_tree.h"
#include "fs/tree/state_store.h"

namespace chanfs::fs {

// One open() of a channel. fi->fh holds its address; OpenFiles owns it.
struct OpenFile {
    std::shared_ptr<Channel> channel;
    std::shared_ptr<Handle> handle;
    // A channel whose endpoint takes the file over (a connection per open,
    // the two sides of a listening socket): reads and writes then go
    // through `conn`.
    std::shared_ptr<FileSide> conn;
    fuse_ino_t ino = 0;
    // Opened seekable, without FOPEN_STREAM (op_open.cpp says when): read
    // offsets are then the kernel's file position, not 0 per read(2).
    bool seekable = false;

    struct Target {
        Channel *channel;
        Handle *handle;  // null: not opened for this direction
    };
    Target reading() const
    {
        return conn ? Target{&conn->in(), conn->inHandle()} : Target{channel.get(), handle.get()};
    }
    Target writing() const
    {
        return conn ? Target{&conn->out(), conn->outHandle()} : Target{channel.get(), handle.get()};
    }
    // The file is closed (RELEASE, or the daemon stopping). Idempotent.
    void close()
    {
        if (conn)
            conn->close();
        else
            channel->release(*handle);
    }
};

// Snapshot of a directory taken at opendir, so readdir offsets stay valid
// while entries come and go.
struct DirListing {
    struct Item {
        std::string name;
        fuse_ino_t ino;
        mode_t mode;
    };
    std::vector<Item> items;
};

// Owns open files and directory listings; fh values are their addresses so
// read/write find them without a lookup. Thread-safe.
template <typename T>
class FhTable {
public:
    uint64_t adopt(std::unique_ptr<T> p)
    {
        const auto fh = reinterpret_cast<uint64_t>(p.get());
        std::lock_guard g(mu_);
        items_.emplace(fh, std::move(p));
        return fh;
    }
    static T *get(uint64_t fh) { return reinterpret_cast<T *>(fh); }
    // Like get(), but checks that fh is one of ours; nullptr if not.
    T *find(uint64_t fh)
    {
        std::lock_guard g(mu_);
        auto it = items_.find(fh);
        return it == items_.end() ? nullptr : it->second.get();
    }
    std::vector<std::unique_ptr<T>> takeAll()
    {
        std::lock_guard g(mu_);
        std::vector<std::unique_ptr<T>> all;
        for (auto &[fh, p] : items_) all.push_back(std::move(p));
        items_.clear();
        return all;
    }
    std::unique_ptr<T> take(uint64_t fh)
    {
        std::lock_guard g(mu_);
        auto it = items_.find(fh);
        if (it == items_.end()) return nullptr;
        auto p = std::move(it->second);
        items_.erase(it);
        return p;
    }

private:
    std::mutex mu_;
    std::unordered_map<uint64_t, std::unique_ptr<T>> items_;
};

struct Filesystem {
    explicit Filesystem(const Options &o);
    ~Filesystem();
    Filesystem(const Filesystem &) = delete;
    Filesystem &operator=(const Filesystem &) = delete;
    // After the request loop ended and before the session goes: answers
    // every waiting request (readers end-of-stream, writers EPIPE) and
    // releases every open file, so nothing replies on a dead session.
    void closeAll();
    // The channel side of RELEASE, run as soon as the request is read (see
    // stream_io.h); opRelease later frees the file. Idempotent.
    void releaseEarly(uint64_t fh);
    const Options opts;
    InodeTable inodes;
    // Runs all bridge I/O. closeAll() destroys every bridge before it goes.
    EventLoop loop;
    FhTable<OpenFile> files;
    FhTable<DirListing> dirs;
    // The state directory's store; null without one (SOURCE not a path).
    std::shared_ptr<StateStore> state;
    // The shared tree of NATS-backed subtrees (shared_tree.h); null without
    // a NATS link. Handlers tell it of each local change.
    std::shared_ptr<SharedTree> tree;
    // Drops the kernel's cached entry `name` in `parent` (set by the daemon
    // once mounted; unset: nothing to drop). Called without the table lock.
    std::function<void(fuse_ino_t parent, const std::string &name)> invalidateEntry;
};

inline Filesystem &fsOf(fuse_req_t req)
{
    return *static_cast<Filesystem *>(fuse_req_userdata(req));
}

// The requesting process's uid, gid and supplementary groups: bridges
// create, open and connect with these, never with the daemon's.
Credentials callerOf(fuse_req_t req);

// Attributes of a node for stat/entry replies. Needs the table lock held.
void fillStat(const Node &n, struct stat *st);
fuse_entry_param entryFor(Node &n);

}  // namespace chanfs::fs
