// channels/core/channel.cpp: waiting requests, interrupts, putting back what a
// failed reply took, poll readiness and notifications, overflow policies,
// stats and setting changes. Kind-specific reading is in pipe_test.cpp,
// queue_test.cpp and topic_test.cpp.
#include <gtest/gtest.h>
#include <poll.h>

#include <cerrno>
#include <string>
#include <vector>

#include "tests/unit/fakes.h"

namespace chanfs {
namespace {

using namespace test;

constexpr unsigned kIn = POLLIN | POLLRDNORM;
constexpr unsigned kOut = POLLOUT | POLLWRNORM;

// ---- waiting ---------------------------------------------------------------

TEST(Waiting, AParkedReadCompletesWhenDataArrives)
{
    auto ch = makeChannel({{"kind", "queue"}});
    auto r = ch->open(true, false);
    auto w = ch->open(false, true);
    auto pending = issueRead(*ch, *r, 100);
    EXPECT_FALSE(pending->done());
    EXPECT_EQ(ch->stats().blockedReaders, 1u);
    writeOk(*ch, *w, "par");
    EXPECT_FALSE(pending->done()) << "an unfinished line is not data yet";
    writeOk(*ch, *w, "ked\n");
    ASSERT_TRUE(pending->done());
    const ReadOutcome out = pending->get();
    EXPECT_EQ(out.data, "parked\n");
    EXPECT_EQ(out.completions, 1);
    EXPECT_TRUE(out.destroyed);
    EXPECT_EQ(ch->stats().blockedReaders, 0u);
}

TEST(Waiting, ANonblockingReadOnAnEmptyChannelGetsEagainAndDoesNotPark)
{
    auto ch = makeChannel({{"kind", "queue"}});
    auto r = ch->open(true, false);
    const ReadOutcome out = readNow(*ch, *r, 100, {.nonblock = true});
    EXPECT_EQ(out.error, EAGAIN);
    EXPECT_EQ(ch->stats().blockedReaders, 0u);
}

TEST(Waiting, ReleasingAHandleFailsOnlyItsParkedRequestsWithEbadf)
{
    auto ch = makeChannel({{"kind", "queue"}, {"capacity", "2"}});
    auto r1 = ch->open(true, false);
    auto r2 = ch->open(true, false);
    auto p1 = issueRead(*ch, *r1, 100);
    auto p2 = issueRead(*ch, *r2, 100);
    ch->release(*r1);
    EXPECT_EQ(p1->get().error, EBADF);
    EXPECT_EQ(p1->get().completions, 1);
    EXPECT_FALSE(p2->done());

    auto w = ch->open(false, true);
    auto fill = ch->open(false, true);
    // r2's parked read takes the first line at once; the second fills the
    // channel and the third must wait.
    writeOk(*ch, *fill, "a\n");
    EXPECT_EQ(p2->get().data, "a\n");
    writeOk(*ch, *fill, "b\n");
    auto pw = issueWrite(*ch, *w, "c\n");
    EXPECT_FALSE(pw->done());
    ch->release(*w);
    EXPECT_EQ(pw->get().error, EBADF);
    EXPECT_EQ(pw->get().completions, 1);
    EXPECT_EQ(ch->stats().blockedWriters, 0u);
    EXPECT_EQ(readData(*ch, *r2), "b\n");
    expectNothingToRead(*ch, *r2);
}

TEST(Waiting, DestroyingAChannelFailsWhatStillWaitsWithEio)
{
    auto ch = makeChannel({{"kind", "queue"}});
    auto r = ch->open(true, false);
    auto pending = issueRead(*ch, *r, 100);
    const uint64_t id = ch->id();
    EXPECT_EQ(Channel::find(id), ch);
    ch.reset();
    EXPECT_EQ(pending->get().error, EIO);
    EXPECT_EQ(pending->get().completions, 1);
    EXPECT_EQ(Channel::find(id), nullptr);
}

// ---- interrupts ------------------------------------------------------------

TEST(Interrupts, CancelFailsAParkedReadWithEintrExactlyOnce)
{
    auto ch = makeChannel({{"kind", "queue"}});
    auto r1 = ch->open(true, false);
    auto r2 = ch->open(true, false);
    auto w = ch->open(false, true);
    auto p1 = issueRead(*ch, *r1, 100);
    auto p2 = issueRead(*ch, *r2, 100);
    EXPECT_TRUE(ch->cancel(p1->key));
    EXPECT_EQ(p1->get().error, EINTR);
    EXPECT_EQ(p1->get().completions, 1);
    EXPECT_EQ(ch->stats().blockedReaders, 1u);
    EXPECT_FALSE(ch->cancel(p1->key)) << "a request is cancelled once";

    writeOk(*ch, *w, "later\n");
    EXPECT_EQ(p2->get().data, "later\n") << "data after the cancel goes to the next reader";
    EXPECT_EQ(p1->get().completions, 1);
    EXPECT_EQ(p1->get().accepted, 0);
}

TEST(Interrupts, CancelOfAnUnknownOrCompletedKeyIsFalse)
{
    auto ch = makeChannel({{"kind", "queue"}});
    auto r = ch->open(true, false);
    auto w = ch->open(false, true);
    EXPECT_FALSE(ch->cancel(freshKey()));
    writeOk(*ch, *w, "x\n");
    auto done = issueRead(*ch, *r, 100);
    EXPECT_TRUE(done->done());
    EXPECT_FALSE(ch->cancel(done->key));
    EXPECT_EQ(done->get().completions, 1);
}

TEST(Interrupts, AnInterruptedParkedReaderIsFailedAtTheNextPumpInsteadOfGettingData)
{
    auto ch = makeChannel({{"kind", "queue"}});
    auto r1 = ch->open(true, false);
    auto r2 = ch->open(true, false);
    auto w = ch->open(false, true);
    auto p1 = issueRead(*ch, *r1, 100);
    auto p2 = issueRead(*ch, *r2, 100);
    p1->interrupt = true;
    writeOk(*ch, *w, "x\n");
    EXPECT_EQ(p1->get().error, EINTR);
    EXPECT_EQ(p1->get().accepted, 0);
    EXPECT_EQ(p1->get().completions, 1);
    EXPECT_EQ(p2->get().data, "x\n");
    EXPECT_EQ(ch->stats().blockedReaders, 0u);
}

TEST(Interrupts, AReadAlreadyInterruptedIsNotParked)
{
    auto ch = makeChannel({{"kind", "queue"}});
    auto r = ch->open(true, false);
    const ReadOutcome out = readNow(*ch, *r, 100, {.interrupted = true});
    EXPECT_EQ(out.error, EINTR);
    EXPECT_EQ(ch->stats().blockedReaders, 0u);
}

TEST(Interrupts, CancelFailsAParkedWriteAndQueuesNothingOfIt)
{
    auto ch = makeChannel({{"kind", "queue"}, {"capacity", "4"}});
    auto w = ch->open(false, true);
    auto r = ch->open(true, false);
    writeOk(*ch, *w, "abc\n");
    auto pw = issueWrite(*ch, *w, "def\n");
    EXPECT_FALSE(pw->done());
    EXPECT_TRUE(ch->cancel(pw->key));
    EXPECT_EQ(pw->get().error, EINTR);
    EXPECT_EQ(pw->get().completions, 1);
    EXPECT_EQ(ch->stats().blockedWriters, 0u);
    EXPECT_EQ(readData(*ch, *r), "abc\n");
    expectNothingToRead(*ch, *r);
    EXPECT_EQ(pw->get().completions, 1);
}

TEST(Interrupts, AnInterruptedParkedWriterIsFailedAtTheNextPumpAndQueuesNothing)
{
    auto ch = makeChannel({{"kind", "queue"}, {"capacity", "4"}});
    auto w = ch->open(false, true);
    auto r = ch->open(true, false);
    writeOk(*ch, *w, "abc\n");
    auto pw = issueWrite(*ch, *w, "def\n");
    pw->interrupt = true;
    EXPECT_EQ(readData(*ch, *r), "abc\n");
    EXPECT_EQ(pw->get().error, EINTR);
    EXPECT_EQ(pw->get().dones, 0);
    expectNothingToRead(*ch, *r);
}

TEST(Interrupts, AWriteAlreadyInterruptedIsNotParked)
{
    auto ch = makeChannel({{"kind", "queue"}, {"capacity", "4"}});
    auto w = ch->open(false, true);
    writeOk(*ch, *w, "abc\n");
    const WriteOutcome out = writeNow(*ch, *w, "def\n", {.interrupted = true});
    EXPECT_EQ(out.error, EINTR);
    EXPECT_EQ(ch->stats().blockedWriters, 0u);
}

// writeOrReturn: the fs layer arms a FUSE interrupt only for a write that
// must wait; such a write comes back untouched and is then written again.
TEST(Interrupts, WriteOrReturnTakesAWriteWithRoomAndHandsBackOneThatMustWait)
{
    auto ch = makeChannel({{"kind", "queue"}, {"delivery", "one"}, {"capacity", "4"}});
    auto w = ch->open(false, true);
    auto r = ch->open(true, false);
    const std::string_view abc = "abc\n", ghi = "ghi\n";
    WriteRequest req;
    req.data = std::span<const char>(abc.data(), abc.size());
    auto first = std::make_shared<WriteResult>();
    std::unique_ptr<WriteWaiter> waiter = std::make_unique<FakeWriteWaiter>(first);
    EXPECT_TRUE(ch->writeOrReturn(*w, req, waiter));
    EXPECT_EQ(waiter, nullptr);
    EXPECT_EQ(first->get().dones, 1);

    // A partial message is held; the rest of it cannot fit now.
    writeOk(*ch, *w, "de");
    const std::string_view rest = "f\nghi\n";
    req.data = std::span<const char>(rest.data(), rest.size());
    auto second = std::make_shared<WriteResult>();
    waiter = std::make_unique<FakeWriteWaiter>(second);
    EXPECT_FALSE(ch->writeOrReturn(*w, req, waiter));
    ASSERT_NE(waiter, nullptr);
    EXPECT_FALSE(second->done());
    EXPECT_EQ(ch->stats().blockedWriters, 0u);

    // Written again (after arming): it parks, and room lets it in whole,
    // after the held partial, exactly once.
    ch->write(*w, req, std::move(waiter));
    EXPECT_FALSE(second->done());
    EXPECT_EQ(ch->stats().blockedWriters, 1u);
    EXPECT_EQ(readData(*ch, *r), "abc\n");
    ASSERT_TRUE(second->done());
    EXPECT_EQ(second->get().dones, 1);
    EXPECT_EQ(second->get().acceptedBytes, rest.size());
    EXPECT_EQ(readData(*ch, *r), "def\n");
    EXPECT_EQ(readData(*ch, *r), ghi);
    expectNothingToRead(*ch, *r);
}

TEST(Interrupts, AWriteHandedBackAndThenParkedIsCancelledWithEintr)
{
    auto ch = makeChannel({{"kind", "queue"}, {"capacity", "4"}});
    auto w = ch->open(false, true);
    auto r = ch->open(true, false);
    writeOk(*ch, *w, "abc\n");
    const std::string_view def = "def\n";
    WriteRequest req;
    req.data = std::span<const char>(def.data(), def.size());
    auto res = std::make_shared<WriteResult>();
    std::unique_ptr<WriteWaiter> waiter = std::make_unique<FakeWriteWaiter>(res);
    ASSERT_FALSE(ch->writeOrReturn(*w, req, waiter));
    ch->write(*w, req, std::move(waiter));
    EXPECT_TRUE(ch->cancel(res->key));
    EXPECT_EQ(res->get().error, EINTR);
    EXPECT_EQ(res->get().completions, 1);
    EXPECT_EQ(readData(*ch, *r), "abc\n");
    expectNothingToRead(*ch, *r);
}

// readOrReturn: as writeOrReturn, for reads. A read that finds data is
// answered; one that must wait comes back untouched, parks nothing and
// takes nothing, so the read after it (armed) parks and gets the data.
TEST(Interrupts, ReadOrReturnAnswersAReadWithDataAndHandsBackOneThatMustWait)
{
    auto ch = makeChannel({{"kind", "queue"}});
    auto w = ch->open(false, true);
    auto r = ch->open(true, false);
    writeOk(*ch, *w, "abc\n");
    ReadRequest req;
    req.maxBytes = 100;
    auto first = std::make_shared<ReadResult>();
    std::unique_ptr<ReadWaiter> waiter = std::make_unique<FakeReadWaiter>(first);
    EXPECT_TRUE(ch->readOrReturn(*r, req, waiter));
    EXPECT_EQ(waiter, nullptr);
    EXPECT_EQ(first->get().completions, 1);
    EXPECT_EQ(first->get().data, "abc\n");

    auto second = std::make_shared<ReadResult>();
    waiter = std::make_unique<FakeReadWaiter>(second);
    EXPECT_FALSE(ch->readOrReturn(*r, req, waiter));
    ASSERT_NE(waiter, nullptr);
    EXPECT_FALSE(second->done());
    EXPECT_EQ(ch->stats().blockedReaders, 0u);

    ch->read(*r, req, std::move(waiter));
    EXPECT_FALSE(second->done());
    EXPECT_EQ(ch->stats().blockedReaders, 1u);
    writeOk(*ch, *w, "def\n");
    ASSERT_TRUE(second->done());
    EXPECT_EQ(second->get().completions, 1);
    EXPECT_EQ(second->get().data, "def\n");
    expectNothingToRead(*ch, *r);
}

TEST(Interrupts, ReadOrReturnAnswersNonblockingAndEndOfStreamReadsAtOnce)
{
    auto ch = makeChannel({{"kind", "pipe"}});
    auto w = ch->open(false, true);
    auto r = ch->open(true, false);
    ReadRequest req;
    req.maxBytes = 100;
    req.nonblock = true;
    auto nb = std::make_shared<ReadResult>();
    std::unique_ptr<ReadWaiter> waiter = std::make_unique<FakeReadWaiter>(nb);
    EXPECT_TRUE(ch->readOrReturn(*r, req, waiter));
    EXPECT_EQ(nb->get().error, EAGAIN);

    // The last writer closed: end-of-stream, not a wait.
    ch->release(*w);
    req.nonblock = false;
    auto eof = std::make_shared<ReadResult>();
    waiter = std::make_unique<FakeReadWaiter>(eof);
    EXPECT_TRUE(ch->readOrReturn(*r, req, waiter));
    EXPECT_EQ(eof->get().completions, 1);
    EXPECT_TRUE(eof->get().eof);
}

TEST(Interrupts, CancellingTheFrontParkedWriterLetsTheNextOneInWhenItFits)
{
    auto ch = makeChannel({{"kind", "queue"}, {"delivery", "batch"}, {"capacity", "10"}});
    auto w1 = ch->open(false, true);
    auto w2 = ch->open(false, true);
    auto r = ch->open(true, false);
    writeOk(*ch, *w1, "aaaaaaa\n");              // 8 of 10 bytes
    auto big = issueWrite(*ch, *w1, "bbbbb\n");  // 6: does not fit
    auto small = issueWrite(*ch, *w2, "c\n");    // 2: fits, but waits its turn
    EXPECT_FALSE(big->done());
    EXPECT_FALSE(small->done());
    EXPECT_TRUE(ch->cancel(big->key));
    EXPECT_EQ(big->get().error, EINTR);
    EXPECT_TRUE(small->done())
        << "with the writer ahead of it gone, a write that fits must not wait for a reader";
    EXPECT_EQ(ch->stats().blockedWriters, 0u);
    EXPECT_EQ(readData(*ch, *r), "aaaaaaa\nc\n");
}

// ---- putting back what a failed reply took ---------------------------------

TEST(Requeue, QueueFailedDeliveryGoesBackAndTheNextReaderGetsTheSameBytesInOrder)
{
    auto ch = makeChannel({{"kind", "queue"}, {"delivery", "batch"}});
    auto w = ch->open(false, true);
    auto r1 = ch->open(true, false);
    auto r2 = ch->open(true, false);
    writeOk(*ch, *w, "a\n");
    writeOk(*ch, *w, "b\n");
    const ReadOutcome dead = readNow(*ch, *r1, 2, {.deliverRc = -ENOENT});
    EXPECT_EQ(dead.rejected, 1);
    EXPECT_EQ(dead.rejectedData, "a\n");
    EXPECT_EQ(ch->stats().queuedBytes, 4u);
    EXPECT_EQ(readData(*ch, *r2), "a\nb\n");
    const ChannelStats st = ch->stats();
    EXPECT_EQ(st.outBytes, 4u) << "a failed delivery is not counted as out";
    EXPECT_EQ(st.outMessages, 2u);
}

TEST(Requeue, QueueParkedReaderDiesAndTheNextParkedReaderGetsIt)
{
    auto ch = makeChannel({{"kind", "queue"}});
    auto w = ch->open(false, true);
    auto r1 = ch->open(true, false);
    auto r2 = ch->open(true, false);
    auto p1 = issueRead(*ch, *r1, 100, {.deliverRc = -ENOENT});
    auto p2 = issueRead(*ch, *r2, 100);
    writeOk(*ch, *w, "m\n");
    EXPECT_EQ(p1->get().rejectedData, "m\n");
    EXPECT_EQ(p1->get().completions, 1);
    EXPECT_EQ(p2->get().data, "m\n");
    EXPECT_EQ(p2->get().completions, 1);
    EXPECT_EQ(ch->stats().queuedBytes, 0u);
}

TEST(Requeue, QueueFailedShortReadPutsTheWholeMessageBack)
{
    auto ch = makeChannel({{"kind", "queue"}});
    auto w = ch->open(false, true);
    auto r1 = ch->open(true, false);
    auto r2 = ch->open(true, false);
    writeOk(*ch, *w, "hello world\n");
    const ReadOutcome dead = readNow(*ch, *r1, 4, {.deliverRc = -ENOENT});
    EXPECT_EQ(dead.rejectedData, "hell");
    EXPECT_EQ(readData(*ch, *r2), "hello world\n");
    expectNothingToRead(*ch, *r1);  // no remainder left behind on r1
}

TEST(Requeue, QueueFailedReadOfARemainderKeepsItForTheSameHandle)
{
    auto ch = makeChannel({{"kind", "queue"}, {"delivery", "batch"}});
    auto w = ch->open(false, true);
    auto r1 = ch->open(true, false);
    auto r2 = ch->open(true, false);
    writeOk(*ch, *w, "hello world\n");
    writeOk(*ch, *w, "x\n");
    EXPECT_EQ(readData(*ch, *r1, 4), "hell");
    const ReadOutcome dead = readNow(*ch, *r1, 100, {.deliverRc = -ENOENT});
    EXPECT_EQ(dead.rejectedData, "o world\nx\n");
    EXPECT_EQ(readData(*ch, *r1, 100), "o world\nx\n");
    expectNothingToRead(*ch, *r2);
}

TEST(Requeue, QueueRemainderGoesBackToItsHandleAndWholeLinesToEveryone)
{
    auto ch = makeChannel({{"kind", "queue"}});
    auto w = ch->open(false, true);
    auto r1 = ch->open(true, false);
    auto r2 = ch->open(true, false);
    writeOk(*ch, *w, "hello world\n");
    writeOk(*ch, *w, "x\n");
    EXPECT_EQ(readData(*ch, *r1, 4), "hell");
    readNow(*ch, *r1, 100, {.deliverRc = -ENOENT});
    EXPECT_EQ(readData(*ch, *r2, 100), "x\n");
    EXPECT_EQ(readData(*ch, *r1, 100), "o world\n");
}

TEST(Requeue, BytesFramingPartialDeliveryMergesBackIntoOneChunk)
{
    auto ch = makeChannel({{"kind", "queue"}, {"framing", "bytes"}});
    auto w = ch->open(false, true);
    auto r1 = ch->open(true, false);
    auto r2 = ch->open(true, false);
    writeOk(*ch, *w, "abcdef");
    EXPECT_EQ(readNow(*ch, *r1, 2, {.deliverRc = -ENOENT}).rejectedData, "ab");
    const ChannelStats st = ch->stats();
    EXPECT_EQ(st.queuedBytes, 6u);
    EXPECT_EQ(st.queuedMessages, 1u);
    EXPECT_EQ(readData(*ch, *r2, 100), "abcdef");
}

TEST(Requeue, PipeFailedDataAndFailedEndOfStreamAreBothPutBack)
{
    auto ch = makeChannel({{"kind", "pipe"}});
    auto w = ch->open(false, true);
    writeOk(*ch, *w, "abc");
    ch->release(*w);
    auto r1 = ch->open(true, false);
    auto r2 = ch->open(true, false);
    EXPECT_EQ(readNow(*ch, *r1, 100, {.deliverRc = -ENOENT}).rejectedData, "abc");
    EXPECT_EQ(readData(*ch, *r1), "abc");

    const ReadOutcome deadEof = readNow(*ch, *r1, 100, {.deliverRc = -ENOENT});
    EXPECT_EQ(deadEof.rejected, 1);
    EXPECT_EQ(deadEof.rejectedData, "");
    expectNothingToRead(*ch, *r2);  // the mark is still r1's
    expectEof(*ch, *r1);
    expectNothingToRead(*ch, *r1);
}

TEST(Requeue, PipeParkedReaderDiesAndTheNextReaderGetsDataAndMark)
{
    auto ch = makeChannel({{"kind", "pipe"}});
    auto r1 = ch->open(true, false);
    auto r2 = ch->open(true, false);
    auto p1 = issueRead(*ch, *r1, 100, {.deliverRc = -ENOENT});
    auto p2 = issueRead(*ch, *r2, 100);
    auto w = ch->open(false, true);
    writeOk(*ch, *w, "data");
    ch->release(*w);
    EXPECT_EQ(p1->get().rejectedData, "data");
    EXPECT_EQ(p2->get().data, "data");
    expectEof(*ch, *r2);
    expectNothingToRead(*ch, *r1);
}

TEST(Requeue, TopicFailedDeliveryComesAgainToTheSameSubscriberOnly)
{
    auto ch = makeChannel({{"kind", "topic"}});
    auto w = ch->open(false, true);
    auto s1 = ch->open(true, false);
    auto s2 = ch->open(true, false);
    writeOk(*ch, *w, "a\n");
    writeOk(*ch, *w, "b\n");
    EXPECT_EQ(readNow(*ch, *s1, 100, {.deliverRc = -ENOENT}).rejectedData, "a\nb\n");
    EXPECT_EQ(readData(*ch, *s2), "a\nb\n");
    expectNothingToRead(*ch, *s2);
    EXPECT_EQ(readData(*ch, *s1), "a\nb\n");
    expectNothingToRead(*ch, *s1);
}

TEST(Requeue, TopicFailedShortReadComesAgainWhole)
{
    auto ch = makeChannel({{"kind", "topic"}, {"framing", "messages"}});
    auto w = ch->open(false, true);
    auto s = ch->open(true, false);
    writeOk(*ch, *w, "0123456789");
    EXPECT_EQ(readNow(*ch, *s, 4, {.deliverRc = -ENOENT}).rejectedData, "0123");
    EXPECT_EQ(readData(*ch, *s, 100), "0123456789");
}

TEST(Requeue, TopicParkedSubscriberDiesAndGetsItOnItsNextRead)
{
    auto ch = makeChannel({{"kind", "topic"}});
    auto w = ch->open(false, true);
    auto s = ch->open(true, false);
    auto p = issueRead(*ch, *s, 100, {.deliverRc = -ENOENT});
    writeOk(*ch, *w, "m\n");
    EXPECT_EQ(p->get().rejectedData, "m\n");
    EXPECT_EQ(readData(*ch, *s), "m\n");
}

// A reply may call back into the channel (channel.h). Here the failing
// reply's requester has meanwhile parked another read on the same handle:
// the bytes put back belong to that handle and must wake that read.
TEST(Requeue, QueueBytesPutBackToAHandleWakeItsParkedRead)
{
    auto ch = makeChannel({{"kind", "queue"}});
    auto w = ch->open(false, true);
    auto r = ch->open(true, false);
    writeOk(*ch, *w, "hello world\n");
    EXPECT_EQ(readData(*ch, *r, 4), "hell");

    std::shared_ptr<ReadResult> second;
    auto first =
        issueRead(*ch, *r, 100,
                  {.deliverRc = -ENOENT, .onDeliver = [&] { second = issueRead(*ch, *r, 100); }});
    EXPECT_EQ(first->get().rejectedData, "o world\n");
    ASSERT_TRUE(second);
    EXPECT_TRUE(second->done()) << "the remainder went back to r, whose read stays parked";
    EXPECT_EQ(second->get().data, "o world\n");
}

TEST(Requeue, TopicBytesPutBackToASubscriberWakeItsParkedRead)
{
    auto ch = makeChannel({{"kind", "topic"}});
    auto w = ch->open(false, true);
    auto s = ch->open(true, false);
    writeOk(*ch, *w, "m\n");

    std::shared_ptr<ReadResult> second;
    auto first =
        issueRead(*ch, *s, 100,
                  {.deliverRc = -ENOENT, .onDeliver = [&] { second = issueRead(*ch, *s, 100); }});
    EXPECT_EQ(first->get().rejectedData, "m\n");
    ASSERT_TRUE(second);
    EXPECT_TRUE(second->done()) << "the message went back to s, whose read stays parked";
    EXPECT_EQ(second->get().data, "m\n");
}

TEST(Requeue, RepeatedFailuresLoseNothing)
{
    auto ch = makeChannel({{"kind", "queue"}, {"framing", "messages"}});
    auto w = ch->open(false, true);
    auto r = ch->open(true, false);
    for (int i = 0; i < 5; ++i) writeOk(*ch, *w, "m" + std::to_string(i));
    for (int round = 0; round < 10; ++round)
        EXPECT_EQ(readNow(*ch, *r, 100, {.deliverRc = -ENOENT}).rejectedData, "m0");
    for (int i = 0; i < 5; ++i) EXPECT_EQ(readData(*ch, *r), "m" + std::to_string(i));
    expectNothingToRead(*ch, *r);
    EXPECT_EQ(ch->stats().outMessages, 5u);
}

TEST(ExactlyOnce, EveryWaiterIsCompletedOnceAndThenLetGo)
{
    auto ch = makeChannel({{"kind", "queue"}, {"capacity", "4"}});
    auto r1 = ch->open(true, false);
    auto r2 = ch->open(true, false);
    auto w = ch->open(false, true);
    std::vector<std::shared_ptr<ReadResult>> reads;
    std::vector<std::shared_ptr<WriteResult>> writes;

    reads.push_back(issueRead(*ch, *r1, 100));                          // cancelled
    reads.push_back(issueRead(*ch, *r1, 100, {.deliverRc = -ENOENT}));  // reply fails
    reads.push_back(issueRead(*ch, *r2, 100));                          // interrupted
    reads.push_back(issueRead(*ch, *r2, 100));                          // gets data
    reads.push_back(issueRead(*ch, *r2, 100, {.nonblock = true}));      // EAGAIN at once
    ch->cancel(reads[0]->key);
    reads[2]->interrupt = true;
    writes.push_back(issueWrite(*ch, *w, "abc\n"));                      // delivered
    writes.push_back(issueWrite(*ch, *w, "def\n"));                      // queued
    writes.push_back(issueWrite(*ch, *w, "ghi\n"));                      // parked, cancelled
    writes.push_back(issueWrite(*ch, *w, "jkl\n", {.nonblock = true}));  // EAGAIN
    writes.push_back(issueWrite(*ch, *w, "toolong\n" + std::string(2 * 1024 * 1024, 'x')));
    ch->cancel(writes[2]->key);
    reads.push_back(issueRead(*ch, *r2, 100));  // gets def
    reads.push_back(issueRead(*ch, *r1, 100));  // parked, released
    ch->release(*r1);

    for (size_t i = 0; i < reads.size(); ++i) {
        const ReadOutcome o = reads[i]->get();
        EXPECT_EQ(o.completions, 1) << "read " << i;
        EXPECT_TRUE(o.destroyed) << "read " << i;
    }
    for (size_t i = 0; i < writes.size(); ++i) {
        const WriteOutcome o = writes[i]->get();
        EXPECT_EQ(o.completions, 1) << "write " << i;
        EXPECT_TRUE(o.destroyed) << "write " << i;
    }
    EXPECT_EQ(reads[1]->get().rejectedData, "abc\n");
    EXPECT_EQ(reads[3]->get().data, "abc\n");
    EXPECT_EQ(reads[5]->get().data, "def\n");
    EXPECT_EQ(reads[6]->get().error, EBADF);
    EXPECT_EQ(writes[3]->get().error, EAGAIN);
    EXPECT_EQ(writes[4]->get().error, EMSGSIZE);
}

// ---- poll ------------------------------------------------------------------

TEST(Poll, PollinOnlyWhenWholeDataIsThere)
{
    auto ch = makeChannel({{"kind", "queue"}});
    auto r = ch->open(true, false);
    auto w = ch->open(false, true);
    EXPECT_EQ(ch->poll(*r, nullptr), 0u);
    writeOk(*ch, *w, "ab");
    EXPECT_EQ(ch->poll(*r, nullptr), 0u) << "a held partial line is not readable";
    writeOk(*ch, *w, "\n");
    EXPECT_EQ(ch->poll(*r, nullptr), kIn);
    EXPECT_EQ(readData(*ch, *r), "ab\n");
    EXPECT_EQ(ch->poll(*r, nullptr), 0u);
}

TEST(Poll, PollinForAHandlesOwnRemainder)
{
    auto ch = makeChannel({{"kind", "queue"}});
    auto r1 = ch->open(true, false);
    auto r2 = ch->open(true, false);
    auto w = ch->open(false, true);
    writeOk(*ch, *w, "hello\n");
    EXPECT_EQ(readData(*ch, *r1, 2), "he");
    EXPECT_EQ(ch->poll(*r1, nullptr), kIn);
    EXPECT_EQ(ch->poll(*r2, nullptr), 0u);
}

TEST(Poll, PolloutWhenThereIsRoom)
{
    auto ch = makeChannel({{"kind", "queue"}, {"capacity", "4"}});
    auto r = ch->open(true, false);
    auto w = ch->open(false, true);
    EXPECT_EQ(ch->poll(*w, nullptr), kOut);
    EXPECT_EQ(ch->poll(*r, nullptr), 0u) << "a read-only handle is never writable";
    writeOk(*ch, *w, "abc\n");
    EXPECT_EQ(ch->poll(*w, nullptr), 0u);
    EXPECT_EQ(readData(*ch, *r), "abc\n");
    EXPECT_EQ(ch->poll(*w, nullptr), kOut);
}

TEST(Poll, NoPolloutWhileWritersWait)
{
    auto ch = makeChannel({{"kind", "queue"}, {"capacity", "10"}});
    auto w1 = ch->open(false, true);
    auto w2 = ch->open(false, true);
    writeOk(*ch, *w1, "aaaaaaaa\n");  // 9 of 10
    auto parked = issueWrite(*ch, *w1, "bbbbb\n");
    EXPECT_FALSE(parked->done());
    EXPECT_EQ(ch->poll(*w2, nullptr), 0u) << "a write now would have to wait behind the parked one";
}

TEST(Poll, DropOldestAndErrorChannelsAreAlwaysWritable)
{
    for (const char *policy : {"drop-oldest", "error"}) {
        auto ch = makeChannel({{"kind", "queue"}, {"capacity", "4"}, {"overflow", policy}});
        auto w = ch->open(false, true);
        writeOk(*ch, *w, "abc\n");
        EXPECT_EQ(ch->poll(*w, nullptr), kOut) << policy;
    }
}

TEST(Poll, ReadWriteHandleReportsBoth)
{
    auto ch = makeChannel({{"kind", "queue"}});
    auto rw = ch->open(true, true);
    EXPECT_EQ(ch->poll(*rw, nullptr), kOut);
    writeOk(*ch, *rw, "x\n");
    EXPECT_EQ(ch->poll(*rw, nullptr), kIn | kOut);
}

TEST(Poll, PipeReportsPollhupAloneWhenTheNextThingIsItsMark)
{
    auto ch = makeChannel({{"kind", "pipe"}});
    auto w = ch->open(false, true);
    auto r = ch->open(true, false);
    auto other = ch->open(true, false);
    writeOk(*ch, *w, "a");
    ch->release(*w);
    EXPECT_EQ(ch->poll(*r, nullptr), kIn) << "data ahead: POLLIN without POLLHUP";
    EXPECT_EQ(readData(*ch, *r), "a");
    EXPECT_EQ(ch->poll(*r, nullptr), unsigned(POLLHUP));
    EXPECT_EQ(ch->poll(*other, nullptr), 0u) << "the mark is r's, not other's";
    expectEof(*ch, *r);
    EXPECT_EQ(ch->poll(*r, nullptr), 0u);
}

TEST(Poll, PipeMarkOfAnEmptySessionIsPollhupForAnyReader)
{
    auto ch = makeChannel({{"kind", "pipe"}});
    auto r = ch->open(true, false);
    auto w = ch->open(false, true);
    ch->release(*w);
    EXPECT_EQ(ch->poll(*r, nullptr), unsigned(POLLHUP));
}

TEST(Poll, ANotifierIsWokenWhenReadinessAppears)
{
    auto ch = makeChannel({{"kind", "queue"}});
    auto r = ch->open(true, false);
    auto w = ch->open(false, true);
    auto probe = std::make_shared<PollProbe>();
    EXPECT_EQ(ch->poll(*r, makeNotifier(probe)), 0u);
    writeOk(*ch, *w, "x");
    EXPECT_EQ(probe->notifies.load(), 0) << "nothing readable yet";
    writeOk(*ch, *w, "\n");
    EXPECT_EQ(probe->notifies.load(), 1);
    EXPECT_EQ(ch->poll(*r, nullptr), kIn);

    // Readiness goes away and comes back: woken again.
    EXPECT_EQ(readData(*ch, *r), "x\n");
    writeOk(*ch, *w, "y\n");
    EXPECT_EQ(probe->notifies.load(), 2);
}

TEST(Poll, EveryNewMessageWakesAReaderThatLeftDataBehind)
{
    // An edge-triggered epoll reader that reads one message per wake-up
    // still has data: a kernel pipe wakes it on every write anyway.
    for (const char *kind : {"pipe", "queue", "topic"}) {
        auto ch = makeChannel({{"kind", kind}});
        auto r = ch->open(true, false);
        auto w = ch->open(false, true);
        auto probe = std::make_shared<PollProbe>();
        EXPECT_EQ(ch->poll(*r, makeNotifier(probe)), 0u);
        writeOk(*ch, *w, "a\n");
        writeOk(*ch, *w, "b\n");
        EXPECT_EQ(probe->notifies.load(), 2) << kind;
        writeOk(*ch, *w, "c\n");
        EXPECT_EQ(probe->notifies.load(), 3) << kind;
        // A writer-only handle is not woken by new data.
        auto wprobe = std::make_shared<PollProbe>();
        ch->poll(*w, makeNotifier(wprobe));
        writeOk(*ch, *w, "d\n");
        EXPECT_EQ(wprobe->notifies.load(), 0) << kind;
        ch->release(*w);
        ch->release(*r);
    }
}

TEST(Poll, ANotifierIsWokenWhenRoomAppears)
{
    auto ch = makeChannel({{"kind", "queue"}, {"capacity", "4"}});
    auto r = ch->open(true, false);
    auto w = ch->open(false, true);
    writeOk(*ch, *w, "abc\n");
    auto probe = std::make_shared<PollProbe>();
    EXPECT_EQ(ch->poll(*w, makeNotifier(probe)), 0u);
    EXPECT_EQ(readData(*ch, *r), "abc\n");
    EXPECT_EQ(probe->notifies.load(), 1);
}

TEST(Poll, ANotifierIsWokenWhenAPipeReaderReachesItsMark)
{
    auto ch = makeChannel({{"kind", "pipe"}});
    auto r = ch->open(true, false);
    auto w = ch->open(false, true);
    auto probe = std::make_shared<PollProbe>();
    EXPECT_EQ(ch->poll(*r, makeNotifier(probe)), 0u);
    writeOk(*ch, *w, "a");
    EXPECT_EQ(probe->notifies.load(), 1);
    EXPECT_EQ(readData(*ch, *r), "a");
    EXPECT_EQ(ch->poll(*r, nullptr), 0u);
    ch->release(*w);
    EXPECT_EQ(probe->notifies.load(), 2);
    EXPECT_EQ(ch->poll(*r, nullptr), unsigned(POLLHUP));
}

TEST(Poll, AReplacedNotifierIsDestroyedAndTheNewOneIsUsed)
{
    auto ch = makeChannel({{"kind", "queue"}});
    auto r = ch->open(true, false);
    auto w = ch->open(false, true);
    auto first = std::make_shared<PollProbe>();
    auto second = std::make_shared<PollProbe>();
    ch->poll(*r, makeNotifier(first));
    EXPECT_EQ(first->destroyed.load(), 0);
    ch->poll(*r, makeNotifier(second));
    EXPECT_EQ(first->destroyed.load(), 1);
    EXPECT_EQ(second->destroyed.load(), 0);
    writeOk(*ch, *w, "x\n");
    EXPECT_EQ(first->notifies.load(), 0);
    EXPECT_EQ(second->notifies.load(), 1);
    ch->release(*r);
    EXPECT_EQ(second->destroyed.load(), 1) << "release lets go of the notifier";
}

TEST(Poll, PollWithoutANotifierKeepsTheRegisteredOne)
{
    auto ch = makeChannel({{"kind", "queue"}});
    auto r = ch->open(true, false);
    auto w = ch->open(false, true);
    auto probe = std::make_shared<PollProbe>();
    ch->poll(*r, makeNotifier(probe));
    EXPECT_EQ(ch->poll(*r, nullptr), 0u);
    EXPECT_EQ(probe->destroyed.load(), 0);
    writeOk(*ch, *w, "x\n");
    EXPECT_EQ(probe->notifies.load(), 1);
}

TEST(Poll, DetachMakesReadersHangUp)
{
    auto ch = makeChannel({{"kind", "queue"}});
    auto r = ch->open(true, false);
    auto probe = std::make_shared<PollProbe>();
    EXPECT_EQ(ch->poll(*r, makeNotifier(probe)), 0u);
    ch->detach();
    EXPECT_EQ(probe->notifies.load(), 1);
    EXPECT_EQ(ch->poll(*r, nullptr), unsigned(POLLHUP));
}

// ---- overflow --------------------------------------------------------------

TEST(Overflow, BlockParksTheWriterUntilAReaderFreesRoom)
{
    auto ch = makeChannel({{"kind", "queue"}, {"capacity", "8"}});
    auto w = ch->open(false, true);
    auto r = ch->open(true, false);
    writeOk(*ch, *w, "aaaaaaa\n");
    auto parked = issueWrite(*ch, *w, "b\n");
    EXPECT_FALSE(parked->done());
    EXPECT_EQ(ch->stats().blockedWriters, 1u);
    EXPECT_EQ(ch->stats().queuedBytes, 8u) << "a waiting write queues nothing yet";

    EXPECT_EQ(readData(*ch, *r), "aaaaaaa\n");
    ASSERT_TRUE(parked->done());
    EXPECT_EQ(parked->get().acceptedBytes, 2u);
    EXPECT_EQ(ch->stats().blockedWriters, 0u);
    EXPECT_EQ(readData(*ch, *r), "b\n");
}

TEST(Overflow, NonblockingWriterGetsEagainAndQueuesNothing)
{
    auto ch = makeChannel({{"kind", "queue"}, {"capacity", "8"}});
    auto w = ch->open(false, true);
    auto r = ch->open(true, false);
    writeOk(*ch, *w, "aaaaaaa\n");
    EXPECT_EQ(writeNow(*ch, *w, "b\n", {.nonblock = true}).error, EAGAIN);
    EXPECT_EQ(ch->stats().blockedWriters, 0u);
    EXPECT_EQ(readData(*ch, *r), "aaaaaaa\n");
    expectNothingToRead(*ch, *r);
}

TEST(Overflow, ParkedWritersKeepTheirTurn)
{
    auto ch = makeChannel({{"kind", "queue"}, {"delivery", "batch"}, {"capacity", "10"}});
    auto w1 = ch->open(false, true);
    auto w2 = ch->open(false, true);
    auto r = ch->open(true, false);
    writeOk(*ch, *w1, "aaaaaaa\n");                // 8
    auto first = issueWrite(*ch, *w1, "bbbbb\n");  // 6: waits
    auto second = issueWrite(*ch, *w2, "c\n");     // 2 would fit, but waits behind
    EXPECT_FALSE(first->done());
    EXPECT_FALSE(second->done());
    EXPECT_EQ(writeNow(*ch, *w2, "d\n", {.nonblock = true}).error, EAGAIN);
    EXPECT_EQ(readData(*ch, *r), "aaaaaaa\n");
    EXPECT_TRUE(first->done());
    EXPECT_TRUE(second->done());
    EXPECT_EQ(readData(*ch, *r), "bbbbb\nc\n");
}

TEST(Overflow, DropOldestDropsWholeMessagesAndCountsThem)
{
    auto ch = makeChannel(
        {{"kind", "queue"}, {"delivery", "batch"}, {"capacity", "8"}, {"overflow", "drop-oldest"}});
    auto w = ch->open(false, true);
    auto r = ch->open(true, false);
    writeOk(*ch, *w, "111\n");
    writeOk(*ch, *w, "222\n");
    writeOk(*ch, *w, "333\n");
    ChannelStats st = ch->stats();
    EXPECT_EQ(st.drops, 1u);
    EXPECT_EQ(st.droppedBytes, 4u);
    EXPECT_EQ(st.queuedBytes, 8u);
    EXPECT_EQ(st.queuedMessages, 2u);
    EXPECT_EQ(readData(*ch, *r), "222\n333\n");

    writeOk(*ch, *w, "a\n");
    writeOk(*ch, *w, "b\n");
    writeOk(*ch, *w, "cccccc\n");  // 7 bytes: both earlier lines go
    st = ch->stats();
    EXPECT_EQ(st.drops, 3u);
    EXPECT_EQ(st.droppedBytes, 8u);
    EXPECT_EQ(readData(*ch, *r), "cccccc\n");
}

TEST(Overflow, ErrorPolicyRefusesWithEnobufsAndQueuesNothing)
{
    auto ch = makeChannel({{"kind", "queue"}, {"capacity", "8"}, {"overflow", "error"}});
    auto w = ch->open(false, true);
    auto r = ch->open(true, false);
    writeOk(*ch, *w, "aaaaaaa\n");
    const WriteOutcome out = writeNow(*ch, *w, "b\n");
    EXPECT_EQ(out.error, ENOBUFS);
    EXPECT_EQ(ch->stats().queuedBytes, 8u);
    EXPECT_EQ(ch->stats().drops, 0u);
    EXPECT_EQ(readData(*ch, *r), "aaaaaaa\n");
    writeOk(*ch, *w, "b\n");
}

TEST(Overflow, AMessageBiggerThanCapacityIsAcceptedIntoAnEmptyChannel)
{
    auto ch = makeChannel({{"kind", "queue"}, {"capacity", "4"}});
    auto w = ch->open(false, true);
    auto r = ch->open(true, false);
    writeOk(*ch, *w, "0123456789\n");
    EXPECT_EQ(ch->stats().queuedBytes, 11u);
    EXPECT_EQ(writeNow(*ch, *w, "x\n", {.nonblock = true}).error, EAGAIN);
    EXPECT_EQ(readData(*ch, *r), "0123456789\n");
}

TEST(Overflow, EmsgsizeQueuesNothing)
{
    {
        auto ch = makeChannel({{"kind", "queue"}, {"max_message", "4"}});
        auto w = ch->open(false, true);
        auto r = ch->open(true, false);
        EXPECT_EQ(writeNow(*ch, *w, "ab\nabcdef\n").error, EMSGSIZE);
        EXPECT_EQ(ch->stats().queuedBytes, 0u);
        EXPECT_EQ(ch->stats().inMessages, 0u);
        expectNothingToRead(*ch, *r);
    }
    {
        auto ch = makeChannel({{"kind", "queue"}, {"framing", "messages"}, {"max_message", "4"}});
        auto w = ch->open(false, true);
        auto r = ch->open(true, false);
        EXPECT_EQ(writeNow(*ch, *w, "abcde").error, EMSGSIZE);
        writeOk(*ch, *w, "abcd");
        EXPECT_EQ(readData(*ch, *r), "abcd");
        expectNothingToRead(*ch, *r);
    }
    {
        auto ch = makeChannel({{"kind", "queue"}, {"framing", "lp32"}, {"max_message", "4"}});
        auto w = ch->open(false, true);
        auto r = ch->open(true, false);
        EXPECT_EQ(writeNow(*ch, *w, lp32Frame("ok") + lp32Frame("too long")).error, EMSGSIZE);
        expectNothingToRead(*ch, *r);
        writeOk(*ch, *w, lp32Frame("ok"));
        EXPECT_EQ(readData(*ch, *r), lp32Frame("ok"));
    }
}

TEST(Overflow, EmsgsizeThatIncludesTheWritersUnfinishedLineDropsIt)
{
    auto ch = makeChannel({{"kind", "queue"}, {"max_message", "4"}});
    auto w = ch->open(false, true);
    auto r = ch->open(true, false);
    writeOk(*ch, *w, "ab");
    EXPECT_EQ(writeNow(*ch, *w, "cdef\n").error, EMSGSIZE);
    const ChannelStats st = ch->stats();
    EXPECT_EQ(st.drops, 1u);
    EXPECT_EQ(st.droppedBytes, 2u);
    writeOk(*ch, *w, "x\n");
    EXPECT_EQ(readData(*ch, *r), "x\n") << "the refused line's start must not prefix the next one";
}

TEST(Overflow, RaisingCapacityLetsAWaitingWriterIn)
{
    auto ch = makeChannel({{"kind", "queue"}, {"capacity", "4"}});
    auto w = ch->open(false, true);
    writeOk(*ch, *w, "abc\n");
    auto parked = issueWrite(*ch, *w, "def\n");
    EXPECT_FALSE(parked->done());
    std::string why;
    EXPECT_EQ(ch->changeSetting("capacity", "8", &why), 0) << why;
    EXPECT_TRUE(parked->done());
    EXPECT_EQ(ch->stats().queuedBytes, 8u);
}

TEST(Overflow, SwitchingPolicyDecidesWhatHappensToWaitingWriters)
{
    {
        auto ch = makeChannel({{"kind", "queue"}, {"capacity", "4"}});
        auto w = ch->open(false, true);
        writeOk(*ch, *w, "abc\n");
        auto parked = issueWrite(*ch, *w, "def\n");
        std::string why;
        EXPECT_EQ(ch->changeSetting("overflow", "drop-oldest", &why), 0) << why;
        EXPECT_EQ(parked->get().dones, 1);
        EXPECT_EQ(ch->stats().drops, 1u);
    }
    {
        auto ch = makeChannel({{"kind", "queue"}, {"capacity", "4"}});
        auto w = ch->open(false, true);
        writeOk(*ch, *w, "abc\n");
        auto parked = issueWrite(*ch, *w, "def\n");
        std::string why;
        EXPECT_EQ(ch->changeSetting("overflow", "error", &why), 0) << why;
        EXPECT_EQ(parked->get().error, ENOBUFS);
        EXPECT_EQ(ch->stats().queuedBytes, 4u);
    }
}

// ---- stats -----------------------------------------------------------------

TEST(Stats, CountsHandlesQueuedBytesAndTotals)
{
    auto ch = makeChannel({{"kind", "queue"}, {"delivery", "batch"}});
    auto r = ch->open(true, false);
    auto w = ch->open(false, true);
    auto rw = ch->open(true, true);
    ChannelStats st = ch->stats();
    EXPECT_EQ(st.readers, 2u);
    EXPECT_EQ(st.writers, 2u);
    EXPECT_EQ(st.lastWrite.tv_sec, 0);

    writeOk(*ch, *w, "a\nbb\n");
    writeOk(*ch, *rw, "ccc");  // held, not yet in
    st = ch->stats();
    EXPECT_EQ(st.inMessages, 2u);
    EXPECT_EQ(st.inBytes, 5u);
    EXPECT_EQ(st.queuedMessages, 2u);
    EXPECT_EQ(st.queuedBytes, 5u);
    EXPECT_EQ(ch->queuedBytes(), 5u);
    EXPECT_GT(st.lastWrite.tv_sec, 0);

    EXPECT_EQ(readData(*ch, *r), "a\nbb\n");
    st = ch->stats();
    EXPECT_EQ(st.outMessages, 2u);
    EXPECT_EQ(st.outBytes, 5u);
    EXPECT_EQ(st.queuedBytes, 0u);
    EXPECT_EQ(st.queuedMessages, 0u);

    ch->release(*rw);
    ch->release(*r);
    st = ch->stats();
    EXPECT_EQ(st.readers, 0u);
    EXPECT_EQ(st.writers, 1u);
    EXPECT_TRUE(ch->hasOpenHandles());
    ch->release(*w);
    EXPECT_FALSE(ch->hasOpenHandles());
}

TEST(Stats, AShortReadCountsItsBytesAndTheMessageOnceComplete)
{
    auto ch = makeChannel({{"kind", "queue"}});
    auto r = ch->open(true, false);
    auto w = ch->open(false, true);
    writeOk(*ch, *w, "hello world\n");
    EXPECT_EQ(readData(*ch, *r, 4), "hell");
    ChannelStats st = ch->stats();
    EXPECT_EQ(st.outBytes, 4u);
    EXPECT_EQ(st.outMessages, 0u);
    EXPECT_EQ(readData(*ch, *r), "o world\n");
    st = ch->stats();
    EXPECT_EQ(st.outBytes, 12u);
    EXPECT_EQ(st.outMessages, 1u);
}

TEST(Stats, BlockedReadersAndWriters)
{
    auto ch = makeChannel({{"kind", "queue"}, {"capacity", "2"}});
    auto r1 = ch->open(true, false);
    auto r2 = ch->open(true, false);
    auto w = ch->open(false, true);
    auto p1 = issueRead(*ch, *r1, 100);
    auto p2 = issueRead(*ch, *r2, 100);
    EXPECT_EQ(ch->stats().blockedReaders, 2u);
    ch->cancel(p1->key);
    EXPECT_EQ(ch->stats().blockedReaders, 1u);
    writeOk(*ch, *w, "a\n");  // to p2
    EXPECT_EQ(ch->stats().blockedReaders, 0u);
    writeOk(*ch, *w, "b\n");
    auto pw1 = issueWrite(*ch, *w, "c\n");
    auto pw2 = issueWrite(*ch, *w, "d\n");
    EXPECT_EQ(ch->stats().blockedWriters, 2u);
    ch->cancel(pw2->key);
    EXPECT_EQ(ch->stats().blockedWriters, 1u);
    EXPECT_EQ(readData(*ch, *r1), "b\n");
    EXPECT_EQ(ch->stats().blockedWriters, 0u);
}

// ---- settings on a live channel -------------------------------------------

TEST(ChangeSetting, KindAndFramingCannotChangeWhileOpen)
{
    auto ch = makeChannel({{"kind", "queue"}});
    auto h = ch->open(true, false);
    const Settings before = ch->settings();
    std::string why;
    EXPECT_EQ(ch->changeSetting("kind", "topic", &why), -EBUSY);
    EXPECT_FALSE(why.empty());
    EXPECT_EQ(ch->changeSetting("framing", "messages", &why), -EBUSY);
    EXPECT_EQ(ch->settings(), before);
    EXPECT_EQ(ch->changeSetting("overflow", "error", &why), 0) << why;
    EXPECT_EQ(ch->settings().overflow, Overflow::Error);
    ch->release(*h);
    EXPECT_EQ(ch->changeSetting("kind", "topic", &why), 0) << why;
    EXPECT_EQ(ch->settings().kind, Kind::Topic);
    EXPECT_EQ(ch->settings().framing, Framing::Lines);
}

TEST(ChangeSetting, BadValuesAreRefusedAndTheOldSettingsKept)
{
    auto ch = makeChannel({{"kind", "queue"}, {"capacity", "64K"}});
    const Settings before = ch->settings();
    std::string why;
    EXPECT_EQ(ch->changeSetting("capacity", "0", &why), -EINVAL);
    EXPECT_FALSE(why.empty());
    EXPECT_EQ(ch->changeSetting("framing", "csv", &why), -EINVAL);
    EXPECT_EQ(ch->changeSetting("nonsense", "1", &why), -ENODATA);
    EXPECT_EQ(ch->settings(), before);
}

TEST(ChangeSetting, ARenamedChannelKeepsWorking)
{
    auto ch = makeChannel({{"kind", "queue"}});
    ch->rename("elsewhere");
    EXPECT_EQ(ch->name(), "elsewhere");
}

// ---- watchers (open with neither read nor write) ------------------------------

TEST(Watch, AWatcherPollsReadableOnEveryChangeItHasNotSeen)
{
    auto ch = makeChannel({{"kind", "queue"}});
    auto watcher = ch->open(false, false);
    auto probe = std::make_shared<PollProbe>();
    EXPECT_EQ(ch->poll(*watcher, makeNotifier(probe)), 0u) << "nothing changed since open";

    auto w = ch->open(false, true);  // writers 0 -> 1
    EXPECT_EQ(probe->notifies.load(), 1);
    EXPECT_EQ(ch->poll(*watcher, nullptr), kIn);
    EXPECT_EQ(ch->poll(*watcher, nullptr), 0u) << "the last poll saw the change";

    writeOk(*ch, *w, "x\n");  // queued 0 -> 1
    EXPECT_EQ(probe->notifies.load(), 2);
    writeOk(*ch, *w, "y\n");  // not yet polled: one wake-up is enough
    EXPECT_EQ(probe->notifies.load(), 2);
    EXPECT_EQ(ch->poll(*watcher, nullptr), kIn);

    auto r = ch->open(true, false);  // readers 0 -> 1
    EXPECT_EQ(probe->notifies.load(), 3);
    EXPECT_EQ(ch->poll(*watcher, nullptr), kIn);
    EXPECT_EQ(readData(*ch, *r), "x\n");  // queued 2 -> 1
    EXPECT_EQ(probe->notifies.load(), 4);
    ch->release(*r);
    ch->release(*w);
    ch->release(*watcher);
}

TEST(Watch, AChangeBetweenPollsIsReportedByTheNextPoll)
{
    // chanctl wait reads the stats, then polls: a change in between must
    // not be lost.
    auto ch = makeChannel({{"kind", "queue"}});
    auto watcher = ch->open(false, false);
    auto w = ch->open(false, true);
    auto probe = std::make_shared<PollProbe>();
    EXPECT_EQ(ch->poll(*watcher, makeNotifier(probe)), kIn) << "the writer opened after it";
}

TEST(Watch, AWatcherDoesNotKeepKindAndFramingFromChanging)
{
    auto ch = makeChannel({{"kind", "queue"}});
    auto watcher = ch->open(false, false);
    std::string why;
    EXPECT_EQ(ch->changeSetting("kind", "topic", &why), 0) << why;
    auto r = ch->open(true, false);
    EXPECT_EQ(ch->changeSetting("kind", "queue", &why), -EBUSY);
    ch->release(*r);
    ch->release(*watcher);
}

TEST(Watch, AWatcherOfARemovedChannelGetsPollhup)
{
    auto ch = makeChannel({{"kind", "queue"}});
    auto watcher = ch->open(false, false);
    auto probe = std::make_shared<PollProbe>();
    EXPECT_EQ(ch->poll(*watcher, makeNotifier(probe)), 0u);
    ch->detach();
    EXPECT_EQ(probe->notifies.load(), 1);
    EXPECT_EQ(ch->poll(*watcher, nullptr) & POLLHUP, unsigned(POLLHUP));
}

}  // namespace
}  // namespace chanfs
