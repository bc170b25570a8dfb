// The state directory (the SOURCE argument): what the mount holds survives
// the daemon. Layout:
//   SOURCE/chanfs.toml               the config file (config.h), read-only
//   SOURCE/state/lock                held (flock) by the one daemon using the
//                                    directory; holds its pid
//   SOURCE/state/tree.log            every directory and channel: name,
//                                    owner, mode, settings, bridges (tree_log.h)
//   SOURCE/state/channels/<ino>/     a durable channel's store (its journal)
//   SOURCE/state/orphaned/<ino>[.N]/ journals no saved channel claims, kept
//                                    aside at mount, never deleted
//   SOURCE/state/tree.log.damaged[.N] a damaged tree log as it was found
// Each change to the tree appends its record to tree.log before the
// request is answered; a change whose record cannot be appended (ENOSPC,
// EROFS, EIO) is refused with that errno and its caller undoes it in
// memory. A failed append is cut back off the file before anything else is
// appended, so a torn record never hides later ones at replay. At mount the
// log is replayed, the tree rebuilt with the same inode numbers, durable
// channels refilled from their journals, and the log rewritten compactly.
// Inode numbers are never handed out twice, across restarts too: the log
// keeps a high-water mark, and journal directories on disk count.
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
    // Opens (making it if needed) the state under directory `source` and
    // locks it for the life of the process (the kernel drops the lock when
    // it dies). 0 or -errno with `why`: -EBUSY if another process holds it
    // (`why` names its pid).
    static int open(const std::string &source, std::shared_ptr<StateStore> *out, std::string *why);

    // Rebuilds the saved tree into `fs` (not mounted yet, still empty):
    // nodes, settings, bridges (made as each channel's owner; one that
    // fails is logged and left off) and durable channels' messages.
    // Records made meanwhile are not written; call compact() after the
    // config file is applied. 0 or -errno with `why`.
    int restore(Filesystem &fs, std::string *why);
    // Rewrites the log as one record per node and starts recording. At
    // mount, if there is no room for the rewrite, records after the log as
    // restore() found it (cut after its last good record) instead.
    // Needs the table lock (shared is enough) or no mount yet.
    int compact(Filesystem &fs);

    // Records a node's current state / that it is gone / that `src` moves
    // to `newParent`/`newName` over `replacedIno` (0: nothing replaced), in
    // one append. 0 once the record is in tree.log (or nothing is being
    // recorded yet); -errno (-ENOSPC, -EROFS, -EIO...) if it could not be
    // saved: nothing of it is in the log, and the caller must undo or
    // refuse the change. Need the table lock held (shared is enough).
    int save(Filesystem &fs, const Node &n);
    int drop(Filesystem &fs, uint64_t ino);
    int saveMove(Filesystem &fs, const Node &src, uint64_t newParent, const std::string &newName,
                 uint64_t replacedIno);

    // Moves channels/<name> to orphaned/<name>[.N] with an error line:
    // a journal no channel claims is never deleted nor reused.
    void keepJournalAside(const std::string &name);
    // Where channel `ino`'s durable store lives.
    std::string storeDir(uint64_t ino) const;
    int sync() override;
    // SOURCE/state, absolute.
    const std::string &dir() const { return dir_; }

    // Only open() makes stores (make_shared needs a public constructor).
    struct Token {
        explicit Token() = default;
    };
    StateStore(Token, std::string dir);

private:
    // Need mu_ (and the table lock, for the rewrite).
    int append(Filesystem &fs, const std::string &records);
    int rewrite(Filesystem &fs);
    // Journal directories no restored durable channel claims go to
    // orphaned/; returns the highest inode number any journal there or in
    // channels/ is named after.
    uint64_t setOrphansAside(const std::unordered_set<uint64_t> &claimed);

    mutable std::mutex mu_;
    const std::string dir_;    // SOURCE/state, absolute
    UniqueFd lock_;            // flock'ed for the life of the daemon
    bool usedBefore_ = false;  // the lock file was there: a daemon ran here
    UniqueFd log_;
    bool recording_ = false;
    bool dirty_ = false;
    // The log must be rewritten whole before the next append: a torn
    // record could not be cut off, or an fdatasync of it failed (its
    // pages' fate is unknown; retrying the fsync would lie, see the
    // PostgreSQL fsync lesson).
    bool rewriteNeeded_ = false;
    uint64_t goodEnd_ = 0;      // bytes of whole records in tree.log
    uint64_t replayedEnd_ = 0;  // restore(): where the replayed records end
    uint64_t records_ = 0;
    std::unordered_set<uint64_t> live_;
};

// Makes channel `n` durable or not to match its settings: opens the store
// the settings name (storage registry; fresh: anything left in its
// directory is set aside in orphaned/ first, never deleted) and moves the
// channel into it, or moves it back to memory and destroys the durable
// store. Needs the table lock. 0 or -errno
// with `why` (no state directory: -EINVAL).
int matchDurability(Filesystem &fs, Node &n, std::string *why);

}  // namespace chanfs::fs
