// Framing: how the bytes of successive write requests become messages, and
// how much of a message a read may take. Pure functions over a writer's held
// partial message; thread-compatible.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "channels/base/buffer.h"
#include "channels/base/settings.h"

namespace chanfs {

// The outcome of framing one write request, computed without changing the
// writer's state so a write that must wait can be retried unchanged.
struct FramedWrite {
    int error = 0;                  // 0 or -EMSGSIZE
    std::vector<Payload> messages;  // complete messages, in order
    uint64_t messageBytes = 0;      // sum of their sizes
    std::string heldAfter;          // the writer's partial message afterwards
    bool dropHeld = false;          // on error: the held partial is part of
                                    // the refused message and is discarded
    // No message completed and the partial only grew: the new partial is
    // held + data, left for the caller to append (heldAfter stays empty).
    // Without it a 64 MiB line arriving in 1 MiB requests copied its
    // growing partial on every request: quadratic.
    bool appendToHeld = false;
};

// Updates a writer's partial message after frameWrite(held, data).
inline void applyHeld(std::string &held, FramedWrite &fw, std::span<const char> data)
{
    if (fw.appendToHeld)
        held.append(data.data(), data.size());
    else
        held = std::move(fw.heldAfter);
}

// `held` is what the writer handle held before this request.
FramedWrite frameWrite(Framing framing, uint64_t maxMessageBytes, const std::string &held,
                       std::span<const char> data);

// Whether a read may join several messages into one reply.
inline bool joinsMessages(Framing f)
{
    return f != Framing::Messages;
}
// Whether a message may be split between readers (no boundaries at all).
inline bool splitsFreely(Framing f)
{
    return f == Framing::Bytes;
}

}  // namespace chanfs
