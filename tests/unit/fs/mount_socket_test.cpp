// fs/fuse/mount_socket.h: fusermount3's auto_unmount socket is moved below
// /dev/fuse, and the kernel behaviour that makes that matter.
#include "fs/fuse/mount_socket.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

namespace chanfs::fs {
namespace {

bool isOpen(int fd) { return ::fcntl(fd, F_GETFD) >= 0; }

// A process killed with SIGKILL holding a socket at a low number and a pipe
// at a higher one: when the socket's peer reads end-of-file, the pipe is
// already closed. lowerMountSocket relies on this (the socket there is
// fusermount3's, the higher file /dev/fuse); if a kernel released in the
// other order this test says so.
TEST(MountSocket, AKilledProcessHasReleasedItsHigherDescriptorsWhenItsLowSocketCloses)
{
    int notYet = 0;
    for (int round = 0; round < 100; ++round) {
        int s[2];
        ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, s), 0);
        int p[2];
        ASSERT_EQ(::pipe(p), 0);
        ASSERT_LT(s[1], p[1]);
        const pid_t victim = ::fork();
        ASSERT_GE(victim, 0);
        if (victim == 0) {  // holds s[1] (low) and p[1] (high) until killed
            ::close(s[0]);
            ::close(p[0]);
            ::pause();
            ::_exit(0);
        }
        ::close(s[1]);
        ::close(p[1]);
        ::usleep(1000);
        ::kill(victim, SIGKILL);
        char b;
        ASSERT_EQ(::read(s[0], &b, 1), 0);  // end-of-file: the victim's socket is released
        pollfd pfd{p[0], POLLIN, 0};
        if (::poll(&pfd, 1, 0) != 1 || !(pfd.revents & POLLHUP)) ++notYet;
        ::waitpid(victim, nullptr, 0);
        ::close(s[0]);
        ::close(p[0]);
    }
    EXPECT_EQ(notYet, 0) << "rounds in which the higher descriptor was still open";
}

TEST(MountSocket, TheNewSocketpairEndMovesOntoTheReserveBelowDevFuseAndIsCloseOnExec)
{
    std::vector<int> before = openFds();
    UniqueFd reserve(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(reserve);
    const int reserved = reserve.get();
    // As libfuse does it: s[0] goes to fusermount3 (here: far away, at
    // 100+) and is closed, /dev/fuse (here a pipe) arrives at its number,
    // one below the s[1] that stays.
    int s[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, s), 0);
    UniqueFd peer(::fcntl(s[0], F_DUPFD_CLOEXEC, 100));
    ::close(s[0]);
    int p[2];
    ASSERT_EQ(::pipe(p), 0);
    UniqueFd fuseFd(p[0]), other(p[1]);
    ASSERT_EQ(fuseFd.get(), s[0]);
    for (int fd : {peer.get(), p[1]}) before.push_back(fd);
    std::sort(before.begin(), before.end());

    const int moved = lowerMountSocket(before, fuseFd.get(), std::move(reserve));
    ASSERT_EQ(moved, reserved);
    UniqueFd sock(moved);
    EXPECT_LT(moved, fuseFd.get());
    EXPECT_FALSE(isOpen(s[1]));
    EXPECT_EQ(::fcntl(moved, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    // It is the same socket: what goes in at the new number comes out at
    // fusermount3's end, and closing it is the end-of-file fusermount3 waits for.
    ASSERT_EQ(::write(moved, "x", 1), 1);
    char b = 0;
    ASSERT_EQ(::read(peer.get(), &b, 1), 1);
    EXPECT_EQ(b, 'x');
    sock.reset();
    EXPECT_EQ(::read(peer.get(), &b, 1), 0);
}

TEST(MountSocket, WithoutASocketNothingMovesAndTheReserveIsClosed)
{
    const std::vector<int> before = openFds();
    UniqueFd reserve(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    const int reserved = reserve.get();
    int p[2];
    ASSERT_EQ(::pipe(p), 0);
    UniqueFd a(p[0]), b(p[1]);
    EXPECT_EQ(lowerMountSocket(before, p[0], std::move(reserve)), 0);
    EXPECT_FALSE(isOpen(reserved));
    EXPECT_TRUE(isOpen(p[1]));
}

TEST(MountSocket, TwoNewSocketpairsAreLeftAloneWithAnError)
{
    const std::vector<int> before = openFds();
    UniqueFd reserve(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    const int reserved = reserve.get();
    int s[2], t[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, s), 0);
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, t), 0);
    UniqueFd s0(s[0]), s1(s[1]), t0(t[0]), t1(t[1]);
    EXPECT_EQ(lowerMountSocket(before, -1, std::move(reserve)), -EEXIST);
    EXPECT_FALSE(isOpen(reserved));
    for (int fd : {s[0], s[1], t[0], t[1]}) EXPECT_TRUE(isOpen(fd)) << fd;
}

}  // namespace
}  // namespace chanfs::fs
