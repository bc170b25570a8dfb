// Topic kind: every reader handle gets every message published after it
// opened, plus the last `replay` messages. Messages stay in the log while a
// subscriber still has to read them or they are among the last `replay`;
// capacity bounds the slowest subscriber's backlog.
#include <poll.h>

#include "channels/core/kind_policy.h"

namespace chanfs {

class TopicPolicy final : public KindPolicy {
public:
    void onOpen(Channel &c, Handle &h) override
    {
        if (!h.reads()) return;
        const MessageLog &log = c.log_;
        const uint64_t replay = std::min<uint64_t>(c.settings_.replay, log.size());
        h.cursor_ = log.nextSeq() - replay;
        c.cursors_.insert(h.cursor_);
    }

    void onRelease(Channel &c, Handle &h) override
    {
        if (!h.reads()) return;
        c.cursors_.erase(c.cursors_.find(h.cursor_));
        trim(c);
    }

    bool take(Channel &c, Handle &h, size_t maxBytes, bool, Delivery &d) override
    {
        const Framing framing = c.settings_.framing;
        if (takePending(h.pending_, maxBytes, framing, d)) return true;
        if (framing == Framing::Messages && d.bytes > 0) return true;
        const bool one = readsOneMessage(c, h);
        if (one && d.messages > 0) return true;
        const MessageLog &log = c.log_;
        size_t idx = log.indexOfSeq(h.cursor_);
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
                h.pending_.push_back(std::move(rest));
                d.createdRemainder = true;
                d.slices.push_back(std::move(slice));
                d.bytes += room;
                ++idx;
            }
            break;
        }
        moveCursor(c, h, idx < log.size() ? log.at(idx).seq : log.nextSeq());
        return d.bytes > 0;
    }

    void undo(Channel &, Delivery &d) override
    {
        // The log may have been trimmed meanwhile, so the subscriber keeps
        // what it missed in its own pending entries; the cursor stays.
        Handle &h = *d.handle;
        if (h.released_) return;
        std::vector<Entry> slices = std::move(d.slices);
        if (d.createdRemainder && !slices.empty() && !h.pending_.empty()) {
            Entry &rest = h.pending_.back();
            Entry &last = slices.back();
            if (rest.payload == last.payload && rest.offset == last.offset + last.length) {
                last.length += rest.length;
                h.pending_.pop_back();
            }
        }
        for (auto it = slices.rbegin(); it != slices.rend(); ++it)
            pushFrontMerging(h.pending_, std::move(*it));
    }

    void append(Channel &c, Handle &, std::vector<Payload> &messages) override
    {
        for (Payload &p : messages) {
            Entry e;
            e.length = static_cast<uint32_t>(p->size());
            e.payload = std::move(p);
            c.log_.pushBack(std::move(e));
        }
        trim(c);
    }

    uint64_t backlogBytes(const Channel &c) const override
    {
        if (c.cursors_.empty()) return 0;
        const MessageLog &log = c.log_;
        const size_t idx = log.indexOfSeq(*c.cursors_.begin());
        if (idx >= log.size()) return 0;
        return log.streamEnd() - log.at(idx).streamPos;
    }

    bool dropOldest(Channel &c) override
    {
        if (c.cursors_.empty()) return false;
        const uint64_t slowest = *c.cursors_.begin();
        const MessageLog &log = c.log_;
        const size_t idx = log.indexOfSeq(slowest);
        if (idx >= log.size()) return false;
        const uint64_t dropped = log.at(idx).length;
        for (Handle *h : c.handles_)
            if (h->reads() && h->cursor_ == slowest) moveCursor(c, *h, slowest + 1);
        ++c.stats_.drops;
        c.stats_.droppedBytes += dropped;
        trim(c);
        return true;
    }

    unsigned readable(const Channel &c, const Handle &h) const override
    {
        if (!h.pending_.empty()) return POLLIN | POLLRDNORM;
        if (c.log_.indexOfSeq(h.cursor_) < c.log_.size()) return POLLIN | POLLRDNORM;
        return 0;
    }

    bool anyReadable(const Channel &c) const override { return !c.log_.empty(); }

    std::optional<uint64_t> fanOutReadyBytes(const Channel &c, const Handle &h) const override
    {
        uint64_t n = 0;
        for (const Entry &e : h.pending_) n += e.length;
        const MessageLog &log = c.log_;
        const size_t idx = log.indexOfSeq(h.cursor_);
        if (idx < log.size()) n += log.streamEnd() - log.at(idx).streamPos;
        return n;
    }

    void trim(Channel &c) override
    {
        MessageLog &log = c.log_;
        const uint64_t slowest = c.cursors_.empty() ? log.nextSeq() : *c.cursors_.begin();
        while (!log.empty()) {
            const Entry &e = log.front();
            if (e.seq >= slowest) break;
            const bool inReplay = log.nextSeq() - e.seq <= c.settings_.replay;
            if (inReplay && log.bytes() <= c.settings_.capacityBytes) break;
            log.popFront();
        }
    }

private:
    static void moveCursor(Channel &c, Handle &h, uint64_t to)
    {
        if (to == h.cursor_) return;
        c.cursors_.erase(c.cursors_.find(h.cursor_));
        h.cursor_ = to;
        c.cursors_.insert(to);
    }
};

std::unique_ptr<KindPolicy> makeTopicPolicy()
{
    return std::make_unique<TopicPolicy>();
}

}  // namespace chanfs
