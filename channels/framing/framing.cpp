#include "channels/framing/framing.h"

#include <cerrno>
#include <cstring>

namespace chanfs {

namespace {

uint32_t readLe32(const char *p)
{
    const auto *u = reinterpret_cast<const unsigned char *>(p);
    return uint32_t(u[0]) | uint32_t(u[1]) << 8 | uint32_t(u[2]) << 16 | uint32_t(u[3]) << 24;
}

// Frames a byte stream (held partial + new data) into whole messages. `next`
// returns the length of the message starting at `p` given `avail` bytes, 0 if
// it is incomplete, or SIZE_MAX if it is over the limit. The held prefix is
// small or empty in practice, so joining it with the data costs one copy only
// when a message spans requests.
template <typename NextFn>
FramedWrite frameStream(const std::string &held, std::span<const char> data, NextFn next)
{
    FramedWrite out;
    std::string joined;
    const char *base = data.data();
    size_t total = data.size();
    if (!held.empty()) {
        joined.reserve(held.size() + data.size());
        joined.append(held);
        joined.append(data.data(), data.size());
        base = joined.data();
        total = joined.size();
    }
    size_t pos = 0;
    // Framed first, copied once: all of this request's messages share one
    // allocation (buffer.h). The spans' vector is kept per thread so it
    // costs no allocation either.
    thread_local std::vector<MessageSpan> spans;
    spans.clear();
    while (pos < total) {
        const size_t len = next(base + pos, total - pos);
        if (len == SIZE_MAX) {
            out.error = -EMSGSIZE;
            out.dropHeld = pos < held.size();
            out.messageBytes = 0;
            return out;
        }
        if (len == 0) break;
        spans.push_back(MessageSpan{pos, len});
        out.messageBytes += len;
        pos += len;
    }
    makePayloads(base, spans, out.messages);
    out.heldAfter.assign(base + pos, total - pos);
    return out;
}

}  // namespace

FramedWrite frameWrite(Framing framing, uint64_t maxMessageBytes, const std::string &held,
                       std::span<const char> data)
{
    switch (framing) {
    case Framing::Bytes: {
        FramedWrite out;
        if (!data.empty()) {
            out.messages.push_back(makePayload(data.data(), data.size()));
            out.messageBytes = data.size();
        }
        return out;
    }
    case Framing::Messages: {
        FramedWrite out;
        if (data.size() > maxMessageBytes) {
            out.error = -EMSGSIZE;
            return out;
        }
        // An empty write carries no message (FUSE never sends one; a
        // bridge might).
        if (!data.empty()) {
            out.messages.push_back(makePayload(data.data(), data.size()));
            out.messageBytes = data.size();
        }
        return out;
    }
    case Framing::Lines:
        // The held partial has no newline: if the new data has none either
        // (within the limit), nothing completes and the partial just grows.
        if (!held.empty() && held.size() + data.size() < maxMessageBytes &&
            !std::memchr(data.data(), '\n', data.size())) {
            FramedWrite out;
            out.appendToHeld = true;
            return out;
        }
        return frameStream(held, data, [maxMessageBytes](const char *p, size_t avail) -> size_t {
            const size_t scan = avail < maxMessageBytes ? avail : maxMessageBytes;
            const void *nl = std::memchr(p, '\n', scan);
            if (nl) return static_cast<const char *>(nl) - p + 1;
            // No newline within the limit: over it if enough bytes are here.
            if (avail >= maxMessageBytes) return SIZE_MAX;
            return 0;
        });
    case Framing::Lp32:
        // A held partial with its whole header that the data does not finish.
        if (const uint64_t body = held.size() >= 4 ? readLe32(held.data()) : 0;
            body > 0 && body <= maxMessageBytes && held.size() + data.size() < body + 4) {
            FramedWrite out;
            out.appendToHeld = true;
            return out;
        }
        return frameStream(held, data, [maxMessageBytes](const char *p, size_t avail) -> size_t {
            if (avail < 4) return 0;
            const uint64_t body = readLe32(p);
            if (body > maxMessageBytes) return SIZE_MAX;
            if (avail < body + 4) return 0;
            return static_cast<size_t>(body + 4);
        });
    }
    return {};
}

}  // namespace chanfs
