// Queue kind, and the consuming behaviour it shares with pipe: readers
// compete, each message goes to exactly one reader.
#include <poll.h>

#include <algorithm>

#include "channels/core/kind_policy.h"

namespace chanfs {

bool KindPolicy::readsOneMessage(const Channel &c, const Handle &h)
{
    return h.oneMessage_ || c.settings_.delivery == ReadDelivery::One;
}

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

void pushFrontMerging(MessageLog &log, Entry e)
{
    if (!log.empty() && !log.front().isMark() && log.front().payload == e.payload &&
        log.front().offset == e.offset + e.length) {
        log.unconsumeFront(e.length);
        return;
    }
    log.pushFront(std::move(e));
}

void ConsumingPolicy::takeFromLog(Channel &c, Handle &h, size_t maxBytes, Delivery &d)
{
    MessageLog &log = c.log_;
    const Framing framing = c.settings_.framing;
    if (framing == Framing::Messages && d.bytes > 0) return;
    const bool one = readsOneMessage(c, h);
    // The rest of a message begun earlier was this read's one message.
    if (one && d.messages > 0) return;
    while (!log.empty() && d.bytes < maxBytes) {
        Entry &head = log.front();
        if (head.isMark()) break;
        const size_t room = maxBytes - d.bytes;
        if (head.length <= room) {
            Entry e = log.popFront();
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
            log.consumeFront(static_cast<uint32_t>(room));
            consumed(h, slice);
            d.bytes += room;
            d.slices.push_back(std::move(slice));
            break;
        }
        if (d.bytes == 0) {
            // A message longer than the reader's buffer: the rest belongs to
            // this handle and comes with its next read.
            Entry e = log.popFront();
            consumed(h, e);
            Entry rest = e;
            rest.offset += static_cast<uint32_t>(room);
            rest.length -= static_cast<uint32_t>(room);
            e.length = static_cast<uint32_t>(room);
            h.pending_.push_back(std::move(rest));
            d.createdRemainder = true;
            d.bytes += room;
            d.slices.push_back(std::move(e));
        }
        break;
    }
}

bool ConsumingPolicy::take(Channel &c, Handle &h, size_t maxBytes, bool, Delivery &d)
{
    if (takePending(h.pending_, maxBytes, c.settings_.framing, d)) return true;
    takeFromLog(c, h, maxBytes, d);
    return d.bytes > 0;
}

void ConsumingPolicy::undo(Channel &c, Delivery &d)
{
    Handle &h = *d.handle;
    std::vector<Entry> fromLog(d.slices.begin() + static_cast<std::ptrdiff_t>(d.fromPending),
                               d.slices.end());
    if (d.createdRemainder && !fromLog.empty() && !h.pending_.empty()) {
        Entry &rest = h.pending_.back();
        Entry &last = fromLog.back();
        if (rest.payload == last.payload && rest.offset == last.offset + last.length) {
            last.length += rest.length;
            h.pending_.pop_back();
        }
    }
    for (auto it = fromLog.rbegin(); it != fromLog.rend(); ++it)
        pushFrontMerging(c.log_, std::move(*it));
    for (size_t i = d.fromPending; i-- > 0;) {
        if (h.released_)
            pushFrontMerging(c.log_, std::move(d.slices[i]));
        else
            pushFrontMerging(h.pending_, std::move(d.slices[i]));
    }
    if (d.endOfStream) c.log_.pushFront(std::move(d.mark));
}

void ConsumingPolicy::append(Channel &c, Handle &, std::vector<Payload> &messages)
{
    const uint64_t session = sessionOfNewData();
    for (Payload &p : messages) {
        Entry e;
        e.length = static_cast<uint32_t>(p->size());
        e.payload = std::move(p);
        e.session = session;
        c.log_.pushBack(std::move(e));
    }
}

uint64_t ConsumingPolicy::backlogBytes(const Channel &c) const
{
    return c.log_.bytes();
}

bool ConsumingPolicy::dropOldest(Channel &c)
{
    MessageLog &log = c.log_;
    for (size_t i = 0; i < log.size(); ++i) {
        if (log.at(i).isMark()) continue;
        Entry e = log.eraseAt(i);
        c.noteGone(e);
        ++c.stats_.drops;
        c.stats_.droppedBytes += e.length;
        return true;
    }
    return false;
}

unsigned ConsumingPolicy::readable(const Channel &c, const Handle &h) const
{
    if (!h.pending_.empty()) return POLLIN | POLLRDNORM;
    if (!c.log_.empty() && !c.log_.front().isMark()) return POLLIN | POLLRDNORM;
    return 0;
}

bool ConsumingPolicy::anyReadable(const Channel &c) const
{
    return !c.log_.empty();
}

namespace {
class QueuePolicyImpl final : public ConsumingPolicy {};
}  // namespace

std::unique_ptr<KindPolicy> makeQueuePolicy()
{
    return std::make_unique<QueuePolicyImpl>();
}

}  // namespace chanfs
