// channels/kinds/queue.cpp: readers compete, each message goes to exactly one
// reader; a short read keeps the rest of its message for the same handle.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "tests/unit/fakes.h"

namespace chanfs {
namespace {

using namespace test;

std::shared_ptr<Channel> makeQueue(std::string_view framing)
{
    // Most cases here are about how whole messages pack into one read:
    // delivery=batch. delivery=one (the queue default) has its own tests.
    return makeChannel({{"kind", "queue"}, {"framing", framing}, {"delivery", "batch"}});
}

TEST(Queue, DefaultFramingIsLines)
{
    auto ch = makeChannel({{"kind", "queue"}});
    EXPECT_EQ(ch->settings().framing, Framing::Lines);
}

TEST(Queue, CompetingReadersGetEachMessageExactlyOnce)
{
    auto ch = makeQueue("messages");
    auto w = ch->open(false, true);
    std::vector<std::shared_ptr<Handle>> readers;
    for (int i = 0; i < 3; ++i) readers.push_back(ch->open(true, false));
    std::multiset<std::string> sent, got;
    for (int i = 0; i < 30; ++i) {
        const std::string m = "message " + std::to_string(i);
        writeOk(*ch, *w, m);
        sent.insert(m);
    }
    for (int i = 0; i < 30; ++i) got.insert(readData(*ch, *readers[i % 3], 1000));
    EXPECT_EQ(got, sent);
    for (auto &r : readers) expectNothingToRead(*ch, *r);
}

TEST(Queue, DeliveryOneIsTheDefaultAndTakesOneWholeMessagePerRead)
{
    auto ch = makeChannel({{"kind", "queue"}});
    EXPECT_EQ(ch->settings().delivery, ReadDelivery::One);
    auto w = ch->open(false, true);
    auto a = ch->open(true, false);
    auto b = ch->open(true, false);
    writeOk(*ch, *w, "one\ntwo\nthree\n");
    EXPECT_EQ(readData(*ch, *a, 1000), "one\n");
    EXPECT_EQ(readData(*ch, *b, 1000), "two\n");
    EXPECT_EQ(ch->stats().queuedMessages, 1u);
    // A line longer than the buffer comes in parts; the read that ends it
    // takes nothing more.
    writeOk(*ch, *w, "four\n");
    EXPECT_EQ(readData(*ch, *a, 2), "th");
    EXPECT_EQ(readData(*ch, *a, 1000), "ree\n");
    EXPECT_EQ(readData(*ch, *a, 1000), "four\n");
    // A later chunk of the same read(2) gets nothing once it has its message.
    writeOk(*ch, *w, "five\nsix\n");
    EXPECT_EQ(readData(*ch, *a, 1000), "five\n");
    ReadOutcome out = readNow(*ch, *a, 100, {.continuation = true});
    EXPECT_EQ(out.data, "");
    EXPECT_EQ(readData(*ch, *b, 1000), "six\n");
}

TEST(Queue, DeliveryBatchOnAQueueFillsTheBuffer)
{
    auto ch = makeChannel({{"kind", "queue"}, {"delivery", "batch"}});
    auto w = ch->open(false, true);
    auto r = ch->open(true, false);
    writeOk(*ch, *w, "one\ntwo\n");
    EXPECT_EQ(readData(*ch, *r, 1000), "one\ntwo\n");
}

TEST(Queue, OneMessagePerReadMakesLinesReadersTakeTurns)
{
    auto ch = makeQueue("lines");
    auto w = ch->open(false, true);
    auto a = ch->open(true, false);
    auto b = ch->open(true, false);
    ch->setOneMessagePerRead(*a);
    writeOk(*ch, *w, "one\ntwo\nthree\n");
    // `a` takes one line per read however much room it offers; `b`, not so
    // limited, takes every whole line that fits.
    EXPECT_EQ(readData(*ch, *a, 1000), "one\n");
    EXPECT_EQ(readData(*ch, *b, 1000), "two\nthree\n");
    writeOk(*ch, *w, "four\nfive\n");
    EXPECT_EQ(readData(*ch, *a, 1000), "four\n");
    EXPECT_EQ(readData(*ch, *a, 1000), "five\n");
}

TEST(Queue, ParkedReadersEachGetOneMessageInTheOrderTheyWaited)
{
    auto ch = makeQueue("messages");
    auto w = ch->open(false, true);
    std::vector<std::shared_ptr<Handle>> readers;
    std::vector<std::shared_ptr<ReadResult>> reads;
    for (int i = 0; i < 3; ++i) {
        readers.push_back(ch->open(true, false));
        reads.push_back(issueRead(*ch, *readers.back(), 1000));
    }
    writeOk(*ch, *w, "m0");
    EXPECT_EQ(reads[0]->get().data, "m0");
    EXPECT_FALSE(reads[1]->done());
    writeOk(*ch, *w, "m1");
    writeOk(*ch, *w, "m2");
    EXPECT_EQ(reads[1]->get().data, "m1");
    EXPECT_EQ(reads[2]->get().data, "m2");
    for (auto &r : reads) EXPECT_EQ(r->get().completions, 1);
}

TEST(Queue, ShortReadOfALineReturnsTheRestToTheSameHandle)
{
    auto ch = makeQueue("lines");
    auto w = ch->open(false, true);
    auto r1 = ch->open(true, false);
    auto r2 = ch->open(true, false);
    writeOk(*ch, *w, "hello world\n");
    writeOk(*ch, *w, "next\n");
    EXPECT_EQ(readData(*ch, *r1, 4), "hell");
    EXPECT_EQ(readData(*ch, *r2, 100), "next\n") << "another reader must not get r1's remainder";
    EXPECT_EQ(readData(*ch, *r1, 100), "o world\n");
    expectNothingToRead(*ch, *r1);
}

// The messages of one write share one buffer (issue 16): a short read's
// remainder still belongs to its own message and reader.
TEST(Queue, ShortReadOfOneOfAWritesLinesKeepsEveryBoundary)
{
    auto ch = makeQueue("lines");
    auto w = ch->open(false, true);
    auto r1 = ch->open(true, false);
    auto r2 = ch->open(true, false);
    writeOk(*ch, *w, "hello\nworld\nagain\n");
    EXPECT_EQ(readData(*ch, *r1, 3), "hel");
    EXPECT_EQ(readData(*ch, *r2, 6), "world\n");
    EXPECT_EQ(readData(*ch, *r1, 2), "lo") << "r1's remainder, not the next line";
    EXPECT_EQ(readData(*ch, *r1, 1), "\n") << "the remainder ends where its message does";
    EXPECT_EQ(readData(*ch, *r2, 100), "again\n");
    expectNothingToRead(*ch, *r1);
}

TEST(Queue, RemainderIsReadInSeveralShortReads)
{
    auto ch = makeQueue("lines");
    auto w = ch->open(false, true);
    auto r = ch->open(true, false);
    writeOk(*ch, *w, "0123456789\n");
    EXPECT_EQ(readData(*ch, *r, 4), "0123");
    EXPECT_EQ(readData(*ch, *r, 4), "4567");
    EXPECT_EQ(readData(*ch, *r, 4), "89\n");
    expectNothingToRead(*ch, *r);
}

TEST(Queue, LinesRemainderIsFollowedByMoreWholeLines)
{
    auto ch = makeQueue("lines");
    auto w = ch->open(false, true);
    auto r = ch->open(true, false);
    writeOk(*ch, *w, "hello world\nx\ny\n");
    EXPECT_EQ(readData(*ch, *r, 4), "hell");
    EXPECT_EQ(readData(*ch, *r, 100), "o world\nx\ny\n");
}

TEST(Queue, LinesFramingPacksAsManyWholeLinesAsFit)
{
    auto ch = makeQueue("lines");
    auto w = ch->open(false, true);
    auto r = ch->open(true, false);
    writeOk(*ch, *w, "a\nb\nc\n");
    EXPECT_EQ(readData(*ch, *r, 100), "a\nb\nc\n");

    writeOk(*ch, *w, "aaa\nbbb\n");
    EXPECT_EQ(readData(*ch, *r, 5), "aaa\n") << "a second line that does not fit whole waits";
    EXPECT_EQ(readData(*ch, *r, 5), "bbb\n");
}

TEST(Queue, MessagesFramingReturnsExactlyOneMessagePerRead)
{
    auto ch = makeQueue("messages");
    auto w = ch->open(false, true);
    auto r = ch->open(true, false);
    writeOk(*ch, *w, "a");
    writeOk(*ch, *w, "b\nc\n");
    writeOk(*ch, *w, "d");
    EXPECT_EQ(readData(*ch, *r, 100), "a");
    EXPECT_EQ(readData(*ch, *r, 100), "b\nc\n");
    EXPECT_EQ(readData(*ch, *r, 100), "d");
    expectNothingToRead(*ch, *r);
}

TEST(Queue, MessagesFramingShortReadNeverJoinsTheNextMessage)
{
    auto ch = makeQueue("messages");
    auto w = ch->open(false, true);
    auto r = ch->open(true, false);
    writeOk(*ch, *w, "0123456789");
    writeOk(*ch, *w, "second");
    EXPECT_EQ(readData(*ch, *r, 4), "0123");
    EXPECT_EQ(readData(*ch, *r, 4), "4567");
    EXPECT_EQ(readData(*ch, *r, 100), "89");
    EXPECT_EQ(readData(*ch, *r, 100), "second");
}

TEST(Queue, Lp32ShortReadThenWholeFrames)
{
    auto ch = makeQueue("lp32");
    auto w = ch->open(false, true);
    auto r1 = ch->open(true, false);
    auto r2 = ch->open(true, false);
    const std::string f1 = lp32Frame("hello"), f2 = lp32Frame("ab"), f3 = lp32Frame("xyz");
    writeOk(*ch, *w, f1 + f2);
    writeOk(*ch, *w, f3);
    EXPECT_EQ(readData(*ch, *r1, 4), f1.substr(0, 4)) << "read(4) gets the header";
    EXPECT_EQ(readData(*ch, *r2, 100), f2 + f3);
    EXPECT_EQ(readData(*ch, *r1, 100), f1.substr(4));
}

TEST(Queue, Lp32FramesWrittenInPiecesArriveWhole)
{
    auto ch = makeQueue("lp32");
    auto w = ch->open(false, true);
    auto r = ch->open(true, false);
    const std::string f = lp32Frame("payload");
    writeOk(*ch, *w, f.substr(0, 3));
    expectNothingToRead(*ch, *r);
    writeOk(*ch, *w, f.substr(3, 5));
    expectNothingToRead(*ch, *r);
    writeOk(*ch, *w, f.substr(8));
    EXPECT_EQ(readData(*ch, *r), f);
}

TEST(Queue, MessagesFramingEmptyWriteQueuesNoMessage)
{
    // An empty message cannot be read: an empty read is end-of-stream. So a
    // zero-length write must not queue a message that a read then swallows.
    auto ch = makeQueue("messages");
    auto w = ch->open(false, true);
    auto r = ch->open(true, false);
    const WriteOutcome out = writeNow(*ch, *w, "");
    EXPECT_EQ(out.dones, 1);
    EXPECT_EQ(out.acceptedBytes, 0u);
    ChannelStats st = ch->stats();
    EXPECT_EQ(st.queuedMessages, 0u);
    EXPECT_EQ(st.inMessages, 0u);
    writeOk(*ch, *w, "x");
    EXPECT_EQ(readData(*ch, *r), "x");
    st = ch->stats();
    EXPECT_EQ(st.inMessages, st.outMessages + st.queuedMessages + st.drops)
        << "every message that went in is out, queued or counted as dropped";
}

TEST(Queue, ContinuationReadsAreAnsweredAtOnce)
{
    auto ch = makeQueue("lines");
    auto w = ch->open(false, true);
    auto r = ch->open(true, false);
    ReadOutcome out = readNow(*ch, *r, 100, {.continuation = true});
    EXPECT_EQ(out.accepted, 1);
    EXPECT_EQ(out.data, "");
    EXPECT_EQ(ch->stats().blockedReaders, 0u);
    writeOk(*ch, *w, "a\n");
    out = readNow(*ch, *r, 100, {.continuation = true});
    EXPECT_EQ(out.data, "a\n");
}

TEST(Queue, BytesFramingLetsAMessageBeSplitBetweenReaders)
{
    auto ch = makeQueue("bytes");
    auto w = ch->open(false, true);
    auto r1 = ch->open(true, false);
    auto r2 = ch->open(true, false);
    writeOk(*ch, *w, "abcdef");
    EXPECT_EQ(readData(*ch, *r1, 2), "ab");
    EXPECT_EQ(readData(*ch, *r2, 100), "cdef");
    expectNothingToRead(*ch, *r1);
}

TEST(Queue, PartialLinesOfDifferentWritersNeverInterleave)
{
    auto ch = makeQueue("lines");
    auto w1 = ch->open(false, true);
    auto w2 = ch->open(false, true);
    auto r = ch->open(true, false);
    writeOk(*ch, *w1, "hel");
    writeOk(*ch, *w2, "wor");
    expectNothingToRead(*ch, *r);
    writeOk(*ch, *w2, "ld\n");
    writeOk(*ch, *w1, "lo\n");
    EXPECT_EQ(readData(*ch, *r), "world\nhello\n");
}

TEST(Queue, LargeMessagesOfDifferentWritersNeverInterleave)
{
    // Bigger than the 4096 bytes a kernel pipe keeps whole, written in
    // pieces as FUSE would split them.
    auto ch = makeQueue("lines");
    auto w1 = ch->open(false, true);
    auto w2 = ch->open(false, true);
    auto r = ch->open(true, false);
    const std::string big = std::string(10000, 'A') + "\n";
    writeOk(*ch, *w1, std::string_view(big).substr(0, 4096));
    writeOk(*ch, *w2, "short\n");
    writeOk(*ch, *w1, std::string_view(big).substr(4096, 4096));
    writeOk(*ch, *w1, std::string_view(big).substr(8192));
    EXPECT_EQ(readData(*ch, *r, 100000), "short\n" + big);
}

TEST(Queue, NoEndOfStreamWhenWritersClose)
{
    auto ch = makeQueue("lines");
    auto r = ch->open(true, false);
    auto w = ch->open(false, true);
    writeOk(*ch, *w, "a\n");
    ch->release(*w);
    EXPECT_EQ(readData(*ch, *r), "a\n");
    expectNothingToRead(*ch, *r);
    auto parked = issueRead(*ch, *r, 100);
    EXPECT_FALSE(parked->done()) << "a queue read waits; it never reports end-of-stream";
    ch->release(*r);
    EXPECT_EQ(parked->get().error, EBADF);
}

TEST(Queue, WriterClosingWithAnUnfinishedLineDropsItAndCountsIt)
{
    auto ch = makeQueue("lines");
    auto r = ch->open(true, false);
    auto w = ch->open(false, true);
    writeOk(*ch, *w, "whole\npartial");
    ch->release(*w);
    EXPECT_EQ(readData(*ch, *r), "whole\n");
    expectNothingToRead(*ch, *r);
    const ChannelStats st = ch->stats();
    EXPECT_EQ(st.drops, 1u);
    EXPECT_EQ(st.droppedBytes, 7u);
}

TEST(Queue, ReaderClosingWithAnUnreadRemainderCountsTheDrop)
{
    auto ch = makeQueue("lines");
    auto w = ch->open(false, true);
    auto r1 = ch->open(true, false);
    writeOk(*ch, *w, "hello world\n");
    EXPECT_EQ(readData(*ch, *r1, 4), "hell");
    ch->release(*r1);
    const ChannelStats st = ch->stats();
    EXPECT_EQ(st.drops, 1u);
    EXPECT_EQ(st.droppedBytes, 8u);
    auto r2 = ch->open(true, false);
    // A fragment must not be passed off as a whole line.
    expectNothingToRead(*ch, *r2);
}

TEST(Queue, WritesBeforeAnyReaderOpensAreKept)
{
    auto ch = makeQueue("lines");
    auto w = ch->open(false, true);
    writeOk(*ch, *w, "early\n");
    ch->release(*w);
    auto r = ch->open(true, false);
    EXPECT_EQ(readData(*ch, *r), "early\n");
}

}  // namespace
}  // namespace chanfs
