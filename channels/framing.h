// Framing: how the bytes of successive write requests become messages, and
// how much of a message a read may take. Pure functions over a writer's held
// partial message; thread-compatible.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "buffer.h"
#include "settings.h"

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
};

// `held` is what the writer handle held before this request.
FramedWrite frameWrite(Framing framing, uint64_t maxMessageBytes, const std::string &held,
                       std::span<const char> data);

// Whether a read may join several messages into one reply.
inline bool joinsMessages(Framing f) { return f != Framing::Messages; }
// Whether a message may be split between readers (no boundaries at all).
inline bool splitsFreely(Framing f) { return f == Framing::Bytes; }

}  // namespace chanfs
