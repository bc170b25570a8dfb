// Something the storage syncer thread flushes to disk (a durable channel's
// journal, the state directory's tree log). Implementations are
// thread-safe: sync() runs on the syncer's thread.
#pragma once

namespace chanfs {

class Syncable {
public:
    virtual ~Syncable() = default;
    // fdatasync of what was written since the last call; 0 or -errno.
    virtual int sync() = 0;
};

}  // namespace chanfs
