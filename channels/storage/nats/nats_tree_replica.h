// The tree replica (tree_replica.h) in a JetStream key-value bucket,
// `<prefix>_tree`: one key per path of the shared tree (treeKeyOf), its
// value the node's record (encodeTreeRecord), history 1, file storage,
// replicas = the cluster size capped at 3 (when the bucket is made; an
// existing bucket is used as it is).
//
// Two threads of its own, whatever the size of the tree: the sender stores
// the outbox in order (kvStore_Put, which waits for JetStream's ack, so a
// FUSE thread never does) and keeps it while the link is down, sending it
// once the link is back; the watcher runs a kvWatcher over the bucket
// (delivered by cnats's own threads) and hands each entry to the watch
// callback, starting over with a snapshot after every reconnect.
//
// Threading contract: thread-safe (see tree_replica.h). Its mutex is a
// leaf: put() may be called under the inode table lock.
#pragma once

#include <memory>
#include <string>

#include "channels/storage/tree_replica.h"

namespace chanfs {

class NatsLink;

// Opens the replica of link `link` (the bucket is bound or made by the
// replica's threads once the link is up: this never waits for the
// network). `stateDir` (SOURCE/state, or "" without one): its
// tree-outbox.log keeps the changes not yet stored across a restart
// (tree_outbox.h) and is read back here; "": the outbox is in memory only.
// 0 or -errno with `why`.
int openNatsTreeReplica(const std::shared_ptr<NatsLink> &link, const std::string &stateDir,
                        std::shared_ptr<TreeReplica> *out, std::string *why);

// The bucket's name for a link prefix: "<prefix>_tree".
std::string natsTreeBucket(const std::string &prefix);

}  // namespace chanfs
