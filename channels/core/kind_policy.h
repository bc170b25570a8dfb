// Kind-specific behaviour of a channel: how reads take messages, what counts
// against capacity, what drop-oldest drops, and when a pipe's end-of-stream
// marks are queued. Internal to channels/; every method runs with the
// owning channel's mutex held.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "channels/core/channel.h"

namespace chanfs {

class KindPolicy {
public:
    virtual ~KindPolicy() = default;
    virtual void onOpen(Channel &, Handle &) {}
    virtual void onRelease(Channel &, Handle &) {}
    // Fills `d` with what `h` may read now; false if it would have to wait.
    virtual bool take(Channel &c, Handle &h, size_t maxBytes, bool continuation, Delivery &d) = 0;
    // Puts back what a failed delivery took.
    virtual void undo(Channel &c, Delivery &d) = 0;
    virtual void append(Channel &c, Handle &writer, std::vector<Payload> &messages) = 0;
    // Bytes counted against capacity.
    virtual uint64_t backlogBytes(const Channel &c) const = 0;
    // Drops the oldest message counted against capacity; false if none.
    virtual bool dropOldest(Channel &c) = 0;
    // POLLIN|POLLRDNORM, POLLHUP (a pipe mark is next) or 0.
    virtual unsigned readable(const Channel &c, const Handle &h) const = 0;
    // Cheap test before scanning parked readers.
    virtual bool anyReadable(const Channel &c) const = 0;
    // Bytes `h` could read now if one write wakes every reader (topic);
    // nullopt for kinds where a write wakes one reader.
    virtual std::optional<uint64_t> fanOutReadyBytes(const Channel &, const Handle &) const
    {
        return std::nullopt;
    }
    virtual void trim(Channel &) {}
    // Whether a read of `h` takes at most one whole message (delivery=one,
    // or a socket bridge's own handle).
    static bool readsOneMessage(const Channel &c, const Handle &h);
};

std::unique_ptr<KindPolicy> makePipePolicy();
std::unique_ptr<KindPolicy> makeQueuePolicy();
std::unique_ptr<KindPolicy> makeTopicPolicy();

// Shared by pipe and queue: readers compete and a read removes what it takes.
class ConsumingPolicy : public KindPolicy {
public:
    bool take(Channel &c, Handle &h, size_t maxBytes, bool continuation, Delivery &d) override;
    void undo(Channel &c, Delivery &d) override;
    void append(Channel &c, Handle &writer, std::vector<Payload> &messages) override;
    uint64_t backlogBytes(const Channel &c) const override;
    bool dropOldest(Channel &c) override;
    unsigned readable(const Channel &c, const Handle &h) const override;
    bool anyReadable(const Channel &c) const override;

protected:
    // Takes whole data entries (and at most one partial) from the log head,
    // stopping at a mark. Calls consumed() for each entry taken.
    void takeFromLog(Channel &c, Handle &h, size_t maxBytes, Delivery &d);
    virtual void consumed(Handle &, const Entry &) {}
    virtual uint64_t sessionOfNewData() { return 0; }
};

// Helpers shared by all kinds.

// Slices from h's pending entries; true if the read is complete (one message
// for `messages` framing, or the buffer is full).
bool takePending(std::deque<Entry> &pending, size_t maxBytes, Framing framing, Delivery &d);
// Pushes `e` in front of `q`, merging with the head if it is its other half.
void pushFrontMerging(std::deque<Entry> &q, Entry e);
void pushFrontMerging(MessageLog &log, Entry e);

}  // namespace chanfs
