// channels/endpoints/fifo_bridge.cpp: FIFO bridges (`in:` real FIFO -> channel,
// `out:` channel -> real FIFO) on real named FIFOs in a fresh temporary
// directory. Runs as root (the permission tests switch to nobody).
#include "tests/unit/channels/bridge_fixture.h"

namespace chanfs {
namespace {

// ---- FIFO bridges ---------------------------------------------------------------

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
    // A queue hands out one whole line per read (delivery=one).
    EXPECT_EQ(readData(*ch, *r), "one\n");
    EXPECT_EQ(readData(*ch, *r), "two\n");
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
