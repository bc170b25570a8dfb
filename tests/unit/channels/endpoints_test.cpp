// The endpoint seam (channels/endpoints/endpoint.h): the registry, and the
// socket endpoints through it, with real Unix sockets in a private
// directory: listen (stream and seqpacket), connect, half-close, hang-up, a
// malformed lp32 frame, the socket's owner and mode, connecting with the
// opener's rights, and what is queued for the file.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>

#include "channels/base/event_loop.h"
#include "channels/base/names.h"
#include "channels/base/unique_fd.h"
#include "channels/endpoints/endpoint.h"
#include "tests/unit/fakes.h"

namespace chanfs {
namespace {

using namespace test;
using namespace std::chrono_literals;

constexpr uid_t kNobody = 65534;
constexpr gid_t kNogroup = 65534;

// ---- the registry --------------------------------------------------------

TEST(EndpointRegistry, HoldsEveryKeyInListingOrderAndNothingElse)
{
    const auto kinds = endpointKinds();
    ASSERT_EQ(kinds.size(), std::size(kEndpointKeys));
    for (size_t i = 0; i < kinds.size(); ++i) {
        EXPECT_EQ(kinds[i].key, kEndpointKeys[i]);
        EXPECT_EQ(findEndpointKind(kEndpointKeys[i]), &kinds[i]);
        EXPECT_NE(kinds[i].parse, nullptr);
        EXPECT_NE(kinds[i].make, nullptr);
    }
    EXPECT_EQ(findEndpointKind("nats"), nullptr);
    EXPECT_EQ(findEndpointKind(""), nullptr);
    EXPECT_EQ(findEndpointKind("kind"), nullptr) << "a setting is not an endpoint";
}

TEST(EndpointRegistry, ParsersGiveThePathOutsideTheMountOrSayWhatIsWrong)
{
    struct Case {
        std::string_view key;
        std::string value;
        int rc;
        std::string_view path;
    };
    const Case cases[] = {
        {"fifo", "in:/run/a.fifo", 0, "/run/a.fifo"},
        {"fifo", "out:/run/b.fifo", 0, "/run/b.fifo"},
        {"fifo", "sideways:/x", -EINVAL, ""},
        {"fifo", "in:relative", -EINVAL, ""},
        {"uds", "connect:/run/svc.sock", 0, "/run/svc.sock"},
        {"uds", "listen:/run/l.sock", 0, "/run/l.sock"},
        {"uds", "listen-seqpacket:/run/p.sock", 0, "/run/p.sock"},
        {"uds", "accept:/x", -EINVAL, ""},
        {"uds", "listen:rel", -EINVAL, ""},
        {"uds", "connect:/" + std::string(200, 'x'), -EINVAL, ""},
    };
    for (const Case &c : cases) {
        const EndpointKind *kind = findEndpointKind(c.key);
        ASSERT_NE(kind, nullptr) << c.key;
        std::string path, why;
        EXPECT_EQ(kind->parse(c.value, &path, &why), c.rc) << c.key << "=" << c.value;
        if (c.rc == 0) {
            EXPECT_EQ(path, c.path) << c.value;
        } else {
            EXPECT_FALSE(why.empty()) << "no reason given for " << c.value;
        }
    }
}

// ---- socket endpoints ----------------------------------------------------

class SocketEndpoints : public ::testing::Test {
protected:
    void SetUp() override
    {
        signal(SIGPIPE, SIG_IGN);
        char tmpl[] = "/tmp/chanfs-endpoints-test.XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        ASSERT_EQ(::chmod(dir_.c_str(), 0755), 0);
        ASSERT_EQ(loop_.status(), 0);
    }
    void TearDown() override
    {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    std::string path(std::string_view name) const { return dir_ + "/" + std::string(name); }

    EndpointTarget target(std::shared_ptr<Channel> ch, mode_t mode = 0600)
    {
        EndpointTarget t;
        t.channel = std::move(ch);
        t.mode = mode;
        t.uid = ::getuid();
        t.gid = ::getgid();
        t.as = Credentials{::getuid(), ::getgid(), {}};
        return t;
    }
    std::shared_ptr<Endpoint> make(std::string_view key, const std::string &value,
                                   const EndpointTarget &t)
    {
        std::shared_ptr<Endpoint> e;
        std::string why;
        EXPECT_EQ(findEndpointKind(key)->make(loop_, t, value, &e, &why), 0)
            << value << ": " << why;
        return e;
    }
    // The file side of one open() through `e`.
    std::shared_ptr<FileSide> openFile(Endpoint &e, bool reads, bool writes,
                                       Credentials as = Credentials{})
    {
        std::shared_ptr<FileSide> side;
        EXPECT_EQ(e.openFile([&] { return as; }, reads, writes, &side), 0);
        EXPECT_NE(side, nullptr);
        return side;
    }

    EventLoop loop_;
    std::string dir_;
};

UniqueFd connectTo(const std::string &path, int type = SOCK_STREAM)
{
    UniqueFd fd(::socket(AF_UNIX, type | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    EXPECT_EQ(::connect(fd.get(), reinterpret_cast<const sockaddr *>(&addr), sizeof addr), 0)
        << path << ": " << std::strerror(errno);
    return fd;
}

UniqueFd listenOn(const std::string &path, mode_t mode = 0600)
{
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    EXPECT_EQ(::bind(fd.get(), reinterpret_cast<const sockaddr *>(&addr), sizeof addr), 0);
    EXPECT_EQ(::chmod(path.c_str(), mode), 0);
    EXPECT_EQ(::listen(fd.get(), 8), 0);
    return fd;
}

// Receives until `want` bytes came, end-of-file, or 10 s passed.
// `eof` (if given) says whether the peer half-closed after them.
std::string receive(int fd, size_t want, bool *eof = nullptr)
{
    std::string got;
    const auto end = std::chrono::steady_clock::now() + 10s;
    if (eof) *eof = false;
    while (std::chrono::steady_clock::now() < end) {
        if (got.size() >= want && !eof) break;
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 50) <= 0) {
            if (got.size() >= want && eof) break;  // no end-of-file followed
            continue;
        }
        char buf[65536];
        const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0) {
            if (eof) *eof = true;
            break;
        }
        if (n < 0) {
            if (errno == EAGAIN) continue;
            break;
        }
        got.append(buf, static_cast<size_t>(n));
    }
    return got;
}

// Reads from a file side until `want` bytes came (reads park until data).
std::string readFile(FileSide &f, size_t want)
{
    std::string got;
    while (got.size() < want) {
        auto r = issueRead(f.in(), *f.inHandle(), 1 << 20);
        if (!r->waitDone(10s)) break;
        const ReadOutcome out = r->get();
        if (out.fails || out.eof) break;
        got += out.data;
    }
    return got;
}

bool waitFor(const std::function<bool()> &cond)
{
    const auto end = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < end) {
        if (cond()) return true;
        std::this_thread::sleep_for(5ms);
    }
    return cond();
}

std::string statOf(const Endpoint &e, std::string_view name)
{
    for (const EndpointStat &s : e.stats())
        if (s.name == name) return s.value;
    ADD_FAILURE() << "no stat " << name;
    return {};
}

// The stats names.h declares for an endpoint mode ("uds", "listen"), in order.
std::vector<std::string> declaredStats(std::string_view key, std::string_view mode)
{
    unsigned bits = 0;
    for (const EndpointMode &m : kEndpointModes)
        if (m.key == key && m.mode == mode) bits = m.stats;
    std::vector<std::string> names;
    for (const StatName &s : kStats)
        if (s.shownOn & bits) names.emplace_back(s.name);
    return names;
}

std::vector<std::string> listedStats(const Endpoint &e)
{
    std::vector<std::string> names;
    for (const EndpointStat &s : e.stats()) names.push_back(s.name);
    return names;
}

TEST_F(SocketEndpoints, EachEndpointListsExactlyTheStatsNamesHDeclaresForItsMode)
{
    const auto sockPath = path("srv.sock");
    UniqueFd srv = listenOn(sockPath);
    auto ch = makeChannel({{"kind", "queue"}});
    const auto listen = make("uds", "listen:" + path("l.sock"), target(ch));
    const auto seq = make("uds", "listen-seqpacket:" + path("p.sock"), target(ch));
    const auto connect = make("uds", "connect:" + sockPath, target(ch));
    const auto in = make("fifo", "in:" + path("in.fifo"), target(ch));
    const auto out = make("fifo", "out:" + path("out.fifo"), target(ch));
    ASSERT_TRUE(listen && seq && connect && in && out);
    EXPECT_EQ(listedStats(*listen), declaredStats("uds", "listen"));
    EXPECT_EQ(listedStats(*seq), declaredStats("uds", "listen-seqpacket"));
    EXPECT_EQ(listedStats(*connect), declaredStats("uds", "connect"));
    EXPECT_EQ(listedStats(*in), declaredStats("fifo", "in"));
    EXPECT_EQ(listedStats(*out), declaredStats("fifo", "out"));
    EXPECT_EQ(listedStats(*listen).size(), 3u);
    EXPECT_EQ(listen->describe(), "listen:" + path("l.sock"));
    EXPECT_EQ(listen->outsidePath(), path("l.sock"));
    EXPECT_EQ(connect->describe(), "connect:" + sockPath);
    EXPECT_EQ(in->describe(), "in:" + path("in.fifo"));
}

TEST_F(SocketEndpoints, ListenStreamClientAndFileExchangeLines)
{
    auto ch = makeChannel({{"kind", "queue"}, {"framing", "lines"}});
    auto ep = make("uds", "listen:" + path("svc.sock"), target(ch, 0640));
    ASSERT_NE(ep, nullptr);
    struct stat st {};
    ASSERT_EQ(::lstat(path("svc.sock").c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, 0640u) << "the socket has the channel's mode";

    UniqueFd c = connectTo(path("svc.sock"));
    ASSERT_TRUE(waitFor([&] { return statOf(*ep, "uds_clients") == "1"; }));
    auto file = openFile(*ep, true, true);
    ASSERT_EQ(::send(c.get(), "ping\n", 5, 0), 5);
    EXPECT_EQ(readFile(*file, 5), "ping\n");
    writeOk(file->out(), *file->outHandle(), "pong\n");
    EXPECT_EQ(receive(c.get(), 5), "pong\n");
    // Counted on the loop thread once send() returned there.
    EXPECT_TRUE(waitFor([&] { return statOf(*ep, "uds_bytes") == "10"; }))
        << statOf(*ep, "uds_bytes");
    file->close();
}

TEST_F(SocketEndpoints, AHalfClosedListenClientStaysAReaderAndIsHalfClosedByThePipeMark)
{
    // echo cmd | socat - UNIX-CONNECT:sock on a pipe channel answered by a
    // program on the file: the reply reaches this client, then end-of-file.
    auto ch = makeChannel({{"kind", "pipe"}});
    auto ep = make("uds", "listen:" + path("svc.sock"), target(ch));
    ASSERT_NE(ep, nullptr);
    UniqueFd c = connectTo(path("svc.sock"));
    ASSERT_EQ(::send(c.get(), "cmd\n", 4, 0), 4);
    ASSERT_EQ(::shutdown(c.get(), SHUT_WR), 0);

    auto reader = openFile(*ep, true, false);
    EXPECT_EQ(readFile(*reader, 4), "cmd\n");
    // The client's end-of-file ended its writer session: a pipe mark.
    auto r = issueRead(reader->in(), *reader->inHandle(), 1 << 20);
    ASSERT_TRUE(r->waitDone(10s)) << "no end-of-stream after the client's half-close";
    EXPECT_TRUE(r->get().eof);
    reader->close();
    EXPECT_EQ(statOf(*ep, "uds_clients"), "1") << "a half-closed client is still connected";

    auto writer = openFile(*ep, false, true);
    writeOk(writer->out(), *writer->outHandle(), "reply\n");
    writer->close();  // the writer session ends: the mark half-closes the client
    bool eof = false;
    EXPECT_EQ(receive(c.get(), 6, &eof), "reply\n");
    EXPECT_TRUE(eof) << "the pipe's end-of-stream mark did not half-close the client";
    c.reset();
    EXPECT_TRUE(waitFor([&] { return statOf(*ep, "uds_clients") == "0"; }));
}

TEST_F(SocketEndpoints, AListenClientSendingPastCapacityWaitsForTheFileAndLosesNothing)
{
    // 1 MiB of lines into a 64 KiB channel: most writes into the channel are
    // taken at once, the others wait until the file reader makes room.
    auto ch = makeChannel(
        {{"kind", "queue"}, {"framing", "lines"}, {"capacity", "64K"}, {"delivery", "batch"}});
    auto ep = make("uds", "listen:" + path("svc.sock"), target(ch));
    ASSERT_NE(ep, nullptr);
    UniqueFd c = connectTo(path("svc.sock"));
    std::string sent;
    for (int i = 0; sent.size() < (1u << 20); ++i) sent += "line " + std::to_string(i) + "\n";
    std::thread sender([&] {
        size_t off = 0;
        while (off < sent.size()) {
            const ssize_t n = ::send(c.get(), sent.data() + off, sent.size() - off, 0);
            if (n <= 0) break;
            off += static_cast<size_t>(n);
        }
    });
    const Channel *queued = ep->queuedForFile();
    ASSERT_NE(queued, nullptr);
    // The channel fills and the client's data waits in the socket.
    EXPECT_TRUE(waitFor([&] { return queued->stats().queuedBytes > 32 * 1024; }));
    auto reader = openFile(*ep, true, false);
    const std::string got = readFile(*reader, sent.size());
    sender.join();
    EXPECT_EQ(got.size(), sent.size());
    EXPECT_TRUE(got == sent) << "the lines did not arrive whole and in order";
    reader->close();
}

TEST_F(SocketEndpoints, ListenClientHangUpEndsItsSessionAndLeavesTheQueueForTheFile)
{
    auto ch = makeChannel({{"kind", "pipe"}});
    auto ep = make("uds", "listen:" + path("svc.sock"), target(ch));
    ASSERT_NE(ep, nullptr);
    {
        UniqueFd c = connectTo(path("svc.sock"));
        ASSERT_EQ(::send(c.get(), "hello", 5, 0), 5);
    }
    // What it sent is queued for the file, counted like any write.
    const Channel *queued = ep->queuedForFile();
    ASSERT_NE(queued, nullptr);
    ASSERT_TRUE(waitFor([&] { return queued->stats().queuedBytes == 5; }));
    ASSERT_TRUE(waitFor([&] { return statOf(*ep, "uds_clients") == "0"; }));
    EXPECT_NE(queued->stats().lastWrite.tv_sec, 0);
    auto reader = openFile(*ep, true, false);
    EXPECT_EQ(readFile(*reader, 5), "hello");
    expectEof(reader->in(), *reader->inHandle());
    EXPECT_EQ(queued->stats().queuedBytes, 0u);
    reader->close();
}

TEST_F(SocketEndpoints, SeqpacketClientsKeepMessageBoundariesBothWays)
{
    auto ch = makeChannel({{"kind", "queue"}, {"framing", "lp32"}});
    auto ep = make("uds", "listen-seqpacket:" + path("pk.sock"), target(ch));
    ASSERT_NE(ep, nullptr);
    auto file = openFile(*ep, true, true);
    writeOk(file->out(), *file->outHandle(), lp32Frame("hello"));
    writeOk(file->out(), *file->outHandle(), lp32Frame(std::string(3000, 'x')));
    UniqueFd c = connectTo(path("pk.sock"), SOCK_SEQPACKET);
    char buf[8192];
    EXPECT_EQ(::recv(c.get(), buf, sizeof buf, 0), 5);
    EXPECT_EQ(::recv(c.get(), buf, sizeof buf, 0), 3000);
    ASSERT_EQ(::send(c.get(), "abc", 3, 0), 3);
    ASSERT_EQ(::send(c.get(), "defgh", 5, 0), 5);
    EXPECT_EQ(readFile(*file, 16), lp32Frame("abc") + lp32Frame("defgh"));
    file->close();
}

TEST_F(SocketEndpoints, AMalformedLp32FrameDisconnectsOnlyItsSender)
{
    auto ch = makeChannel({{"kind", "queue"}, {"framing", "lp32"}, {"max_message", "1000"}});
    auto ep = make("uds", "listen:" + path("q.sock"), target(ch));
    ASSERT_NE(ep, nullptr);
    UniqueFd good = connectTo(path("q.sock"));
    UniqueFd bad = connectTo(path("q.sock"));
    ASSERT_TRUE(waitFor([&] { return statOf(*ep, "uds_clients") == "2"; }));
    const std::string ok = lp32Frame("fine");
    ASSERT_EQ(::send(good.get(), ok.data(), ok.size(), 0), static_cast<ssize_t>(ok.size()));
    const char huge[4] = {0, 0, 0, 0x10};  // 256 MiB > max_message
    ASSERT_EQ(::send(bad.get(), huge, 4, 0), 4);
    bool eof = false;
    EXPECT_EQ(receive(bad.get(), 0, &eof), "");
    EXPECT_TRUE(eof) << "the sender of a malformed frame was not disconnected";
    EXPECT_TRUE(waitFor([&] { return statOf(*ep, "uds_clients") == "1"; }));
    auto file = openFile(*ep, true, true);
    EXPECT_EQ(readFile(*file, ok.size()), ok) << "accepted data was lost";
    writeOk(file->out(), *file->outHandle(), lp32Frame("still here"));
    EXPECT_EQ(receive(good.get(), 14), lp32Frame("still here"));
    file->close();
}

TEST_F(SocketEndpoints, DestroyingAListenEndpointHangsUpAndRemovesItsSocket)
{
    auto ch = makeChannel({{"kind", "queue"}});
    auto ep = make("uds", "listen:" + path("gone.sock"), target(ch));
    ASSERT_NE(ep, nullptr);
    UniqueFd c = connectTo(path("gone.sock"));
    ASSERT_TRUE(waitFor([&] { return statOf(*ep, "uds_clients") == "1"; }));
    ep.reset();
    bool eof = false;
    receive(c.get(), 0, &eof);
    EXPECT_TRUE(eof);
    EXPECT_NE(::access(path("gone.sock").c_str(), F_OK), 0) << "the socket file was left behind";
}

TEST_F(SocketEndpoints, ConnectMakesAConnectionPerOpenAndHalfClosesOnClose)
{
    UniqueFd srv = listenOn(path("svc.sock"));
    auto ch = makeChannel({});
    auto ep = make("uds", "connect:" + path("svc.sock"), target(ch));
    ASSERT_NE(ep, nullptr);
    EXPECT_EQ(statOf(*ep, "uds_connected"), "0");
    auto a = openFile(*ep, true, true);
    auto b = openFile(*ep, true, true);
    UniqueFd ca(::accept(srv.get(), nullptr, nullptr));
    UniqueFd cb(::accept(srv.get(), nullptr, nullptr));
    ASSERT_TRUE(ca && cb) << "each open() is its own connection";
    EXPECT_EQ(statOf(*ep, "uds_connected"), "1");
    writeOk(a->out(), *a->outHandle(), "ping-a");
    writeOk(b->out(), *b->outHandle(), "ping-b");
    EXPECT_EQ(receive(ca.get(), 6), "ping-a");
    EXPECT_EQ(receive(cb.get(), 6), "ping-b");
    ASSERT_EQ(::send(cb.get(), "pong-b", 6, 0), 6);
    EXPECT_EQ(readFile(*b, 6), "pong-b");
    expectNothingToRead(a->in(), *a->inHandle());
    // Close: what was written goes, then the server sees end-of-file.
    writeOk(a->out(), *a->outHandle(), "last");
    a->close();
    bool eof = false;
    EXPECT_EQ(receive(ca.get(), 4, &eof), "last");
    EXPECT_TRUE(eof);
    b->close();
    EXPECT_TRUE(waitFor([&] { return statOf(*ep, "uds_connected") == "0"; }));
}

TEST_F(SocketEndpoints, ConnectServerHangUpEndsReadsAndBreaksWrites)
{
    UniqueFd srv = listenOn(path("svc.sock"));
    auto ep = make("uds", "connect:" + path("svc.sock"), target(makeChannel({})));
    ASSERT_NE(ep, nullptr);
    auto f = openFile(*ep, true, true);
    {
        UniqueFd c(::accept(srv.get(), nullptr, nullptr));
        ASSERT_EQ(::send(c.get(), "bye", 3, 0), 3);
    }
    EXPECT_EQ(readFile(*f, 3), "bye");
    auto r = issueRead(f->in(), *f->inHandle(), 1 << 20);
    ASSERT_TRUE(r->waitDone(10s));
    EXPECT_TRUE(r->get().eof) << "no end-of-file after the server hung up";
    ASSERT_TRUE(waitFor([&] {
        return writeNow(f->out(), *f->outHandle(), "x", {.nonblock = true}).error == EPIPE;
    })) << "writes after the hang-up do not fail with EPIPE";
    f->close();
}

TEST_F(SocketEndpoints, ConnectFailsCleanlyWithoutAServer)
{
    auto ep = make("uds", "connect:" + path("none.sock"), target(makeChannel({})));
    ASSERT_NE(ep, nullptr);
    std::shared_ptr<FileSide> side;
    EXPECT_EQ(ep->openFile([] { return Credentials{}; }, true, true, &side), -ENOENT);
    EXPECT_EQ(side, nullptr);
    {
        UniqueFd dead = listenOn(path("dead.sock"));
    }  // bound, then closed
    auto ep2 = make("uds", "connect:" + path("dead.sock"), target(makeChannel({})));
    EXPECT_EQ(ep2->openFile([] { return Credentials{}; }, true, true, &side), -ECONNREFUSED);
    EXPECT_EQ(statOf(*ep2, "uds_connected"), "0");
}

TEST_F(SocketEndpoints, ConnectUsesTheOpenersRights)
{
    ASSERT_EQ(::geteuid(), 0u) << "these tests run as root";
    UniqueFd priv = listenOn(path("priv.sock"), 0600);
    UniqueFd open = listenOn(path("open.sock"), 0666);
    const Credentials nobody{kNobody, kNogroup, {kNogroup}};
    auto ch = makeChannel({});
    std::shared_ptr<FileSide> side;
    auto p = make("uds", "connect:" + path("priv.sock"), target(ch));
    EXPECT_EQ(p->openFile([&] { return nobody; }, true, true, &side), -EACCES);
    auto o = make("uds", "connect:" + path("open.sock"), target(ch));
    ASSERT_EQ(o->openFile([&] { return nobody; }, true, true, &side), 0);
    side->close();
    // Root, the opener here, may connect to the private one.
    ASSERT_EQ(p->openFile([] { return Credentials{}; }, true, true, &side), 0);
    side->close();
}

TEST_F(SocketEndpoints, AListenSocketFollowsTheChannelsOwnerAndMode)
{
    ASSERT_EQ(::geteuid(), 0u) << "these tests run as root";
    auto t = target(makeChannel({}), 0600);
    t.uid = kNobody;
    t.gid = kNogroup;
    auto ep = make("uds", "listen:" + path("own.sock"), t);
    ASSERT_NE(ep, nullptr);
    struct stat st {};
    ASSERT_EQ(::lstat(path("own.sock").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, kNobody);
    EXPECT_EQ(st.st_gid, kNogroup);
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    ASSERT_EQ(ep->followChannel(0660, 0, 0), 0);
    ASSERT_EQ(::lstat(path("own.sock").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 0u);
    EXPECT_EQ(st.st_mode & 07777, 0660u);
}

}  // namespace
}  // namespace chanfs
