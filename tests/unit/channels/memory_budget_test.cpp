// channels/core/memory_budget.cpp: the daemon-wide budget (-o max_memory=) seen
// through channels. Past the budget a channel behaves as if full, whatever
// its own capacity; memory freed in any channel lets writers of another in.
#include <gtest/gtest.h>
#include <poll.h>

#include <atomic>
#include <cerrno>
#include <string>
#include <thread>
#include <vector>

#include "channels/core/memory_budget.h"
#include "tests/unit/fakes.h"

namespace chanfs {
namespace {

using namespace test;

// A message whose body and overhead together cost exactly 1000 bytes, so a
// budget of N*1000 holds N of them.
constexpr uint64_t kCost = 1000;
const std::string kBody(kCost - Channel::kQueuedMessageOverheadBytes, 'x');

class Budget : public ::testing::Test {
protected:
    void SetUp() override
    {
        // Every channel of earlier tests is gone, and so is its charge.
        ASSERT_EQ(budget().used(), 0u);
        budget().setLimit(3 * kCost);
    }
    void TearDown() override { budget().setLimit(MemoryBudget::kUnlimited); }
    static MemoryBudget &budget() { return MemoryBudget::global(); }
    static std::shared_ptr<Channel> queue(std::string_view overflow = "block")
    {
        return makeChannel({{"kind", "queue"}, {"framing", "messages"}, {"overflow", overflow}});
    }
    // A message that differs from the others.
    static std::string body(char c) { return std::string(kBody.size(), c); }
};

TEST_F(Budget, QueuedMessagesAreChargedWithTheirOverheadAndReadsReleaseThem)
{
    auto a = queue();
    auto w = a->open(false, true);
    auto r = a->open(true, false);
    writeOk(*a, *w, kBody);
    writeOk(*a, *w, kBody);
    EXPECT_EQ(budget().used(), 2 * kCost);
    EXPECT_EQ(readData(*a, *r), kBody);
    EXPECT_EQ(budget().used(), kCost);
}

TEST_F(Budget, AWriterOnAnotherChannelWaitsAndAReadOnTheFirstLetsItIn)
{
    auto a = queue();
    auto b = queue();
    auto wa = a->open(false, true);
    auto ra = a->open(true, false);
    auto wb = b->open(false, true);
    auto rb = b->open(true, false);
    for (int i = 0; i < 3; ++i) writeOk(*a, *wa, kBody);
    // b is empty and far below its own 1 MiB capacity: only the budget is full.
    auto parked = issueWrite(*b, *wb, body('b'));
    EXPECT_FALSE(parked->done());
    EXPECT_EQ(b->stats().blockedWriters, 1u);
    EXPECT_EQ(b->stats().queuedMessages, 0u);
    EXPECT_EQ(budget().waitingChannels(), 1u);

    EXPECT_EQ(readData(*a, *ra), kBody);  // frees one message's worth in a
    ASSERT_TRUE(parked->done()) << "memory freed in a did not wake b's writer";
    EXPECT_EQ(parked->get().acceptedBytes, kBody.size());
    EXPECT_EQ(b->stats().blockedWriters, 0u);
    EXPECT_EQ(readData(*b, *rb), body('b'));
    EXPECT_EQ(budget().used(), 2 * kCost);
}

TEST_F(Budget, OneReleaseLetsInOnlyWhatFitsAndWaitersGoInTheOrderTheyCame)
{
    auto a = queue();
    auto b = queue();
    auto c = queue();
    auto wa = a->open(false, true);
    auto ra = a->open(true, false);
    auto wb = b->open(false, true);
    auto wc = c->open(false, true);
    for (int i = 0; i < 3; ++i) writeOk(*a, *wa, kBody);
    auto pb = issueWrite(*b, *wb, body('b'));
    auto pc = issueWrite(*c, *wc, body('c'));
    EXPECT_EQ(readData(*a, *ra), kBody);
    EXPECT_TRUE(pb->done());
    EXPECT_FALSE(pc->done()) << "one message's worth was freed, two writers got in";
    EXPECT_EQ(readData(*a, *ra), kBody);
    EXPECT_TRUE(pc->done());
    EXPECT_EQ(budget().used(), 3 * kCost);
}

TEST_F(Budget, ANonblockingWriterGetsEagainAndNothingWaits)
{
    auto a = queue();
    auto b = queue();
    auto wa = a->open(false, true);
    auto wb = b->open(false, true);
    for (int i = 0; i < 3; ++i) writeOk(*a, *wa, kBody);
    const WriteOutcome out = writeNow(*b, *wb, kBody, {.nonblock = true});
    EXPECT_EQ(out.error, EAGAIN);
    EXPECT_EQ(b->stats().queuedMessages, 0u);
    EXPECT_EQ(b->stats().blockedWriters, 0u);
    EXPECT_EQ(budget().waitingChannels(), 0u);
}

TEST_F(Budget, ErrorPolicyGetsEnobufs)
{
    auto a = queue();
    auto b = queue("error");
    auto wa = a->open(false, true);
    auto wb = b->open(false, true);
    for (int i = 0; i < 3; ++i) writeOk(*a, *wa, kBody);
    const WriteOutcome out = writeNow(*b, *wb, kBody);
    EXPECT_EQ(out.error, ENOBUFS);
    EXPECT_EQ(b->stats().queuedMessages, 0u);
    EXPECT_EQ(budget().used(), 3 * kCost);
}

TEST_F(Budget, DropOldestDropsItsOwnMessagesAndIsRefusedWhenItHasNoneLeft)
{
    auto a = queue();
    auto d = queue("drop-oldest");
    auto wa = a->open(false, true);
    auto wd = d->open(false, true);
    auto rd = d->open(true, false);
    writeOk(*a, *wa, kBody);
    writeOk(*a, *wa, kBody);
    writeOk(*d, *wd, body('1'));
    writeOk(*d, *wd, body('2'));  // the budget is full: d drops its own '1'
    EXPECT_EQ(d->stats().drops, 1u);
    EXPECT_EQ(a->stats().queuedMessages, 2u) << "another channel's messages were dropped";
    EXPECT_EQ(budget().used(), 3 * kCost);
    EXPECT_EQ(readData(*d, *rd), body('2'));

    writeOk(*a, *wa, kBody);  // a now holds all of it; d has nothing to drop
    const WriteOutcome out = writeNow(*d, *wd, body('3'));
    EXPECT_EQ(out.error, ENOBUFS);
    EXPECT_EQ(d->stats().queuedMessages, 0u);
}

TEST_F(Budget, AWriterWaitingForMemoryIsInterruptedWithEintrAndQueuesNothing)
{
    auto a = queue();
    auto b = queue();
    auto wa = a->open(false, true);
    auto ra = a->open(true, false);
    auto wb = b->open(false, true);
    for (int i = 0; i < 3; ++i) writeOk(*a, *wa, kBody);
    auto cancelled = issueWrite(*b, *wb, body('c'));
    ASSERT_FALSE(cancelled->done());
    EXPECT_TRUE(b->cancel(cancelled->key));
    EXPECT_EQ(cancelled->get().error, EINTR);
    EXPECT_EQ(b->stats().blockedWriters, 0u);

    // Interrupted while parked, noticed when memory comes.
    auto flagged = issueWrite(*b, *wb, body('f'));
    ASSERT_FALSE(flagged->done());
    flagged->interrupt = true;
    EXPECT_EQ(readData(*a, *ra), kBody);
    ASSERT_TRUE(flagged->done());
    EXPECT_EQ(flagged->get().error, EINTR);
    EXPECT_EQ(flagged->get().completions, 1);
    EXPECT_EQ(b->stats().queuedMessages, 0u);
    EXPECT_EQ(budget().used(), 2 * kCost);
}

TEST_F(Budget, DestroyingAChannelFreesItsMemoryAndWakesWaiters)
{
    auto a = queue();
    auto b = queue();
    auto wa = a->open(false, true);
    auto wb = b->open(false, true);
    for (int i = 0; i < 3; ++i) writeOk(*a, *wa, kBody);
    auto parked = issueWrite(*b, *wb, kBody);
    ASSERT_FALSE(parked->done());
    // An unlinked channel whose last handle closes goes away with its data.
    a->detach();
    a->release(*wa);
    EXPECT_FALSE(parked->done()) << "closing a did not free its queued messages";
    wa.reset();
    a.reset();
    ASSERT_TRUE(parked->done()) << "a's memory went away without waking b's writer";
    EXPECT_EQ(parked->get().dones, 1);
    EXPECT_EQ(budget().used(), kCost);
}

TEST_F(Budget, AMessageThatCouldNeverFitIsRefusedWithEmsgsize)
{
    auto b = queue();
    auto wb = b->open(false, true);
    const std::string huge(3 * kCost, 'h');
    const WriteOutcome out = writeNow(*b, *wb, huge);
    EXPECT_EQ(out.error, EMSGSIZE);
    EXPECT_EQ(b->stats().queuedMessages, 0u);
    EXPECT_EQ(budget().used(), 0u);
}

TEST_F(Budget, AnUnfinishedLineThatOutgrowsTheBudgetIsRefusedAtOnceAndDropped)
{
    auto q = makeChannel({{"kind", "queue"}, {"framing", "lines"}, {"max_message", "64K"}});
    auto w = q->open(false, true);
    auto r = q->open(true, false);
    writeOk(*q, *w, std::string(2000, 'p'));  // unfinished, and within the budget
    const WriteOutcome out = writeNow(*q, *w, std::string(1000, 'p'));
    EXPECT_EQ(out.error, EMSGSIZE);
    EXPECT_EQ(q->stats().drops, 1u);
    EXPECT_EQ(q->stats().droppedBytes, 2000u);
    writeOk(*q, *w, "next\n");  // the writer starts afresh
    EXPECT_EQ(readData(*q, *r), "next\n");
}

TEST_F(Budget, NoPolloutWhileTheBudgetIsFullAndANotifyWhenMemoryIsFreedElsewhere)
{
    constexpr unsigned kOut = POLLOUT | POLLWRNORM;
    auto a = queue();
    auto b = queue();
    auto wa = a->open(false, true);
    auto ra = a->open(true, false);
    auto wb = b->open(false, true);
    auto probe = std::make_shared<PollProbe>();
    EXPECT_EQ(b->poll(*wb, makeNotifier(probe)) & kOut, kOut);
    for (int i = 0; i < 3; ++i) writeOk(*a, *wa, kBody);
    EXPECT_EQ(b->poll(*wb, nullptr) & kOut, 0u);
    const int before = probe->notifies.load();
    EXPECT_EQ(readData(*a, *ra), kBody);
    EXPECT_GT(probe->notifies.load(), before) << "b's poller was not told about the room";
    EXPECT_EQ(b->poll(*wb, nullptr) & kOut, kOut);
}

TEST_F(Budget, RaisingTheLimitLetsWaitingWritersIn)
{
    auto a = queue();
    auto b = queue();
    auto wa = a->open(false, true);
    auto wb = b->open(false, true);
    for (int i = 0; i < 3; ++i) writeOk(*a, *wa, kBody);
    auto parked = issueWrite(*b, *wb, kBody);
    ASSERT_FALSE(parked->done());
    budget().setLimit(4 * kCost);
    EXPECT_TRUE(parked->done());
}

TEST_F(Budget, ATopicThatKeepsNothingIsNeverHeldUpButOneWithSubscribersIs)
{
    auto a = queue();
    auto wa = a->open(false, true);
    for (int i = 0; i < 3; ++i) writeOk(*a, *wa, kBody);
    auto t = makeChannel({{"kind", "topic"}, {"framing", "messages"}});
    auto wt = t->open(false, true);
    writeOk(*t, *wt, kBody);  // no subscriber, replay 0: nothing is kept
    EXPECT_EQ(budget().used(), 3 * kCost);
    auto sub = t->open(true, false);
    auto parked = issueWrite(*t, *wt, kBody);
    EXPECT_FALSE(parked->done()) << "a message a subscriber will read was queued past the budget";
    t->release(*sub);  // the last subscriber left: the message is kept by nobody
    ASSERT_TRUE(parked->done());
    EXPECT_EQ(parked->get().dones, 1);
    EXPECT_EQ(budget().used(), 3 * kCost);
}

// Many writers on their own channels, readers draining other channels: the
// budget is never exceeded, every byte arrives, and nothing stays charged.
// Meant for TSan as much as for the counts.
TEST_F(Budget, ConcurrentWritersAndReadersStayWithinTheBudgetAndLoseNothing)
{
    budget().setLimit(8 * kCost);
    constexpr int kChannels = 6;
    constexpr int kPerWriter = 300;
    std::vector<std::shared_ptr<Channel>> chans;
    for (int i = 0; i < kChannels; ++i) chans.push_back(queue());
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> maxUsed{0};
    std::thread sampler([&] {
        while (!stop) {
            const uint64_t u = budget().used();
            uint64_t m = maxUsed.load();
            while (u > m && !maxUsed.compare_exchange_weak(m, u)) {}
            std::this_thread::yield();
        }
    });
    std::vector<std::thread> threads;
    std::vector<std::string> got(kChannels);
    for (int i = 0; i < kChannels; ++i) {
        threads.emplace_back([&, i] {
            auto w = chans[i]->open(false, true);
            for (int n = 0; n < kPerWriter; ++n) {
                auto r = issueWrite(*chans[i], *w, body(static_cast<char>('a' + i)));
                ASSERT_TRUE(r->waitDone()) << "writer " << i << " stuck at message " << n;
                ASSERT_EQ(r->get().dones, 1);
            }
            chans[i]->release(*w);
        });
        threads.emplace_back([&, i] {
            auto r = chans[i]->open(true, false);
            for (int n = 0; n < kPerWriter; ++n) {
                auto res = issueRead(*chans[i], *r, 1 << 16);
                ASSERT_TRUE(res->waitDone()) << "reader " << i << " stuck at message " << n;
                got[i] += res->get().data;
            }
            chans[i]->release(*r);
        });
    }
    for (auto &t : threads) t.join();
    stop = true;
    sampler.join();
    for (int i = 0; i < kChannels; ++i)
        EXPECT_EQ(got[i], std::string(kPerWriter * kBody.size(), static_cast<char>('a' + i)));
    EXPECT_LE(maxUsed.load(), 8 * kCost);
    EXPECT_EQ(budget().used(), 0u);
}

}  // namespace
}  // namespace chanfs
