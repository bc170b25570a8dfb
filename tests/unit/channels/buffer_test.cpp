// channels/base/buffer.cpp: the ordered message log and its running totals.
#include <gtest/gtest.h>

#include <string>

#include "channels/base/buffer.h"

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

}  // namespace
}  // namespace chanfs
