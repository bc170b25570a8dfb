// Channel: the write path, capacity and the memory budget (channel.h).
#include "channels/core/channel.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>

#include "channels/core/kind_policy.h"
#include "channels/core/memory_budget.h"

namespace chanfs {

bool Channel::fits(uint64_t bytes) const
{
    // A remote store's outbox counts too; while it holds writes (its link
    // is down) nothing beyond capacity is taken in, not even into an empty
    // channel: what it holds must fit.
    const uint64_t held = store_->heldBytes();
    if (store_->holdingWrites()) return held + bytes <= settings_.capacityBytes;
    const uint64_t backlog = policy_->backlogBytes(*this) + held;
    return backlog == 0 || backlog + bytes <= settings_.capacityBytes;
}

void Channel::commit(Handle &h, FramedWrite &framed)
{
    // Only writes that complete a message come here, so the partial is
    // always a fresh heldAfter (never appendToHeld).
    h.held_ = std::move(framed.heldAfter);
    stats_.inMessages += framed.messages.size();
    stats_.inBytes += framed.messageBytes;
    stats_.totalBytes += framed.messageBytes;
    clock_gettime(CLOCK_REALTIME, &stats_.lastWrite);
    policy_->append(*this, h, framed.messages);
    newMessages_ = true;
}

void Channel::syncBudget()
{
    const MessageLog &queued = store_->queued();
    const uint64_t now = queued.bytes() + queued.messages() * kQueuedMessageOverheadBytes;
    MemoryBudget &budget = MemoryBudget::global();
    if (now > chargedBytes_)
        budget.charge(now - chargedBytes_);  // put back by a failed reply: cannot refuse
    else if (now < chargedBytes_ && budget.release(chargedBytes_ - now))
        wakeBudget_ = true;
    chargedBytes_ = now;
}

bool Channel::heldOverBudget(const Handle &h, const FramedWrite &framed, size_t dataBytes) const
{
    const uint64_t held =
        framed.appendToHeld ? h.held_.size() + dataBytes : framed.heldAfter.size();
    return held + kQueuedMessageOverheadBytes > MemoryBudget::global().limit();
}

int Channel::checkBudgetSize(const FramedWrite &framed)
{
    const uint64_t limit = MemoryBudget::global().limit();
    const uint64_t need =
        framed.messageBytes + framed.messages.size() * kQueuedMessageOverheadBytes;
    if (need <= limit) return 0;
    spdlog::warn(
        "channel {}: write of {} bytes of messages refused: more than max_memory "
        "({} bytes) could ever hold",
        name_, framed.messageBytes, limit);
    return -EMSGSIZE;
}

// 1: committed, 0: must wait for room, <0: refused.
int Channel::admit(Handle &h, FramedWrite &framed, bool nonblock)
{
    if (int rc = checkBudgetSize(framed); rc < 0) return rc;
    if (!fits(framed.messageBytes)) {
        switch (settings_.overflow) {
        case Overflow::Block: return nonblock ? -EAGAIN : 0;
        case Overflow::Error: return -ENOBUFS;
        case Overflow::DropOldest:
            while (!fits(framed.messageBytes) && policy_->dropOldest(*this)) {}
            break;
        }
    }
    // The daemon-wide memory budget: past it the channel is full as well.
    // A topic nobody subscribes to and that replays nothing keeps nothing.
    const uint64_t need =
        policy_->keepsMessages(*this)
            ? framed.messageBytes + framed.messages.size() * kQueuedMessageOverheadBytes
            : 0;
    MemoryBudget &budget = MemoryBudget::global();
    const bool mayWait = settings_.overflow == Overflow::Block && !nonblock;
    while (need > 0 && !budget.tryCharge(need, mayWait ? id_ : 0)) {
        switch (settings_.overflow) {
        case Overflow::Block:
            return nonblock ? -EAGAIN : 0;  // registered: a release elsewhere wakes us
        case Overflow::Error: return -ENOBUFS;
        case Overflow::DropOldest:
            // Only this channel's own messages are ours to drop; when none
            // are left the memory is held by others and a drop-oldest
            // writer, which never waits, is refused.
            if (!policy_->dropOldest(*this)) return -ENOBUFS;
            syncBudget();
            break;
        }
    }
    chargedBytes_ += need;
    if (!store_->durable()) {
        commit(h, framed);
        return 1;
    }
    // A durable write is kept before anyone can read it; one the store
    // refuses (a full disk) is taken back whole, so it is neither delivered
    // nor restored. syncBudget() returns its memory.
    const MessageLog::BackMark mark = store_->backMark();
    std::string heldBefore = h.held_;
    const uint64_t inMessagesBefore = stats_.inMessages, inBytesBefore = stats_.inBytes;
    commit(h, framed);
    if (const int rc = store_->flush(); rc < 0) {
        store_->rollbackAppends(mark);
        h.held_ = std::move(heldBefore);
        stats_.inMessages = inMessagesBefore;
        stats_.inBytes = inBytesBefore;
        return rc;
    }
    // A remote store took them into its outbox: they are queued when they
    // come back from its stream (arrive()), in the stream's order.
    if (store_->remote()) {
        store_->withdrawSince(mark);
        stats_.totalBytes -= framed.messageBytes;
    }
    return 1;
}

void Channel::write(Handle &h, const WriteRequest &req, std::unique_ptr<WriteWaiter> waiter)
{
    writeImpl(h, req, waiter, true);
}

bool Channel::writeOrReturn(Handle &h, const WriteRequest &req,
                            std::unique_ptr<WriteWaiter> &waiter)
{
    return writeImpl(h, req, waiter, false);
}

bool Channel::writeImpl(Handle &h, const WriteRequest &req, std::unique_ptr<WriteWaiter> &waiter,
                        bool mayPark)
{
    mu_.lock();
    if (broken_) {
        mu_.unlock();
        waiter->fail(EPIPE);
        waiter.reset();
        return true;
    }
    if (const int err = store_->failure(); err < 0) {
        mu_.unlock();
        waiter->fail(-err);
        waiter.reset();
        return true;
    }
    Actions acts;
    const uint64_t maxMessage = std::min<uint64_t>(settings_.maxMessageBytes, store_->maxMessage());
    FramedWrite framed = frameWrite(settings_.framing, maxMessage, h.held_, req.data);
    if (framed.error) {
        spdlog::warn(
            "channel {}: write of {} bytes refused: a {} message is over max_message "
            "({} bytes{}){}",
            name_, req.data.size(), toString(settings_.framing), maxMessage,
            maxMessage < settings_.maxMessageBytes ? ", the store's limit" : "",
            framed.dropHeld ? "; the writer's unfinished message is dropped" : "");
        if (framed.dropHeld && !h.held_.empty()) {
            ++stats_.drops;
            stats_.droppedBytes += h.held_.size();
            h.held_.clear();
        }
        acts.writeErrors.emplace_back(std::move(waiter), -framed.error);
    } else if (framed.messages.empty() && heldOverBudget(h, framed, req.data.size())) {
        // An unfinished message already too big for max_memory can never
        // be queued: refused now, not when its last byte comes.
        spdlog::warn(
            "channel {}: write refused: the writer's unfinished {} message is over "
            "max_memory ({} bytes); it is dropped",
            name_, toString(settings_.framing), MemoryBudget::global().limit());
        ++stats_.drops;
        stats_.droppedBytes += h.held_.size();
        h.held_.clear();
        acts.writeErrors.emplace_back(std::move(waiter), EMSGSIZE);
    } else if (framed.messages.empty()) {
        applyHeld(h.held_, framed, req.data);
        acts.writes.emplace_back(std::move(waiter), req.data.size());
    } else {
        // Writers already waiting keep their turn.
        const int rc = parkedWrites_.empty() ? admit(h, framed, req.nonblock)
                       : req.nonblock        ? -EAGAIN
                                             : 0;
        if (rc == 0 && !mayPark) {
            // Nothing was taken or changed (framing reads the held partial
            // without consuming it; a memory wait registration only causes
            // a spurious pump): the caller arms its interrupt and retries.
            mu_.unlock();
            return false;
        }
        if (rc == 1) {
            acts.writes.emplace_back(std::move(waiter), req.data.size());
        } else if (rc < 0) {
            acts.writeErrors.emplace_back(std::move(waiter), -rc);
        } else if (waiter->interrupted()) {
            acts.writeErrors.emplace_back(std::move(waiter), EINTR);
        } else {
            parkedWrites_.push_back(
                ParkedWrite{&h, std::move(framed), req.data.size(), std::move(waiter)});
            ++stats_.blockedWriters;
        }
    }
    pump(acts);
    runActions(acts, true);
    return true;
}

void Channel::retryForMemory()
{
    mu_.lock();
    Actions acts;
    pump(acts);
    runActions(acts);
}

}  // namespace chanfs

namespace chanfs {

void Channel::arrive(std::vector<Payload> &messages)
{
    mu_.lock();
    Actions acts;
    uint64_t bytes = 0;
    for (const Payload &p : messages) bytes += p->size();
    stats_.totalBytes += bytes;
    clock_gettime(CLOCK_REALTIME, &stats_.lastWrite);
    // The kinds append as for a local write; the store's observer knows
    // these come from its stream.
    static Handle stream(0, false, true);
    policy_->append(*this, stream, messages);
    newMessages_ = true;
    pump(acts);
    // What is still wanted after this delivery (a store that fetches on
    // demand gives back what no reader waits for).
    store_->readersWaiting(parkedReads_.size(), store_->queued().messages(), stats_.readers);
    runActions(acts);
}

void Channel::retryParked()
{
    mu_.lock();
    Actions acts;
    scanAllParked_ = true;
    pump(acts);
    // A store that fetches on demand (a NATS queue) asks again for what
    // the readers still waiting lack: its link came back, a pull expired.
    // It also learns when to give back what it fetched ahead (the readers
    // stopped taking it), so it is told even with no reader parked.
    store_->readersWaiting(parkedReads_.size(), store_->queued().messages(), stats_.readers);
    runActions(acts);
}

}  // namespace chanfs
