// fusermount3's auto_unmount socket, placed so a killed daemon's mount goes.
//
// With -o auto_unmount libfuse keeps one end of a socketpair whose other
// end fusermount3 holds; when it reads end-of-file it unmounts, but only if
// opening the mountpoint fails with ENOTCONN, i.e. once the kernel has
// aborted the connection because /dev/fuse was released. A killed process
// releases its files highest descriptor number first (kernel 6.18, checked
// by tests/unit/fs/mount_socket_test.cpp), and libfuse leaves the socket one
// number above /dev/fuse. So the socket went first: fusermount3 woke, and
// when its open() reached the kernel before /dev/fuse was released it failed
// with ECONNABORTED and the mount stayed (one CI run in about ten).
// Moving the socket below /dev/fuse makes /dev/fuse go first.
#pragma once

#include <vector>

#include "channels/base/unique_fd.h"

namespace chanfs::fs {

// The descriptors open in this process, ascending.
std::vector<int> openFds();

// After the mount: the one AF_UNIX socketpair end opened since `before`
// (libfuse's end towards fusermount3) is moved onto `reserve`'s number,
// which the caller opened before mounting so that it is below `fuseFd`, and
// made close-on-exec. The reserve is closed either way. Returns the socket's
// new number, 0 when there is no such socket (no auto_unmount: libfuse
// mounted without fusermount3, or fusermount3 exited), or -errno.
int lowerMountSocket(const std::vector<int> &before, int fuseFd, UniqueFd reserve);

}  // namespace chanfs::fs
