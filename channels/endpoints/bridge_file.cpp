// The files bridges make outside the mount (FIFOs, listening sockets) carry
// the channel's owner, group and permission bits.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "channels/base/unique_fd.h"
#include "channels/endpoints/bridge.h"

namespace chanfs {

int giveFileTo(const std::string &path, dev_t dev, ino_t ino, mode_t mode, uid_t uid, gid_t gid)
{
    // O_PATH opens FIFOs and sockets without side effects; O_NOFOLLOW makes
    // a symlink put in its place a different inode, so it is left alone.
    UniqueFd fd(::open(path.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) return -errno;
    struct stat st {};
    if (::fstat(fd.get(), &st) < 0) return -errno;
    if (st.st_dev != dev || st.st_ino != ino) return -ESTALE;
    // Owner first: a chown by root clears set-id bits, which the chmod then
    // sets exactly.
    if (::fchownat(fd.get(), "", uid, gid, AT_EMPTY_PATH) < 0) return -errno;
    // chmod has no AT_EMPTY_PATH form before Linux 6.6 (fchmodat2); the
    // descriptor's /proc link reaches the same inode, whatever the path
    // points at by now.
    const std::string viaProc = "/proc/self/fd/" + std::to_string(fd.get());
    if (::chmod(viaProc.c_str(), mode & 07777) < 0) return -errno;
    return 0;
}

}  // namespace chanfs
