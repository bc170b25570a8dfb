// The shared tree: the directories and channels of NATS-backed subtrees
// (a directory whose backend, set on it or inherited, is nats, and the
// nats channels in them) are kept in a tree replica
// (channels/storage/tree_replica.h) that every mount watches. Local
// mkdir, create, unlink, rmdir, rename, chmod/chown and setxattr of such a
// node are published; what other mounts publish is applied to the inode
// table (and recorded in the state directory like any change). Local
// (non-NATS) nodes never leave the mount.
//
// Conflicts: the replica orders every change (its revision); each mount
// applies them in that order, so the last writer wins everywhere. A remote
// change to a path this mount changed too, whose own change is not back
// from the replica yet, is older than that change: it is skipped with a
// log line, and the local one, when it comes back, wins on every mount.
//
// Threading contract: thread-safe. The local-change hooks need the inode
// table lock held exclusively (the handlers hold it); apply() takes it
// itself (it runs on the replica's thread). The tree's mutex comes after
// the inode table's and before the replica's; nothing else is taken under
// it. Nothing here replies to FUSE or waits for the network.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "channels/base/mutex.h"
#include "channels/storage/tree_replica.h"

namespace chanfs::fs {

struct Filesystem;
struct Node;

class SharedTree {
public:
    // `origin` names this mount in the records it writes (unique per run).
    SharedTree(Filesystem &fs, std::shared_ptr<TreeReplica> replica, std::string origin);
    ~SharedTree();
    SharedTree(const SharedTree &) = delete;
    SharedTree &operator=(const SharedTree &) = delete;

    // Starts the watch: the replica's snapshot is applied, then local
    // shared nodes it does not know are published. Without the table lock.
    void start();
    // Ends the watch; no change is applied after it returns. Without the
    // table lock.
    void stop();

    // Local changes. Need the table lock held exclusively.
    // `n` was made, or its mode, owner or settings changed; `subtree`: a
    // directory's defaults changed, so what is shared below it may too.
    void nodeChanged(const Node &n, bool subtree = false);
    // The node at `path` is gone (unlink, rmdir).
    void nodeRemoved(const std::string &path);
    // `n` (with what is below it) was renamed from `oldPath`.
    void nodeMoved(const Node &n, const std::string &oldPath);

    // Whether `n` belongs to the shared tree. Needs the table lock.
    bool isShared(Node &n);

    // Applies one change from the replica (the watch's callback; tests call
    // it directly). Without the table lock.
    void apply(const TreeChange &c);

    uint64_t conflicts() const;
    size_t pending() const { return replica_->pending(); }

private:
    // Need the table lock held exclusively (and mu_ where annotated).
    void publish(const Node &n, const std::string &movedFrom = {});
    void publishRemoval(const std::string &path);
    void publishUnknown();
    void applyRecord(const TreeNodeRecord &r);
    Node *nodeAt(const std::string &path);
    Node *ensureDir(const std::string &path, uint32_t uid, uint32_t gid);
    bool removeLocal(Node &n, const char *why);
    void updateNode(Node &n, const TreeNodeRecord &r);

    Filesystem &fs_;
    const std::shared_ptr<TreeReplica> replica_;
    const std::string origin_;
    // After the inode table's mutex; before the replica's.
    mutable Mutex mu_;
    uint64_t seq_ GUARDED_BY(mu_) = 0;
    // Paths changed here whose change the replica has not delivered back
    // yet: the writer's sequence number of the latest one.
    std::unordered_map<std::string, uint64_t> pending_ GUARDED_BY(mu_);
    // The last revision applied (or skipped) per path.
    std::unordered_map<std::string, uint64_t> revisions_ GUARDED_BY(mu_);
    // Paths whose latest record (ours or another mount's) is a live node:
    // what a removal or an unshare has to take back out.
    std::unordered_set<std::string> live_ GUARDED_BY(mu_);
    uint64_t conflicts_ GUARDED_BY(mu_) = 0;
    bool started_ = false;
};

}  // namespace chanfs::fs
