// The shared tree's outbox on disk (SOURCE/state/tree-outbox.log): the
// changes a mount made that the replica has not stored yet (the NATS
// cluster was unreachable), so they survive a daemon restart.
//
// Format: records, each a 16-byte header and a body. Header: magic "TOB1",
// u8 type (1 put, 2 done), 3 bytes zero, u32 body length, u32 crc32c of
// the body (all little-endian). A put's body: u32 key length, key, value.
// A done record (empty body) says the oldest put not yet done was stored.
//
// open() replays: the puts not matched by a done, in order. A torn tail (a
// record cut short by a crash) or a damaged record (bad magic, length or
// crc) is skipped with a log line; the file is then set aside as
// tree-outbox.log.damaged-N (its bytes kept, never deleted) and a fresh log
// is written with what was read. append() writes (page cache only: the
// caller may hold the inode table lock); sync() (the storage syncer
// thread) makes it durable; clear() empties the file once everything was
// stored.
//
// Threading contract: thread-safe (one mutex, a leaf).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "channels/base/mutex.h"
#include "channels/base/thread_annotations.h"
#include "channels/base/unique_fd.h"
#include "channels/storage/syncable.h"

namespace chanfs {

struct TreeOutboxEntry {
    std::string key;
    std::string value;
    bool operator==(const TreeOutboxEntry &) const = default;
};

class TreeOutboxLog final : public Syncable {
public:
    // Opens (makes) `path` and reads back what waits. 0 or -errno with
    // `why`; the damage found is logged, not an error.
    static int open(const std::string &path, std::shared_ptr<TreeOutboxLog> *out,
                    std::vector<TreeOutboxEntry> *waiting, std::string *why);

    // 0 or -errno (the disk is full: the change stays in memory only).
    int append(const TreeOutboxEntry &e);
    // The oldest waiting put was stored.
    int markDone();
    // Nothing waits: the file is emptied.
    int clear();
    int sync() override;

    // Parsing, for the tests: the waiting puts in `bytes`; `damaged` counts
    // the records skipped (a torn tail included).
    static std::vector<TreeOutboxEntry> parse(std::string_view bytes, size_t *damaged,
                                              const std::string &label);
    static std::string encodePut(const TreeOutboxEntry &e);
    static std::string encodeDone();

    // Only open() makes logs (make_shared needs a public constructor).
    struct Token {
        explicit Token() = default;
    };
    TreeOutboxLog(Token, UniqueFd fd, std::string path);

private:
    int writeAll(const std::string &bytes) REQUIRES(mu_);

    mutable Mutex mu_;
    UniqueFd fd_ GUARDED_BY(mu_);
    const std::string path_;
    bool dirty_ GUARDED_BY(mu_) = false;
};

}  // namespace chanfs
