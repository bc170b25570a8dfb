#include "tools/bench/workloads.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

namespace chanfs::bench {

namespace {

// Reads exactly `total` bytes with a buffer of `bufBytes`; on lines
// framing every read must end with '\n' (chanfs never splits a line that
// fits the buffer). Returns the number of reads.
size_t drain(int fd, size_t total, size_t bufBytes, bool lines)
{
    std::vector<char> buf(bufBytes);
    size_t got = 0, reads = 0;
    while (got < total) {
        const size_t n = readSome(fd, buf.data(), std::min(bufBytes, total - got));
        if (n == 0)
            fail("end of stream after " + std::to_string(got) + " of " + std::to_string(total) +
                 " bytes");
        if (lines && buf[n - 1] != '\n') fail("a read on a lines channel ended inside a line");
        got += n;
        ++reads;
    }
    return reads;
}

unsigned long statValue(const std::string &path, const std::string &key)
{
    char buf[64];
    const ssize_t n =
        ::getxattr(path.c_str(), ("user.chanfs.stats." + key).c_str(), buf, sizeof buf - 1);
    if (n < 0) failErrno("getxattr stats." + key + " on " + path);
    buf[n] = '\0';
    return std::stoul(buf);
}

}  // namespace

StreamResult runStream(Transport &t, size_t writeBytes, size_t totalBytes, size_t readBytes)
{
    Link l = t.link();
    Buffer msg(writeBytes);
    const size_t count = totalBytes / writeBytes;
    StreamResult res;
    const Clock::time_point t0 = Clock::now();
    std::thread writer([&] {
        for (size_t i = 0; i < count; ++i) writeAll(l.w.get(), msg.data(), writeBytes);
        res.writerSeconds = secondsBetween(t0, Clock::now());
    });
    res.reads = drain(l.r.get(), count * writeBytes, readBytes, l.readsWholeLines);
    res.seconds = secondsBetween(t0, Clock::now());
    writer.join();
    return res;
}

double runPingPong(Transport &t, size_t rounds, size_t msgBytes)
{
    // Not a structured binding: clang 14 cannot capture one in a lambda.
    std::pair<Link, Link> links = t.duplex();
    Link &there = links.first;
    Link &back = links.second;
    Buffer ping(msgBytes);
    Buffer pong(msgBytes);
    std::thread echo([&] {
        std::vector<char> buf(msgBytes);
        for (size_t i = 0; i < rounds; ++i) {
            readExact(there.r.get(), buf.data(), msgBytes);
            writeAll(back.w.get(), pong.data(), msgBytes);
        }
    });
    std::vector<char> buf(msgBytes);
    const Clock::time_point t0 = Clock::now();
    for (size_t i = 0; i < rounds; ++i) {
        writeAll(there.w.get(), ping.data(), msgBytes);
        readExact(back.r.get(), buf.data(), msgBytes);
    }
    const double s = secondsBetween(t0, Clock::now());
    echo.join();
    return s;
}

double runFanout(const std::string &chanfsDir, unsigned subscribers, size_t count, size_t msgBytes)
{
    std::vector<UniqueFd> readEnds, writeEnds;
    std::string topic;
    if (chanfsDir.empty()) {
        for (unsigned i = 0; i < subscribers; ++i) {
            int fds[2];
            if (::pipe2(fds, O_CLOEXEC) != 0) failErrno("pipe2");
            readEnds.emplace_back(fds[0]);
            writeEnds.emplace_back(fds[1]);
        }
    } else {
        static unsigned serial = 0;
        topic = chanfsDir + "/fanout-" + std::to_string(serial++);
        makeChannel(topic, "topic", "lines");
        for (unsigned i = 0; i < subscribers; ++i) {
            readEnds.emplace_back(::open(topic.c_str(), O_RDONLY | O_CLOEXEC));
            if (!readEnds.back()) failErrno("open " + topic);
        }
        writeEnds.emplace_back(::open(topic.c_str(), O_WRONLY | O_CLOEXEC));
        if (!writeEnds.back()) failErrno("open " + topic);
    }
    const bool lines = !chanfsDir.empty();
    std::vector<std::thread> subs;
    for (unsigned i = 0; i < subscribers; ++i)
        subs.emplace_back([&, i] { drain(readEnds[i].get(), count * msgBytes, 64 * 1024, lines); });
    Buffer msg(msgBytes);
    const Clock::time_point t0 = Clock::now();
    for (size_t m = 0; m < count; ++m)
        for (const UniqueFd &w : writeEnds) writeAll(w.get(), msg.data(), msgBytes);
    for (std::thread &s : subs) s.join();
    const double s = secondsBetween(t0, Clock::now());
    writeEnds.clear();
    readEnds.clear();
    if (!topic.empty()) ::unlink(topic.c_str());
    return s;
}

namespace {

struct ParkCtx {
    std::string path;
    std::atomic<unsigned> opened{0};
    std::atomic<unsigned> ended{0};
    std::atomic<unsigned> failed{0};
};

void *parkedReader(void *arg)
{
    auto &ctx = *static_cast<ParkCtx *>(arg);
    const int fd = ::open(ctx.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        ++ctx.failed;
        return nullptr;
    }
    ++ctx.opened;
    char buf[256];
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n == 0)
        ++ctx.ended;
    else
        ++ctx.failed;
    ::close(fd);
    return nullptr;
}

}  // namespace

ScaleResult runParkedReaders(const std::string &chanfsDir, pid_t daemon, unsigned n)
{
    ScaleResult res;
    ParkCtx ctx;
    ctx.path = chanfsDir + "/parked";
    makeChannel(ctx.path, "queue", "lines");
    res.before = procStats(daemon);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    std::vector<pthread_t> threads(n);
    const Clock::time_point t0 = Clock::now();
    for (unsigned i = 0; i < n; ++i)
        if (pthread_create(&threads[i], &attr, parkedReader, &ctx) != 0)
            fail("cannot start reader thread " + std::to_string(i));
    pthread_attr_destroy(&attr);
    while (statValue(ctx.path, "blocked_readers") < n) {
        if (ctx.failed > 0) fail("a parked reader failed to open or read");
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    res.setupSeconds = secondsBetween(t0, Clock::now());
    res.during = procStats(daemon);
    const Clock::time_point t1 = Clock::now();
    if (::unlink(ctx.path.c_str()) != 0) failErrno("unlink " + ctx.path);
    for (pthread_t t : threads) pthread_join(t, nullptr);
    res.undoSeconds = secondsBetween(t1, Clock::now());
    if (ctx.ended != n)
        fail(std::to_string(n - ctx.ended) + " parked readers did not get end-of-stream");
    res.after = procStats(daemon);
    return res;
}

ScaleResult runIdleChannels(const std::string &chanfsDir, pid_t daemon, unsigned n)
{
    ScaleResult res;
    const std::string dir = chanfsDir + "/idle";
    if (::mkdir(dir.c_str(), 0700) != 0) failErrno("mkdir " + dir);
    res.before = procStats(daemon);
    const Clock::time_point t0 = Clock::now();
    for (unsigned i = 0; i < n; ++i) {
        const std::string p = dir + "/" + std::to_string(i);
        UniqueFd fd(::open(p.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600));
        if (!fd) failErrno("create " + p);
    }
    res.setupSeconds = secondsBetween(t0, Clock::now());
    res.during = procStats(daemon);
    const Clock::time_point t1 = Clock::now();
    for (unsigned i = 0; i < n; ++i) {
        const std::string p = dir + "/" + std::to_string(i);
        if (::unlink(p.c_str()) != 0) failErrno("unlink " + p);
    }
    if (::rmdir(dir.c_str()) != 0) failErrno("rmdir " + dir);
    res.undoSeconds = secondsBetween(t1, Clock::now());
    res.after = procStats(daemon);
    return res;
}

}  // namespace chanfs::bench
