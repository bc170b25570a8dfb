// The state directory (the SOURCE argument): what the mount holds survives
// the daemon. Layout:
//   SOURCE/chanfs.toml               the config file (config.h), read-only
//   SOURCE/state/tree.log            every directory and channel: name,
//                                    owner, mode, settings, bridges (tree_log.h)
//   SOURCE/state/channels/<ino>/     a durable channel's store (its journal)
// Each change to the tree appends one record to tree.log before the
// request is answered; at mount the log is replayed, the tree rebuilt with
// the same inode numbers, durable channels refilled from their journals,
// and the log rewritten compactly.
//
// Threading contract: thread-safe. Its mutex comes after the inode table's
// and before any channel's (save() reads a channel's settings under it).
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>

#include "channels/base/unique_fd.h"
#include "channels/storage/syncable.h"

namespace chanfs::fs {

struct Filesystem;
struct Node;

class StateStore final : public Syncable, public std::enable_shared_from_this<StateStore> {
public:
    // Opens (making it if needed) the state under directory `source`.
    // 0 or -errno with `why`.
    static int open(const std::string &source, std::shared_ptr<StateStore> *out, std::string *why);

    // Rebuilds the saved tree into `fs` (not mounted yet, still empty):
    // nodes, settings, bridges (made as each channel's owner; one that
    // fails is logged and left off) and durable channels' messages.
    // Records made meanwhile are not written; call compact() after the
    // config file is applied. 0 or -errno with `why`.
    int restore(Filesystem &fs, std::string *why);
    // Rewrites the log as one record per node and starts recording.
    // Needs the table lock (shared is enough) or no mount yet.
    int compact(Filesystem &fs);

    // Records a node's current state / that it is gone. Need the table
    // lock held (shared is enough).
    void save(Filesystem &fs, const Node &n);
    void drop(uint64_t ino);

    // Where channel `ino`'s durable store lives.
    std::string storeDir(uint64_t ino) const;
    int sync() override;

    // Only open() makes stores (make_shared needs a public constructor).
    struct Token {
        explicit Token() = default;
    };
    StateStore(Token, std::string dir);

private:
    int append(const std::string &records);

    mutable std::mutex mu_;
    const std::string dir_;  // SOURCE/state, absolute
    UniqueFd log_;
    bool recording_ = false;
    bool dirty_ = false;
    uint64_t records_ = 0;
    std::unordered_set<uint64_t> live_;
};

// Makes channel `n` durable or not to match its settings: opens the store
// the settings name (storage registry; fresh: anything left in its
// directory is discarded first) and moves the channel into it, or moves it
// back to memory and destroys the durable store. Needs the table lock. 0 or -errno
// with `why` (no state directory: -EINVAL).
int matchDurability(Filesystem &fs, Node &n, std::string *why);

}  // namespace chanfs::fs
