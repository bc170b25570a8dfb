// The names users type, declared once: every `user.chanfs.*` setting, every
// stat and every endpoint key. The daemon (xattr listing, the config file and
// its hint, -o options), chanctl (options, help, sort order) and, through
// tools/names/names_gen at build time, bash completion and the man pages are
// all made from these tables; tests/unit/channels/names_test.cpp and
// tests/packaging/080-names.bats fail when one of them leaves a name out.
//
// Adding a setting is one line in kSettings (plus its parser in
// settings.cpp); a stat one line in kStats; an endpoint kind one line per
// mode in kEndpointModes.
//
// Constant data, header-only (chanctl includes it without linking the
// channel library): thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

namespace chanfs {

inline constexpr std::string_view kAttrPrefix = "user.chanfs.";
inline constexpr std::string_view kStatsPrefix = "stats.";

enum class ValueType {
    Choice,  // one of `choices`
    Flag,    // 0 or 1; chanctl's option takes no argument and means 1
    Size,    // a byte count with an optional K, M or G suffix
    Count,   // decimal digits
};

// Where a setting may be given (bits).
inline constexpr unsigned kOnChannel = 1;    // a channel's xattr, [channel."x"]
inline constexpr unsigned kOnDirectory = 2;  // a directory's default, [dir."x"], [mount]
inline constexpr unsigned kAnywhere = kOnChannel | kOnDirectory;

struct SettingName {
    std::string_view name;  // user.chanfs.<name>
    ValueType type;
    std::string_view choices;       // Choice and Flag: the values, space-separated
    std::string_view defaultValue;  // what a new pipe channel reads back
    std::string_view metavar;       // chanctl's option argument ("" for a flag)
    unsigned where;
    std::string_view mountOption;  // chanfs -o <this>=VALUE sets the mount-wide default; "": none
    std::string_view help;         // one line; names every choice
};

// In the order settings are applied and shown: the daemon resets framing
// when kind changes, so kind goes first and framing right after it.
inline constexpr SettingName kSettings[] = {
    // clang-format off
    {"kind", ValueType::Choice, "pipe queue topic", "pipe", "KIND", kAnywhere, "default_kind",
     "pipe, queue or topic (default pipe)"},
    {"framing", ValueType::Choice, "bytes lines messages lp32", "bytes", "FRAMING", kAnywhere, "default_framing",
     "bytes, lines, messages or lp32 (default bytes for pipe, lines for queue and topic)"},
    {"capacity", ValueType::Size, "", "1048576", "SIZE", kAnywhere, "capacity",
     "buffer size in bytes, 1 to 16G; suffixes K, M, G are KiB, MiB, GiB (default 1M)"},
    {"max_message", ValueType::Size, "", "1048576", "SIZE", kAnywhere, "max_message",
     "largest message in bytes, 1 to 64M (default 1M, 1044480 for messages framing)"},
    {"overflow", ValueType::Choice, "block drop-oldest error", "block", "POLICY", kAnywhere, "overflow",
     "when full: block (default), drop-oldest or error (ENOBUFS)"},
    {"replay", ValueType::Count, "", "0", "N", kAnywhere, "replay",
     "past messages a new topic subscriber receives, 0 to 1000000 (default 0)"},
    {"delivery", ValueType::Choice, "one batch", "batch", "HOW", kAnywhere, "",
     "what one read takes: one whole message (default for queue) or batch, all that fits (default for pipe and topic)"},
    {"backend", ValueType::Choice, "memory journal nats", "memory", "BACKEND", kAnywhere, "",
     "where messages live: memory (default), journal (a log under the state directory, as durable=1) or nats (a NATS JetStream stream shared by every mount of the cluster; queue and topic only)"},
    {"replicas", ValueType::Count, "", "0", "N", kAnywhere, "",
     "backend=nats: copies of the stream, 1 or 3 (default 0: the cluster size capped at 3)"},
    {"durable", ValueType::Flag, "0 1", "0", "", kAnywhere, "",
     "keep the messages in a log under the state directory, so they survive the daemon (default off; durable=0 turns it off); the same as backend=journal"},
    {"fsync", ValueType::Choice, "always batch never", "batch", "POLICY", kAnywhere, "",
     "durable: always, batch (default) or never"},
    {"retention_bytes", ValueType::Size, "", "67108864", "SIZE", kAnywhere, "",
     "durable topic: bytes of history kept on disk (default 64M, 0: no limit)"},
    {"retention_messages", ValueType::Count, "", "0", "N", kAnywhere, "",
     "durable topic: messages of history kept on disk (default 0: no limit)"},
    // clang-format on
};

// Where a stat is shown (bits).
inline constexpr unsigned kChannelStat = 1;     // every channel
inline constexpr unsigned kFifoStat = 2;        // a channel with a fifo endpoint
inline constexpr unsigned kUdsConnectStat = 4;  // a channel with uds=connect:
inline constexpr unsigned kUdsListenStat = 8;   // a channel with uds=listen...:
inline constexpr unsigned kMountRootStat = 16;  // the mount root, read by name, not listed
inline constexpr unsigned kDurableStat = 32;    // a durable channel (its journal)
inline constexpr unsigned kNatsStat = 64;       // a NATS-backed channel (backend=nats)

struct StatName {
    std::string_view name;  // user.chanfs.stats.<name>
    unsigned shownOn;
    std::string_view help;  // one line
};

// In display order.
inline constexpr StatName kStats[] = {
    // clang-format off
    {"queued_messages", kChannelStat, "messages waiting to be read"},
    {"queued_bytes", kChannelStat, "bytes waiting to be read (ls -l shows the bytes ever queued)"},
    {"readers", kChannelStat, "open handles that read"},
    {"writers", kChannelStat, "open handles that write"},
    {"blocked_readers", kChannelStat, "reads waiting for data"},
    {"blocked_writers", kChannelStat, "writes waiting for room"},
    {"in_messages", kChannelStat, "messages accepted since the channel was made"},
    {"in_bytes", kChannelStat, "bytes accepted since the channel was made"},
    {"out_messages", kChannelStat, "messages delivered"},
    {"out_bytes", kChannelStat, "bytes delivered"},
    {"drops", kChannelStat, "messages dropped (drop-oldest, or a partial frame left at close)"},
    {"dropped_bytes", kChannelStat, "bytes of the dropped messages"},
    {"storage_error", kDurableStat, "a durable channel's journal: ok, refusing writes: WHY (the state directory is full; each write tries again) or failed: WHY (writes fail until a restart on a repaired state directory)"},
    {"backend", kNatsStat, "where the channel's messages live: nats"},
    {"nats_connected", kNatsStat, "1 while the NATS link is up and the channel's stream is ready"},
    {"nats_pending", kNatsStat, "messages written here that JetStream has not acknowledged yet"},
    {"nats_acked", kNatsStat, "queues: messages acknowledged to JetStream after their read succeeded"},
    {"nats_redelivered", kNatsStat, "queues: messages this mount took that JetStream had delivered before (a host died or gave them back)"},
    {"nats_error", kNatsStat, "why the channel cannot reach its stream now, empty if it can"},
    {"fifo_connected", kFifoStat, "1 while a program has the FIFO's other end open"},
    {"fifo_bytes", kFifoStat, "bytes moved through the FIFO"},
    {"fifo_error", kFifoStat, "the FIFO's last error, empty if none"},
    {"uds_connected", kUdsConnectStat, "1 while a connection to the server is open"},
    {"uds_clients", kUdsListenStat, "connected socket clients"},
    {"uds_bytes", kUdsConnectStat | kUdsListenStat, "bytes moved through the socket"},
    {"uds_error", kUdsListenStat, "the socket's last error, empty if none"},
    {"memory_bytes", kMountRootStat, "bytes all channels buffer together"},
    {"max_memory", kMountRootStat, "the limit on memory_bytes (-o max_memory)"},
    {"entries", kMountRootStat, "channels and directories in the mount"},
    {"max_channels", kMountRootStat, "the limit on entries (-o max_channels)"},
    // clang-format on
};

// One way to attach an endpoint: `user.chanfs.<key> = <mode>:/path`.
// chanctl's option for it is --<key>-<mode> PATH.
struct EndpointMode {
    std::string_view key;
    std::string_view mode;
    unsigned stats;         // the kStats bits it shows
    std::string_view help;  // one line
};

inline constexpr EndpointMode kEndpointModes[] = {
    // clang-format off
    {"fifo", "in", kFifoStat, "what programs write into the real FIFO PATH flows into the channel (created if missing)"},
    {"fifo", "out", kFifoStat, "the channel's messages are written into the real FIFO PATH for a program reading it"},
    {"uds", "connect", kUdsConnectStat, "each open() of the file is its own connection to the Unix-socket server at PATH"},
    {"uds", "listen", kUdsListenStat, "chanfs listens on a Unix socket at PATH; socket clients are one end of the channel, the file the other"},
    {"uds", "listen-seqpacket", kUdsListenStat, "the same with SOCK_SEQPACKET (a packet per message)"},
    // clang-format on
};

namespace names_detail {

constexpr size_t countEndpointKeys()
{
    size_t n = 0;
    for (size_t i = 0; i < std::size(kEndpointModes); ++i)
        if (i == 0 || kEndpointModes[i].key != kEndpointModes[i - 1].key) ++n;
    return n;
}

}  // namespace names_detail

// The short names of the settings, in kSettings order.
inline constexpr auto kSettingNames = [] {
    std::array<std::string_view, std::size(kSettings)> names{};
    for (size_t i = 0; i < names.size(); ++i) names[i] = kSettings[i].name;
    return names;
}();

// The endpoint keys (fifo, uds...), each once: kEndpointModes lists the
// modes of one key next to each other.
inline constexpr auto kEndpointKeys = [] {
    std::array<std::string_view, names_detail::countEndpointKeys()> keys{};
    size_t n = 0;
    for (size_t i = 0; i < std::size(kEndpointModes); ++i)
        if (i == 0 || kEndpointModes[i].key != kEndpointModes[i - 1].key)
            keys[n++] = kEndpointModes[i].key;
    return keys;
}();

constexpr const SettingName *findSetting(std::string_view name)
{
    for (const SettingName &s : kSettings)
        if (s.name == name) return &s;
    return nullptr;
}

constexpr const StatName *findStat(std::string_view name)
{
    for (const StatName &s : kStats)
        if (s.name == name) return &s;
    return nullptr;
}

// Whether `name` is a declared stat; for static_assert (GCC's UBSan builds
// cannot fold findStat()'s pointer comparison in a constant expression).
constexpr bool isStatName(std::string_view name)
{
    for (const StatName &s : kStats)
        if (s.name == name) return true;
    return false;
}

constexpr bool isEndpointKey(std::string_view key)
{
    for (std::string_view k : kEndpointKeys)
        if (k == key) return true;
    return false;
}

// One entry of an option list (chanfs --help, chanctl help): two spaces,
// `option`, then `help` from `column` on, wrapped at `width` with the
// continuation lines indented to `column`. Ends in a newline.
inline std::string optionHelp(std::string_view option, std::string_view help, size_t column = 23,
                              size_t width = 79)
{
    std::string out = "  ";
    out.append(option);
    size_t lineStart = 0;
    const auto pad = [&] {
        const size_t used = out.size() - lineStart;
        out.append(used + 1 < column ? column - used : 2, ' ');
    };
    pad();
    bool first = true;
    while (!help.empty()) {
        const size_t space = help.find(' ');
        const std::string_view word = help.substr(0, space);
        help = space == std::string_view::npos ? std::string_view() : help.substr(space + 1);
        if (!first && out.size() - lineStart + 1 + word.size() > width) {
            out.push_back('\n');
            lineStart = out.size();
            out.append(column, ' ');
        } else if (!first) {
            out.push_back(' ');
        }
        out.append(word);
        first = false;
    }
    out.push_back('\n');
    return out;
}

}  // namespace chanfs
