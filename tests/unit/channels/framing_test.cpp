// channels/framing/framing.cpp: how successive write requests of one writer become
// messages, with the writer's partial message held between requests.
#include <gtest/gtest.h>

#include <cerrno>
#include <span>
#include <string>
#include <vector>

#include "channels/framing/framing.h"
#include "tests/unit/fakes.h"

namespace chanfs {
namespace {

using test::lp32Frame;

std::vector<std::string> messagesOf(const FramedWrite &w)
{
    std::vector<std::string> out;
    for (const Payload &p : w.messages) out.emplace_back(*p);
    return out;
}

// As Channel::write() sees it: heldAfter is always the new partial.
FramedWrite frame(Framing f, uint64_t max, const std::string &held, std::string_view data)
{
    const std::span<const char> span(data.data(), data.size());
    FramedWrite w = frameWrite(f, max, held, span);
    if (w.appendToHeld) {
        EXPECT_TRUE(w.messages.empty());
        std::string grown = held;
        applyHeld(grown, w, span);
        w.heldAfter = std::move(grown);
    }
    return w;
}

using Msgs = std::vector<std::string>;

// ---- lines --------------------------------------------------------------

TEST(LinesFraming, ALongLineInManyPiecesOnlyGrowsThePartialUntilItsNewline)
{
    const std::string piece(64 * 1024, 'x');
    std::string held = "start";
    for (int i = 0; i < 16; ++i) {
        FramedWrite w = frameWrite(Framing::Lines, 4u << 20, held,
                                   std::span<const char>(piece.data(), piece.size()));
        ASSERT_TRUE(w.appendToHeld) << "piece " << i;  // no copy of the growing partial
        ASSERT_TRUE(w.messages.empty());
        applyHeld(held, w, std::span<const char>(piece.data(), piece.size()));
    }
    EXPECT_EQ(held.size(), 5 + 16 * piece.size());
    const FramedWrite end = frame(Framing::Lines, 4u << 20, held, "y\nnext");
    ASSERT_EQ(end.messages.size(), 1u);
    EXPECT_EQ(*end.messages[0], held + "y\n");
    EXPECT_EQ(end.heldAfter, "next");
}

TEST(LinesFraming, AGrowingPartialStillHitsTheLimit)
{
    FramedWrite w = frame(Framing::Lines, 10, "abcdef", "ghij");  // 10 bytes, no newline
    EXPECT_EQ(w.error, -EMSGSIZE);
    EXPECT_TRUE(w.dropHeld);
}

TEST(LinesFraming, SplitsWholeLinesAndHoldsThePartialOne)
{
    const FramedWrite w = frame(Framing::Lines, 100, "", "a\nbb\ncc");
    EXPECT_EQ(w.error, 0);
    EXPECT_EQ(messagesOf(w), (Msgs{"a\n", "bb\n"}));
    EXPECT_EQ(w.messageBytes, 5u);
    EXPECT_EQ(w.heldAfter, "cc");
}

// One allocation per write, not per message (issue 16): the messages are
// views into one shared copy of the request, each its own Payload.
TEST(LinesFraming, AWritesMessagesShareOneCopyOfItsBytes)
{
    const std::string data = "a\nbb\nccc\npartial";
    const FramedWrite w = frame(Framing::Lines, 100, "", data);
    ASSERT_EQ(w.messages.size(), 3u);
    for (size_t i = 1; i < w.messages.size(); ++i) {
        const Payload &prev = w.messages[i - 1], &p = w.messages[i];
        EXPECT_FALSE(prev.owner_before(p) || p.owner_before(prev)) << "message " << i;
        EXPECT_NE(prev, p) << "two messages must never look like one (queue.cpp merges equal ones)";
        EXPECT_EQ(prev->data() + prev->size(), p->data()) << "one copy, in order";
    }
    EXPECT_NE(w.messages[0]->data(), data.data()) << "a copy, not the caller's buffer";
}

TEST(Lp32Framing, AWritesFramesShareOneCopyAndOutliveEachOther)
{
    std::vector<Payload> kept;
    {
        const FramedWrite w =
            frame(Framing::Lp32, 100, "", lp32Frame("one") + lp32Frame("two") + lp32Frame("3"));
        ASSERT_EQ(w.messages.size(), 3u);
        kept.push_back(w.messages[2]);
    }
    // The block lives as long as any of its messages.
    EXPECT_EQ(*kept[0], lp32Frame("3"));
}

TEST(LinesFraming, HeldPartialLineJoinsTheNextWrite)
{
    FramedWrite w = frame(Framing::Lines, 100, "", "hel");
    EXPECT_TRUE(w.messages.empty());
    EXPECT_EQ(w.heldAfter, "hel");
    w = frame(Framing::Lines, 100, w.heldAfter, "lo");
    EXPECT_TRUE(w.messages.empty());
    EXPECT_EQ(w.heldAfter, "hello");
    w = frame(Framing::Lines, 100, w.heldAfter, "\nwor");
    EXPECT_EQ(messagesOf(w), (Msgs{"hello\n"}));
    EXPECT_EQ(w.messageBytes, 6u);
    EXPECT_EQ(w.heldAfter, "wor");
}

TEST(LinesFraming, AWriteOfJustANewlineCompletesTheHeldLine)
{
    const FramedWrite w = frame(Framing::Lines, 100, "abc", "\n");
    EXPECT_EQ(messagesOf(w), (Msgs{"abc\n"}));
    EXPECT_EQ(w.heldAfter, "");
}

TEST(LinesFraming, EmptyWriteKeepsTheHeldLine)
{
    const FramedWrite w = frame(Framing::Lines, 100, "abc", "");
    EXPECT_EQ(w.error, 0);
    EXPECT_TRUE(w.messages.empty());
    EXPECT_EQ(w.heldAfter, "abc");
}

TEST(LinesFraming, EmptyLinesAreMessages)
{
    const FramedWrite w = frame(Framing::Lines, 100, "", "\n\nx\n");
    EXPECT_EQ(messagesOf(w), (Msgs{"\n", "\n", "x\n"}));
}

TEST(LinesFraming, ALineOfExactlyMaxBytesIncludingNewlineIsAccepted)
{
    const FramedWrite w = frame(Framing::Lines, 4, "", "abc\n");
    EXPECT_EQ(w.error, 0);
    EXPECT_EQ(messagesOf(w), (Msgs{"abc\n"}));
}

TEST(LinesFraming, ALineOverMaxIsRefusedWithEmsgsize)
{
    const FramedWrite w = frame(Framing::Lines, 4, "", "abcd\n");
    EXPECT_EQ(w.error, -EMSGSIZE);
    EXPECT_TRUE(w.messages.empty());
    EXPECT_EQ(w.messageBytes, 0u);
    EXPECT_FALSE(w.dropHeld);
}

TEST(LinesFraming, AnUnterminatedLineIsRefusedOnceItCannotFitAnyMore)
{
    // Three bytes may still end in a newline within the limit of 4...
    FramedWrite w = frame(Framing::Lines, 4, "", "abc");
    EXPECT_EQ(w.error, 0);
    EXPECT_EQ(w.heldAfter, "abc");
    // ...four cannot.
    w = frame(Framing::Lines, 4, "", "abcd");
    EXPECT_EQ(w.error, -EMSGSIZE);
    EXPECT_TRUE(w.messages.empty());
}

TEST(LinesFraming, AnOversizeLineRefusesTheWholeWriteIncludingEarlierGoodLines)
{
    const FramedWrite w = frame(Framing::Lines, 4, "", "ab\nabcdef\nc\n");
    EXPECT_EQ(w.error, -EMSGSIZE);
    EXPECT_TRUE(w.messages.empty()) << "nothing of a refused write may be queued";
    EXPECT_EQ(w.messageBytes, 0u);
}

TEST(LinesFraming, OversizeLineThatIncludesTheHeldPrefixDropsIt)
{
    FramedWrite w = frame(Framing::Lines, 4, "ab", "cde\n");
    EXPECT_EQ(w.error, -EMSGSIZE);
    EXPECT_TRUE(w.dropHeld);

    // Reaching the limit without a newline counts too.
    w = frame(Framing::Lines, 4, "ab", "cd");
    EXPECT_EQ(w.error, -EMSGSIZE);
    EXPECT_TRUE(w.dropHeld);
}

TEST(LinesFraming, OversizeLineAfterTheHeldOneEndedKeepsTheHeldPrefix)
{
    const FramedWrite w = frame(Framing::Lines, 4, "ab", "c\nwxyz0\n");
    EXPECT_EQ(w.error, -EMSGSIZE);
    EXPECT_FALSE(w.dropHeld) << "the oversize line started in this write, not in the held part";
    EXPECT_TRUE(w.messages.empty());
}

TEST(LinesFraming, TheFramerDoesNotChangeItsInputs)
{
    const std::string held = "ab";
    const std::string data = "c\nd";
    const FramedWrite w = frame(Framing::Lines, 100, held, data);
    EXPECT_EQ(held, "ab");
    EXPECT_EQ(messagesOf(w), (Msgs{"abc\n"}));
    // Framing the same input again gives the same result (a parked write
    // is retried unchanged).
    const FramedWrite again = frame(Framing::Lines, 100, held, data);
    EXPECT_EQ(messagesOf(again), messagesOf(w));
    EXPECT_EQ(again.heldAfter, w.heldAfter);
}

// ---- lp32 ----------------------------------------------------------------

TEST(Lp32Framing, ABigFrameInManyPiecesOnlyGrowsThePartialUntilItIsWhole)
{
    const uint32_t body = 1u << 20;
    std::string held = {char(body & 0xff), char(body >> 8 & 0xff), char(body >> 16 & 0xff),
                        char(body >> 24)};
    const std::string piece(body / 16, 'z');
    for (int i = 0; i < 15; ++i) {
        FramedWrite w = frameWrite(Framing::Lp32, 2u << 20, held,
                                   std::span<const char>(piece.data(), piece.size()));
        ASSERT_TRUE(w.appendToHeld) << "piece " << i;
        applyHeld(held, w, std::span<const char>(piece.data(), piece.size()));
    }
    const FramedWrite last = frame(Framing::Lp32, 2u << 20, held, piece);
    ASSERT_EQ(last.messages.size(), 1u);
    EXPECT_EQ(last.messages[0]->size(), body + 4u);
    EXPECT_EQ(last.heldAfter, "");
}

TEST(Lp32Framing, WholeFramesIncludeTheirHeader)
{
    const std::string data = lp32Frame("hello") + lp32Frame("") + lp32Frame("xy");
    const FramedWrite w = frame(Framing::Lp32, 100, "", data);
    EXPECT_EQ(w.error, 0);
    EXPECT_EQ(messagesOf(w), (Msgs{lp32Frame("hello"), lp32Frame(""), lp32Frame("xy")}));
    EXPECT_EQ(w.messageBytes, data.size());
    EXPECT_EQ(w.heldAfter, "");
}

TEST(Lp32Framing, HeaderSplitAcrossWrites)
{
    const std::string f = lp32Frame("payload");
    FramedWrite w = frame(Framing::Lp32, 100, "", f.substr(0, 2));
    EXPECT_TRUE(w.messages.empty());
    EXPECT_EQ(w.heldAfter, f.substr(0, 2));
    w = frame(Framing::Lp32, 100, w.heldAfter, f.substr(2, 1));
    EXPECT_TRUE(w.messages.empty());
    EXPECT_EQ(w.heldAfter.size(), 3u);
    w = frame(Framing::Lp32, 100, w.heldAfter, f.substr(3) + lp32Frame("n").substr(0, 1));
    EXPECT_EQ(messagesOf(w), (Msgs{f}));
    EXPECT_EQ(w.heldAfter.size(), 1u);
}

TEST(Lp32Framing, BodySplitAcrossWrites)
{
    const std::string f = lp32Frame("0123456789");
    FramedWrite w = frame(Framing::Lp32, 100, "", f.substr(0, 7));
    EXPECT_TRUE(w.messages.empty());
    w = frame(Framing::Lp32, 100, w.heldAfter, f.substr(7));
    EXPECT_EQ(messagesOf(w), (Msgs{f}));
}

TEST(Lp32Framing, LengthIsLittleEndian)
{
    // 0x0102 = 258 body bytes.
    std::string f = std::string("\x02\x01\x00\x00", 4) + std::string(257, 'z');
    FramedWrite w = frame(Framing::Lp32, 1000, "", f);
    EXPECT_TRUE(w.messages.empty()) << "257 of 258 body bytes is not a frame yet";
    f.push_back('z');
    w = frame(Framing::Lp32, 1000, "", f);
    ASSERT_EQ(w.messages.size(), 1u);
    EXPECT_EQ(w.messages[0]->size(), 262u);
}

TEST(Lp32Framing, BodyOfExactlyMaxIsAcceptedOneMoreIsRefused)
{
    FramedWrite w = frame(Framing::Lp32, 5, "", lp32Frame("12345"));
    EXPECT_EQ(w.error, 0);
    EXPECT_EQ(w.messages.size(), 1u);
    w = frame(Framing::Lp32, 5, "", lp32Frame("123456"));
    EXPECT_EQ(w.error, -EMSGSIZE);
    EXPECT_TRUE(w.messages.empty());
}

TEST(Lp32Framing, OversizeLengthIsRefusedAsSoonAsTheHeaderIsComplete)
{
    // Only the header: the body has not arrived, but the length is too big.
    const std::string header = lp32Frame(std::string(50, 'x')).substr(0, 4);
    FramedWrite w = frame(Framing::Lp32, 10, "", header);
    EXPECT_EQ(w.error, -EMSGSIZE);

    // A huge length does not overflow the arithmetic.
    w = frame(Framing::Lp32, 10, "", std::string("\xff\xff\xff\xff", 4));
    EXPECT_EQ(w.error, -EMSGSIZE);
}

TEST(Lp32Framing, OversizeFrameWhoseHeaderWasHeldDropsIt)
{
    const std::string header = lp32Frame(std::string(50, 'x')).substr(0, 4);
    FramedWrite w = frame(Framing::Lp32, 10, header.substr(0, 2), header.substr(2));
    EXPECT_EQ(w.error, -EMSGSIZE);
    EXPECT_TRUE(w.dropHeld);

    // A good frame completed from the held part, then an oversize one.
    const std::string good = lp32Frame("ok");
    w = frame(Framing::Lp32, 10, good.substr(0, 3), good.substr(3) + header);
    EXPECT_EQ(w.error, -EMSGSIZE);
    EXPECT_FALSE(w.dropHeld);
    EXPECT_TRUE(w.messages.empty());
}

// ---- messages -------------------------------------------------------------

TEST(MessagesFraming, OneWriteIsOneMessageWhateverItHolds)
{
    const FramedWrite w = frame(Framing::Messages, 100, "", "a\nb\nc");
    EXPECT_EQ(messagesOf(w), (Msgs{"a\nb\nc"}));
    const std::string withNul("x\0y\n", 4);
    const FramedWrite v = frame(Framing::Messages, 100, "", withNul);
    EXPECT_EQ(messagesOf(v), (Msgs{withNul}));
    EXPECT_EQ(v.heldAfter, "");
}

TEST(MessagesFraming, OverMaxIsRefusedExactlyMaxIsAccepted)
{
    FramedWrite w = frame(Framing::Messages, 4, "", "abcd");
    EXPECT_EQ(w.error, 0);
    EXPECT_EQ(messagesOf(w), (Msgs{"abcd"}));
    w = frame(Framing::Messages, 4, "", "abcde");
    EXPECT_EQ(w.error, -EMSGSIZE);
    EXPECT_TRUE(w.messages.empty());
    EXPECT_EQ(w.messageBytes, 0u);
}

// ---- bytes -----------------------------------------------------------------

TEST(BytesFraming, PassesDataThroughAsOneChunk)
{
    FramedWrite w = frame(Framing::Bytes, 100, "", "no\nboundaries");
    EXPECT_EQ(w.error, 0);
    EXPECT_EQ(messagesOf(w), (Msgs{"no\nboundaries"}));
    EXPECT_EQ(w.heldAfter, "");

    w = frame(Framing::Bytes, 100, "", "");
    EXPECT_TRUE(w.messages.empty());
}

TEST(FramingTraits, OnlyMessagesKeepsOneMessagePerReadOnlyBytesSplitsFreely)
{
    EXPECT_TRUE(joinsMessages(Framing::Bytes));
    EXPECT_TRUE(joinsMessages(Framing::Lines));
    EXPECT_TRUE(joinsMessages(Framing::Lp32));
    EXPECT_FALSE(joinsMessages(Framing::Messages));
    EXPECT_TRUE(splitsFreely(Framing::Bytes));
    EXPECT_FALSE(splitsFreely(Framing::Lines));
    EXPECT_FALSE(splitsFreely(Framing::Messages));
    EXPECT_FALSE(splitsFreely(Framing::Lp32));
}

}  // namespace
}  // namespace chanfs
