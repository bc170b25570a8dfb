// fs/fuse/wait_arming.h: which reads and writes arm a FUSE interrupt, and
// that an interrupt (Ctrl-C) still fails a request that waits with EINTR.
// libfuse is played by FakeInterrupt: arming registers the callback, and
// an interrupt sets the request's flag and, if a callback is registered,
// runs it, which cancels the parked request as fs/'s onInterrupt does.
#include "fs/fuse/wait_arming.h"

#include <gtest/gtest.h>

#include "tests/unit/fakes.h"

namespace chanfs::test {
namespace {

using fs::readArmedToWait;
using fs::writeArmedToWait;

template <typename Result>
struct FakeInterrupt {
    Channel &ch;
    Result &result;
    int arms = 0;
    bool registered = false;

    // What fuse_req_interrupt_func does: registers, and runs the callback
    // at once if the interrupt already came.
    void arm()
    {
        ++arms;
        registered = true;
        if (result.interrupt) ch.cancel(result.key);
    }
    // What libfuse does when the INTERRUPT request comes.
    void interrupt()
    {
        result.interrupt = true;
        if (registered) ch.cancel(result.key);
    }
};

// A read through readArmedToWait; `beforeArm` runs just before the arming
// (what another thread or a signal may do between the two tries).
std::shared_ptr<ReadResult> readArmed(Channel &ch, Handle &h,
                                      std::unique_ptr<FakeInterrupt<ReadResult>> &fi, ReadOpts opts,
                                      std::function<void()> beforeArm = {})
{
    auto r = std::make_shared<ReadResult>();
    fi = std::make_unique<FakeInterrupt<ReadResult>>(FakeInterrupt<ReadResult>{ch, *r});
    ReadRequest req;
    req.maxBytes = 1 << 16;
    req.nonblock = opts.nonblock;
    req.continuation = opts.continuation;
    readArmedToWait(ch, h, req, std::make_unique<FakeReadWaiter>(r), [&] {
        if (beforeArm) beforeArm();
        fi->arm();
    });
    return r;
}

TEST(WaitArming, AReadThatFindsDataIsAnsweredWithoutArming)
{
    auto ch = makeChannel({{"kind", "queue"}});
    auto w = ch->open(false, true);
    auto r = ch->open(true, false);
    writeOk(*ch, *w, "abc\n");
    std::unique_ptr<FakeInterrupt<ReadResult>> fi;
    auto res = readArmed(*ch, *r, fi, {});
    EXPECT_EQ(res->get().completions, 1);
    EXPECT_EQ(res->get().data, "abc\n");
    EXPECT_EQ(fi->arms, 0);
}

TEST(WaitArming, AParkedReadIsArmedAndCtrlCFailsItWithEintr)
{
    auto ch = makeChannel({{"kind", "queue"}});
    auto w = ch->open(false, true);
    auto r = ch->open(true, false);
    std::unique_ptr<FakeInterrupt<ReadResult>> fi;
    auto res = readArmed(*ch, *r, fi, {});
    EXPECT_EQ(fi->arms, 1);
    EXPECT_FALSE(res->done());
    EXPECT_EQ(ch->stats().blockedReaders, 1u);
    fi->interrupt();
    ASSERT_TRUE(res->done()) << "the interrupt did not reach the parked read";
    EXPECT_EQ(res->get().completions, 1);
    EXPECT_EQ(res->get().error, EINTR);
    EXPECT_EQ(ch->stats().blockedReaders, 0u);
    // Nothing was taken for it: the next reader gets what comes next.
    writeOk(*ch, *w, "abc\n");
    EXPECT_EQ(readData(*ch, *r), "abc\n");
    EXPECT_EQ(res->get().completions, 1);
}

TEST(WaitArming, AnInterruptBeforeArmingFailsTheReadWithEintrAndDoesNotPark)
{
    auto ch = makeChannel({{"kind", "queue"}});
    auto r = ch->open(true, false);
    std::unique_ptr<FakeInterrupt<ReadResult>> fi;
    // Ctrl-C lands between the first try and the arming.
    auto res = readArmed(*ch, *r, fi, {}, [&] { fi->result.interrupt = true; });
    EXPECT_EQ(fi->arms, 1);
    ASSERT_TRUE(res->done()) << "an interrupted read was left parked";
    EXPECT_EQ(res->get().completions, 1);
    EXPECT_EQ(res->get().error, EINTR);
    EXPECT_EQ(ch->stats().blockedReaders, 0u);
}

TEST(WaitArming, DataThatCameWhileArmingIsTaken)
{
    auto ch = makeChannel({{"kind", "queue"}});
    auto w = ch->open(false, true);
    auto r = ch->open(true, false);
    std::unique_ptr<FakeInterrupt<ReadResult>> fi;
    auto res = readArmed(*ch, *r, fi, {}, [&] { writeOk(*ch, *w, "abc\n"); });
    EXPECT_EQ(fi->arms, 1);
    ASSERT_TRUE(res->done());
    EXPECT_EQ(res->get().completions, 1);
    EXPECT_EQ(res->get().data, "abc\n");
    EXPECT_EQ(ch->stats().blockedReaders, 0u);
}

TEST(WaitArming, NonblockingAndContinuationReadsAreNeverArmed)
{
    auto ch = makeChannel({{"kind", "queue"}});
    auto r = ch->open(true, false);
    std::unique_ptr<FakeInterrupt<ReadResult>> fi;
    auto nb = readArmed(*ch, *r, fi, {.nonblock = true});
    EXPECT_EQ(fi->arms, 0);
    EXPECT_EQ(nb->get().error, EAGAIN);
    auto cont = readArmed(*ch, *r, fi, {.continuation = true});
    EXPECT_EQ(fi->arms, 0);
    EXPECT_EQ(cont->get().completions, 1);
    EXPECT_EQ(cont->get().data, "");
}

struct ArmedWrite {
    std::shared_ptr<WriteResult> result;
    int arms = 0;
};

// A write of `data` through writeArmedToWait; interruptFirst: Ctrl-C came
// before the arming.
ArmedWrite writeArmed(Channel &ch, Handle &h, std::string_view data,
                      std::unique_ptr<FakeInterrupt<WriteResult>> &fi, bool interruptFirst = false)
{
    ArmedWrite out{std::make_shared<WriteResult>()};
    fi = std::make_unique<FakeInterrupt<WriteResult>>(FakeInterrupt<WriteResult>{ch, *out.result});
    WriteRequest req;
    req.data = std::span<const char>(data.data(), data.size());
    writeArmedToWait(ch, h, req, std::make_unique<FakeWriteWaiter>(out.result), [&] {
        if (interruptFirst) out.result->interrupt = true;
        fi->arm();
    });
    out.arms = fi->arms;
    return out;
}

TEST(WaitArming, AWriteWithRoomIsNotArmedAndAFullChannelsWriteIsArmedAndCancelled)
{
    auto ch = makeChannel({{"kind", "queue"}, {"capacity", "4"}});
    auto w = ch->open(false, true);
    auto r = ch->open(true, false);
    std::unique_ptr<FakeInterrupt<WriteResult>> fi;
    const ArmedWrite first = writeArmed(*ch, *w, "abc\n", fi);
    EXPECT_EQ(first.arms, 0);
    EXPECT_EQ(first.result->get().dones, 1);
    const ArmedWrite second = writeArmed(*ch, *w, "def\n", fi);
    EXPECT_EQ(second.arms, 1);
    EXPECT_FALSE(second.result->done());
    EXPECT_EQ(ch->stats().blockedWriters, 1u);
    fi->interrupt();
    ASSERT_TRUE(second.result->done()) << "the interrupt did not reach the parked write";
    EXPECT_EQ(second.result->get().error, EINTR);
    EXPECT_EQ(second.result->get().completions, 1);
    EXPECT_EQ(readData(*ch, *r), "abc\n");
    expectNothingToRead(*ch, *r);
}

TEST(WaitArming, AnInterruptBeforeArmingFailsTheWriteWithEintr)
{
    auto ch = makeChannel({{"kind", "queue"}, {"capacity", "4"}});
    auto w = ch->open(false, true);
    auto r = ch->open(true, false);
    writeOk(*ch, *w, "abc\n");
    std::unique_ptr<FakeInterrupt<WriteResult>> fi;
    const ArmedWrite wr = writeArmed(*ch, *w, "def\n", fi, true);
    EXPECT_EQ(wr.arms, 1);
    ASSERT_TRUE(wr.result->done()) << "an interrupted write was left parked";
    EXPECT_EQ(wr.result->get().error, EINTR);
    EXPECT_EQ(ch->stats().blockedWriters, 0u);
    EXPECT_EQ(readData(*ch, *r), "abc\n");
    expectNothingToRead(*ch, *r);
}

}  // namespace
}  // namespace chanfs::test
