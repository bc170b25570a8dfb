// channels/base/event_loop.cpp, channels/base/credentials.cpp and
// channels/endpoints/fifo_bridge.cpp: the bridge event loop, the per-thread identity switch, and
// FIFO bridges
// (`in:` real FIFO -> channel, `out:` channel -> real FIFO) on real named
// FIFOs in a fresh temporary directory. Runs as root (the permission tests
// switch to nobody).
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
FifoStats fifoStats(const Endpoint &e)
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
bool waitFor(const std::function<bool()> &cond, std::chrono::milliseconds timeout = 5s)
{
    const auto deadline = Clock::now() + timeout;
    while (!cond()) {
        if (Clock::now() > deadline) return false;
        std::this_thread::sleep_for(2ms);
    }
    return true;
}

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

using AsUserTest = TempDir;

int createFile(const std::string &path)
{
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return -errno;
    ::close(fd);
    return 0;
}

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

// ---- FIFO bridges ---------------------------------------------------------------

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

std::shared_ptr<Channel> queueChannel()
{
    return makeChannel({{"kind", "queue"}, {"framing", "lines"}});
}

std::shared_ptr<Channel> pipeChannel()
{
    return makeChannel({{"kind", "pipe"}, {"framing", "bytes"}});
}

// Waits for one read of `ch` through `h` to complete.
ReadOutcome readWaiting(Channel &ch, Handle &h)
{
    auto r = issueRead(ch, h, 1 << 16);
    if (!r->waitDone(5s)) {
        ADD_FAILURE() << "the read was not answered";
        ch.cancel(r->key);
    }
    return r->get();
}

TEST_F(FifoBridgeTest, InCreatesTheFifoWithItsModeWhateverTheUmask)
{
    const mode_t old = ::umask(077);
    auto ch = queueChannel();
    std::shared_ptr<Endpoint> b;
    const auto s = spec(FifoDirection::In, "in.fifo", 0640);
    const int rc = make(ch, s, &b);
    ::umask(old);
    ASSERT_EQ(rc, 0) << lastWhy_;
    struct stat st {};
    ASSERT_EQ(::lstat(s.path.c_str(), &st), 0);
    EXPECT_TRUE(S_ISFIFO(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, 0640u);
    EXPECT_EQ(b->describe(), "in:" + s.path);
    EXPECT_FALSE(fifoStats(*b).connected);
    EXPECT_EQ(fifoStats(*b).bytes, 0u);
    EXPECT_EQ(fifoStats(*b).lastError, "");
}

TEST_F(FifoBridgeTest, InMovesWhatAWriterWritesIntoAQueue)
{
    auto ch = queueChannel();
    std::shared_ptr<Endpoint> b;
    const auto s = spec(FifoDirection::In, "in.fifo");
    ASSERT_EQ(make(ch, s, &b), 0) << lastWhy_;

    std::thread writer([&] { writeSession(s.path, "a\n"); });
    writer.join();
    ASSERT_TRUE(waitFor([&] { return ch->stats().queuedMessages == 1; }))
        << "queued " << ch->stats().queuedMessages;
    ASSERT_TRUE(waitFor([&] { return fifoStats(*b).bytes == 2; })) << fifoStats(*b).bytes;
    EXPECT_EQ(ch->stats().inBytes, 2u);

    auto r = ch->open(true, false);
    EXPECT_EQ(readData(*ch, *r), "a\n");
    ch->release(*r);
    EXPECT_EQ(fifoStats(*b).lastError, "");
}

TEST_F(FifoBridgeTest, InFromAChildProcess)
{
    auto ch = queueChannel();
    std::shared_ptr<Endpoint> b;
    const auto s = spec(FifoDirection::In, "in.fifo");
    ASSERT_EQ(make(ch, s, &b), 0) << lastWhy_;
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        const int fd = ::open(s.path.c_str(), O_WRONLY);
        if (fd < 0) ::_exit(1);
        const char msg[] = "one\ntwo\n";
        if (::write(fd, msg, sizeof msg - 1) != sizeof msg - 1) ::_exit(2);
        ::_exit(0);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
    ASSERT_TRUE(waitFor([&] { return ch->stats().queuedMessages == 2; }));
    auto r = ch->open(true, false);
    EXPECT_EQ(readData(*ch, *r), "one\ntwo\n");  // lines framing packs whole lines
    ch->release(*r);
    EXPECT_EQ(fifoStats(*b).bytes, 8u);
}

TEST_F(FifoBridgeTest, InEachFifoWriterSessionIsOnePipeSession)
{
    auto ch = pipeChannel();
    std::shared_ptr<Endpoint> b;
    const auto s = spec(FifoDirection::In, "in.fifo");
    ASSERT_EQ(make(ch, s, &b), 0) << lastWhy_;
    auto r = ch->open(true, false);

    writeSession(s.path, "first\n");
    ReadOutcome out = readWaiting(*ch, *r);
    EXPECT_EQ(out.data, "first\n");
    EXPECT_FALSE(out.eof);
    // The end-of-stream comes only when the bridge saw the writer close;
    // waiting for it also makes sure the next session is a new one.
    out = readWaiting(*ch, *r);
    EXPECT_TRUE(out.eof) << "got \"" << out.data << "\" instead of end-of-stream";
    EXPECT_EQ(ch->stats().writers, 0u) << "the bridge still holds a writer handle";

    writeSession(s.path, "second\n");
    out = readWaiting(*ch, *r);
    EXPECT_EQ(out.data, "second\n");
    EXPECT_FALSE(out.eof);
    out = readWaiting(*ch, *r);
    EXPECT_TRUE(out.eof) << "got \"" << out.data << "\" instead of end-of-stream";
    ch->release(*r);
    EXPECT_EQ(fifoStats(*b).bytes, 13u);
}

TEST_F(FifoBridgeTest, InWaitsForRoomWhenTheChannelIsFull)
{
    auto ch = makeChannel({{"kind", "queue"}, {"framing", "lines"}, {"capacity", "4"}});
    auto w = ch->open(false, true);
    writeOk(*ch, *w, "aa\n");
    ch->release(*w);
    std::shared_ptr<Endpoint> b;
    const auto s = spec(FifoDirection::In, "in.fifo");
    ASSERT_EQ(make(ch, s, &b), 0) << lastWhy_;
    writeSession(s.path, "bb\n");
    // 3 + 3 bytes do not fit in 4: the bridge's write waits for room.
    ASSERT_TRUE(waitFor([&] { return ch->stats().blockedWriters == 1; }));
    EXPECT_EQ(ch->stats().queuedMessages, 1u);
    EXPECT_EQ(fifoStats(*b).bytes, 0u);
    auto r = ch->open(true, false);
    EXPECT_EQ(readData(*ch, *r), "aa\n");
    ASSERT_TRUE(waitFor([&] { return fifoStats(*b).bytes == 3; }));
    EXPECT_EQ(readData(*ch, *r), "bb\n");
    ch->release(*r);
    EXPECT_EQ(fifoStats(*b).lastError, "");
}

TEST_F(FifoBridgeTest, AnExistingNonFifoIsRefusedAndLeftAlone)
{
    const std::string p = path("regular");
    {
        const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
        ASSERT_GE(fd, 0);
        ASSERT_EQ(::write(fd, "keep", 4), 4);
        ::close(fd);
    }
    for (auto d : {FifoDirection::In, FifoDirection::Out}) {
        std::shared_ptr<Endpoint> b;
        EXPECT_EQ(make(queueChannel(), spec(d, "regular"), &b), -EEXIST);
        EXPECT_EQ(b, nullptr);
        struct stat st {};
        ASSERT_EQ(::lstat(p.c_str(), &st), 0);
        EXPECT_TRUE(S_ISREG(st.st_mode));
        EXPECT_EQ(st.st_size, 4);
        EXPECT_EQ(st.st_mode & 07777, 0644u);
    }
}

TEST_F(FifoBridgeTest, AFifoGetsTheChannelsGroupEvenOneItsSetterIsNotIn)
{
    // Root gave nobody's channel to group 4242; nobody (not a member) sets
    // the bridge. As nobody the chown to 4242 would fail.
    ASSERT_EQ(::chmod(dir_.c_str(), 0777), 0);
    auto s = spec(FifoDirection::In, "grp.fifo", 0660);
    s.ownerUid = kNobody;
    s.ownerGid = 4242;
    s.as = Credentials{kNobody, kNogroup, {kNogroup}};
    std::shared_ptr<Endpoint> b;
    ASSERT_EQ(make(queueChannel(), s, &b), 0) << lastWhy_;
    struct stat st {};
    ASSERT_EQ(::lstat(s.path.c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, kNobody);
    EXPECT_EQ(st.st_gid, 4242u);
    EXPECT_EQ(st.st_mode & 07777, 0660u);
}

TEST_F(FifoBridgeTest, AFifoItMadeFollowsTheChannelAnAdoptedOneDoesNot)
{
    const auto made = spec(FifoDirection::In, "made.fifo", 0640);
    const auto adopted = spec(FifoDirection::Out, "adopted.fifo", 0640);
    ASSERT_EQ(::mkfifo(adopted.path.c_str(), 0600), 0);
    ASSERT_EQ(::chmod(adopted.path.c_str(), 0600), 0);
    std::shared_ptr<Endpoint> m, a;
    ASSERT_EQ(make(queueChannel(), made, &m), 0) << lastWhy_;
    ASSERT_EQ(make(queueChannel(), adopted, &a), 0) << lastWhy_;
    EXPECT_EQ(m->followChannel(0600, kNobody, kNogroup), 0);
    EXPECT_EQ(a->followChannel(0666, kNobody, kNogroup), 0);
    struct stat st {};
    ASSERT_EQ(::lstat(made.path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    EXPECT_EQ(st.st_uid, kNobody);
    EXPECT_EQ(st.st_gid, kNogroup);
    ASSERT_EQ(::lstat(adopted.path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0600u) << "an adopted FIFO is not chanfs's to change";
    EXPECT_EQ(st.st_uid, 0u);
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

TEST_F(FifoBridgeTest, AMissingParentDirIsEnoent)
{
    for (auto d : {FifoDirection::In, FifoDirection::Out}) {
        std::shared_ptr<Endpoint> b;
        EXPECT_EQ(make(queueChannel(), spec(d, "no/such/dir.fifo"), &b), -ENOENT);
        EXPECT_EQ(b, nullptr);
        EXPECT_FALSE(exists(path("no")));
    }
}

TEST_F(FifoBridgeTest, DestroyingABridgeRemovesTheFifoItCreated)
{
    for (auto d : {FifoDirection::In, FifoDirection::Out}) {
        const auto s = spec(d, "made.fifo");
        std::shared_ptr<Endpoint> b;
        ASSERT_EQ(make(queueChannel(), s, &b), 0) << lastWhy_;
        EXPECT_TRUE(isFifo(s.path));
        b.reset();
        EXPECT_FALSE(exists(s.path)) << "direction " << static_cast<int>(d);
    }
}

TEST_F(FifoBridgeTest, DestroyingABridgeLeavesAnAdoptedFifo)
{
    for (auto d : {FifoDirection::In, FifoDirection::Out}) {
        const auto s = spec(d, "adopted.fifo");
        ASSERT_EQ(::mkfifo(s.path.c_str(), 0620), 0);
        std::shared_ptr<Endpoint> b;
        ASSERT_EQ(make(queueChannel(), s, &b), 0) << lastWhy_;
        b.reset();
        EXPECT_TRUE(isFifo(s.path)) << "direction " << static_cast<int>(d);
        struct stat st {};
        ASSERT_EQ(::lstat(s.path.c_str(), &st), 0);
        EXPECT_EQ(st.st_mode & 07777, 0620u & ~0022u) << "the adopted FIFO's mode was changed";
        ASSERT_EQ(::unlink(s.path.c_str()), 0);
    }
}

TEST_F(FifoBridgeTest, DestroyingAnInBridgeEndsItsWriterSession)
{
    auto ch = pipeChannel();
    std::shared_ptr<Endpoint> b;
    const auto s = spec(FifoDirection::In, "in.fifo");
    ASSERT_EQ(make(ch, s, &b), 0) << lastWhy_;
    const int fd = ::open(s.path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, "open", 4), 4);
    ASSERT_TRUE(waitFor([&] { return ch->stats().inBytes == 4; }));
    EXPECT_TRUE(fifoStats(*b).connected);
    EXPECT_EQ(ch->stats().writers, 1u);
    b.reset();
    EXPECT_EQ(ch->stats().writers, 0u);
    auto r = ch->open(true, false);
    EXPECT_EQ(readData(*ch, *r), "open");
    expectEof(*ch, *r);
    ch->release(*r);
    ::close(fd);
}

TEST_F(FifoBridgeTest, OutKeepsLinesQueuedUntilAReaderOpensThenDeliversThemInOrder)
{
    auto ch = queueChannel();
    std::shared_ptr<Endpoint> b;
    const auto s = spec(FifoDirection::Out, "out.fifo");
    ASSERT_EQ(make(ch, s, &b), 0) << lastWhy_;
    EXPECT_TRUE(isFifo(s.path));
    EXPECT_EQ(b->describe(), "out:" + s.path);
    auto w = ch->open(false, true);
    writeOk(*ch, *w, "one\n");
    writeOk(*ch, *w, "two\n");
    writeOk(*ch, *w, "three\n");
    ch->release(*w);
    // Long enough for a couple of reconnect attempts (every 100 ms).
    std::this_thread::sleep_for(250ms);
    EXPECT_EQ(ch->stats().queuedMessages, 3u) << "lines left the channel with no FIFO reader";
    EXPECT_FALSE(fifoStats(*b).connected);
    EXPECT_EQ(fifoStats(*b).bytes, 0u);

    const int fd = ::open(s.path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    EXPECT_EQ(readFifo(fd, 14), "one\ntwo\nthree\n");
    EXPECT_TRUE(waitFor([&] { return ch->stats().queuedMessages == 0; }));
    EXPECT_TRUE(fifoStats(*b).connected);
    EXPECT_TRUE(waitFor([&] { return fifoStats(*b).bytes == 14; })) << fifoStats(*b).bytes;
    EXPECT_EQ(fifoStats(*b).lastError, "");
    ::close(fd);
}

TEST_F(FifoBridgeTest, OutDeliversLinesWrittenWhileTheReaderIsOpen)
{
    auto ch = queueChannel();
    std::shared_ptr<Endpoint> b;
    const auto s = spec(FifoDirection::Out, "out.fifo");
    ASSERT_EQ(make(ch, s, &b), 0) << lastWhy_;
    const int fd = ::open(s.path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(waitFor([&] { return fifoStats(*b).connected; }));
    auto w = ch->open(false, true);
    std::string want;
    for (int i = 0; i < 50; ++i) {
        const std::string line = "line " + std::to_string(i) + "\n";
        writeOk(*ch, *w, line);
        want += line;
    }
    ch->release(*w);
    EXPECT_EQ(readFifo(fd, want.size()), want);
    ::close(fd);
}

TEST_F(FifoBridgeTest, OutPutsBackWhatAGoneReaderDidNotTake)
{
    auto ch = queueChannel();
    std::shared_ptr<Endpoint> b;
    const auto s = spec(FifoDirection::Out, "out.fifo");
    ASSERT_EQ(make(ch, s, &b), 0) << lastWhy_;
    int fd = ::open(s.path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(waitFor([&] { return fifoStats(*b).connected; }));
    auto w = ch->open(false, true);
    writeOk(*ch, *w, "first\n");
    EXPECT_EQ(readFifo(fd, 6), "first\n");
    ::close(fd);
    ASSERT_TRUE(waitFor([&] { return !fifoStats(*b).connected; }));
    writeOk(*ch, *w, "second\n");
    ch->release(*w);
    fd = ::open(s.path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    EXPECT_EQ(readFifo(fd, 7), "second\n");
    ::close(fd);
}

TEST_F(FifoBridgeTest, OutEndsTheFifoReadersStreamAtAPipeSessionEnd)
{
    auto ch = pipeChannel();
    std::shared_ptr<Endpoint> b;
    const auto s = spec(FifoDirection::Out, "out.fifo");
    ASSERT_EQ(make(ch, s, &b), 0) << lastWhy_;
    const int fd = ::open(s.path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(waitFor([&] { return fifoStats(*b).connected; }));
    auto w = ch->open(false, true);
    writeOk(*ch, *w, "x\n");
    ch->release(*w);

    std::string got;
    bool eof = false;
    const auto deadline = Clock::now() + 5s;
    while (!eof && Clock::now() < deadline) {
        pollfd pfd{fd, POLLIN, 0};
        ::poll(&pfd, 1, 50);
        char buf[64];
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n > 0) got.append(buf, static_cast<size_t>(n));
        // The writer was connected before the data: 0 now is the end.
        else if (n == 0)
            eof = true;
    }
    EXPECT_EQ(got, "x\n");
    EXPECT_TRUE(eof) << "the FIFO reader never saw end-of-file";
    ::close(fd);
}

TEST_F(FifoBridgeTest, OutPipeSessionsGoToSuccessiveReaders)
{
    auto ch = pipeChannel();
    std::shared_ptr<Endpoint> b;
    const auto s = spec(FifoDirection::Out, "out.fifo");
    ASSERT_EQ(make(ch, s, &b), 0) << lastWhy_;
    uint64_t sent = 0;
    for (std::string_view msg : {"first\n", "second\n"}) {
        const int fd = ::open(s.path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        ASSERT_GE(fd, 0);
        // After a session's end the bridge opens the FIFO again only once
        // the next session has data: a non-blocking reader sees end-of-file
        // until then, so wait until the bridge wrote before reading.
        auto w = ch->open(false, true);
        writeOk(*ch, *w, msg);
        ch->release(*w);
        sent += msg.size();
        ASSERT_TRUE(waitFor([&] { return fifoStats(*b).bytes == sent; }));
        std::string got;
        bool eof = false;
        const auto deadline = Clock::now() + 5s;
        while (!eof && Clock::now() < deadline) {
            pollfd pfd{fd, POLLIN, 0};
            ::poll(&pfd, 1, 50);
            char buf[64];
            const ssize_t n = ::read(fd, buf, sizeof buf);
            if (n > 0)
                got.append(buf, static_cast<size_t>(n));
            else if (n == 0)
                eof = true;
        }
        EXPECT_EQ(got, msg);
        EXPECT_TRUE(eof);
        ::close(fd);
        ASSERT_TRUE(waitFor([&] { return !fifoStats(*b).connected; }));
    }
}

TEST_F(FifoBridgeTest, OutASlowPipeReaderStillSeesEndOfFile)
{
    auto ch = pipeChannel();
    std::shared_ptr<Endpoint> b;
    const auto s = spec(FifoDirection::Out, "out.fifo");
    ASSERT_EQ(make(ch, s, &b), 0) << lastWhy_;
    const int fd = ::open(s.path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(waitFor([&] { return fifoStats(*b).connected; }));
    auto w = ch->open(false, true);
    writeOk(*ch, *w, "x\n");
    ch->release(*w);
    ASSERT_TRUE(waitFor([&] { return fifoStats(*b).bytes == 2 && !fifoStats(*b).connected; }));
    // A reader busy with something else for a moment (e.g. `while read l;
    // do work; done < fifo`) reads the session only now.
    std::this_thread::sleep_for(300ms);
    char buf[64];
    EXPECT_EQ(::read(fd, buf, sizeof buf), 2);
    errno = 0;
    const ssize_t n = ::read(fd, buf, sizeof buf);
    EXPECT_EQ(n, 0) << "no end-of-file for the session (errno " << strerror(errno)
                    << "): the bridge reopened the FIFO while this reader still had it open";
    ::close(fd);
}

// ---- permissions -------------------------------------------------------------

TEST_F(FifoBridgeTest, NobodyCannotCreateAFifoInARootDir)
{
    ASSERT_EQ(::geteuid(), 0u);
    ASSERT_EQ(::chmod(dir_.c_str(), 0755), 0);
    for (auto d : {FifoDirection::In, FifoDirection::Out}) {
        auto s = spec(d, "nobody.fifo");
        s.as = Credentials{kNobody, kNogroup, {kNogroup}};
        s.ownerUid = kNobody;
        s.ownerGid = kNogroup;
        std::shared_ptr<Endpoint> b;
        EXPECT_EQ(make(queueChannel(), s, &b), -EACCES);
        EXPECT_EQ(b, nullptr);
        EXPECT_FALSE(exists(s.path));
    }
    // The test thread is still root.
    EXPECT_EQ(createFile(path("root-file")), 0);
}

TEST_F(FifoBridgeTest, NobodyCreatesAFifoInAnOpenDirOwnedAsTheSpecSays)
{
    ASSERT_EQ(::chmod(dir_.c_str(), 0777), 0);
    for (auto d : {FifoDirection::In, FifoDirection::Out}) {
        auto s = spec(d, "nobody.fifo", 0660);
        s.as = Credentials{kNobody, kNogroup, {kNogroup, 4242}};
        s.ownerUid = kNobody;
        s.ownerGid = 4242;
        std::shared_ptr<Endpoint> b;
        ASSERT_EQ(make(queueChannel(), s, &b), 0) << lastWhy_;
        struct stat st {};
        ASSERT_EQ(::lstat(s.path.c_str(), &st), 0);
        EXPECT_TRUE(S_ISFIFO(st.st_mode));
        EXPECT_EQ(st.st_uid, kNobody);
        EXPECT_EQ(st.st_gid, 4242u);
        EXPECT_EQ(st.st_mode & 07777, 0660u);
        b.reset();
        EXPECT_FALSE(exists(s.path));
    }
}

TEST_F(FifoBridgeTest, NobodyCannotAdoptARootOnlyFifo)
{
    ASSERT_EQ(::chmod(dir_.c_str(), 0777), 0);
    const std::string p = path("root.fifo");
    ASSERT_EQ(::mkfifo(p.c_str(), 0600), 0);
    ASSERT_EQ(::chmod(p.c_str(), 0600), 0);
    for (auto d : {FifoDirection::In, FifoDirection::Out}) {
        auto s = spec(d, "root.fifo");
        s.as = Credentials{kNobody, kNogroup, {kNogroup}};
        std::shared_ptr<Endpoint> b;
        EXPECT_EQ(make(queueChannel(), s, &b), -EACCES) << "direction " << static_cast<int>(d);
        EXPECT_EQ(b, nullptr);
        EXPECT_TRUE(isFifo(p)) << "a FIFO it did not create was removed";
    }
}

TEST_F(FifoBridgeTest, InReopensAsTheUserAfterEachSession)
{
    ASSERT_EQ(::chmod(dir_.c_str(), 0777), 0);
    auto ch = queueChannel();
    auto s = spec(FifoDirection::In, "nobody.fifo", 0622);
    s.as = Credentials{kNobody, kNogroup, {kNogroup}};
    s.ownerUid = kNobody;
    s.ownerGid = kNogroup;
    std::shared_ptr<Endpoint> b;
    ASSERT_EQ(make(ch, s, &b), 0) << lastWhy_;
    for (int i = 0; i < 3; ++i) {
        writeSession(s.path, "m\n");
        ASSERT_TRUE(
            waitFor([&] { return ch->stats().inMessages == static_cast<uint64_t>(i + 1); }));
        ASSERT_TRUE(waitFor([&] { return ch->stats().writers == 0; }));
    }
    EXPECT_EQ(fifoStats(*b).lastError, "");
    EXPECT_EQ(fifoStats(*b).bytes, 6u);
}

TEST_F(FifoBridgeTest, InDoesNotSpinOnTheHangUpAfterTheLastWriterCloses)
{
    // Even with its path removed (`rm` while a program still writes, then
    // that program exits): the session ends once, and the loop then sleeps.
    auto ch = pipeChannel();
    const auto s = spec(FifoDirection::In, "in.fifo");
    std::shared_ptr<Endpoint> b;
    ASSERT_EQ(make(ch, s, &b), 0) << lastWhy_;
    const int fd = ::open(s.path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, "m\n", 2), 2);
    ASSERT_TRUE(waitFor([&] { return ch->stats().writers == 1; }));
    ASSERT_EQ(::unlink(s.path.c_str()), 0);
    ::close(fd);
    ASSERT_TRUE(waitFor([&] { return ch->stats().writers == 0; })) << "the session did not end";
    const uint64_t first = loop_.dispatched();
    std::this_thread::sleep_for(300ms);
    const uint64_t later = loop_.dispatched();
    EXPECT_LE(later - first, 2u) << "the event loop spins on the FIFO's hang-up: " << later - first
                                 << " callbacks in 300 ms";
    EXPECT_EQ(fifoStats(*b).lastError, "");
    auto r = ch->open(true, false);
    EXPECT_EQ(readData(*ch, *r), "m\n");
    ch->release(*r);
}

}  // namespace
}  // namespace chanfs
