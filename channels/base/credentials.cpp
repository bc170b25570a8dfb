#include "channels/base/credentials.h"

#include <sys/fsuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace chanfs {

namespace {

// glibc's setgroups() changes every thread of the process; the raw system
// call changes only the caller, which is what a scoped switch needs.
int threadSetgroups(const std::vector<gid_t> &groups)
{
    return static_cast<int>(::syscall(SYS_setgroups, groups.size(), groups.data()));
}

}  // namespace

AsUser::AsUser(const Credentials &c)
{
    const int n = ::getgroups(0, nullptr);
    if (n >= 0) {
        oldGroups_.resize(static_cast<size_t>(n));
        if (::getgroups(n, oldGroups_.data()) < 0) oldGroups_.clear();
    }
    if (threadSetgroups(c.groups) < 0) {
        status_ = -errno;
    } else {
        groupsSet_ = true;
    }
    // setfsuid/setfsgid return the previous value and cannot report errors
    // directly: read back to check.
    oldGid_ = static_cast<gid_t>(::setfsgid(c.gid));
    oldUid_ = static_cast<uid_t>(::setfsuid(c.uid));
    if (static_cast<uid_t>(::setfsuid(c.uid)) != c.uid ||
        static_cast<gid_t>(::setfsgid(c.gid)) != c.gid) {
        if (status_ == 0) status_ = -EPERM;
    }
}

AsUser::~AsUser()
{
    ::setfsuid(oldUid_);
    ::setfsgid(oldGid_);
    if (groupsSet_) threadSetgroups(oldGroups_);
}

}  // namespace chanfs
