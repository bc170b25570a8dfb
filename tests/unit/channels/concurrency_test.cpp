// Many threads on one channel at once, with parking, interrupts and failed
// replies: meant to run under ThreadSanitizer as well as normally. Each
// thread waits for its own request before issuing the next, as a FUSE
// requester does.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/unit/fakes.h"

namespace chanfs {
namespace {

using namespace test;

// Splits complete lines off the front of `buf`.
std::vector<std::string> takeLines(std::string &buf)
{
    std::vector<std::string> lines;
    size_t start = 0;
    for (size_t nl; (nl = buf.find('\n', start)) != std::string::npos; start = nl + 1)
        lines.push_back(buf.substr(start, nl + 1 - start));
    buf.erase(0, start);
    return lines;
}

std::string messageText(int writer, int seq)
{
    return "w" + std::to_string(writer) + "-" + std::to_string(seq);
}

// Parses "w<writer>-<seq>" (an optional trailing newline is ignored).
std::pair<int, int> parseMessage(const std::string &m)
{
    const size_t dash = m.find('-');
    return {std::stoi(m.substr(1, dash - 1)), std::stoi(m.substr(dash + 1))};
}

bool waitFor(const std::function<bool()> &cond, std::chrono::seconds limit = 60s)
{
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!cond()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(1ms);
    }
    return true;
}

TEST(Concurrency, QueueWritersAndReadersExchangeEveryMessageExactlyOnce)
{
    constexpr int kWriters = 4, kReaders = 4, kPerWriter = 1500;
    // Small capacity so writers park; short reads so remainders are used.
    auto ch = makeChannel({{"kind", "queue"}, {"capacity", "128"}});
    std::atomic<int> received{0};
    std::vector<std::vector<std::string>> got(kReaders);
    std::vector<std::thread> threads;

    for (int i = 0; i < kReaders; ++i) {
        threads.emplace_back([&, i] {
            auto h = ch->open(true, false);
            std::minstd_rand rng(100 + i);
            std::string buf;
            for (;;) {
                auto r = issueRead(*ch, *h, 4 + rng() % 40);
                if (!r->waitDone()) {
                    ADD_FAILURE() << "reader " << i << " never answered";
                    break;
                }
                const ReadOutcome out = r->get();
                EXPECT_EQ(out.completions, 1);
                if (out.fails) {
                    ADD_FAILURE() << "reader " << i << " failed with " << out.error;
                    break;
                }
                if (out.eof) break;  // detached: the test is over
                buf += out.data;
                for (std::string &line : takeLines(buf)) {
                    got[i].push_back(std::move(line));
                    received.fetch_add(1);
                }
            }
            EXPECT_EQ(buf, "") << "reader " << i << " was left with a fragment";
            ch->release(*h);
        });
    }
    for (int i = 0; i < kWriters; ++i) {
        threads.emplace_back([&, i] {
            auto h = ch->open(false, true);
            std::minstd_rand rng(200 + i);
            for (int j = 0; j < kPerWriter; ++j) {
                const std::string line = messageText(i, j) + "\n";
                // Sometimes in two requests, so the writer's held part is used.
                const size_t cut = rng() % 3 == 0 ? 1 + rng() % (line.size() - 1) : line.size();
                for (const std::string &part : {line.substr(0, cut), line.substr(cut)}) {
                    if (part.empty()) continue;
                    auto w = issueWrite(*ch, *h, part);
                    ASSERT_TRUE(w->waitDone()) << "writer " << i << " never answered";
                    ASSERT_EQ(w->get().dones, 1) << "writer " << i << " error " << w->get().error;
                    ASSERT_EQ(w->get().acceptedBytes, part.size());
                }
            }
            ch->release(*h);
        });
    }
    const bool all = waitFor([&] { return received.load() >= kWriters * kPerWriter; });
    EXPECT_TRUE(all) << "received " << received.load();
    ch->detach();  // ends the readers' waiting reads
    for (auto &t : threads) t.join();

    std::map<std::pair<int, int>, int> seen;
    for (auto &lines : got)
        for (auto &l : lines) ++seen[parseMessage(l)];
    EXPECT_EQ(seen.size(), size_t(kWriters * kPerWriter));
    for (const auto &[msg, count] : seen)
        EXPECT_EQ(count, 1) << "w" << msg.first << "-" << msg.second;
    const ChannelStats st = ch->stats();
    EXPECT_EQ(st.inMessages, uint64_t(kWriters * kPerWriter));
    EXPECT_EQ(st.outMessages, uint64_t(kWriters * kPerWriter));
    EXPECT_EQ(st.queuedBytes, 0u);
    EXPECT_EQ(st.blockedReaders, 0u);
    EXPECT_EQ(st.blockedWriters, 0u);
}

TEST(Concurrency, CancelsInterruptsAndFailedRepliesLoseNothing)
{
    constexpr int kWriters = 3, kReaders = 3, kPerWriter = 800;
    auto ch = makeChannel({{"kind", "queue"}, {"framing", "messages"}, {"capacity", "64"}});
    std::atomic<bool> stop{false};
    std::atomic<int> received{0};
    std::vector<std::atomic<uintptr_t>> liveKeys(kReaders + kWriters);
    std::vector<std::vector<std::string>> got(kReaders);
    std::vector<std::vector<std::shared_ptr<ReadResult>>> allReads(kReaders);
    std::vector<std::vector<std::shared_ptr<WriteResult>>> allWrites(kWriters);
    std::vector<std::thread> threads;

    for (int i = 0; i < kReaders; ++i) {
        threads.emplace_back([&, i] {
            auto h = ch->open(true, false);
            std::minstd_rand rng(300 + i);
            for (;;) {
                auto r = std::make_shared<ReadResult>();
                if (rng() % 5 == 0) r->deliverRc = -ENOENT;  // the reader "dies" in the reply
                liveKeys[i] = r->key;
                ReadRequest req;
                req.maxBytes = 1000;
                ch->read(*h, req, std::make_unique<FakeReadWaiter>(r));
                if (rng() % 7 == 0) r->interrupt = true;  // a signal while it may wait
                allReads[i].push_back(r);
                if (!r->waitDone()) {
                    ADD_FAILURE() << "reader " << i << " never answered";
                    break;
                }
                const ReadOutcome out = r->get();
                if (out.eof) break;
                if (out.accepted) {
                    got[i].push_back(out.data);
                    received.fetch_add(1);
                } else if (out.fails) {
                    EXPECT_EQ(out.error, EINTR);
                }
            }
            ch->release(*h);
        });
    }
    for (int i = 0; i < kWriters; ++i) {
        threads.emplace_back([&, i] {
            auto h = ch->open(false, true);
            for (int j = 0; j < kPerWriter; ++j) {
                const std::string msg = messageText(i, j);
                for (;;) {  // an interrupted write queued nothing: write it again
                    auto w = std::make_shared<WriteResult>();
                    liveKeys[kReaders + i] = w->key;
                    WriteRequest req;
                    req.data = std::span<const char>(msg.data(), msg.size());
                    ch->write(*h, req, std::make_unique<FakeWriteWaiter>(w));
                    allWrites[i].push_back(w);
                    ASSERT_TRUE(w->waitDone()) << "writer " << i << " never answered";
                    const WriteOutcome out = w->get();
                    if (out.dones) break;
                    ASSERT_EQ(out.error, EINTR);
                }
            }
            ch->release(*h);
        });
    }
    std::thread canceller([&] {
        for (size_t n = 0; !stop.load(); ++n) {
            ch->cancel(liveKeys[n % liveKeys.size()].load());
            std::this_thread::yield();
        }
    });

    const bool all = waitFor([&] { return received.load() >= kWriters * kPerWriter; });
    EXPECT_TRUE(all) << "received " << received.load();
    stop = true;
    canceller.join();
    ch->detach();
    for (auto &t : threads) t.join();

    std::map<std::string, int> seen;
    for (auto &msgs : got)
        for (auto &m : msgs) ++seen[m];
    EXPECT_EQ(seen.size(), size_t(kWriters * kPerWriter));
    for (const auto &[msg, count] : seen) EXPECT_EQ(count, 1) << msg;

    for (auto &reads : allReads)
        for (auto &r : reads) {
            const ReadOutcome o = r->get();
            EXPECT_EQ(o.completions, 1);
            EXPECT_TRUE(o.destroyed);
        }
    for (auto &writes : allWrites)
        for (auto &w : writes) {
            const WriteOutcome o = w->get();
            EXPECT_EQ(o.completions, 1);
            EXPECT_TRUE(o.destroyed);
        }
    EXPECT_EQ(ch->stats().queuedBytes, 0u);
}

TEST(Concurrency, TopicSubscribersGetEveryMessageInEachWritersOrder)
{
    constexpr int kWriters = 3, kSubscribers = 3, kPerWriter = 800;
    auto ch = makeChannel({{"kind", "topic"}, {"capacity", "256"}});
    std::vector<std::shared_ptr<Handle>> subs;
    for (int i = 0; i < kSubscribers; ++i) subs.push_back(ch->open(true, false));
    std::vector<std::thread> threads;

    for (int i = 0; i < kSubscribers; ++i) {
        threads.emplace_back([&, i] {
            std::minstd_rand rng(400 + i);
            std::vector<int> next(kWriters, 0);
            std::string buf;
            int total = 0;
            while (total < kWriters * kPerWriter) {
                auto r = issueRead(*ch, *subs[i], 3 + rng() % 50);
                ASSERT_TRUE(r->waitDone()) << "subscriber " << i << " never answered";
                const ReadOutcome out = r->get();
                ASSERT_EQ(out.accepted, 1) << "subscriber " << i << " error " << out.error;
                ASSERT_FALSE(out.eof);
                buf += out.data;
                for (const std::string &line : takeLines(buf)) {
                    const auto [w, seq] = parseMessage(line);
                    ASSERT_EQ(seq, next[w]) << "subscriber " << i << " writer " << w;
                    ++next[w];
                    ++total;
                }
            }
            EXPECT_EQ(buf, "");
        });
    }
    for (int i = 0; i < kWriters; ++i) {
        threads.emplace_back([&, i] {
            auto h = ch->open(false, true);
            for (int j = 0; j < kPerWriter; ++j) {
                auto w = issueWrite(*ch, *h, messageText(i, j) + "\n");
                ASSERT_TRUE(w->waitDone()) << "writer " << i << " never answered";
                ASSERT_EQ(w->get().dones, 1) << "writer " << i << " error " << w->get().error;
            }
            ch->release(*h);
        });
    }
    for (auto &t : threads) t.join();
    for (auto &s : subs) ch->release(*s);
    const ChannelStats st = ch->stats();
    EXPECT_EQ(st.drops, 0u);
    EXPECT_EQ(st.queuedBytes, 0u);
}

}  // namespace
}  // namespace chanfs
