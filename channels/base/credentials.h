// Whose rights a bridge uses on the filesystem. The daemon usually runs as
// root; a FIFO or socket path set by an ordinary user is created and opened
// with that user's uid, gid and groups, so nobody gains the daemon's rights
// through a bridge.
#pragma once

#include <sys/types.h>

#include <vector>

namespace chanfs {

struct Credentials {
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups;
};

// Switches the calling thread's filesystem identity (fsuid, fsgid and
// supplementary groups; Linux keeps them per thread when set by raw
// syscalls) for its scope and restores the daemon's on exit.
class AsUser {
public:
    explicit AsUser(const Credentials &c);
    ~AsUser();
    AsUser(const AsUser &) = delete;
    AsUser &operator=(const AsUser &) = delete;
    // 0, or -errno if the identity could not be taken (then nothing that
    // needs it may be done).
    int status() const { return status_; }

private:
    int status_ = 0;
    uid_t oldUid_;
    gid_t oldGid_;
    std::vector<gid_t> oldGroups_;
    bool groupsSet_ = false;
};

}  // namespace chanfs
