// Topic kind: every reader handle gets every message published after it
// opened, plus the last `replay` messages. Messages stay in the log while a
// subscriber still has to read them or they are among the last `replay`;
// capacity bounds the slowest subscriber's backlog. The policy owns the
// subscribers' cursors and the fan-out batching (topic.h).
#include "channels/kinds/topic.h"

#include <poll.h>

#include <set>
#include <unordered_set>

#include "channels/core/kind_policy.h"

namespace chanfs {

namespace {

// A reader handle's place in the topic.
struct Subscriber final : KindHandleState {
    uint64_t cursor = 0;  // sequence number of the next message
    // When its last read that returned data was answered; empty until then
    // ("never answered" is not "answered at boot").
    std::optional<std::chrono::steady_clock::time_point> lastDeliveryAt;
};

class TopicPolicy final : public KindPolicy {
public:
    void onOpen(ChannelView &c, Handle &h) override
    {
        if (!h.reads()) return;
        auto sub = std::make_unique<Subscriber>();
        const MessageLog &log = c.store().queued();
        const uint64_t replay = std::min<uint64_t>(c.config().replay, log.size());
        sub->cursor = log.nextSeq() - replay;
        cursors_.insert(sub->cursor);
        subscribers_.insert(sub.get());
        c.kindStateOf(h) = std::move(sub);
    }

    void onRelease(ChannelView &c, Handle &h) override
    {
        Subscriber *sub = subscriberOf(c, h);
        if (!sub) return;
        cursors_.erase(cursors_.find(sub->cursor));
        subscribers_.erase(sub);
        trim(c);
    }

    bool take(ChannelView &c, Handle &h, size_t maxBytes, bool, Delivery &d) override
    {
        Subscriber *sub = subscriberOf(c, h);
        if (!sub || !takeFor(c, h, *sub, maxBytes, d)) return false;
        if (d.bytes > 0) sub->lastDeliveryAt = std::chrono::steady_clock::now();
        return true;
    }

    void undo(ChannelView &c, Delivery &d) override
    {
        // The log may have been trimmed meanwhile, so the subscriber keeps
        // what it missed in its own pending entries; the cursor stays.
        Handle &h = *d.handle;
        if (c.isReleased(h)) return;
        std::deque<Entry> &pending = c.pendingOf(h);
        EntryList slices = std::move(d.slices);
        rejoinRemainder(pending, slices, d.createdRemainder);
        for (auto it = slices.rbegin(); it != slices.rend(); ++it)
            pushFrontMerging(pending, std::move(*it));
    }

    void append(ChannelView &c, Handle &, std::vector<Payload> &messages) override
    {
        MessageStore &store = c.store();
        for (Payload &p : messages) {
            Entry e;
            e.length = static_cast<uint32_t>(p->size());
            e.payload = std::move(p);
            store.append(std::move(e));
        }
        trim(c);
    }

    uint64_t backlogBytes(const ChannelView &c) const override
    {
        if (cursors_.empty()) return 0;
        const MessageLog &log = c.store().queued();
        const size_t idx = log.indexOfSeq(*cursors_.begin());
        if (idx >= log.size()) return 0;
        return log.streamEnd() - log.at(idx).streamPos;
    }

    bool dropOldest(ChannelView &c) override
    {
        if (cursors_.empty()) return false;
        const uint64_t slowest = *cursors_.begin();
        const MessageLog &log = c.store().queued();
        const size_t idx = log.indexOfSeq(slowest);
        if (idx >= log.size()) return false;
        const uint64_t dropped = log.at(idx).length;
        for (Subscriber *sub : subscribers_)
            if (sub->cursor == slowest) moveCursor(*sub, slowest + 1);
        c.countDrop(dropped);
        trim(c);
        return true;
    }

    // A topic nobody subscribes to and that replays nothing keeps nothing.
    bool keepsMessages(const ChannelView &c) const override
    {
        return !cursors_.empty() || c.config().replay != 0;
    }

    unsigned readable(const ChannelView &c, const Handle &h) const override
    {
        if (!c.pendingOf(h).empty()) return POLLIN | POLLRDNORM;
        const MessageLog &log = c.store().queued();
        const Subscriber *sub = subscriberOf(c, h);
        if (sub && log.indexOfSeq(sub->cursor) < log.size()) return POLLIN | POLLRDNORM;
        return 0;
    }

    bool anyReadable(const ChannelView &c) const override { return !c.store().queued().empty(); }

    bool batchesReads(const ChannelView &c) const override
    {
        return c.readerCount() >= kTopicBatchMinReaders;
    }

    bool holdsRead(const ChannelView &c, const Handle &h, size_t maxBytes,
                   std::chrono::steady_clock::time_point now) const override
    {
        const Subscriber *sub = subscriberOf(c, h);
        if (!sub || !sub->lastDeliveryAt) return false;
        if (now - *sub->lastDeliveryAt >= c.holdWindow()) return false;
        const uint64_t ready = readyBytes(c, h, *sub);
        return ready > 0 && ready < maxBytes / 2;
    }

    void trim(ChannelView &c) override
    {
        MessageStore &store = c.store();
        const MessageLog &log = store.queued();
        const uint64_t slowest = cursors_.empty() ? log.nextSeq() : *cursors_.begin();
        while (!log.empty()) {
            const Entry &e = log.front();
            if (e.seq >= slowest) break;
            const bool inReplay = log.nextSeq() - e.seq <= c.config().replay;
            if (inReplay && log.bytes() <= c.config().capacityBytes) break;
            store.take();
        }
    }

private:
    static Subscriber *subscriberOf(ChannelView &c, Handle &h)
    {
        return static_cast<Subscriber *>(c.kindStateOf(h).get());
    }
    static const Subscriber *subscriberOf(const ChannelView &c, const Handle &h)
    {
        return static_cast<const Subscriber *>(c.kindStateOf(h));
    }

    bool takeFor(ChannelView &c, Handle &h, Subscriber &sub, size_t maxBytes, Delivery &d)
    {
        const Framing framing = c.config().framing;
        std::deque<Entry> &pending = c.pendingOf(h);
        if (takePending(pending, maxBytes, framing, d)) return true;
        if (framing == Framing::Messages && d.bytes > 0) return true;
        const bool one = c.readsOneMessage(h);
        if (one && d.messages > 0) return true;
        const MessageLog &log = c.store().queued();
        size_t idx = log.indexOfSeq(sub.cursor);
        while (idx < log.size() && d.bytes < maxBytes) {
            const Entry &e = log.at(idx);
            const size_t room = maxBytes - d.bytes;
            if (e.length <= room) {
                d.slices.push_back(e);
                d.bytes += e.length;
                ++d.messages;
                ++idx;
                if (!joinsMessages(framing) || one) break;
                continue;
            }
            if (d.bytes == 0 || splitsFreely(framing)) {
                // The log is shared, so the rest is this subscriber's own.
                Entry slice = e;
                slice.length = static_cast<uint32_t>(room);
                Entry rest = e;
                rest.offset += static_cast<uint32_t>(room);
                rest.length -= static_cast<uint32_t>(room);
                pending.push_back(std::move(rest));
                d.createdRemainder = true;
                d.slices.push_back(std::move(slice));
                d.bytes += room;
                ++idx;
            }
            break;
        }
        moveCursor(sub, idx < log.size() ? log.at(idx).seq : log.nextSeq());
        return d.bytes > 0;
    }

    // Bytes `h` could read now: one write wakes every subscriber.
    static uint64_t readyBytes(const ChannelView &c, const Handle &h, const Subscriber &sub)
    {
        uint64_t n = 0;
        for (const Entry &e : c.pendingOf(h)) n += e.length;
        const MessageLog &log = c.store().queued();
        const size_t idx = log.indexOfSeq(sub.cursor);
        if (idx < log.size()) n += log.streamEnd() - log.at(idx).streamPos;
        return n;
    }

    void moveCursor(Subscriber &sub, uint64_t to)
    {
        if (to == sub.cursor) return;
        cursors_.erase(cursors_.find(sub.cursor));
        sub.cursor = to;
        cursors_.insert(to);
    }

    std::multiset<uint64_t> cursors_;  // of every subscriber, slowest first
    std::unordered_set<Subscriber *> subscribers_;
};

}  // namespace

std::unique_ptr<KindPolicy> makeTopicPolicy()
{
    return std::make_unique<TopicPolicy>();
}

}  // namespace chanfs
