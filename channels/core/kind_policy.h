// Kind-specific behaviour of a channel: how reads take messages, what counts
// against capacity, what drop-oldest drops, when a pipe's end-of-stream
// marks are queued, and any state a kind keeps per channel (in the policy)
// or per handle (a KindHandleState the policy hangs on the handle). A
// policy sees its channel only through ChannelView. Internal to channels/;
// every method runs with the owning channel's mutex held.
#pragma once

#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "channels/core/channel.h"

namespace chanfs {

class KindPolicy {
public:
    virtual ~KindPolicy() = default;
    virtual void onOpen(ChannelView &, Handle &) {}
    // `h` closes; its pending entries are cleared after this.
    virtual void onRelease(ChannelView &, Handle &) {}
    // Fills `d` with what `h` may read now; false if it would have to wait.
    virtual bool take(ChannelView &c, Handle &h, size_t maxBytes, bool continuation,
                      Delivery &d) = 0;
    // Puts back what a failed delivery took.
    virtual void undo(ChannelView &c, Delivery &d) = 0;
    virtual void append(ChannelView &c, Handle &writer, std::vector<Payload> &messages) = 0;
    // Bytes counted against capacity.
    virtual uint64_t backlogBytes(const ChannelView &c) const = 0;
    // Drops the oldest message counted against capacity; false if none.
    virtual bool dropOldest(ChannelView &c) = 0;
    // Whether a message written now would be kept (charged to memory).
    virtual bool keepsMessages(const ChannelView &) const { return true; }
    // POLLIN|POLLRDNORM, POLLHUP (a pipe mark is next) or 0.
    virtual unsigned readable(const ChannelView &c, const Handle &h) const = 0;
    // Cheap test before scanning parked readers.
    virtual bool anyReadable(const ChannelView &c) const = 0;
    // Whether reads may be held back to be answered together (fan-out
    // batching), and whether this read of `h` is: it then waits up to
    // holdWindow() for the channel's timer.
    virtual bool batchesReads(const ChannelView &) const { return false; }
    virtual bool holdsRead(const ChannelView &, const Handle &, size_t,
                           std::chrono::steady_clock::time_point) const
    {
        return false;
    }
    virtual void trim(ChannelView &) {}
};

std::unique_ptr<KindPolicy> makeKindPolicy(Kind kind);
std::unique_ptr<KindPolicy> makePipePolicy();
std::unique_ptr<KindPolicy> makeQueuePolicy();
std::unique_ptr<KindPolicy> makeTopicPolicy();

// Shared by pipe and queue: readers compete and a read removes what it takes.
class ConsumingPolicy : public KindPolicy {
public:
    // A reader that closes mid-message drops the rest (logged, counted).
    void onRelease(ChannelView &c, Handle &h) override;
    bool take(ChannelView &c, Handle &h, size_t maxBytes, bool continuation, Delivery &d) override;
    void undo(ChannelView &c, Delivery &d) override;
    void append(ChannelView &c, Handle &writer, std::vector<Payload> &messages) override;
    uint64_t backlogBytes(const ChannelView &c) const override;
    bool dropOldest(ChannelView &c) override;
    unsigned readable(const ChannelView &c, const Handle &h) const override;
    bool anyReadable(const ChannelView &c) const override;

protected:
    // Takes whole data entries (and at most one partial) from the log head,
    // stopping at a mark. Calls consumed() for each entry taken.
    void takeFromLog(ChannelView &c, Handle &h, size_t maxBytes, Delivery &d);
    virtual void consumed(Handle &, const Entry &) {}
    virtual uint64_t sessionOfNewData() { return 0; }
};

// Helpers shared by all kinds.

// Slices from h's pending entries; true if the read is complete (one message
// for `messages` framing, or the buffer is full).
bool takePending(std::deque<Entry> &pending, size_t maxBytes, Framing framing, Delivery &d);
// Pushes `e` in front of `q`, merging with the head if it is its other half.
void pushFrontMerging(std::deque<Entry> &q, Entry e);
void pushFrontMerging(MessageStore &store, Entry e);
// An entry is gone for good outside a delivery (dropped): the store forgets it.
void forget(MessageStore &store, const Entry &e);
// Joins a failed delivery's last slice with the remainder it left in
// `pending`, so the whole message goes back as one.
void rejoinRemainder(std::deque<Entry> &pending, EntryList &slices, bool createdRemainder);

}  // namespace chanfs
