// The per-key log line limiter (channels/base/log_limit.h), on a clock the
// test moves by hand.
#include "channels/base/log_limit.h"

#include <gtest/gtest.h>

namespace chanfs {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

LogLimiter::Limits limits(uint32_t burst)
{
    LogLimiter::Limits l;
    l.burst = burst;
    l.window = std::chrono::seconds(1);
    l.maxKeys = 4;
    return l;
}

TEST(LogLimiter, ABurstPerKeyThenOneSummaryForTheRest)
{
    LogLimiter lim(limits(3));
    const Clock::time_point t0{std::chrono::hours(1)};
    std::vector<LogLimiter::Suppressed> due;
    int written = 0;
    for (int i = 0; i < 800; ++i)
        written += lim.admit("unfinished", spdlog::level::warn, t0 + milliseconds(i), &due);
    EXPECT_EQ(written, 3);
    EXPECT_TRUE(due.empty());
    // Another key has its own budget.
    EXPECT_TRUE(lim.admit("setxattr", spdlog::level::info, t0 + milliseconds(900), &due));
    // The next window: the summary comes first, then lines are written again.
    EXPECT_TRUE(lim.admit("unfinished", spdlog::level::warn, t0 + milliseconds(1000), &due));
    ASSERT_EQ(due.size(), 1u);
    EXPECT_EQ(due[0].key, "unfinished");
    EXPECT_EQ(due[0].lines, 797u);
    EXPECT_EQ(due[0].level, spdlog::level::warn);
}

TEST(LogLimiter, ASilentKeysSummaryComesWithAnyOtherLineOrAtTheEnd)
{
    LogLimiter lim(limits(1));
    const Clock::time_point t0{std::chrono::hours(1)};
    std::vector<LogLimiter::Suppressed> due;
    EXPECT_TRUE(lim.admit("a", spdlog::level::info, t0, &due));
    EXPECT_FALSE(lim.admit("a", spdlog::level::info, t0, &due));
    EXPECT_FALSE(lim.admit("a", spdlog::level::info, t0, &due));
    EXPECT_TRUE(lim.admit("b", spdlog::level::info, t0 + milliseconds(2500), &due));
    ASSERT_EQ(due.size(), 1u);
    EXPECT_EQ(due[0].key, "a");
    EXPECT_EQ(due[0].lines, 2u);
    due.clear();
    EXPECT_FALSE(lim.admit("b", spdlog::level::info, t0 + milliseconds(2600), &due));
    const auto rest = lim.takeAll();
    ASSERT_EQ(rest.size(), 1u);
    EXPECT_EQ(rest[0].key, "b");
    EXPECT_EQ(rest[0].lines, 1u);
    EXPECT_TRUE(lim.takeAll().empty());
}

TEST(LogLimiter, IdleKeysAreForgottenPastTheKeyLimitWithoutLosingACount)
{
    LogLimiter lim(limits(1));
    const Clock::time_point t0{std::chrono::hours(1)};
    std::vector<LogLimiter::Suppressed> due;
    for (int i = 0; i < 50; ++i)
        EXPECT_TRUE(lim.admit("key" + std::to_string(i), spdlog::level::info, t0, &due));
    EXPECT_FALSE(lim.admit("key7", spdlog::level::info, t0, &due));
    // A sweep later, the idle keys go; the one with a count reports it.
    EXPECT_TRUE(lim.admit("new", spdlog::level::info, t0 + std::chrono::seconds(5), &due));
    ASSERT_EQ(due.size(), 1u);
    EXPECT_EQ(due[0].key, "key7");
    EXPECT_TRUE(lim.admit("key3", spdlog::level::info, t0 + std::chrono::seconds(5), &due));
}

}  // namespace
}  // namespace chanfs
