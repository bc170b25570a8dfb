#include "channels/base/settings.h"

#include <cerrno>
#include <charconv>
#include <limits>

namespace chanfs {

bool PartialSettings::empty() const
{
    return !kind && !framing && !capacityBytes && !maxMessageBytes && !overflow && !replay &&
           !durable && !nats && !replicas && !fsync && !retentionBytes && !retentionMessages && !delivery;
}

void PartialSettings::overlay(const PartialSettings &over)
{
    if (over.kind) kind = over.kind;
    if (over.framing) framing = over.framing;
    if (over.capacityBytes) capacityBytes = over.capacityBytes;
    if (over.maxMessageBytes) maxMessageBytes = over.maxMessageBytes;
    if (over.overflow) overflow = over.overflow;
    if (over.replay) replay = over.replay;
    if (over.durable) durable = over.durable;
    if (over.nats) nats = over.nats;
    if (over.replicas) replicas = over.replicas;
    if (over.fsync) fsync = over.fsync;
    if (over.retentionBytes) retentionBytes = over.retentionBytes;
    if (over.retentionMessages) retentionMessages = over.retentionMessages;
    if (over.delivery) delivery = over.delivery;
}

Framing defaultFraming(Kind kind)
{
    return kind == Kind::Pipe ? Framing::Bytes : Framing::Lines;
}

ReadDelivery defaultDelivery(Kind kind)
{
    return kind == Kind::Queue ? ReadDelivery::One : ReadDelivery::Batch;
}

uint64_t defaultMaxMessage(Framing framing)
{
    return framing == Framing::Messages ? kMaxMessagesFramingBytes : kMiB;
}

Settings resolveSettings(const PartialSettings &mountDefaults,
                         const std::vector<const PartialSettings *> &dirDefaults)
{
    PartialSettings merged = mountDefaults;
    for (const PartialSettings *d : dirDefaults) merged.overlay(*d);

    Settings s;
    if (merged.kind) s.kind = *merged.kind;
    s.framing = merged.framing.value_or(defaultFraming(s.kind));
    s.framingExplicit = merged.framing.has_value();
    s.capacityBytes = merged.capacityBytes.value_or(kDefaultCapacityBytes);
    s.maxMessageBytes = merged.maxMessageBytes.value_or(defaultMaxMessage(s.framing));
    s.maxMessageExplicit = merged.maxMessageBytes.has_value();
    // A directory default that is too large for `messages` is clamped rather
    // than making channel creation fail.
    if (s.framing == Framing::Messages && s.maxMessageBytes > kMaxMessagesFramingBytes)
        s.maxMessageBytes = kMaxMessagesFramingBytes;
    s.overflow = merged.overflow.value_or(Overflow::Block);
    s.replay = merged.replay.value_or(0);
    s.durable = merged.durable.value_or(false);
    s.nats = merged.nats.value_or(false);
    if (s.nats) s.durable = false;
    // A directory default of backend=nats does not make its pipes fail; it
    // applies when the channel becomes a queue or topic.
    if (s.nats && s.kind == Kind::Pipe) {
        s.nats = false;
        s.natsDefault = true;
    }
    s.replicas = merged.replicas.value_or(0);
    s.fsync = merged.fsync.value_or(FsyncPolicy::Batch);
    s.retentionBytes = merged.retentionBytes.value_or(kDefaultRetentionBytes);
    s.retentionMessages = merged.retentionMessages.value_or(0);
    s.delivery = merged.delivery.value_or(defaultDelivery(s.kind));
    s.deliveryExplicit = merged.delivery.has_value();
    return s;
}

int validate(const Settings &s, std::string *why)
{
    if (s.capacityBytes == 0 || s.capacityBytes > kMaxCapacityBytes) {
        if (why) *why = "capacity must be between 1 and 16G bytes";
        return -EINVAL;
    }
    if (s.maxMessageBytes == 0 || s.maxMessageBytes > kMaxMessageLimitBytes) {
        if (why) *why = "max_message must be between 1 and 64M bytes";
        return -EINVAL;
    }
    if (s.framing == Framing::Messages && s.maxMessageBytes > kMaxMessagesFramingBytes) {
        if (why)
            *why =
                "max_message above 1044480 with messages framing: FUSE may split a "
                "larger write() into several requests; use lp32 for larger messages";
        return -EINVAL;
    }
    if (s.replay > kMaxReplay) {
        if (why) *why = "replay must be at most 1000000";
        return -EINVAL;
    }
    if (s.nats && s.kind == Kind::Pipe) {
        if (why)
            *why =
                "a pipe cannot use backend=nats (pipe sessions across hosts are not "
                "supported): use kind queue or topic";
        return -EINVAL;
    }
    if (s.replicas != 0 && s.replicas != 1 && s.replicas != 3) {
        if (why) *why = "replicas must be 1 or 3 (0: the cluster size capped at 3)";
        return -EINVAL;
    }
    return 0;
}

std::string_view backendName(const Settings &s)
{
    return s.nats ? "nats" : s.durable ? "journal" : "memory";
}

int parseKind(std::string_view t, Kind *out)
{
    if (t == "pipe")
        *out = Kind::Pipe;
    else if (t == "queue")
        *out = Kind::Queue;
    else if (t == "topic")
        *out = Kind::Topic;
    else
        return -EINVAL;
    return 0;
}

int parseFraming(std::string_view t, Framing *out)
{
    if (t == "bytes")
        *out = Framing::Bytes;
    else if (t == "lines")
        *out = Framing::Lines;
    else if (t == "messages")
        *out = Framing::Messages;
    else if (t == "lp32")
        *out = Framing::Lp32;
    else
        return -EINVAL;
    return 0;
}

int parseOverflow(std::string_view t, Overflow *out)
{
    if (t == "block")
        *out = Overflow::Block;
    else if (t == "drop-oldest")
        *out = Overflow::DropOldest;
    else if (t == "error")
        *out = Overflow::Error;
    else
        return -EINVAL;
    return 0;
}

int parseFsync(std::string_view t, FsyncPolicy *out)
{
    if (t == "always")
        *out = FsyncPolicy::Always;
    else if (t == "batch")
        *out = FsyncPolicy::Batch;
    else if (t == "never")
        *out = FsyncPolicy::Never;
    else
        return -EINVAL;
    return 0;
}

int parseDelivery(std::string_view t, ReadDelivery *out)
{
    if (t == "one")
        *out = ReadDelivery::One;
    else if (t == "batch")
        *out = ReadDelivery::Batch;
    else
        return -EINVAL;
    return 0;
}

int parseCount(std::string_view t, uint64_t *out)
{
    if (t.empty()) return -EINVAL;
    uint64_t v = 0;
    auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (ec != std::errc() || ptr != t.data() + t.size()) return -EINVAL;
    *out = v;
    return 0;
}

int parseSize(std::string_view t, uint64_t *out)
{
    uint64_t mult = 1;
    if (!t.empty()) {
        switch (t.back()) {
        case 'k':
        case 'K': mult = kKiB; break;
        case 'm':
        case 'M': mult = kMiB; break;
        case 'g':
        case 'G': mult = kGiB; break;
        default: break;
        }
        if (mult != 1) t.remove_suffix(1);
    }
    uint64_t v = 0;
    if (parseCount(t, &v) < 0) return -EINVAL;
    if (v > std::numeric_limits<uint64_t>::max() / mult) return -EINVAL;
    *out = v * mult;
    return 0;
}

std::string_view toString(Kind k)
{
    switch (k) {
    case Kind::Pipe: return "pipe";
    case Kind::Queue: return "queue";
    case Kind::Topic: return "topic";
    }
    return "?";
}

std::string_view toString(Framing f)
{
    switch (f) {
    case Framing::Bytes: return "bytes";
    case Framing::Lines: return "lines";
    case Framing::Messages: return "messages";
    case Framing::Lp32: return "lp32";
    }
    return "?";
}

std::string_view toString(Overflow o)
{
    switch (o) {
    case Overflow::Block: return "block";
    case Overflow::DropOldest: return "drop-oldest";
    case Overflow::Error: return "error";
    }
    return "?";
}

std::string_view toString(FsyncPolicy f)
{
    switch (f) {
    case FsyncPolicy::Always: return "always";
    case FsyncPolicy::Batch: return "batch";
    case FsyncPolicy::Never: return "never";
    }
    return "?";
}

std::string_view toString(ReadDelivery d)
{
    switch (d) {
    case ReadDelivery::One: return "one";
    case ReadDelivery::Batch: return "batch";
    }
    return "?";
}

namespace {

// One parse step shared by the full and the partial forms: the parsed value
// lands in exactly one field of `p`.
int parseOne(std::string_view name, std::string_view value, PartialSettings *p, std::string *why)
{
    auto bad = [&](const char *expected) {
        if (why) *why = std::string("expected ") + expected;
        return -EINVAL;
    };
    if (name == "kind") {
        Kind k;
        if (parseKind(value, &k) < 0) return bad("pipe, queue or topic");
        p->kind = k;
    } else if (name == "framing") {
        Framing f;
        if (parseFraming(value, &f) < 0) return bad("bytes, lines, messages or lp32");
        p->framing = f;
    } else if (name == "capacity" || name == "max_message") {
        uint64_t v;
        if (parseSize(value, &v) < 0) return bad("a byte count such as 65536, 64K or 1M");
        const uint64_t limit = name == "capacity" ? kMaxCapacityBytes : kMaxMessageLimitBytes;
        if (v == 0 || v > limit)
            return bad(name == "capacity" ? "1 to 16G bytes" : "1 to 64M bytes");
        (name == "capacity" ? p->capacityBytes : p->maxMessageBytes) = v;
    } else if (name == "overflow") {
        Overflow o;
        if (parseOverflow(value, &o) < 0) return bad("block, drop-oldest or error");
        p->overflow = o;
    } else if (name == "replay") {
        uint64_t v;
        if (parseCount(value, &v) < 0 || v > kMaxReplay) return bad("a count from 0 to 1000000");
        p->replay = v;
    } else if (name == "durable") {
        // The old name of backend=journal (durable=0: memory, unless nats).
        if (value == "1") {
            p->durable = true;
            p->nats = false;
        } else if (value == "0") {
            p->durable = false;
        } else {
            return bad("0 or 1");
        }
    } else if (name == "backend") {
        if (value == "memory" || value == "journal" || value == "nats") {
            p->durable = value == "journal";
            p->nats = value == "nats";
        } else {
            return bad("memory, journal or nats");
        }
    } else if (name == "replicas") {
        uint64_t v;
        if (parseCount(value, &v) < 0 || (v != 0 && v != 1 && v != 3))
            return bad("1 or 3 (0: the cluster size capped at 3)");
        p->replicas = v;
    } else if (name == "fsync") {
        FsyncPolicy f;
        if (parseFsync(value, &f) < 0) return bad("always, batch or never");
        p->fsync = f;
    } else if (name == "retention_bytes") {
        uint64_t v;
        if (parseSize(value, &v) < 0) return bad("a byte count such as 64M (0: no limit)");
        p->retentionBytes = v;
    } else if (name == "retention_messages") {
        uint64_t v;
        if (parseCount(value, &v) < 0) return bad("a count (0: no limit)");
        p->retentionMessages = v;
    } else if (name == "delivery") {
        ReadDelivery d;
        if (parseDelivery(value, &d) < 0) return bad("one or batch");
        p->delivery = d;
    } else {
        if (why) *why = "unknown setting";
        return -ENODATA;
    }
    return 0;
}

}  // namespace

int applySetting(Settings *s, std::string_view name, std::string_view value, std::string *why)
{
    PartialSettings p;
    if (int rc = parseOne(name, value, &p, why); rc < 0) return rc;
    Settings next = *s;
    if (p.kind) {
        next.kind = *p.kind;
        if (!next.framingExplicit) next.framing = defaultFraming(next.kind);
        if (!next.deliveryExplicit) next.delivery = defaultDelivery(next.kind);
    }
    if (p.framing) {
        next.framing = *p.framing;
        next.framingExplicit = true;
    }
    if ((p.kind || p.framing) && !next.maxMessageExplicit)
        next.maxMessageBytes = defaultMaxMessage(next.framing);
    if (p.capacityBytes) next.capacityBytes = *p.capacityBytes;
    if (p.maxMessageBytes) {
        next.maxMessageBytes = *p.maxMessageBytes;
        next.maxMessageExplicit = true;
    }
    if (p.overflow) next.overflow = *p.overflow;
    if (p.replay) next.replay = *p.replay;
    if (p.durable) next.durable = *p.durable;
    if (p.nats) next.nats = *p.nats;
    if (p.nats || p.durable) next.natsDefault = false;  // chosen for this channel
    if (p.kind && next.natsDefault && next.kind != Kind::Pipe) {
        next.nats = true;
        next.durable = false;
        next.natsDefault = false;
    }
    if (p.replicas) next.replicas = *p.replicas;
    if (p.fsync) next.fsync = *p.fsync;
    if (p.retentionBytes) next.retentionBytes = *p.retentionBytes;
    if (p.retentionMessages) next.retentionMessages = *p.retentionMessages;
    if (p.delivery) {
        next.delivery = *p.delivery;
        next.deliveryExplicit = true;
    }
    if (int rc = validate(next, why); rc < 0) return rc;
    *s = next;
    return 0;
}

int applySetting(PartialSettings *s, std::string_view name, std::string_view value,
                 std::string *why)
{
    PartialSettings p;
    if (int rc = parseOne(name, value, &p, why); rc < 0) return rc;
    PartialSettings next = *s;
    next.overlay(p);
    const bool messages = next.framing == Framing::Messages;
    if (messages && next.maxMessageBytes && *next.maxMessageBytes > kMaxMessagesFramingBytes) {
        if (why) *why = "max_message above 1044480 with messages framing";
        return -EINVAL;
    }
    *s = next;
    return 0;
}

std::optional<std::string> formatSetting(const Settings &s, std::string_view name)
{
    if (name == "kind") return std::string(toString(s.kind));
    if (name == "framing") return std::string(toString(s.framing));
    if (name == "capacity") return std::to_string(s.capacityBytes);
    if (name == "max_message") return std::to_string(s.maxMessageBytes);
    if (name == "overflow") return std::string(toString(s.overflow));
    if (name == "replay") return std::to_string(s.replay);
    if (name == "backend") return std::string(backendName(s));
    if (name == "replicas") return std::to_string(s.replicas);
    if (name == "durable") return std::string(s.durable ? "1" : "0");
    if (name == "fsync") return std::string(toString(s.fsync));
    if (name == "retention_bytes") return std::to_string(s.retentionBytes);
    if (name == "retention_messages") return std::to_string(s.retentionMessages);
    if (name == "delivery") return std::string(toString(s.delivery));
    return std::nullopt;
}

std::optional<std::string> formatSetting(const PartialSettings &s, std::string_view name)
{
    if (name == "kind" && s.kind) return std::string(toString(*s.kind));
    if (name == "framing" && s.framing) return std::string(toString(*s.framing));
    if (name == "capacity" && s.capacityBytes) return std::to_string(*s.capacityBytes);
    if (name == "max_message" && s.maxMessageBytes) return std::to_string(*s.maxMessageBytes);
    if (name == "overflow" && s.overflow) return std::string(toString(*s.overflow));
    if (name == "replay" && s.replay) return std::to_string(*s.replay);
    if (name == "backend" && (s.nats || s.durable))
        return std::string(s.nats && *s.nats ? "nats" : s.durable && *s.durable ? "journal" : "memory");
    if (name == "replicas" && s.replicas) return std::to_string(*s.replicas);
    if (name == "durable" && s.durable) return std::string(*s.durable ? "1" : "0");
    if (name == "fsync" && s.fsync) return std::string(toString(*s.fsync));
    if (name == "retention_bytes" && s.retentionBytes) return std::to_string(*s.retentionBytes);
    if (name == "retention_messages" && s.retentionMessages)
        return std::to_string(*s.retentionMessages);
    if (name == "delivery" && s.delivery) return std::string(toString(*s.delivery));
    return std::nullopt;
}

int clearSetting(PartialSettings *s, std::string_view name)
{
    if (name == "kind")
        s->kind.reset();
    else if (name == "framing")
        s->framing.reset();
    else if (name == "capacity")
        s->capacityBytes.reset();
    else if (name == "max_message")
        s->maxMessageBytes.reset();
    else if (name == "overflow")
        s->overflow.reset();
    else if (name == "replay")
        s->replay.reset();
    else if (name == "durable")
        s->durable.reset();
    else if (name == "backend") {
        s->durable.reset();
        s->nats.reset();
    } else if (name == "replicas")
        s->replicas.reset();
    else if (name == "fsync")
        s->fsync.reset();
    else if (name == "retention_bytes")
        s->retentionBytes.reset();
    else if (name == "retention_messages")
        s->retentionMessages.reset();
    else if (name == "delivery")
        s->delivery.reset();
    else
        return -ENODATA;
    return 0;
}

}  // namespace chanfs
