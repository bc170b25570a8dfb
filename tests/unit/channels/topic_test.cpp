// channels/kinds/topic.cpp: every reader handle gets every message published
// after it opened, plus the last `replay`; capacity bounds the slowest
// subscriber's backlog.
#include <gtest/gtest.h>

#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "channels/kinds/topic.h"
#include "tests/unit/fakes.h"

namespace chanfs {
namespace {

using namespace test;

TEST(Topic, EverySubscriberGetsEveryMessagePublishedAfterItOpened)
{
    auto ch = makeChannel({{"kind", "topic"}});
    auto w = ch->open(false, true);
    auto s1 = ch->open(true, false);
    auto s2 = ch->open(true, false);
    writeOk(*ch, *w, "a\n");
    writeOk(*ch, *w, "b\n");
    EXPECT_EQ(readData(*ch, *s1), "a\nb\n");
    EXPECT_EQ(readData(*ch, *s2), "a\nb\n");

    auto s3 = ch->open(true, false);
    expectNothingToRead(*ch, *s3);  // nothing older than replay (0)
    writeOk(*ch, *w, "c\n");
    EXPECT_EQ(readData(*ch, *s1), "c\n");
    EXPECT_EQ(readData(*ch, *s2), "c\n");
    EXPECT_EQ(readData(*ch, *s3), "c\n");
    for (auto *s : {s1.get(), s2.get(), s3.get()}) expectNothingToRead(*ch, *s);
}

TEST(Topic, OnePublishWakesEveryParkedSubscriber)
{
    auto ch = makeChannel({{"kind", "topic"}});
    auto w = ch->open(false, true);
    std::vector<std::shared_ptr<Handle>> subs;
    std::vector<std::shared_ptr<ReadResult>> reads;
    for (int i = 0; i < 5; ++i) {
        subs.push_back(ch->open(true, false));
        reads.push_back(issueRead(*ch, *subs.back(), 100));
    }
    EXPECT_EQ(ch->stats().blockedReaders, 5u);
    writeOk(*ch, *w, "news\n");
    for (auto &r : reads) {
        EXPECT_EQ(r->get().data, "news\n");
        EXPECT_EQ(r->get().completions, 1);
    }
    EXPECT_EQ(ch->stats().blockedReaders, 0u);
}

TEST(Topic, ParkedSubscriberThatIsUpToDateKeepsWaitingWhileOthersLag)
{
    auto ch = makeChannel({{"kind", "topic"}});
    auto w = ch->open(false, true);
    auto fast = ch->open(true, false);
    auto slow = ch->open(true, false);
    writeOk(*ch, *w, "1\n");
    EXPECT_EQ(readData(*ch, *fast), "1\n");
    auto parked = issueRead(*ch, *fast, 100);
    EXPECT_FALSE(parked->done());
    writeOk(*ch, *w, "2\n");
    EXPECT_EQ(parked->get().data, "2\n");
    EXPECT_EQ(readData(*ch, *slow), "1\n2\n");
}

TEST(Topic, WithoutSubscribersNothingIsKept)
{
    auto ch = makeChannel({{"kind", "topic"}});
    auto w = ch->open(false, true);
    writeOk(*ch, *w, "lost\n");
    EXPECT_EQ(ch->stats().queuedBytes, 0u);
    auto s = ch->open(true, false);
    expectNothingToRead(*ch, *s);
}

TEST(Topic, ReplayGivesANewSubscriberTheLastNMessages)
{
    auto ch = makeChannel({{"kind", "topic"}, {"replay", "2"}});
    auto w = ch->open(false, true);
    for (int i = 1; i <= 4; ++i) writeOk(*ch, *w, "m" + std::to_string(i) + "\n");
    EXPECT_EQ(ch->stats().queuedMessages, 2u) << "only the replay window is kept";
    auto s = ch->open(true, false);
    EXPECT_EQ(readData(*ch, *s), "m3\nm4\n");
    expectNothingToRead(*ch, *s);
    // A second subscriber gets the same window: replay is not consumed.
    auto s2 = ch->open(true, false);
    EXPECT_EQ(readData(*ch, *s2), "m3\nm4\n");
}

TEST(Topic, ReplayWithFewerMessagesGivesWhatThereIs)
{
    auto ch = makeChannel({{"kind", "topic"}, {"replay", "5"}});
    auto w = ch->open(false, true);
    writeOk(*ch, *w, "only\n");
    auto s = ch->open(true, false);
    EXPECT_EQ(readData(*ch, *s), "only\n");
}

TEST(Topic, ReplayWithMessagesFramingIsOneMessagePerRead)
{
    auto ch = makeChannel({{"kind", "topic"}, {"framing", "messages"}, {"replay", "3"}});
    auto w = ch->open(false, true);
    for (int i = 1; i <= 4; ++i) writeOk(*ch, *w, "m" + std::to_string(i));
    auto s = ch->open(true, false);
    EXPECT_EQ(readData(*ch, *s), "m2");
    EXPECT_EQ(readData(*ch, *s), "m3");
    EXPECT_EQ(readData(*ch, *s), "m4");
    expectNothingToRead(*ch, *s);
}

TEST(Topic, LateSubscriberGetsNothingOlderThanReplayEvenIfALaggardKeepsIt)
{
    auto ch = makeChannel({{"kind", "topic"}, {"replay", "1"}});
    auto w = ch->open(false, true);
    auto laggard = ch->open(true, false);
    writeOk(*ch, *w, "m1\n");
    writeOk(*ch, *w, "m2\n");
    writeOk(*ch, *w, "m3\n");
    auto late = ch->open(true, false);
    EXPECT_EQ(readData(*ch, *late), "m3\n");
    EXPECT_EQ(readData(*ch, *laggard), "m1\nm2\nm3\n");
}

TEST(Topic, ShortReadRemainderBelongsToThatSubscriber)
{
    auto ch = makeChannel({{"kind", "topic"}, {"framing", "messages"}});
    auto w = ch->open(false, true);
    auto s1 = ch->open(true, false);
    auto s2 = ch->open(true, false);
    writeOk(*ch, *w, "0123456789");
    writeOk(*ch, *w, "next");
    EXPECT_EQ(readData(*ch, *s1, 4), "0123");
    EXPECT_EQ(readData(*ch, *s2, 100), "0123456789");
    EXPECT_EQ(readData(*ch, *s1, 100), "456789");
    EXPECT_EQ(readData(*ch, *s1, 100), "next");
    EXPECT_EQ(readData(*ch, *s2, 100), "next");
}

TEST(Topic, LinesShortReadThenTheRestAndMoreLines)
{
    auto ch = makeChannel({{"kind", "topic"}});
    auto w = ch->open(false, true);
    auto s = ch->open(true, false);
    writeOk(*ch, *w, "hello world\nx\n");
    EXPECT_EQ(readData(*ch, *s, 4), "hell");
    EXPECT_EQ(readData(*ch, *s, 100), "o world\nx\n");
}

TEST(Topic, DropOldestAdvancesTheSlowSubscriberAndCountsDrops)
{
    auto ch = makeChannel({{"kind", "topic"}, {"capacity", "10"}, {"overflow", "drop-oldest"}});
    auto w = ch->open(false, true);
    auto slow = ch->open(true, false);
    auto fast = ch->open(true, false);
    writeOk(*ch, *w, "aaaa\n");
    EXPECT_EQ(readData(*ch, *fast), "aaaa\n");
    writeOk(*ch, *w, "bbbb\n");
    EXPECT_EQ(readData(*ch, *fast), "bbbb\n");
    writeOk(*ch, *w, "cccc\n");  // slow's backlog would be 15 > 10
    ChannelStats st = ch->stats();
    EXPECT_EQ(st.drops, 1u);
    EXPECT_EQ(st.droppedBytes, 5u);
    EXPECT_EQ(readData(*ch, *slow), "bbbb\ncccc\n");
    EXPECT_EQ(readData(*ch, *fast), "cccc\n");

    // Several drops for one big message.
    writeOk(*ch, *w, "dd\n");
    writeOk(*ch, *w, "ee\n");
    writeOk(*ch, *w, "ff\n");
    writeOk(*ch, *w, "gggggggg\n");  // 9 bytes: only room once dd, ee and ff are gone
    st = ch->stats();
    EXPECT_EQ(st.drops, 4u);
    EXPECT_EQ(st.droppedBytes, 14u);
    EXPECT_EQ(readData(*ch, *slow), "gggggggg\n");
    EXPECT_EQ(readData(*ch, *fast), "gggggggg\n");
}

TEST(Topic, BlockParksTheWriterUntilTheSlowestSubscriberReads)
{
    auto ch = makeChannel({{"kind", "topic"}, {"capacity", "10"}});
    auto w = ch->open(false, true);
    auto slow = ch->open(true, false);
    auto fast = ch->open(true, false);
    writeOk(*ch, *w, "aaaa\n");
    writeOk(*ch, *w, "bbbb\n");
    auto parked = issueWrite(*ch, *w, "cccc\n");
    EXPECT_FALSE(parked->done());
    EXPECT_EQ(ch->stats().blockedWriters, 1u);
    const WriteOutcome nb = writeNow(*ch, *w, "dddd\n", {.nonblock = true});
    EXPECT_EQ(nb.error, EAGAIN);

    EXPECT_EQ(readData(*ch, *fast), "aaaa\nbbbb\n");
    EXPECT_FALSE(parked->done()) << "the fast subscriber reading frees no room";

    EXPECT_EQ(readData(*ch, *slow, 5), "aaaa\n");
    ASSERT_TRUE(parked->done());
    EXPECT_EQ(parked->get().acceptedBytes, 5u);
    EXPECT_EQ(ch->stats().blockedWriters, 0u);
    EXPECT_EQ(readData(*ch, *slow), "bbbb\ncccc\n");
    EXPECT_EQ(readData(*ch, *fast), "cccc\n");
}

TEST(Topic, SlowSubscriberClosingReleasesABlockedWriter)
{
    auto ch = makeChannel({{"kind", "topic"}, {"capacity", "4"}});
    auto w = ch->open(false, true);
    auto slow = ch->open(true, false);
    writeOk(*ch, *w, "abc\n");
    auto parked = issueWrite(*ch, *w, "def\n");
    EXPECT_FALSE(parked->done());
    ch->release(*slow);
    ASSERT_TRUE(parked->done());
    EXPECT_EQ(parked->get().dones, 1);
}

TEST(Topic, ErrorOverflowRefusesWithEnobufs)
{
    auto ch = makeChannel({{"kind", "topic"}, {"capacity", "4"}, {"overflow", "error"}});
    auto w = ch->open(false, true);
    auto s = ch->open(true, false);
    writeOk(*ch, *w, "abc\n");
    EXPECT_EQ(writeNow(*ch, *w, "def\n").error, ENOBUFS);
    EXPECT_EQ(readData(*ch, *s), "abc\n");
    expectNothingToRead(*ch, *s);
}

TEST(Topic, SubscriberThatClosesNoLongerHoldsMessages)
{
    auto ch = makeChannel({{"kind", "topic"}});
    auto w = ch->open(false, true);
    auto s = ch->open(true, false);
    writeOk(*ch, *w, "x\n");
    EXPECT_EQ(ch->stats().queuedBytes, 2u);
    ch->release(*s);
    EXPECT_EQ(ch->stats().queuedBytes, 0u);
}

// Fan-out batching (topic.h, Channel::kHoldWindow): a timer the test runs by hand.
// The window is an hour, so "answered within the window" holds however
// slowly the test runs (sanitizers, a loaded machine).
constexpr std::chrono::milliseconds kLongWindow = std::chrono::hours(1);

class ManualScheduler {
public:
    explicit ManualScheduler(std::chrono::milliseconds window = kLongWindow)
    {
        Channel::setWakeScheduler(
            [this](std::chrono::milliseconds delay, std::function<void()> task) {
                std::lock_guard g(mu_);
                delays_.push_back(delay);
                tasks_.push_back(std::move(task));
                return true;
            },
            window);
    }
    ~ManualScheduler() { Channel::setWakeScheduler({}); }
    size_t armed() const
    {
        std::lock_guard g(mu_);
        return tasks_.size();
    }
    std::chrono::milliseconds lastDelay() const
    {
        std::lock_guard g(mu_);
        return delays_.back();
    }
    void runAll()
    {
        std::vector<std::function<void()>> tasks;
        {
            std::lock_guard g(mu_);
            tasks.swap(tasks_);
        }
        for (auto &t : tasks) t();
    }

private:
    mutable std::mutex mu_;
    std::vector<std::chrono::milliseconds> delays_;
    std::vector<std::function<void()>> tasks_;
};

struct Crowd {
    std::shared_ptr<Channel> ch = makeChannel({{"kind", "topic"}});
    std::shared_ptr<Handle> w = ch->open(false, true);
    std::vector<std::shared_ptr<Handle>> subs;
    explicit Crowd(size_t n)
    {
        for (size_t i = 0; i < n; ++i) subs.push_back(ch->open(true, false));
    }
    std::vector<std::shared_ptr<ReadResult>> readAll(size_t maxBytes = 1000)
    {
        std::vector<std::shared_ptr<ReadResult>> reads;
        for (auto &s : subs) reads.push_back(issueRead(*ch, *s, maxBytes));
        return reads;
    }
};

TEST(TopicBatching, ACrowdedTopicHoldsSubscribersAnsweredWithinTheWindowThenGivesThemEverything)
{
    ManualScheduler timer;
    Crowd c(kTopicBatchMinReaders);
    auto first = c.readAll();
    writeOk(*c.ch, *c.w, "a\n");  // nobody was answered lately: all at once
    for (auto &r : first) EXPECT_EQ(r->get().data, "a\n");
    EXPECT_EQ(timer.armed(), 0u);

    auto second = c.readAll();
    writeOk(*c.ch, *c.w, "b\n");
    writeOk(*c.ch, *c.w, "c\n");
    for (auto &r : second) EXPECT_FALSE(r->done());
    EXPECT_EQ(c.ch->stats().blockedReaders, c.subs.size());
    ASSERT_EQ(timer.armed(), 1u);  // one timer for the whole crowd
    EXPECT_EQ(timer.lastDelay(), kLongWindow);

    timer.runAll();
    for (auto &r : second) {
        EXPECT_EQ(r->get().data, "b\nc\n");
        EXPECT_EQ(r->get().completions, 1);
    }
    EXPECT_EQ(c.ch->stats().blockedReaders, 0u);
}

TEST(TopicBatching, AReadThatFindsDataWithinTheWindowIsHeldToo)
{
    ManualScheduler timer;
    Crowd c(kTopicBatchMinReaders);
    auto first = c.readAll();
    writeOk(*c.ch, *c.w, "a\n");
    writeOk(*c.ch, *c.w, "b\n");  // all subscribers were just answered
    auto r = issueRead(*c.ch, *c.subs[0], 1000);
    EXPECT_FALSE(r->done());
    ASSERT_EQ(timer.armed(), 1u);
    timer.runAll();
    EXPECT_EQ(r->get().data, "b\n");
}

TEST(TopicBatching, ASubscriberWithHalfItsBufferReadyIsAnsweredAtOnce)
{
    ManualScheduler timer;
    Crowd c(kTopicBatchMinReaders);
    auto first = c.readAll(8);
    writeOk(*c.ch, *c.w, "a\n");
    auto second = c.readAll(8);
    writeOk(*c.ch, *c.w, "abcd\n");  // 5 bytes of an 8-byte buffer
    for (auto &r : second) EXPECT_EQ(r->get().data, "abcd\n");
}

TEST(TopicBatching, ASubscriberIdleLongerThanTheWindowIsAnsweredAtOnce)
{
    ManualScheduler timer(1ms);
    Crowd c(kTopicBatchMinReaders);
    auto first = c.readAll();
    writeOk(*c.ch, *c.w, "a\n");
    auto second = c.readAll();
    std::this_thread::sleep_for(5ms);  // longer than the 1 ms window, however slow
    writeOk(*c.ch, *c.w, "b\n");
    for (auto &r : second) EXPECT_EQ(r->get().data, "b\n");
    EXPECT_EQ(timer.armed(), 0u);
}

TEST(TopicBatching, FewerSubscribersOrNoTimerMeansNoBatching)
{
    {
        ManualScheduler timer;
        Crowd c(kTopicBatchMinReaders - 1);
        auto first = c.readAll();
        writeOk(*c.ch, *c.w, "a\n");
        auto second = c.readAll();
        writeOk(*c.ch, *c.w, "b\n");
        for (auto &r : second) EXPECT_EQ(r->get().data, "b\n");
        EXPECT_EQ(timer.armed(), 0u);
    }
    Crowd c(kTopicBatchMinReaders);  // no scheduler installed
    auto first = c.readAll();
    writeOk(*c.ch, *c.w, "a\n");
    auto second = c.readAll();
    writeOk(*c.ch, *c.w, "b\n");
    for (auto &r : second) EXPECT_EQ(r->get().data, "b\n");
}

TEST(TopicBatching, ATimerThatCannotRunTurnsBatchingOffInsteadOfStrandingReaders)
{
    Channel::setWakeScheduler(
        [](std::chrono::milliseconds, std::function<void()>) { return false; }, kLongWindow);
    Crowd c(kTopicBatchMinReaders);
    auto first = c.readAll();
    writeOk(*c.ch, *c.w, "a\n");
    auto second = c.readAll();
    writeOk(*c.ch, *c.w, "b\n");
    for (auto &r : second) EXPECT_EQ(r->get().data, "b\n");
    Channel::setWakeScheduler({});
}

TEST(TopicBatching, AHeldReaderCanBeInterrupted)
{
    ManualScheduler timer;
    Crowd c(kTopicBatchMinReaders);
    auto first = c.readAll();
    writeOk(*c.ch, *c.w, "a\n");
    auto second = c.readAll();
    writeOk(*c.ch, *c.w, "b\n");
    ASSERT_FALSE(second[0]->done());
    EXPECT_TRUE(c.ch->cancel(second[0]->key));
    EXPECT_EQ(second[0]->get().error, EINTR);
    timer.runAll();
    // Nothing lost to the interrupt (a non-blocking read is never held).
    EXPECT_EQ(readNow(*c.ch, *c.subs[0], 1000, {.nonblock = true}).data, "b\n");
}

}  // namespace
}  // namespace chanfs
