#include "fs/fuse/mount_socket.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>

namespace chanfs::fs {

std::vector<int> openFds()
{
    std::vector<int> fds;
    DIR *d = ::opendir("/proc/self/fd");
    if (!d) return fds;
    const int own = ::dirfd(d);
    while (const dirent *e = ::readdir(d)) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        const int fd = std::atoi(e->d_name);
        if (fd != own) fds.push_back(fd);
    }
    ::closedir(d);
    std::sort(fds.begin(), fds.end());
    return fds;
}

namespace {

// A socketpair end made by this process: AF_UNIX, and its peer's
// credentials (taken at socketpair()) are our own pid.
bool isOwnSocketpair(int fd)
{
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) return false;
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (::getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len) != 0 ||
        addr.ss_family != AF_UNIX)
        return false;
    ucred cred{};
    socklen_t credLen = sizeof cred;
    return ::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &credLen) == 0 &&
           cred.pid == ::getpid();
}

}  // namespace

int lowerMountSocket(const std::vector<int> &before, int fuseFd, UniqueFd reserve)
{
    int sock = -1;
    for (int fd : openFds()) {
        if (fd == fuseFd || fd == reserve.get() ||
            std::binary_search(before.begin(), before.end(), fd) || !isOwnSocketpair(fd))
            continue;
        if (sock >= 0) return -EEXIST;  // two candidates: leave both alone
        sock = fd;
    }
    if (sock < 0) return 0;
    if (!reserve || reserve.get() > sock) {
        // Nothing lower to move it to: it stays where it is, close-on-exec.
        return ::fcntl(sock, F_SETFD, FD_CLOEXEC) == 0 ? sock : -errno;
    }
    // dup3 replaces the reserve's /dev/null in one step; the number is ours.
    const int target = reserve.release();
    if (::dup3(sock, target, O_CLOEXEC) < 0) {
        const int e = errno;
        ::close(target);
        return -e;
    }
    ::close(sock);
    return target;
}

}  // namespace chanfs::fs
