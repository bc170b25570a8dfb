// The tree replica seam: where the directories and channels of a shared
// (NATS-backed) subtree are kept so every mount sees the same tree. The
// daemon's shared tree (fs/tree/shared_tree.h) publishes local changes
// through it and applies what the watch delivers; it never names an
// implementation. Implementations: a JetStream key-value bucket
// (channels/storage/nats/nats_tree_replica.h) and, in tests, an in-memory
// fake. The record format and key helpers below are pure functions, so
// every implementation stores the same bytes.
//
// Keys are paths inside the mount ("/plant/temp"); a record holds the
// node's type, owner, mode and its user.chanfs.* settings (a channel: all
// of them; a directory: the defaults set on it), and who wrote it (the
// writer's id and a sequence number, so a mount recognises its own changes
// when they come back). A removal is a record too (a tombstone): a mount
// that was away learns what went while it was gone.
//
// Threading contract: implementations are thread-safe. put() and remove()
// never wait for the network (they queue) and take only the replica's own
// leaf lock, so callers may hold the inode table lock. The watch callback
// runs on the replica's thread with no lock of the replica held; it may
// take the inode table lock.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace chanfs {

enum class TreeNodeType { Dir, Channel };

struct TreeNodeRecord {
    std::string path;      // inside the mount, "/a/b"
    bool removed = false;  // a tombstone: the rest but origin/seq is empty
    TreeNodeType type = TreeNodeType::Dir;
    uint32_t mode = 0;  // permission bits
    uint32_t uid = 0;
    uint32_t gid = 0;
    // user.chanfs.<key> values (short keys), bridges excluded: a bridge's
    // path belongs to one host.
    std::vector<std::pair<std::string, std::string>> settings;
    // A rename: the node was at this path before (the other mounts move
    // their node, open files included, instead of making a new one).
    std::string movedFrom;
    std::string origin;  // the writing mount's id
    uint64_t seq = 0;    // the writer's sequence number of this change

    bool operator==(const TreeNodeRecord &) const = default;
};

struct TreeChange {
    enum class Kind {
        Record,        // `record` (a node or a tombstone) at `revision`
        SnapshotDone,  // everything the replica held when the watch began
                       // was delivered; changes follow as they happen
    };
    Kind kind = Kind::Record;
    uint64_t revision = 0;  // the replica's order: later changes are larger
    TreeNodeRecord record;
};

class TreeReplica {
public:
    virtual ~TreeReplica() = default;

    // Queues a record (a node or a tombstone) to be stored under its path.
    // 0 once queued; -EINVAL for a record that cannot be stored (the log
    // line is the caller's). Changes are stored in the order queued; while
    // the replica is unreachable they wait and go out once it is back.
    virtual int put(const TreeNodeRecord &record) = 0;
    // Starts delivering: every record the replica holds (an initial
    // snapshot, in revision order), then SnapshotDone, then each change as
    // it is stored, one call at a time, in revision order. After a
    // reconnect the snapshot may be delivered again: the callback skips
    // revisions it has seen. Call once.
    virtual void watch(std::function<void(const TreeChange &)> onChange) = 0;
    // Stops the watch and the sending; queued changes not yet stored are
    // dropped (logged with their number). No callback runs after it returns.
    virtual void close() = 0;
    // Changes queued and not yet stored (for stats and logs).
    virtual size_t pending() const = 0;
};

// The record as stored (a small text format: one "key value" per line),
// and back. decode: 0 or -EINVAL with `why`.
std::string encodeTreeRecord(const TreeNodeRecord &r);
int decodeTreeRecord(std::string_view text, TreeNodeRecord *out, std::string *why);

// A path as a key of the NATS key-value bucket (tokens of
// [A-Za-z0-9_-] joined by '.', other bytes as =XX), and back; nullopt for a
// key that is not one of ours.
std::string treeKeyOf(std::string_view path);
std::optional<std::string> treePathOfKey(std::string_view key);

}  // namespace chanfs
