// Queue kind, and the consuming behaviour it shares with pipe: readers
// compete, each message goes to exactly one reader.
#include <poll.h>

#include <spdlog/spdlog.h>

#include <algorithm>

#include "channels/base/log_limit.h"
#include "channels/core/kind_policy.h"

namespace chanfs {

bool takePending(std::deque<Entry> &pending, size_t maxBytes, Framing framing, Delivery &d)
{
    while (!pending.empty() && d.bytes < maxBytes) {
        Entry &e = pending.front();
        const size_t n = std::min<size_t>(e.length, maxBytes - d.bytes);
        Entry slice = e;
        slice.length = static_cast<uint32_t>(n);
        d.slices.push_back(std::move(slice));
        ++d.fromPending;
        d.bytes += n;
        if (n == e.length) {
            pending.pop_front();
            ++d.messages;
        } else {
            e.offset += static_cast<uint32_t>(n);
            e.length -= static_cast<uint32_t>(n);
        }
        if (framing == Framing::Messages) return true;
    }
    return d.bytes > 0 && (d.bytes == maxBytes || framing == Framing::Messages);
}

void pushFrontMerging(std::deque<Entry> &q, Entry e)
{
    if (!q.empty() && !q.front().isMark() && q.front().payload == e.payload &&
        q.front().offset == e.offset + e.length) {
        q.front().offset = e.offset;
        q.front().length += e.length;
        return;
    }
    q.push_front(std::move(e));
}

void pushFrontMerging(MessageStore &store, Entry e)
{
    const MessageLog &log = store.queued();
    if (!log.empty() && !log.front().isMark() && log.front().payload == e.payload &&
        log.front().offset == e.offset + e.length) {
        store.putBackBytes(e.length);
        return;
    }
    store.putBack(std::move(e));
}

void forget(MessageStore &store, const Entry &e)
{
    if (e.seq == 0) return;
    const uint64_t seq = e.seq;
    store.consumed(std::span<const uint64_t>(&seq, 1));
}

void rejoinRemainder(std::deque<Entry> &pending, EntryList &slices, bool createdRemainder)
{
    if (!createdRemainder || slices.empty() || pending.empty()) return;
    Entry &rest = pending.back();
    Entry &last = slices.back();
    if (rest.payload == last.payload && rest.offset == last.offset + last.length) {
        last.length += rest.length;
        pending.pop_back();
    }
}

std::unique_ptr<KindPolicy> makeKindPolicy(Kind kind)
{
    switch (kind) {
    case Kind::Pipe: return makePipePolicy();
    case Kind::Queue: return makeQueuePolicy();
    case Kind::Topic: return makeTopicPolicy();
    }
    return makePipePolicy();
}

void ConsumingPolicy::onRelease(ChannelView &c, Handle &h)
{
    const std::deque<Entry> &pending = c.pendingOf(h);
    if (pending.empty()) return;
    uint64_t bytes = 0;
    for (const Entry &e : pending) bytes += e.length;
    logLimited(spdlog::level::info, "reader closed in a message",
               "channel {}: reader closed with {} unread bytes of a message it had begun; "
               "dropped",
               c.label(), bytes);
    c.countDrop(bytes);
    for (const Entry &e : pending) forget(c.store(), e);
}

void ConsumingPolicy::takeFromLog(ChannelView &c, Handle &h, size_t maxBytes, Delivery &d)
{
    MessageStore &store = c.store();
    const MessageLog &log = store.queued();
    const Framing framing = c.config().framing;
    if (framing == Framing::Messages && d.bytes > 0) return;
    const bool one = c.readsOneMessage(h);
    // The rest of a message begun earlier was this read's one message.
    if (one && d.messages > 0) return;
    while (!log.empty() && d.bytes < maxBytes) {
        const Entry &head = log.front();
        if (head.isMark()) break;
        const size_t room = maxBytes - d.bytes;
        if (head.length <= room) {
            Entry e = store.take();
            consumed(h, e);
            d.bytes += e.length;
            ++d.messages;
            d.slices.push_back(std::move(e));
            if (!joinsMessages(framing) || one) break;
            continue;
        }
        if (splitsFreely(framing)) {
            // No boundaries: the rest stays in the log for any reader.
            Entry slice = head;
            slice.length = static_cast<uint32_t>(room);
            store.takeBytes(static_cast<uint32_t>(room));
            consumed(h, slice);
            d.bytes += room;
            d.slices.push_back(std::move(slice));
            break;
        }
        if (d.bytes == 0) {
            // A message longer than the reader's buffer: the rest belongs to
            // this handle and comes with its next read.
            Entry e = store.take();
            consumed(h, e);
            Entry rest = e;
            rest.offset += static_cast<uint32_t>(room);
            rest.length -= static_cast<uint32_t>(room);
            e.length = static_cast<uint32_t>(room);
            c.pendingOf(h).push_back(std::move(rest));
            d.createdRemainder = true;
            d.bytes += room;
            d.slices.push_back(std::move(e));
        }
        break;
    }
}

bool ConsumingPolicy::take(ChannelView &c, Handle &h, size_t maxBytes, bool, Delivery &d)
{
    if (takePending(c.pendingOf(h), maxBytes, c.config().framing, d)) return true;
    takeFromLog(c, h, maxBytes, d);
    return d.bytes > 0;
}

void ConsumingPolicy::undo(ChannelView &c, Delivery &d)
{
    Handle &h = *d.handle;
    std::deque<Entry> &pending = c.pendingOf(h);
    EntryList fromLog(d.slices.begin() + static_cast<std::ptrdiff_t>(d.fromPending),
                      d.slices.end());
    rejoinRemainder(pending, fromLog, d.createdRemainder);
    for (auto it = fromLog.rbegin(); it != fromLog.rend(); ++it)
        pushFrontMerging(c.store(), std::move(*it));
    for (size_t i = d.fromPending; i-- > 0;) {
        if (c.isReleased(h))
            pushFrontMerging(c.store(), std::move(d.slices[i]));
        else
            pushFrontMerging(pending, std::move(d.slices[i]));
    }
    if (d.endOfStream) c.store().putBack(std::move(d.mark));
}

void ConsumingPolicy::append(ChannelView &c, Handle &, std::vector<Payload> &messages)
{
    const uint64_t session = sessionOfNewData();
    MessageStore &store = c.store();
    for (Payload &p : messages) {
        Entry e;
        e.length = static_cast<uint32_t>(p->size());
        e.payload = std::move(p);
        e.session = session;
        store.append(std::move(e));
    }
}

uint64_t ConsumingPolicy::backlogBytes(const ChannelView &c) const
{
    return c.store().queued().bytes();
}

bool ConsumingPolicy::dropOldest(ChannelView &c)
{
    MessageStore &store = c.store();
    const MessageLog &log = store.queued();
    for (size_t i = 0; i < log.size(); ++i) {
        if (log.at(i).isMark()) continue;
        Entry e = store.takeAt(i);
        forget(store, e);
        c.countDrop(e.length);
        return true;
    }
    return false;
}

unsigned ConsumingPolicy::readable(const ChannelView &c, const Handle &h) const
{
    if (!c.pendingOf(h).empty()) return POLLIN | POLLRDNORM;
    const MessageLog &log = c.store().queued();
    if (!log.empty() && !log.front().isMark()) return POLLIN | POLLRDNORM;
    return 0;
}

bool ConsumingPolicy::anyReadable(const ChannelView &c) const
{
    return !c.store().queued().empty();
}

namespace {
class QueuePolicyImpl final : public ConsumingPolicy {};
}  // namespace

std::unique_ptr<KindPolicy> makeQueuePolicy()
{
    return std::make_unique<QueuePolicyImpl>();
}

}  // namespace chanfs
