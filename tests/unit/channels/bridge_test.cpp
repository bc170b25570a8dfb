// channels/base/event_loop.cpp, channels/base/credentials.cpp, the FIFO
// spec parser and giveFileTo: the bridge event loop, the per-thread identity
// switch, and giving a made file the channel's owner. Runs as root (the
// permission tests switch to nobody). The FIFO bridges: fifo_bridge_test.cpp.
#include "tests/unit/channels/bridge_fixture.h"

namespace chanfs {
namespace {

// ---- EventLoop ---------------------------------------------------------------

TEST(EventLoop, PostRunsTasksInOrderOnTheLoopThread)
{
    EventLoop loop;
    ASSERT_EQ(loop.status(), 0);
    EXPECT_FALSE(loop.onLoopThread());
    std::mutex mu;
    std::vector<int> order;
    std::atomic<int> offThread{0};
    for (int i = 0; i < 100; ++i) {
        ASSERT_TRUE(loop.post([&, i] {
            if (!loop.onLoopThread()) offThread.fetch_add(1);
            std::lock_guard g(mu);
            order.push_back(i);
        }));
    }
    ASSERT_TRUE(waitFor([&] {
        std::lock_guard g(mu);
        return order.size() == 100;
    }));
    EXPECT_EQ(offThread.load(), 0);
    std::lock_guard g(mu);
    for (int i = 0; i < 100; ++i) EXPECT_EQ(order[static_cast<size_t>(i)], i);
}

TEST(EventLoop, PostAfterRunsNoEarlierThanItsDelayAndInDeadlineOrder)
{
    EventLoop loop;
    std::mutex mu;
    std::vector<std::pair<int, Clock::time_point>> ran;
    const auto start = Clock::now();
    ASSERT_TRUE(loop.postAfter(150ms, [&] {
        std::lock_guard g(mu);
        ran.emplace_back(150, Clock::now());
    }));
    ASSERT_TRUE(loop.postAfter(40ms, [&] {
        std::lock_guard g(mu);
        ran.emplace_back(40, Clock::now());
    }));
    ASSERT_TRUE(loop.post([&] {
        std::lock_guard g(mu);
        ran.emplace_back(0, Clock::now());
    }));
    ASSERT_TRUE(waitFor([&] {
        std::lock_guard g(mu);
        return ran.size() == 3;
    }));
    std::lock_guard g(mu);
    EXPECT_EQ(ran[0].first, 0);
    EXPECT_EQ(ran[1].first, 40);
    EXPECT_EQ(ran[2].first, 150);
    EXPECT_GE(ran[1].second - start, 40ms);
    EXPECT_GE(ran[2].second - start, 150ms);
}

TEST(EventLoop, SyncWaitsForTheTaskToFinishOnTheLoopThread)
{
    EventLoop loop;
    bool done = false;  // plain: sync() must order it (TSan checks)
    bool onLoop = false;
    loop.sync([&] {
        std::this_thread::sleep_for(30ms);
        onLoop = loop.onLoopThread();
        done = true;
    });
    EXPECT_TRUE(done);
    EXPECT_TRUE(onLoop);
}

struct Pipe {
    int r = -1, w = -1;
    Pipe()
    {
        int fds[2];
        EXPECT_EQ(::pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
        r = fds[0];
        w = fds[1];
    }
    ~Pipe()
    {
        ::close(r);
        ::close(w);
    }
    void put(std::string_view s) const
    {
        EXPECT_EQ(::write(w, s.data(), s.size()), static_cast<ssize_t>(s.size()));
    }
};

TEST(EventLoop, WatchCallsBackWhenAPipeBecomesReadable)
{
    EventLoop loop;
    Pipe p;
    std::mutex mu;
    std::string got;
    std::atomic<uint32_t> sawEvents{0};
    int rc = -1;
    loop.sync([&] {
        rc = loop.watch(p.r, EPOLLIN, [&](uint32_t ev) {
            sawEvents.fetch_or(ev);
            char buf[64];
            const ssize_t n = ::read(p.r, buf, sizeof buf);
            if (n > 0) {
                std::lock_guard g(mu);
                got.append(buf, static_cast<size_t>(n));
            }
        });
    });
    ASSERT_EQ(rc, 0);
    p.put("ping");
    ASSERT_TRUE(waitFor([&] {
        std::lock_guard g(mu);
        return got == "ping";
    }));
    EXPECT_TRUE(sawEvents.load() & EPOLLIN);
    loop.sync([&] { loop.unwatch(p.r); });
}

TEST(EventLoop, UnwatchStopsCallbacks)
{
    EventLoop loop;
    Pipe a, sentinel;
    std::atomic<int> aCalls{0};
    std::atomic<int> sentinelCalls{0};
    loop.sync([&] {
        ASSERT_EQ(loop.watch(a.r, EPOLLIN,
                             [&](uint32_t) {
                                 aCalls.fetch_add(1);
                                 char buf[64];
                                 [[maybe_unused]] ssize_t n = ::read(a.r, buf, sizeof buf);
                             }),
                  0);
        ASSERT_EQ(loop.watch(sentinel.r, EPOLLIN,
                             [&](uint32_t) {
                                 sentinelCalls.fetch_add(1);
                                 char buf[64];
                                 [[maybe_unused]] ssize_t n = ::read(sentinel.r, buf, sizeof buf);
                             }),
                  0);
    });
    a.put("1");
    ASSERT_TRUE(waitFor([&] { return aCalls.load() == 1; }));

    loop.sync([&] { loop.unwatch(a.r); });
    // Level-triggered: if `a` were still watched, the epoll_wait that reports
    // the sentinel (written later) would report `a` too.
    a.put("2");
    sentinel.put("s");
    ASSERT_TRUE(waitFor([&] { return sentinelCalls.load() >= 1; }));
    loop.sync([] {});  // the rest of that batch has run
    EXPECT_EQ(aCalls.load(), 1) << "a callback ran after unwatch()";
    loop.sync([&] { loop.unwatch(sentinel.r); });
}

TEST(EventLoop, ACallbackMayUnwatchItself)
{
    EventLoop loop;
    Pipe p;
    std::atomic<int> calls{0};
    loop.sync([&] {
        loop.watch(p.r, EPOLLIN, [&](uint32_t) {
            calls.fetch_add(1);
            loop.unwatch(p.r);  // data left unread: level-triggered would spin
        });
    });
    p.put("x");
    ASSERT_TRUE(waitFor([&] { return calls.load() >= 1; }));
    loop.sync([] {});
    loop.sync([] {});
    EXPECT_EQ(calls.load(), 1);
}

TEST(EventLoop, DestroyingTheLoopDropsPendingTimersWithoutHanging)
{
    auto fired = std::make_shared<std::atomic<bool>>(false);
    const auto start = Clock::now();
    {
        EventLoop loop;
        ASSERT_TRUE(loop.postAfter(10s, [fired] { fired->store(true); }));
        ASSERT_TRUE(loop.postAfter(0ms, [] {}));
        loop.sync([] {});
    }
    EXPECT_LT(Clock::now() - start, 2s) << "destruction waited for the timer";
    EXPECT_FALSE(fired->load());
}

// ---- AsUser ------------------------------------------------------------------

using AsUserTest = TempDir;

TEST_F(AsUserTest, NobodyCannotCreateInARootOnlyDirAndRootCanAfterTheScope)
{
    ASSERT_EQ(::geteuid(), 0u) << "these tests run as root";
    ASSERT_EQ(::chmod(dir_.c_str(), 0700), 0);
    {
        AsUser as(Credentials{kNobody, kNogroup, {kNogroup}});
        ASSERT_EQ(as.status(), 0);
        EXPECT_EQ(createFile(path("as-nobody")), -EACCES);
    }
    EXPECT_EQ(createFile(path("as-root")), 0) << "the thread is root again";
    struct stat st {};
    ASSERT_EQ(::stat(path("as-root").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 0u);
    EXPECT_EQ(st.st_gid, 0u);
}

TEST_F(AsUserTest, FilesCreatedInTheScopeBelongToTheUserAndGroupsAreRestored)
{
    ASSERT_EQ(::chmod(dir_.c_str(), 0777), 0);
    std::vector<gid_t> before(static_cast<size_t>(::getgroups(0, nullptr)));
    ::getgroups(static_cast<int>(before.size()), before.data());
    {
        AsUser as(Credentials{kNobody, kNogroup, {kNogroup, 4242}});
        ASSERT_EQ(as.status(), 0);
        ASSERT_EQ(createFile(path("f")), 0);
        // A supplementary group of the scope lets the file be given to it.
        EXPECT_EQ(::chown(path("f").c_str(), kNobody, 4242), 0) << strerror(errno);
        // ...but not to a group it is not in, nor to another user.
        EXPECT_EQ(::chown(path("f").c_str(), kNobody, 4343), -1);
        EXPECT_EQ(::chown(path("f").c_str(), 1, 4242), -1);
    }
    struct stat st {};
    ASSERT_EQ(::stat(path("f").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, kNobody);
    EXPECT_EQ(st.st_gid, 4242u);
    std::vector<gid_t> after(static_cast<size_t>(::getgroups(0, nullptr)));
    ::getgroups(static_cast<int>(after.size()), after.data());
    EXPECT_EQ(after, before);
}

TEST_F(AsUserTest, TheSwitchIsPerThread)
{
    ASSERT_EQ(::chmod(dir_.c_str(), 0700), 0);
    std::mutex mu;
    std::condition_variable cv;
    int stage = 0;
    int otherRc = 1;
    std::thread other([&] {
        AsUser as(Credentials{kNobody, kNogroup, {}});
        std::unique_lock l(mu);
        stage = 1;
        cv.notify_all();
        cv.wait(l, [&] { return stage == 2; });
        otherRc = createFile(path("other"));
        stage = 3;
        cv.notify_all();
    });
    {
        std::unique_lock l(mu);
        ASSERT_TRUE(cv.wait_for(l, 5s, [&] { return stage == 1; }));
    }
    // The other thread is nobody now; this one is still root.
    EXPECT_EQ(createFile(path("main")), 0);
    {
        std::lock_guard l(mu);
        stage = 2;
        cv.notify_all();
    }
    other.join();
    EXPECT_EQ(otherRc, -EACCES);
}

// ---- parseFifoSpec -------------------------------------------------------------

TEST(ParseFifoSpec, AcceptsInAndOutWithAnAbsolutePath)
{
    FifoBridgeSpec spec;
    std::string why;
    ASSERT_EQ(parseFifoSpec("in:/run/legacy.fifo", &spec, &why), 0) << why;
    EXPECT_EQ(spec.direction, FifoDirection::In);
    EXPECT_EQ(spec.path, "/run/legacy.fifo");

    FifoBridgeSpec out;
    ASSERT_EQ(parseFifoSpec("out:/tmp/x y", &out, &why), 0) << why;
    EXPECT_EQ(out.direction, FifoDirection::Out);
    EXPECT_EQ(out.path, "/tmp/x y");
}

TEST(ParseFifoSpec, RejectsMalformedValuesWithEinvalAndAReason)
{
    for (std::string_view bad : {"in:relative/path", "out:x", "in:", "out:", "sideways:/x", "",
                                 "IN:/x", "in/x", "/just/a/path"}) {
        FifoBridgeSpec spec;
        std::string why;
        EXPECT_EQ(parseFifoSpec(bad, &spec, &why), -EINVAL) << "\"" << bad << "\"";
        EXPECT_FALSE(why.empty()) << "\"" << bad << "\"";
    }
    FifoBridgeSpec spec;
    std::string why;
    const std::string withNul("in:/a\0b", 7);
    EXPECT_EQ(parseFifoSpec(withNul, &spec, &why), -EINVAL);
    EXPECT_EQ(parseFifoSpec("in:/" + std::string(PATH_MAX, 'a'), &spec, &why), -EINVAL);
}

// ---- giveFileTo ------------------------------------------------------------------

using GiveFileToTest = TempDir;

TEST_F(GiveFileToTest, GivesTheFileItsOwnerGroupAndExactMode)
{
    const std::string p = path("f.fifo");
    ASSERT_EQ(::mkfifo(p.c_str(), 0600), 0);
    struct stat st {};
    ASSERT_EQ(::lstat(p.c_str(), &st), 0);
    ASSERT_EQ(giveFileTo(p, st.st_dev, st.st_ino, 02640, kNobody, 4242), 0);
    struct stat now {};
    ASSERT_EQ(::lstat(p.c_str(), &now), 0);
    EXPECT_EQ(now.st_uid, kNobody);
    EXPECT_EQ(now.st_gid, 4242u);
    EXPECT_EQ(now.st_mode & 07777, 02640u) << "set-gid survives: chown comes first";
}

TEST_F(GiveFileToTest, LeavesAFileOrSymlinkPutInItsPlaceAlone)
{
    const std::string p = path("f.fifo");
    ASSERT_EQ(::mkfifo(p.c_str(), 0600), 0);
    struct stat made {};
    ASSERT_EQ(::lstat(p.c_str(), &made), 0);
    // Someone moves the FIFO away and puts their own file there...
    ASSERT_EQ(::rename(p.c_str(), path("moved").c_str()), 0);
    ASSERT_EQ(createFile(p), 0);
    EXPECT_EQ(giveFileTo(p, made.st_dev, made.st_ino, 0666, kNobody, kNogroup), -ESTALE);
    struct stat st {};
    ASSERT_EQ(::lstat(p.c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 0u);
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    // ...or a symlink to the FIFO itself: not followed either.
    ASSERT_EQ(::unlink(p.c_str()), 0);
    ASSERT_EQ(::symlink(path("moved").c_str(), p.c_str()), 0);
    EXPECT_EQ(giveFileTo(p, made.st_dev, made.st_ino, 0666, kNobody, kNogroup), -ESTALE);
    ASSERT_EQ(::lstat(path("moved").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    EXPECT_EQ(st.st_uid, 0u);
    // A path with nothing there.
    EXPECT_EQ(giveFileTo(path("none"), made.st_dev, made.st_ino, 0666, 0, 0), -ENOENT);
}

}  // namespace
}  // namespace chanfs
