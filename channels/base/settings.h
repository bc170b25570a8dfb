// Channel settings: kind, framing, limits, overflow policy; parsing from and
// formatting to the text values of the `user.chanfs.*` xattrs.
// Plain values, no shared state: thread-compatible.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "channels/base/names.h"

namespace chanfs {

enum class Kind { Pipe, Queue, Topic };
enum class Framing { Bytes, Lines, Messages, Lp32 };
enum class Overflow { Block, DropOldest, Error };
// When a durable channel's log is flushed to disk (fdatasync): before each
// write is acknowledged, at most kBatchSyncInterval after it, or never (the
// kernel writes it back; it still survives the daemon being killed).
enum class FsyncPolicy { Always, Batch, Never };
// How much one read(2) takes: at most one whole message (competing readers
// share jobs; a reader that stops early, like `head -n1`, takes only what
// it used) or as many whole messages as fit in its buffer (fewer requests).
enum class ReadDelivery { One, Batch };

inline constexpr uint64_t kKiB = 1024;
inline constexpr uint64_t kMiB = 1024 * kKiB;
inline constexpr uint64_t kGiB = 1024 * kMiB;

// FUSE carries at most 1 MiB per WRITE request and splits a write(2) at the
// caller's page boundaries, so only a write of at most 1 MiB - 4 KiB is
// guaranteed to arrive as one request: that is the largest `messages` frame.
inline constexpr uint64_t kMaxWriteRequestBytes = kMiB;
inline constexpr uint64_t kMaxMessagesFramingBytes = kMaxWriteRequestBytes - 4096;

inline constexpr uint64_t kDefaultCapacityBytes = kMiB;
inline constexpr uint64_t kMaxCapacityBytes = 16 * kGiB;
inline constexpr uint64_t kMaxMessageLimitBytes = 64 * kMiB;
inline constexpr uint64_t kMaxReplay = 1000000;
inline constexpr uint64_t kDefaultRetentionBytes = 64 * kMiB;

struct Settings {
    Kind kind = Kind::Pipe;
    Framing framing = Framing::Bytes;
    uint64_t capacityBytes = kDefaultCapacityBytes;
    uint64_t maxMessageBytes = kMiB;
    Overflow overflow = Overflow::Block;
    uint64_t replay = 0;
    // Durable channels keep their messages in a log under the state
    // directory (journal.h); retention applies to topics.
    bool durable = false;
    // backend=nats (queue and topic): the messages live in a NATS JetStream
    // stream (channels/storage/nats/); durable is then false. replicas: the
    // stream's copies, 1 or 3, 0 for the cluster size capped at 3.
    bool nats = false;
    uint64_t replicas = 0;
    // A directory default of backend=nats met a pipe (a channel is made a
    // pipe, then given its kind): nats applies once the kind is queue or
    // topic.
    bool natsDefault = false;
    FsyncPolicy fsync = FsyncPolicy::Batch;
    uint64_t retentionBytes = kDefaultRetentionBytes;  // 0: unlimited
    uint64_t retentionMessages = 0;                    // 0: unlimited
    ReadDelivery delivery = ReadDelivery::Batch;
    // Framing, delivery and max_message follow the kind (and framing)
    // unless set.
    bool framingExplicit = false;
    bool maxMessageExplicit = false;
    bool deliveryExplicit = false;

    bool operator==(const Settings &) const = default;
};

// Defaults for channels created in a directory: only what was set there.
struct PartialSettings {
    std::optional<Kind> kind;
    std::optional<Framing> framing;
    std::optional<uint64_t> capacityBytes;
    std::optional<uint64_t> maxMessageBytes;
    std::optional<Overflow> overflow;
    std::optional<uint64_t> replay;
    std::optional<bool> durable;
    std::optional<bool> nats;
    std::optional<uint64_t> replicas;
    std::optional<FsyncPolicy> fsync;
    std::optional<uint64_t> retentionBytes;
    std::optional<uint64_t> retentionMessages;
    std::optional<ReadDelivery> delivery;

    bool empty() const;
    // Fields set in `over` replace ours.
    void overlay(const PartialSettings &over);
};

Framing defaultFraming(Kind kind);
uint64_t defaultMaxMessage(Framing framing);
// One message per read for a queue (jobs), a buffer-full for pipe and topic.
ReadDelivery defaultDelivery(Kind kind);

// Settings from mount-wide defaults, then directory defaults in order.
Settings resolveSettings(const PartialSettings &mountDefaults,
                         const std::vector<const PartialSettings *> &dirDefaults);

// Checks a complete settings value. Returns 0 or -EINVAL with `why` filled.
int validate(const Settings &s, std::string *why);

// Parsers return 0 or -EINVAL.
int parseKind(std::string_view text, Kind *out);
int parseFraming(std::string_view text, Framing *out);
int parseOverflow(std::string_view text, Overflow *out);
int parseFsync(std::string_view text, FsyncPolicy *out);
int parseDelivery(std::string_view text, ReadDelivery *out);
// A byte count: decimal digits with an optional K, M or G suffix (binary).
int parseSize(std::string_view text, uint64_t *out);
int parseCount(std::string_view text, uint64_t *out);

// backend=: memory, journal or nats.
std::string_view backendName(const Settings &s);

std::string_view toString(Kind kind);
std::string_view toString(Framing framing);
std::string_view toString(Overflow overflow);
std::string_view toString(FsyncPolicy fsync);
std::string_view toString(ReadDelivery delivery);

// The settings keys (kSettingNames, short names as in `user.chanfs.<name>`)
// and their help are in names.h.

// Applies one named setting to `s` (and marks framing/max_message explicit).
// Returns 0, -EINVAL for a bad value, -ENOATTR-like -ENODATA for an unknown
// name; `why` says what was wrong.
int applySetting(Settings *s, std::string_view name, std::string_view value, std::string *why);
int applySetting(PartialSettings *s, std::string_view name, std::string_view value,
                 std::string *why);
// Formats one setting; nullopt if the name is unknown (or unset in `s`).
std::optional<std::string> formatSetting(const Settings &s, std::string_view name);
std::optional<std::string> formatSetting(const PartialSettings &s, std::string_view name);
int clearSetting(PartialSettings *s, std::string_view name);

}  // namespace chanfs
