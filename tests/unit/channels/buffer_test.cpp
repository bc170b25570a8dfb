// channels/base/buffer.cpp: the ordered message log and its running totals.
#include <gtest/gtest.h>

#include <cstdlib>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "channels/base/buffer.h"

// Counts this thread's calls of the plain operator new, so a test can see
// whether building a message reached the heap.
namespace {
thread_local size_t heapAllocations = 0;
}  // namespace

void *operator new(size_t n)
{
    ++heapAllocations;
    if (void *p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void operator delete(void *p) noexcept
{
    std::free(p);
}
void operator delete(void *p, size_t) noexcept
{
    std::free(p);
}

namespace chanfs {
namespace {

Entry message(const std::string &text)
{
    Entry e;
    e.payload = makePayload(text.data(), text.size());
    e.length = static_cast<uint32_t>(text.size());
    return e;
}

Entry mark(uint64_t session = 0)
{
    Entry e;
    e.session = session;
    return e;
}

std::string textOf(const Entry &e)
{
    return std::string(e.data(), e.length);
}

TEST(MessageLog, PushBackNumbersEntriesAndCountsOnlyMessages)
{
    MessageLog log;
    EXPECT_TRUE(log.empty());
    EXPECT_EQ(log.nextSeq(), 1u);
    log.pushBack(message("abc"));
    log.pushBack(mark(7));
    log.pushBack(message("defgh"));
    ASSERT_EQ(log.size(), 3u);
    EXPECT_EQ(log.at(0).seq, 1u);
    EXPECT_EQ(log.at(1).seq, 2u);
    EXPECT_EQ(log.at(2).seq, 3u);
    EXPECT_EQ(log.at(0).streamPos, 0u);
    EXPECT_EQ(log.at(1).streamPos, 3u);
    EXPECT_EQ(log.at(2).streamPos, 3u) << "a mark has no bytes";
    EXPECT_TRUE(log.at(1).isMark());
    EXPECT_EQ(log.at(1).session, 7u);
    EXPECT_EQ(log.bytes(), 8u);
    EXPECT_EQ(log.messages(), 2u);
    EXPECT_EQ(log.streamEnd(), 8u);
    EXPECT_EQ(log.nextSeq(), 4u);
}

TEST(MessageLog, PopAndPushFrontKeepSequenceAndTotals)
{
    MessageLog log;
    log.pushBack(message("one"));
    log.pushBack(message("two!"));
    Entry first = log.popFront();
    EXPECT_EQ(textOf(first), "one");
    EXPECT_EQ(first.seq, 1u);
    EXPECT_EQ(log.bytes(), 4u);
    EXPECT_EQ(log.messages(), 1u);
    log.pushFront(std::move(first));
    EXPECT_EQ(log.front().seq, 1u);
    EXPECT_EQ(textOf(log.front()), "one");
    EXPECT_EQ(log.bytes(), 7u);
    EXPECT_EQ(log.messages(), 2u);
    EXPECT_EQ(log.nextSeq(), 3u) << "putting back does not consume a sequence number";

    log.popFront();
    log.popFront();
    EXPECT_TRUE(log.empty());
    EXPECT_EQ(log.bytes(), 0u);
    EXPECT_EQ(log.messages(), 0u);
    log.pushFront(mark());
    EXPECT_EQ(log.messages(), 0u);
    EXPECT_EQ(log.bytes(), 0u);
}

TEST(MessageLog, ConsumeAndUnconsumeFrontMoveBytesNotMessages)
{
    MessageLog log;
    log.pushBack(message("abcdef"));
    log.consumeFront(2);
    EXPECT_EQ(textOf(log.front()), "cdef");
    EXPECT_EQ(log.front().offset, 2u);
    EXPECT_EQ(log.bytes(), 4u);
    EXPECT_EQ(log.messages(), 1u);
    log.consumeFront(3);
    EXPECT_EQ(textOf(log.front()), "f");
    log.unconsumeFront(5);
    EXPECT_EQ(textOf(log.front()), "abcdef");
    EXPECT_EQ(log.bytes(), 6u);
    EXPECT_EQ(log.messages(), 1u);
}

TEST(MessageLog, EraseAtRemovesOneEntryAndItsBytes)
{
    MessageLog log;
    log.pushBack(message("a"));
    log.pushBack(mark());
    log.pushBack(message("bb"));
    log.pushBack(message("ccc"));
    const Entry gone = log.eraseAt(2);
    EXPECT_EQ(textOf(gone), "bb");
    ASSERT_EQ(log.size(), 3u);
    EXPECT_EQ(textOf(log.at(0)), "a");
    EXPECT_TRUE(log.at(1).isMark());
    EXPECT_EQ(textOf(log.at(2)), "ccc");
    EXPECT_EQ(log.bytes(), 4u);
    EXPECT_EQ(log.messages(), 2u);
}

TEST(MessageLog, IndexOfSeqOnAContiguousLog)
{
    MessageLog log;
    EXPECT_EQ(log.indexOfSeq(1), 0u);
    for (int i = 0; i < 5; ++i) log.pushBack(message("m" + std::to_string(i)));
    log.popFront();
    log.popFront();  // seqs 3, 4, 5 remain
    EXPECT_EQ(log.indexOfSeq(1), 0u) << "before the front: the front";
    EXPECT_EQ(log.indexOfSeq(3), 0u);
    EXPECT_EQ(log.indexOfSeq(4), 1u);
    EXPECT_EQ(log.indexOfSeq(5), 2u);
    EXPECT_EQ(log.indexOfSeq(6), log.size()) << "past the end";
    EXPECT_EQ(log.indexOfSeq(1000), log.size());
    EXPECT_EQ(textOf(log.at(log.indexOfSeq(4))), "m3");
}

TEST(MessageLog, ResequenceDropsMarksAndRenumbersContiguously)
{
    MessageLog log;
    log.pushBack(message("aa"));
    log.pushBack(mark());
    log.pushBack(message("bbb"));
    log.pushBack(mark());
    log.pushBack(message("c"));
    log.eraseAt(0);  // a queue's drop-oldest leaves a gap
    log.resequence();
    ASSERT_EQ(log.size(), 2u);
    EXPECT_EQ(log.messages(), 2u);
    EXPECT_EQ(log.bytes(), 4u);
    EXPECT_EQ(log.at(1).seq, log.at(0).seq + 1);
    EXPECT_EQ(log.nextSeq(), log.at(1).seq + 1);
    EXPECT_EQ(log.at(0).streamPos, 0u);
    EXPECT_EQ(log.at(1).streamPos, 3u);
    EXPECT_EQ(log.streamEnd(), 4u);
    EXPECT_EQ(log.indexOfSeq(log.at(1).seq), 1u);
    EXPECT_EQ(textOf(log.at(0)), "bbb");
    EXPECT_EQ(textOf(log.at(1)), "c");
}

TEST(Payload, CopiesTheBytes)
{
    std::string src = "hello";
    const Payload p = makePayload(src.data(), src.size());
    src[0] = 'j';
    EXPECT_EQ(*p, "hello");
}

// A write of 1 KiB messages and the read that frees them: after the first,
// each block comes back from the thread's cache, not from malloc.
TEST(Payload, AOneKibMessageReusesTheBlockTheLastOneFreed)
{
    const std::string kib(1024, 'x');
    makePayload(kib.data(), kib.size()).reset();  // warm: one block cached
    const size_t before = heapAllocations;
    for (int i = 0; i < 100; ++i) {
        const Payload p = makePayload(kib.data(), kib.size());
        ASSERT_EQ(*p, kib);
    }
    EXPECT_EQ(heapAllocations - before, 0u);

    // One write's messages share one block: reused the same way.
    const std::string two = kib + kib;
    const MessageSpan spans[] = {{0, 1024}, {1024, 1024}};
    std::vector<Payload> out;
    makePayloads(two.data(), spans, out);
    out.clear();
    out.reserve(2);
    const size_t before2 = heapAllocations;
    makePayloads(two.data(), spans, out);
    EXPECT_EQ(heapAllocations - before2, 0u);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(*out[0], kib);
    EXPECT_EQ(*out[1], kib);
}

TEST(Payload, TheCacheIsBoundedAndLeavesOtherSizesToTheHeap)
{
    std::vector<Payload> many;
    for (size_t size : {1500u, 4000u, 8192u})
        for (int i = 0; i < 50; ++i) {
            const std::string s(size, 'y');
            many.push_back(makePayload(s.data(), s.size()));
        }
    many.clear();
    // 8 per size class and 64 KiB in all.
    EXPECT_LE(cachedPayloadBlocks(), 24u);
    EXPECT_GE(cachedPayloadBlocks(), 1u);

    // Small and large messages are not cached (glibc keeps the small ones).
    const size_t cached = cachedPayloadBlocks();
    makePayload("abc", 3).reset();
    const std::string big(64 * 1024, 'z');
    makePayload(big.data(), big.size()).reset();
    EXPECT_EQ(cachedPayloadBlocks(), cached);
}

TEST(Payload, ABlockFreedOnAnotherThreadStaysValidUntilThen)
{
    const std::string kib(3000, 'q');
    Payload p = makePayload(kib.data(), kib.size());
    std::thread t([q = std::move(p), &kib]() mutable {
        EXPECT_EQ(*q, kib);
        q.reset();  // into this thread's cache, freed when it ends
        EXPECT_GE(cachedPayloadBlocks(), 1u);
    });
    t.join();
}

}  // namespace
}  // namespace chanfs
