// Pipe kind: a buffered byte stream that readers compete for, cut into
// writer sessions by end-of-stream marks.
//
// A session runs from the first writer's open to the last writer's close;
// its close queues a mark after its data. The reader that consumed the
// session's data is the one that gets its end-of-stream (so N blocked
// `cat`s and N one-line writers give one line per cat); if that reader has
// gone, the mark is dropped so the next reader waits for the next session
// instead of seeing an empty one. A session that wrote nothing queues a mark
// only if a reader is there to see it.
#include <poll.h>

#include <unordered_set>

#include "channels/core/kind_policy.h"

namespace chanfs {

class PipePolicy final : public ConsumingPolicy {
public:
    void onOpen(ChannelView &c, Handle &h) override
    {
        if (h.writes() && c.writerCount() == 1) {
            session_ = ++sessionCounter_;
            sessionHasData_ = false;
        }
    }

    void onRelease(ChannelView &c, Handle &h) override
    {
        ConsumingPolicy::onRelease(c, h);
        if (h.reads() && consumerOpen_ && h.id() == lastConsumer_) consumerOpen_ = false;
        if (h.writes() && c.writerCount() == 0) {
            if (sessionHasData_ || c.readerCount() > 0) {
                Entry mark;
                mark.session = session_;
                c.store().append(std::move(mark));
                if (!sessionHasData_) emptySessions_.insert(session_);
            }
        }
        dropOrphanMarks(c);
    }

    bool take(ChannelView &c, Handle &h, size_t maxBytes, bool continuation, Delivery &d) override
    {
        if (takePending(c.pendingOf(h), maxBytes, c.config().framing, d)) return true;
        takeFromLog(c, h, maxBytes, d);
        if (d.bytes > 0 || continuation) return d.bytes > 0;
        const MessageLog &log = c.store().queued();
        if (log.empty() || !log.front().isMark() || !mayTakeMark(h, log.front())) return false;
        d.mark = c.store().take();
        d.endOfStream = true;
        emptySessions_.erase(d.mark.session);
        return true;
    }

    void append(ChannelView &c, Handle &writer, std::vector<Payload> &messages) override
    {
        if (!messages.empty()) sessionHasData_ = true;
        ConsumingPolicy::append(c, writer, messages);
    }

    unsigned readable(const ChannelView &c, const Handle &h) const override
    {
        if (unsigned ev = ConsumingPolicy::readable(c, h)) return ev;
        const MessageLog &log = c.store().queued();
        if (!log.empty() && log.front().isMark() && mayTakeMark(h, log.front())) return POLLHUP;
        return 0;
    }

protected:
    void consumed(Handle &h, const Entry &e) override
    {
        lastConsumer_ = h.id();
        lastSession_ = e.session;
        consumerOpen_ = true;
    }
    uint64_t sessionOfNewData() override { return session_; }

private:
    bool mayTakeMark(const Handle &h, const Entry &mark) const
    {
        if (consumerOpen_ && lastSession_ == mark.session) return h.id() == lastConsumer_;
        return true;
    }

    // A mark nobody is left to see: its session's data went to a reader
    // that closed, or it ended an empty session and every reader closed.
    void dropOrphanMarks(ChannelView &c)
    {
        MessageStore &store = c.store();
        const MessageLog &log = store.queued();
        while (!log.empty() && log.front().isMark()) {
            const uint64_t session = log.front().session;
            const bool consumerGone = !consumerOpen_ && lastSession_ == session && session != 0;
            const bool emptyUnseen = c.readerCount() == 0 && emptySessions_.count(session);
            if (!consumerGone && !emptyUnseen) break;
            emptySessions_.erase(session);
            forget(store, store.take());
        }
    }

    uint64_t sessionCounter_ = 0;
    uint64_t session_ = 0;
    bool sessionHasData_ = false;
    uint64_t lastConsumer_ = 0;  // handle id that read the newest data
    uint64_t lastSession_ = 0;   // the session that data belonged to
    bool consumerOpen_ = false;
    std::unordered_set<uint64_t> emptySessions_;  // marks that end no data
};

std::unique_ptr<KindPolicy> makePipePolicy()
{
    return std::make_unique<PipePolicy>();
}

}  // namespace chanfs
