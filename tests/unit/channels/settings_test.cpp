// channels/base/settings.cpp: parsing and formatting the user.chanfs.* values,
// the defaults that follow the kind and framing, directory defaults.
#include <gtest/gtest.h>

#include <cerrno>
#include <string>
#include <vector>

#include "channels/base/settings.h"
#include "tests/unit/fakes.h"

namespace chanfs {
namespace {

using test::settingsOf;

// ---- sizes and counts --------------------------------------------------

TEST(ParseSize, AcceptsPlainNumbersAndBinarySuffixes)
{
    struct Case {
        const char *text;
        uint64_t want;
    } cases[] = {
        {"0", 0},           {"65536", 65536},     {"64K", 64 * 1024},
        {"64k", 64 * 1024}, {"1M", 1024 * 1024},  {"1m", 1024 * 1024},
        {"3G", 3ull << 30}, {"16G", 16ull << 30}, {"18446744073709551615", UINT64_MAX},
    };
    for (const Case &c : cases) {
        uint64_t v = 12345;
        EXPECT_EQ(parseSize(c.text, &v), 0) << c.text;
        EXPECT_EQ(v, c.want) << c.text;
    }
}

TEST(ParseSize, RejectsMalformedAndOverflowingValuesWithoutTouchingTheOutput)
{
    const char *bad[] = {
        "",
        "K",
        "M",
        "12X",
        "-1",
        "+1",
        " 1",
        "1 ",
        "1.5M",
        "1KB",
        "0x10",
        "1e6",
        "K1",
        "1 K",
        "18446744073709551616",  // 2^64
        "17179869184G",          // 2^34 GiB = 2^64 bytes
    };
    for (const char *text : bad) {
        uint64_t v = 777;
        EXPECT_EQ(parseSize(text, &v), -EINVAL) << '"' << text << '"';
        EXPECT_EQ(v, 777u) << '"' << text << '"';
    }
}

TEST(ParseCount, AcceptsDigitsOnly)
{
    uint64_t v = 0;
    EXPECT_EQ(parseCount("1000000", &v), 0);
    EXPECT_EQ(v, 1000000u);
    EXPECT_EQ(parseCount("0", &v), 0);
    EXPECT_EQ(v, 0u);
    for (const char *text : {"", "1K", "-3", "3 ", "three"}) {
        v = 9;
        EXPECT_EQ(parseCount(text, &v), -EINVAL) << '"' << text << '"';
        EXPECT_EQ(v, 9u);
    }
}

// ---- enumerations ------------------------------------------------------

TEST(ParseNames, EveryNameRoundTripsThroughToString)
{
    for (Kind k : {Kind::Pipe, Kind::Queue, Kind::Topic}) {
        Kind out = k == Kind::Pipe ? Kind::Topic : Kind::Pipe;
        EXPECT_EQ(parseKind(toString(k), &out), 0);
        EXPECT_EQ(out, k);
    }
    for (Framing f : {Framing::Bytes, Framing::Lines, Framing::Messages, Framing::Lp32}) {
        Framing out = f == Framing::Bytes ? Framing::Lp32 : Framing::Bytes;
        EXPECT_EQ(parseFraming(toString(f), &out), 0);
        EXPECT_EQ(out, f);
    }
    for (Overflow o : {Overflow::Block, Overflow::DropOldest, Overflow::Error}) {
        Overflow out = o == Overflow::Block ? Overflow::Error : Overflow::Block;
        EXPECT_EQ(parseOverflow(toString(o), &out), 0);
        EXPECT_EQ(out, o);
    }
    EXPECT_EQ(toString(Overflow::DropOldest), "drop-oldest");
    EXPECT_EQ(toString(Framing::Lp32), "lp32");
}

TEST(ParseNames, RejectsUnknownAndWronglyCasedNames)
{
    Kind k = Kind::Queue;
    EXPECT_EQ(parseKind("Queue", &k), -EINVAL);
    EXPECT_EQ(parseKind("fifo", &k), -EINVAL);
    EXPECT_EQ(parseKind("", &k), -EINVAL);
    EXPECT_EQ(k, Kind::Queue);
    Framing f = Framing::Lines;
    EXPECT_EQ(parseFraming("line", &f), -EINVAL);
    EXPECT_EQ(parseFraming("LP32", &f), -EINVAL);
    EXPECT_EQ(f, Framing::Lines);
    Overflow o = Overflow::Error;
    EXPECT_EQ(parseOverflow("drop_oldest", &o), -EINVAL);
    EXPECT_EQ(parseOverflow("drop", &o), -EINVAL);
    EXPECT_EQ(o, Overflow::Error);
}

// ---- defaults that follow the kind and framing -------------------------

TEST(Defaults, PipeIsBytesQueueAndTopicAreLines)
{
    EXPECT_EQ(defaultFraming(Kind::Pipe), Framing::Bytes);
    EXPECT_EQ(defaultFraming(Kind::Queue), Framing::Lines);
    EXPECT_EQ(defaultFraming(Kind::Topic), Framing::Lines);
    EXPECT_EQ(defaultMaxMessage(Framing::Messages), 1044480u);
    EXPECT_EQ(defaultMaxMessage(Framing::Lines), kMiB);
    EXPECT_EQ(kMaxMessagesFramingBytes, 1044480u);

    const Settings s;
    EXPECT_EQ(s.kind, Kind::Pipe);
    EXPECT_EQ(s.framing, Framing::Bytes);
    EXPECT_EQ(s.capacityBytes, kMiB);
    EXPECT_EQ(s.overflow, Overflow::Block);
    EXPECT_EQ(s.replay, 0u);
    EXPECT_EQ(validate(s, nullptr), 0);
}

TEST(ApplySetting, KindChangeResetsFramingToTheKindDefault)
{
    Settings s;
    std::string why;
    ASSERT_EQ(applySetting(&s, "kind", "queue", &why), 0) << why;
    EXPECT_EQ(s.kind, Kind::Queue);
    EXPECT_EQ(s.framing, Framing::Lines);
    EXPECT_FALSE(s.framingExplicit);
    ASSERT_EQ(applySetting(&s, "kind", "pipe", &why), 0) << why;
    EXPECT_EQ(s.framing, Framing::Bytes);
    ASSERT_EQ(applySetting(&s, "kind", "topic", &why), 0) << why;
    EXPECT_EQ(s.framing, Framing::Lines);
}

TEST(ApplySetting, ExplicitFramingSurvivesKindChanges)
{
    Settings s;
    std::string why;
    ASSERT_EQ(applySetting(&s, "framing", "lp32", &why), 0) << why;
    EXPECT_TRUE(s.framingExplicit);
    ASSERT_EQ(applySetting(&s, "kind", "queue", &why), 0) << why;
    EXPECT_EQ(s.framing, Framing::Lp32);
    ASSERT_EQ(applySetting(&s, "kind", "pipe", &why), 0) << why;
    EXPECT_EQ(s.framing, Framing::Lp32);

    // Explicitly choosing the kind default is still explicit.
    Settings t;
    ASSERT_EQ(applySetting(&t, "framing", "bytes", &why), 0) << why;
    ASSERT_EQ(applySetting(&t, "kind", "topic", &why), 0) << why;
    EXPECT_EQ(t.framing, Framing::Bytes);
}

TEST(ApplySetting, MaxMessageFollowsFramingUntilSetExplicitly)
{
    Settings s;
    std::string why;
    ASSERT_EQ(applySetting(&s, "framing", "messages", &why), 0) << why;
    EXPECT_EQ(s.maxMessageBytes, 1044480u);
    EXPECT_FALSE(s.maxMessageExplicit);
    ASSERT_EQ(applySetting(&s, "framing", "lines", &why), 0) << why;
    EXPECT_EQ(s.maxMessageBytes, kMiB);

    ASSERT_EQ(applySetting(&s, "max_message", "4K", &why), 0) << why;
    EXPECT_TRUE(s.maxMessageExplicit);
    ASSERT_EQ(applySetting(&s, "framing", "messages", &why), 0) << why;
    EXPECT_EQ(s.maxMessageBytes, 4096u);
    ASSERT_EQ(applySetting(&s, "kind", "queue", &why), 0) << why;
    EXPECT_EQ(s.maxMessageBytes, 4096u);
}

TEST(ApplySetting, KindChangeKeepsAnImplicitMaxMessageInStepWithTheFraming)
{
    Settings s;
    std::string why;
    ASSERT_EQ(applySetting(&s, "kind", "queue", &why), 0) << why;
    EXPECT_EQ(s.maxMessageBytes, kMiB);
    ASSERT_EQ(applySetting(&s, "framing", "messages", &why), 0) << why;
    ASSERT_EQ(applySetting(&s, "kind", "topic", &why), 0) << why;
    EXPECT_EQ(s.framing, Framing::Messages);
    EXPECT_EQ(s.maxMessageBytes, 1044480u);
}

TEST(ApplySetting, MessagesFramingCapsMaxMessageAt1044480)
{
    Settings s;
    std::string why;
    ASSERT_EQ(applySetting(&s, "framing", "messages", &why), 0) << why;
    EXPECT_EQ(applySetting(&s, "max_message", "1044480", &why), 0) << why;
    EXPECT_EQ(s.maxMessageBytes, 1044480u);

    const Settings before = s;
    why.clear();
    EXPECT_EQ(applySetting(&s, "max_message", "1044481", &why), -EINVAL);
    EXPECT_NE(why.find("1044480"), std::string::npos) << why;
    EXPECT_EQ(s, before);
    EXPECT_EQ(applySetting(&s, "max_message", "1M", &why), -EINVAL);
    EXPECT_EQ(s, before);
}

TEST(ApplySetting, SwitchingToMessagesWithALargeExplicitMaxIsRefused)
{
    Settings s;
    std::string why;
    ASSERT_EQ(applySetting(&s, "max_message", "2M", &why), 0) << why;
    const Settings before = s;
    why.clear();
    EXPECT_EQ(applySetting(&s, "framing", "messages", &why), -EINVAL);
    EXPECT_NE(why.find("1044480"), std::string::npos) << why;
    EXPECT_EQ(s, before) << "a refused value must leave the settings unchanged";
    // lp32 has no such limit.
    EXPECT_EQ(applySetting(&s, "framing", "lp32", &why), 0) << why;
    EXPECT_EQ(s.maxMessageBytes, 2 * kMiB);
}

TEST(ApplySetting, BadValuesAreRefusedWithAReasonAndChangeNothing)
{
    struct Case {
        const char *name;
        const char *value;
        const char *reasonHas;
    } cases[] = {
        {"kind", "fifo", "pipe, queue or topic"},
        {"kind", "", "pipe, queue or topic"},
        {"framing", "json", "bytes, lines, messages or lp32"},
        {"capacity", "0", "16G"},
        {"capacity", "17G", "16G"},
        {"capacity", "16385M", "16G"},
        {"capacity", "lots", "byte count"},
        {"capacity", "-1", "byte count"},
        {"max_message", "0", "64M"},
        {"max_message", "65M", "64M"},
        {"max_message", "1.5K", "byte count"},
        {"overflow", "drop", "block, drop-oldest or error"},
        {"replay", "1000001", "0 to 1000000"},
        {"replay", "10K", "0 to 1000000"},
        {"replay", "-1", "0 to 1000000"},
    };
    const Settings before = settingsOf({{"kind", "topic"}, {"replay", "3"}});
    for (const Case &c : cases) {
        Settings s = before;
        std::string why;
        EXPECT_EQ(applySetting(&s, c.name, c.value, &why), -EINVAL) << c.name << "=" << c.value;
        EXPECT_NE(why.find(c.reasonHas), std::string::npos)
            << c.name << "=" << c.value << " gave reason: " << why;
        EXPECT_EQ(s, before) << c.name << "=" << c.value;
    }
}

TEST(ApplySetting, LimitsAreInclusive)
{
    Settings s;
    std::string why;
    EXPECT_EQ(applySetting(&s, "capacity", "16G", &why), 0) << why;
    EXPECT_EQ(s.capacityBytes, 16 * kGiB);
    EXPECT_EQ(applySetting(&s, "capacity", "1", &why), 0) << why;
    EXPECT_EQ(s.capacityBytes, 1u);
    EXPECT_EQ(applySetting(&s, "max_message", "64M", &why), 0) << why;
    EXPECT_EQ(s.maxMessageBytes, 64 * kMiB);
    EXPECT_EQ(applySetting(&s, "replay", "1000000", &why), 0) << why;
    EXPECT_EQ(s.replay, 1000000u);
    EXPECT_EQ(applySetting(&s, "replay", "0", &why), 0) << why;
    EXPECT_EQ(s.replay, 0u);
}

TEST(ApplySetting, UnknownNameIsEnodata)
{
    Settings s;
    const Settings before = s;
    std::string why;
    EXPECT_EQ(applySetting(&s, "colour", "blue", &why), -ENODATA);
    EXPECT_EQ(why, "unknown setting");
    EXPECT_EQ(s, before);
    EXPECT_FALSE(formatSetting(s, "colour").has_value());
}

// ---- formatting ---------------------------------------------------------

TEST(FormatSetting, WritesCanonicalValues)
{
    const Settings s = settingsOf({{"kind", "topic"},
                                   {"framing", "lp32"},
                                   {"capacity", "64K"},
                                   {"max_message", "2M"},
                                   {"overflow", "drop-oldest"},
                                   {"replay", "7"}});
    EXPECT_EQ(formatSetting(s, "kind"), "topic");
    EXPECT_EQ(formatSetting(s, "framing"), "lp32");
    EXPECT_EQ(formatSetting(s, "capacity"), "65536");
    EXPECT_EQ(formatSetting(s, "max_message"), "2097152");
    EXPECT_EQ(formatSetting(s, "overflow"), "drop-oldest");
    EXPECT_EQ(formatSetting(s, "replay"), "7");
}

TEST(FormatSetting, ReplicasIsACountWrittenInDecimal)
{
    // Like replay: digits with leading zeros are the same number, shown without them.
    EXPECT_EQ(formatSetting(settingsOf({{"replicas", "003"}}), "replicas"), "3");
    EXPECT_EQ(formatSetting(settingsOf({{"replicas", "00000"}}), "replicas"), "0");
    Settings s;
    std::string why;
    EXPECT_EQ(applySetting(&s, "replicas", "2", &why), -EINVAL);
    EXPECT_NE(why.find("1 or 3"), std::string::npos) << why;
    EXPECT_EQ(applySetting(&s, "replicas", "3k", &why), -EINVAL) << "no suffixes on a count";
}

TEST(FormatSetting, FormatThenParseRoundTripsEverySetting)
{
    const std::vector<Settings> samples = {
        Settings{},
        settingsOf({{"kind", "queue"}}),
        settingsOf({{"kind", "topic"},
                    {"framing", "messages"},
                    {"capacity", "3G"},
                    {"max_message", "1000"},
                    {"overflow", "error"},
                    {"replay", "1000000"}}),
        settingsOf({{"framing", "lp32"}, {"max_message", "64M"}, {"capacity", "1"}}),
    };
    for (const Settings &s : samples) {
        Settings back;
        for (std::string_view name : kSettingNames) {
            const auto text = formatSetting(s, name);
            ASSERT_TRUE(text.has_value()) << name;
            std::string why;
            ASSERT_EQ(applySetting(&back, name, *text, &why), 0)
                << name << "=" << *text << ": " << why;
        }
        EXPECT_EQ(back.kind, s.kind);
        EXPECT_EQ(back.framing, s.framing);
        EXPECT_EQ(back.capacityBytes, s.capacityBytes);
        EXPECT_EQ(back.maxMessageBytes, s.maxMessageBytes);
        EXPECT_EQ(back.overflow, s.overflow);
        EXPECT_EQ(back.replay, s.replay);
    }
}

// ---- directory defaults -------------------------------------------------

TEST(PartialSettings, HoldsOnlyWhatWasSet)
{
    PartialSettings p;
    EXPECT_TRUE(p.empty());
    for (std::string_view name : kSettingNames) EXPECT_FALSE(formatSetting(p, name).has_value());

    std::string why;
    ASSERT_EQ(applySetting(&p, "capacity", "64K", &why), 0) << why;
    EXPECT_FALSE(p.empty());
    EXPECT_EQ(formatSetting(p, "capacity"), "65536");
    EXPECT_FALSE(formatSetting(p, "kind").has_value());

    ASSERT_EQ(applySetting(&p, "replay", "0", &why), 0) << why;
    EXPECT_EQ(formatSetting(p, "replay"), "0") << "replay=0 is set, not absent";

    EXPECT_EQ(clearSetting(&p, "capacity"), 0);
    EXPECT_FALSE(formatSetting(p, "capacity").has_value());
    EXPECT_EQ(clearSetting(&p, "replay"), 0);
    EXPECT_TRUE(p.empty());
    EXPECT_EQ(clearSetting(&p, "colour"), -ENODATA);
}

TEST(PartialSettings, BadValuesAreRefusedAndChangeNothing)
{
    PartialSettings p;
    std::string why;
    ASSERT_EQ(applySetting(&p, "kind", "queue", &why), 0) << why;
    const PartialSettings before = p;
    EXPECT_EQ(applySetting(&p, "kind", "stack", &why), -EINVAL);
    EXPECT_EQ(applySetting(&p, "capacity", "0", &why), -EINVAL);
    EXPECT_EQ(applySetting(&p, "nonsense", "1", &why), -ENODATA);
    EXPECT_EQ(p.kind, before.kind);
    EXPECT_FALSE(p.capacityBytes.has_value());
}

TEST(PartialSettings, MessagesFramingWithLargeMaxIsRefusedInEitherOrder)
{
    std::string why;
    PartialSettings a;
    ASSERT_EQ(applySetting(&a, "max_message", "2M", &why), 0) << why;
    EXPECT_EQ(applySetting(&a, "framing", "messages", &why), -EINVAL);
    EXPECT_FALSE(a.framing.has_value());

    PartialSettings b;
    ASSERT_EQ(applySetting(&b, "framing", "messages", &why), 0) << why;
    EXPECT_EQ(applySetting(&b, "max_message", "1044481", &why), -EINVAL);
    EXPECT_FALSE(b.maxMessageBytes.has_value());
    EXPECT_EQ(applySetting(&b, "max_message", "1044480", &why), 0) << why;
}

TEST(PartialSettings, OverlayReplacesOnlyWhatIsSet)
{
    PartialSettings base;
    base.kind = Kind::Topic;
    base.capacityBytes = 4096;
    base.replay = 5;
    PartialSettings over;
    over.capacityBytes = 8192;
    over.replay = 0;  // set to zero: still replaces
    over.overflow = Overflow::Error;
    base.overlay(over);
    EXPECT_EQ(base.kind, Kind::Topic);
    EXPECT_EQ(base.capacityBytes, 8192u);
    EXPECT_EQ(base.replay, 0u);
    EXPECT_EQ(base.overflow, Overflow::Error);
    EXPECT_FALSE(base.framing.has_value());
    EXPECT_FALSE(base.maxMessageBytes.has_value());
}

TEST(ResolveSettings, NoDefaultsGivesThePlainDefault)
{
    const Settings s = resolveSettings(PartialSettings{}, {});
    EXPECT_EQ(s, Settings{});
}

TEST(ResolveSettings, MountDefaultKindBringsItsFraming)
{
    PartialSettings mount;
    mount.kind = Kind::Queue;
    const Settings s = resolveSettings(mount, {});
    EXPECT_EQ(s.kind, Kind::Queue);
    EXPECT_EQ(s.framing, Framing::Lines);
    EXPECT_FALSE(s.framingExplicit);
    EXPECT_EQ(s.maxMessageBytes, kMiB);
    EXPECT_FALSE(s.maxMessageExplicit);
}

TEST(ResolveSettings, DirectoryChainAppliesOuterToInner)
{
    PartialSettings mount, parent, child;
    std::string why;
    ASSERT_EQ(applySetting(&mount, "kind", "queue", &why), 0);
    ASSERT_EQ(applySetting(&mount, "capacity", "1M", &why), 0);
    ASSERT_EQ(applySetting(&mount, "overflow", "error", &why), 0);
    ASSERT_EQ(applySetting(&parent, "framing", "messages", &why), 0);
    ASSERT_EQ(applySetting(&parent, "capacity", "64K", &why), 0);
    ASSERT_EQ(applySetting(&parent, "replay", "9", &why), 0);
    ASSERT_EQ(applySetting(&child, "capacity", "4K", &why), 0);
    ASSERT_EQ(applySetting(&child, "kind", "topic", &why), 0);

    const Settings s = resolveSettings(mount, {&parent, &child});
    EXPECT_EQ(s.kind, Kind::Topic);           // child
    EXPECT_EQ(s.framing, Framing::Messages);  // parent
    EXPECT_TRUE(s.framingExplicit);
    EXPECT_EQ(s.capacityBytes, 4096u);       // child beats parent beats mount
    EXPECT_EQ(s.maxMessageBytes, 1044480u);  // messages default
    EXPECT_EQ(s.overflow, Overflow::Error);  // mount
    EXPECT_EQ(s.replay, 9u);                 // parent
    EXPECT_EQ(validate(s, nullptr), 0);

    // Order matters: the last directory wins.
    const Settings r = resolveSettings(mount, {&child, &parent});
    EXPECT_EQ(r.capacityBytes, 65536u);
}

TEST(ResolveSettings, ChildKindWithoutFramingGetsTheKindDefault)
{
    PartialSettings parent, child;
    parent.kind = Kind::Pipe;
    child.kind = Kind::Topic;
    const Settings s = resolveSettings(PartialSettings{}, {&parent, &child});
    EXPECT_EQ(s.framing, Framing::Lines);
}

TEST(ResolveSettings, InheritedLargeMaxIsClampedForMessagesFraming)
{
    PartialSettings parent, child;
    parent.maxMessageBytes = 2 * kMiB;
    child.framing = Framing::Messages;
    const Settings s = resolveSettings(PartialSettings{}, {&parent, &child});
    EXPECT_EQ(s.framing, Framing::Messages);
    EXPECT_EQ(s.maxMessageBytes, 1044480u);
    std::string why;
    EXPECT_EQ(validate(s, &why), 0) << why;
}

TEST(Validate, RefusesOutOfRangeValuesWithAReason)
{
    Settings s;
    std::string why;
    s.capacityBytes = 0;
    EXPECT_EQ(validate(s, &why), -EINVAL);
    EXPECT_NE(why.find("capacity"), std::string::npos) << why;

    s = Settings{};
    s.maxMessageBytes = 64 * kMiB + 1;
    EXPECT_EQ(validate(s, &why), -EINVAL);
    EXPECT_NE(why.find("max_message"), std::string::npos) << why;

    s = Settings{};
    s.framing = Framing::Messages;
    s.maxMessageBytes = kMaxMessagesFramingBytes + 1;
    EXPECT_EQ(validate(s, &why), -EINVAL);
    EXPECT_NE(why.find("lp32"), std::string::npos) << why;

    s = Settings{};
    s.replay = kMaxReplay + 1;
    EXPECT_EQ(validate(s, &why), -EINVAL);
    EXPECT_NE(why.find("replay"), std::string::npos) << why;

    EXPECT_EQ(validate(Settings{}, nullptr), 0);
}

}  // namespace
}  // namespace chanfs
