// channels/kinds/pipe.cpp: a buffered byte stream cut into writer sessions by
// end-of-stream marks. A reader that reaches its session's mark gets one
// read() == 0 (a delivery of no bytes); the next read carries on after it.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/unit/fakes.h"

namespace chanfs {
namespace {

using namespace test;

std::shared_ptr<Channel> makePipe(SettingList extra = {})
{
    Settings s = settingsOf({{"kind", "pipe"}});
    for (const auto &[name, value] : extra) {
        std::string why;
        EXPECT_EQ(applySetting(&s, name, value, &why), 0) << why;
    }
    return Channel::create(s, "pipe");
}

TEST(Pipe, EchoThenCat)
{
    auto ch = makePipe();
    auto w = ch->open(false, true);
    writeOk(*ch, *w, "hello\n");
    ch->release(*w);

    auto r = ch->open(true, false);
    EXPECT_EQ(readData(*ch, *r, 100), "hello\n");
    expectEof(*ch, *r);
    // The session is over; the next read waits for the next one.
    expectNothingToRead(*ch, *r);
    auto parked = issueRead(*ch, *r, 100);
    EXPECT_FALSE(parked->done());
    ch->release(*r);
    EXPECT_EQ(parked->get().error, EBADF);
}

TEST(Pipe, EndOfStreamIsOneEmptyDeliveryPerSession)
{
    auto ch = makePipe();
    auto r = ch->open(true, false);
    auto w = ch->open(false, true);
    writeOk(*ch, *w, "x");
    ch->release(*w);
    EXPECT_EQ(readData(*ch, *r), "x");
    expectEof(*ch, *r);
    expectNothingToRead(*ch, *r);
    expectNothingToRead(*ch, *r);
}

TEST(Pipe, TwoWriterSessionsNeverMerge)
{
    auto ch = makePipe();
    auto a = ch->open(false, true);
    writeOk(*ch, *a, "session A");
    ch->release(*a);
    auto b = ch->open(false, true);
    writeOk(*ch, *b, "session B");
    ch->release(*b);

    auto r = ch->open(true, false);
    EXPECT_EQ(readData(*ch, *r, 1000), "session A") << "a read must stop at the session's mark";
    expectEof(*ch, *r);
    EXPECT_EQ(readData(*ch, *r, 1000), "session B");
    expectEof(*ch, *r);
    expectNothingToRead(*ch, *r);
}

TEST(Pipe, OverlappingWritersAreOneSessionEndingWithTheLastClose)
{
    auto ch = makePipe();
    auto r = ch->open(true, false);
    auto w1 = ch->open(false, true);
    auto w2 = ch->open(false, true);
    writeOk(*ch, *w1, "a");
    ch->release(*w1);
    EXPECT_EQ(readData(*ch, *r), "a");
    expectNothingToRead(*ch, *r);  // no mark while w2 is open
    writeOk(*ch, *w2, "b");
    ch->release(*w2);
    EXPECT_EQ(readData(*ch, *r), "b");
    expectEof(*ch, *r);
    expectNothingToRead(*ch, *r);
}

TEST(Pipe, AReaderOnAnEmptyPipeParksWithoutEndOfStream)
{
    auto ch = makePipe();
    auto r = ch->open(true, false);
    auto pending = issueRead(*ch, *r, 100);
    EXPECT_FALSE(pending->done());
    EXPECT_EQ(ch->stats().blockedReaders, 1u);

    auto w = ch->open(false, true);
    EXPECT_FALSE(pending->done()) << "a writer opening is not data";
    writeOk(*ch, *w, "data");
    ASSERT_TRUE(pending->done());
    EXPECT_EQ(pending->get().data, "data");
    EXPECT_EQ(ch->stats().blockedReaders, 0u);
    ch->release(*w);
    expectEof(*ch, *r);
}

TEST(Pipe, EmptySessionWithNoReaderQueuesNoMark)
{
    auto ch = makePipe();
    auto w = ch->open(false, true);
    ch->release(*w);
    auto r = ch->open(true, false);
    expectNothingToRead(*ch, *r);
    auto pending = issueRead(*ch, *r, 100);
    EXPECT_FALSE(pending->done()) << "nobody saw the empty session: no end-of-stream";
    ch->release(*r);
}

TEST(Pipe, EmptySessionWithAReaderOpenQueuesAMark)
{
    auto ch = makePipe();
    auto r = ch->open(true, false);
    auto w = ch->open(false, true);
    ch->release(*w);
    expectEof(*ch, *r);
    expectNothingToRead(*ch, *r);
}

TEST(Pipe, EmptySessionEndsAParkedRead)
{
    auto ch = makePipe();
    auto r = ch->open(true, false);
    auto pending = issueRead(*ch, *r, 100);
    auto w = ch->open(false, true);
    EXPECT_FALSE(pending->done());
    ch->release(*w);
    ASSERT_TRUE(pending->done());
    EXPECT_TRUE(pending->get().eof);
    EXPECT_EQ(pending->get().completions, 1);
}

TEST(Pipe, EachParkedReaderGetsOneSessionThenItsEndOfStream)
{
    // N blocked `cat`s and N one-line writer sessions: one line per cat.
    constexpr int N = 4;
    auto ch = makePipe();
    std::vector<std::shared_ptr<Handle>> readers;
    std::vector<std::shared_ptr<ReadResult>> reads;
    for (int i = 0; i < N; ++i) {
        readers.push_back(ch->open(true, false));
        reads.push_back(issueRead(*ch, *readers.back(), 4096));
    }
    EXPECT_EQ(ch->stats().blockedReaders, uint64_t(N));

    for (int i = 0; i < N; ++i) {
        const std::string line = "line " + std::to_string(i) + "\n";
        auto w = ch->open(false, true);
        writeOk(*ch, *w, line);
        ch->release(*w);

        ASSERT_TRUE(reads[i]->done()) << "reader " << i;
        EXPECT_EQ(reads[i]->get().data, line) << "reader " << i;
        for (int j = i + 1; j < N; ++j)
            EXPECT_FALSE(reads[j]->done()) << "reader " << j << " woke for session " << i;
        // The consumer's next read is its end-of-stream; then `cat` exits.
        expectEof(*ch, *readers[i]);
        ch->release(*readers[i]);
        for (int j = i + 1; j < N; ++j) EXPECT_FALSE(reads[j]->done());
    }
    for (auto &r : reads) EXPECT_EQ(r->get().completions, 1);
    EXPECT_EQ(ch->stats().queuedBytes, 0u);
}

TEST(Pipe, LaterSessionWaitsBehindTheMarkOfItsConsumer)
{
    auto ch = makePipe();
    auto r1 = ch->open(true, false);
    auto r2 = ch->open(true, false);
    auto p1 = issueRead(*ch, *r1, 100);
    auto p2 = issueRead(*ch, *r2, 100);

    auto w = ch->open(false, true);
    writeOk(*ch, *w, "first");
    ch->release(*w);
    w = ch->open(false, true);
    writeOk(*ch, *w, "second");
    ch->release(*w);

    EXPECT_EQ(p1->get().data, "first");
    EXPECT_FALSE(p2->done() && p2->get().eof) << "r2 must never see r1's end-of-stream";
    expectEof(*ch, *r1);
    ASSERT_TRUE(p2->done());
    EXPECT_EQ(p2->get().data, "second");
    expectEof(*ch, *r2);
}

TEST(Pipe, TheMarkIsDroppedIfItsConsumerClosedFirst)
{
    auto ch = makePipe();
    auto w = ch->open(false, true);
    auto r1 = ch->open(true, false);
    writeOk(*ch, *w, "a");
    EXPECT_EQ(readData(*ch, *r1), "a");
    ch->release(*w);   // queues the mark for r1
    ch->release(*r1);  // r1 leaves without reading it

    auto r2 = ch->open(true, false);
    expectNothingToRead(*ch, *r2);  // no stale end-of-stream
    auto w2 = ch->open(false, true);
    writeOk(*ch, *w2, "b");
    ch->release(*w2);
    EXPECT_EQ(readData(*ch, *r2), "b");
    expectEof(*ch, *r2);
}

TEST(Pipe, TheMarkIsDroppedIfItsConsumerClosedBeforeTheWriter)
{
    auto ch = makePipe();
    auto w = ch->open(false, true);
    auto r1 = ch->open(true, false);
    writeOk(*ch, *w, "a");
    EXPECT_EQ(readData(*ch, *r1), "a");
    ch->release(*r1);
    ch->release(*w);

    auto r2 = ch->open(true, false);
    expectNothingToRead(*ch, *r2);
}

TEST(Pipe, AnEmptySessionsMarkIsDroppedWhenNoReaderIsLeftToSeeIt)
{
    // The empty session was queued a mark because r1 was there to see it;
    // r1 left without reading it, so as with a session nobody watched, the
    // next reader waits for the next session instead of an empty one.
    auto ch = makePipe();
    auto r1 = ch->open(true, false);
    auto w = ch->open(false, true);
    ch->release(*w);
    ch->release(*r1);

    auto r2 = ch->open(true, false);
    expectNothingToRead(*ch, *r2);
}

TEST(Pipe, TheReaderThatTookTheLastBytesOfASessionGetsItsMark)
{
    auto ch = makePipe();
    auto w = ch->open(false, true);
    auto r1 = ch->open(true, false);
    auto r2 = ch->open(true, false);
    writeOk(*ch, *w, "abcdef");
    ch->release(*w);
    EXPECT_EQ(readData(*ch, *r1, 2), "ab");
    EXPECT_EQ(readData(*ch, *r2, 100), "cdef");
    expectNothingToRead(*ch, *r1);
    expectEof(*ch, *r2);
}

TEST(Pipe, UnreadSessionDataKeepsItsMarkForTheNextReader)
{
    auto ch = makePipe();
    auto w = ch->open(false, true);
    auto r1 = ch->open(true, false);
    writeOk(*ch, *w, "abcdef");
    EXPECT_EQ(readData(*ch, *r1, 2), "ab");
    ch->release(*w);
    ch->release(*r1);  // leaves "cdef" and the mark

    auto r2 = ch->open(true, false);
    EXPECT_EQ(readData(*ch, *r2), "cdef");
    expectEof(*ch, *r2);
}

TEST(Pipe, ContinuationReadsNeverGetEndOfStreamAndNeverPark)
{
    auto ch = makePipe();
    auto w = ch->open(false, true);
    writeOk(*ch, *w, "abc");
    ch->release(*w);
    auto r = ch->open(true, false);
    EXPECT_EQ(readData(*ch, *r, 100), "abc");

    // The next chunk of the same read(2) finds the mark: answered at once
    // with nothing, and the mark stays for the next read(2).
    ReadOutcome cont = readNow(*ch, *r, 100, {.continuation = true});
    EXPECT_EQ(cont.accepted, 1);
    EXPECT_EQ(cont.data, "");
    EXPECT_EQ(ch->stats().blockedReaders, 0u);
    expectEof(*ch, *r);

    // On an empty pipe a continuation does not wait either.
    cont = readNow(*ch, *r, 100, {.continuation = true});
    EXPECT_EQ(cont.accepted, 1);
    EXPECT_EQ(cont.data, "");
    EXPECT_EQ(ch->stats().blockedReaders, 0u);

    // And with data it returns the data.
    auto w2 = ch->open(false, true);
    writeOk(*ch, *w2, "more");
    cont = readNow(*ch, *r, 100, {.continuation = true});
    EXPECT_EQ(cont.data, "more");
    ch->release(*w2);
    expectEof(*ch, *r);
}

TEST(Pipe, BytesAreSplitBetweenCompetingReaders)
{
    auto ch = makePipe();
    auto w = ch->open(false, true);
    auto r1 = ch->open(true, false);
    auto r2 = ch->open(true, false);
    writeOk(*ch, *w, "abcdef");
    EXPECT_EQ(readData(*ch, *r1, 2), "ab");
    EXPECT_EQ(readData(*ch, *r2, 100), "cdef");
    expectNothingToRead(*ch, *r1);
}

TEST(Pipe, SuccessiveWritesOfOneSessionJoinInOneRead)
{
    auto ch = makePipe();
    auto w = ch->open(false, true);
    writeOk(*ch, *w, "ab");
    writeOk(*ch, *w, "cd");
    writeOk(*ch, *w, "ef");
    auto r = ch->open(true, false);
    EXPECT_EQ(readData(*ch, *r, 5), "abcde");
    EXPECT_EQ(readData(*ch, *r, 5), "f");
}

TEST(Pipe, ReadWriteHandleIsAWriterSession)
{
    // `exec 3<>pipe`: one handle that reads and writes.
    auto ch = makePipe();
    auto rw = ch->open(true, true);
    EXPECT_EQ(ch->stats().readers, 1u);
    EXPECT_EQ(ch->stats().writers, 1u);
    writeOk(*ch, *rw, "self");
    EXPECT_EQ(readData(*ch, *rw), "self");
    auto r = ch->open(true, false);
    ch->release(*rw);
    // rw consumed the session and closed: its mark goes with it.
    expectNothingToRead(*ch, *r);
}

TEST(Pipe, LinesFramingShortReadKeepsTheRestForTheSameReader)
{
    auto ch = makePipe({{"framing", "lines"}});
    auto w = ch->open(false, true);
    auto r1 = ch->open(true, false);
    auto r2 = ch->open(true, false);
    writeOk(*ch, *w, "hello world\nnext\n");
    EXPECT_EQ(readData(*ch, *r1, 4), "hell");
    EXPECT_EQ(readData(*ch, *r2, 100), "next\n");
    EXPECT_EQ(readData(*ch, *r1, 100), "o world\n");
    ch->release(*w);
    expectEof(*ch, *r2);
}

TEST(Pipe, DetachEndsWaitingReaders)
{
    auto ch = makePipe();
    auto r = ch->open(true, false);
    auto pending = issueRead(*ch, *r, 100);
    ch->detach();
    ASSERT_TRUE(pending->done());
    EXPECT_TRUE(pending->get().eof);
    expectEof(*ch, *r);
}

}  // namespace
}  // namespace chanfs
