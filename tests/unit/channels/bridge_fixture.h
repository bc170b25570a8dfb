// Shared by the bridge unit tests (bridge_test.cpp, fifo_bridge_test.cpp): a
// fresh temporary directory per test, the FIFO bridge fixture and polling
// helpers. Test-only.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "channels/base/credentials.h"
#include "channels/base/event_loop.h"
#include "channels/endpoints/bridge.h"
#include "tests/unit/fakes.h"

namespace chanfs {
namespace {

// A FIFO endpoint's listed stats, read back by name (the generic list is
// what the xattr code shows).
struct FifoStats {
    bool connected = false;
    uint64_t bytes = 0;
    std::string lastError;
};
inline FifoStats fifoStats(const Endpoint &e)
{
    FifoStats st;
    for (const EndpointStat &s : e.stats()) {
        if (s.name == "fifo_connected") st.connected = s.value == "1";
        if (s.name == "fifo_bytes") st.bytes = std::stoull(s.value);
        if (s.name == "fifo_error") st.lastError = s.value;
    }
    return st;
}

using namespace test;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr uid_t kNobody = 65534;
constexpr gid_t kNogroup = 65534;

// Polls `cond` until it holds or `timeout` passes.
inline bool waitFor(const std::function<bool()> &cond, std::chrono::milliseconds timeout = 5s)
{
    const auto deadline = Clock::now() + timeout;
    while (!cond()) {
        if (Clock::now() > deadline) return false;
        std::this_thread::sleep_for(2ms);
    }
    return true;
}

class TempDir : public ::testing::Test {
protected:
    void SetUp() override
    {
        signal(SIGPIPE, SIG_IGN);
        char tmpl[] = "/tmp/chanfs-bridge-test.XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
    }
    void TearDown() override
    {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    std::string path(std::string_view name) const { return dir_ + "/" + std::string(name); }

    std::string dir_;
};

class FifoBridgeTest : public TempDir {
protected:
    FifoBridgeSpec spec(FifoDirection d, std::string_view name, mode_t mode = 0600)
    {
        FifoBridgeSpec s;
        s.direction = d;
        s.path = path(name);
        s.mode = mode;
        return s;
    }
    int make(std::shared_ptr<Channel> ch, const FifoBridgeSpec &s, std::shared_ptr<Endpoint> *out)
    {
        std::string why;
        const int rc = makeFifoBridge(loop_, std::move(ch), s, out, &why);
        if (rc == 0) {
            EXPECT_NE(*out, nullptr);
        } else {
            EXPECT_FALSE(why.empty()) << "no reason given for " << rc;
        }
        lastWhy_ = why;
        return rc;
    }
    static bool exists(const std::string &p)
    {
        struct stat st {};
        return ::lstat(p.c_str(), &st) == 0;
    }
    static bool isFifo(const std::string &p)
    {
        struct stat st {};
        return ::lstat(p.c_str(), &st) == 0 && S_ISFIFO(st.st_mode);
    }
    // One FIFO writer session: open (a reader must be there), write, close.
    static void writeSession(const std::string &p, std::string_view data)
    {
        const int fd = ::open(p.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        ASSERT_GE(fd, 0) << "no reader on " << p << ": " << strerror(errno);
        EXPECT_EQ(::write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
        ::close(fd);
    }
    // Reads from a nonblocking FIFO read end until `want` bytes came (or the
    // deadline). A read of 0 before any writer came is not the end.
    static std::string readFifo(int fd, size_t want, std::chrono::milliseconds timeout = 5s)
    {
        std::string got;
        const auto deadline = Clock::now() + timeout;
        while (got.size() < want && Clock::now() < deadline) {
            pollfd pfd{fd, POLLIN, 0};
            ::poll(&pfd, 1, 20);
            char buf[256];
            const ssize_t n = ::read(fd, buf, sizeof buf);
            if (n > 0)
                got.append(buf, static_cast<size_t>(n));
            else if (n == 0)
                std::this_thread::sleep_for(2ms);  // no writer (yet / any more)
        }
        return got;
    }

    EventLoop loop_;
    std::string lastWhy_;
};

inline int createFile(const std::string &path)
{
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return -errno;
    ::close(fd);
    return 0;
}

inline std::shared_ptr<Channel> queueChannel()
{
    return makeChannel({{"kind", "queue"}, {"framing", "lines"}});
}

inline std::shared_ptr<Channel> pipeChannel()
{
    return makeChannel({{"kind", "pipe"}, {"framing", "bytes"}});
}

// Waits for one read of `ch` through `h` to complete.
inline ReadOutcome readWaiting(Channel &ch, Handle &h)
{
    auto r = issueRead(ch, h, 1 << 16);
    if (!r->waitDone(5s)) {
        ADD_FAILURE() << "the read was not answered";
        ch.cancel(r->key);
    }
    return r->get();
}

}  // namespace
}  // namespace chanfs
