#include "channels/core/channel.h"

#include <poll.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "channels/base/log_limit.h"
#include "channels/core/kind_policy.h"
#include "channels/core/memory_budget.h"
#include "channels/storage/journal.h"

namespace chanfs {

namespace {

std::mutex gRegistryMu;
std::unordered_map<uint64_t, std::weak_ptr<Channel>> gRegistry;
std::atomic<uint64_t> gNextChannelId{1};

std::unique_ptr<KindPolicy> policyFor(Kind kind)
{
    switch (kind) {
    case Kind::Pipe: return makePipePolicy();
    case Kind::Queue: return makeQueuePolicy();
    case Kind::Topic: return makeTopicPolicy();
    }
    return makePipePolicy();
}

// The last reference to a channel may go while fs/ holds its inode table
// lock: the writers its memory lets in are answered from the timer thread
// instead, so no reply is made under that lock. Inline if no timer runs.
void wakeMemoryWaitersSoon();

}  // namespace

// Replies and wake-ups gathered under the lock, carried out after it.
struct Channel::Actions {
    std::vector<std::pair<std::unique_ptr<ReadWaiter>, Delivery>> reads;
    std::vector<std::pair<std::unique_ptr<WriteWaiter>, size_t>> writes;
    std::vector<std::pair<std::unique_ptr<ReadWaiter>, int>> readErrors;
    std::vector<std::pair<std::unique_ptr<WriteWaiter>, int>> writeErrors;
    std::vector<std::shared_ptr<PollNotifier>> polls;
    std::vector<std::shared_ptr<PollNotifier>> retired;
};

Channel::Channel(const Settings &settings, std::string name)
    : id_(gNextChannelId.fetch_add(1)), name_(std::move(name)), settings_(settings),
      policy_(policyFor(settings.kind))
{
}

std::shared_ptr<Channel> Channel::create(const Settings &settings, std::string name)
{
    auto ch = std::make_shared<Channel>(settings, std::move(name));
    std::lock_guard g(gRegistryMu);
    gRegistry.emplace(ch->id(), ch);
    return ch;
}

std::shared_ptr<Channel> Channel::find(uint64_t id)
{
    std::lock_guard g(gRegistryMu);
    auto it = gRegistry.find(id);
    return it == gRegistry.end() ? nullptr : it->second.lock();
}

Channel::~Channel()
{
    {
        std::lock_guard g(gRegistryMu);
        gRegistry.erase(id_);
    }
    // Every handle was released before the last reference went away, and a
    // release fails that handle's parked requests, so these stay empty; the
    // loop is the exactly-once guarantee if that ever changes.
    for (auto &p : parkedReads_) p.waiter->fail(EIO);
    for (auto &p : parkedWrites_) p.waiter->fail(EIO);
    if (chargedBytes_ > 0 && MemoryBudget::global().release(chargedBytes_)) wakeMemoryWaitersSoon();
}

void Channel::rename(std::string name)
{
    std::lock_guard g(mu_);
    name_ = std::move(name);
}

std::string Channel::name() const
{
    std::lock_guard g(mu_);
    return name_;
}

void Channel::setPolicy(Kind kind)
{
    policy_ = policyFor(kind);
    // Marks only mean something to a pipe; topic cursors need contiguous
    // sequence numbers.
    log_.resequence();
}

std::shared_ptr<Handle> Channel::open(bool reads, bool writes)
{
    Lock lock(mu_);
    auto h = std::make_shared<Handle>(nextHandleId_++, reads, writes);
    handles_.insert(h.get());
    if (reads) ++stats_.readers;
    if (writes) ++stats_.writers;
    policy_->onOpen(*this, *h);
    Actions acts;
    pump(acts);
    runActions(lock, acts);
    return h;
}

void Channel::release(Handle &h)
{
    Lock lock(mu_);
    if (h.released_) return;
    h.released_ = true;
    Actions acts;
    handles_.erase(&h);
    polled_.erase(&h);
    if (h.poll_) acts.retired.push_back(std::move(h.poll_));
    // The kernel sends RELEASE only when no request on the file is in
    // flight; a parked request left here would point at a dead handle.
    for (auto it = parkedReads_.begin(); it != parkedReads_.end();) {
        if (it->handle != &h) {
            ++it;
            continue;
        }
        parkedReadIndex_.erase(it->waiter->key());
        acts.readErrors.emplace_back(std::move(it->waiter), EBADF);
        it = parkedReads_.erase(it);
        --stats_.blockedReaders;
    }
    for (auto it = parkedWrites_.begin(); it != parkedWrites_.end();) {
        if (it->handle != &h) {
            ++it;
            continue;
        }
        acts.writeErrors.emplace_back(std::move(it->waiter), EBADF);
        it = parkedWrites_.erase(it);
        --stats_.blockedWriters;
    }
    if (h.reads_) --stats_.readers;
    if (h.writes_) --stats_.writers;
    if (!h.held_.empty()) {
        // An unfinished line or frame of a writer that closed is not a
        // message: delivering it would pass a fragment off as whole.
        // Limited: a crowd of killed writers must not flood the log.
        logLimited(spdlog::level::warn, "writer closed with an unfinished message",
                   "channel {}: writer closed with an unfinished {}-byte {} message; dropped",
                   name_, h.held_.size(), toString(settings_.framing));
        ++stats_.drops;
        stats_.droppedBytes += h.held_.size();
        h.held_.clear();
    }
    if (!h.pending_.empty() && settings_.kind != Kind::Topic) {
        uint64_t bytes = 0;
        for (const Entry &e : h.pending_) bytes += e.length;
        logLimited(spdlog::level::info, "reader closed in a message",
                   "channel {}: reader closed with {} unread bytes of a message it had begun; "
                   "dropped",
                   name_, bytes);
        ++stats_.drops;
        stats_.droppedBytes += bytes;
        for (const Entry &e : h.pending_) noteGone(e);
    }
    h.pending_.clear();
    policy_->onRelease(*this, h);
    pump(acts);
    runActions(lock, acts);
}

bool Channel::fits(uint64_t bytes) const
{
    const uint64_t backlog = policy_->backlogBytes(*this);
    return backlog == 0 || backlog + bytes <= settings_.capacityBytes;
}

void Channel::commit(Handle &h, FramedWrite &framed)
{
    // Only writes that complete a message come here, so the partial is
    // always a fresh heldAfter (never appendToHeld).
    h.held_ = std::move(framed.heldAfter);
    stats_.inMessages += framed.messages.size();
    stats_.inBytes += framed.messageBytes;
    clock_gettime(CLOCK_REALTIME, &stats_.lastWrite);
    policy_->append(*this, h, framed.messages);
}

void Channel::syncBudget()
{
    const uint64_t now = log_.bytes() + log_.messages() * kQueuedMessageOverheadBytes;
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
    const bool keeps =
        !(settings_.kind == Kind::Topic && cursors_.empty() && settings_.replay == 0);
    const uint64_t need =
        keeps ? framed.messageBytes + framed.messages.size() * kQueuedMessageOverheadBytes : 0;
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
    commit(h, framed);
    return 1;
}

bool Channel::tryTake(Handle &h, size_t maxBytes, bool continuation, Delivery &d)
{
    d.handle = h.shared_from_this();
    if (maxBytes == 0) return true;
    if (!policy_->take(*this, h, maxBytes, continuation, d)) return false;
    if (settings_.kind == Kind::Topic && d.bytes > 0)
        h.lastDeliveryAt_ = std::chrono::steady_clock::now();
    stats_.outBytes += d.bytes;
    stats_.outMessages += d.messages;
    policy_->trim(*this);
    return true;
}

void Channel::undo(Delivery &d)
{
    if (!d.handle) return;
    stats_.outBytes -= d.bytes;
    stats_.outMessages -= d.messages;
    policy_->undo(*this, d);
    // What went back may sit in a handle's own pending entries, which
    // anyReadable() does not see: look at every parked reader once.
    scanAllParked_ = true;
}

void Channel::read(Handle &h, const ReadRequest &req, std::unique_ptr<ReadWaiter> waiter)
{
    Lock lock(mu_);
    Actions acts;
    Delivery d;
    // A subscriber of a crowded topic coming back within the batch window
    // waits for it, like a parked one (see kBatchWindow).
    const bool hold = !req.continuation && !req.nonblock && batching() &&
                      holdForBatch(h, req.maxBytes, std::chrono::steady_clock::now()) &&
                      armBatchWake();
    if (!hold && tryTake(h, req.maxBytes, req.continuation, d)) {
        acts.reads.emplace_back(std::move(waiter), std::move(d));
    } else if (!hold && (req.continuation || detached_)) {
        acts.reads.emplace_back(std::move(waiter), Delivery{});
    } else if (!hold && req.nonblock) {
        acts.readErrors.emplace_back(std::move(waiter), EAGAIN);
    } else if (waiter->interrupted()) {
        acts.readErrors.emplace_back(std::move(waiter), EINTR);
    } else {
        const uintptr_t key = waiter->key();
        parkedReads_.push_back(ParkedRead{&h, req.maxBytes, std::move(waiter)});
        parkedReadIndex_[key] = std::prev(parkedReads_.end());
        ++stats_.blockedReaders;
    }
    pump(acts);
    runActions(lock, acts);
}

void Channel::write(Handle &h, const WriteRequest &req, std::unique_ptr<WriteWaiter> waiter)
{
    Lock lock(mu_);
    if (broken_) {
        lock.unlock();
        waiter->fail(EPIPE);
        return;
    }
    if (journal_ && journal_->failure()) {
        lock.unlock();
        waiter->fail(EIO);
        return;
    }
    Actions acts;
    FramedWrite framed =
        frameWrite(settings_.framing, settings_.maxMessageBytes, h.held_, req.data);
    if (framed.error) {
        spdlog::warn(
            "channel {}: write of {} bytes refused: a {} message is over max_message "
            "({} bytes){}",
            name_, req.data.size(), toString(settings_.framing), settings_.maxMessageBytes,
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
    runActions(lock, acts, true);
}

void Channel::setOneMessagePerRead(Handle &h)
{
    Lock lock(mu_);
    h.oneMessage_ = true;
}

void Channel::unread(Handle &h, std::string_view data)
{
    if (data.empty()) return;
    Lock lock(mu_);
    if (h.released_) return;
    Entry e;
    e.payload = makePayload(data.data(), data.size());
    e.length = static_cast<uint32_t>(data.size());
    h.pending_.push_front(std::move(e));
    stats_.outBytes -= std::min<uint64_t>(stats_.outBytes, data.size());
    Actions acts;
    collectPolls(acts);
    runActions(lock, acts);
}

bool Channel::cancel(uintptr_t key)
{
    Lock lock(mu_);
    Actions acts;
    if (auto it = parkedReadIndex_.find(key); it != parkedReadIndex_.end()) {
        acts.readErrors.emplace_back(std::move(it->second->waiter), EINTR);
        parkedReads_.erase(it->second);
        parkedReadIndex_.erase(it);
        --stats_.blockedReaders;
    } else {
        auto w = std::find_if(parkedWrites_.begin(), parkedWrites_.end(),
                              [key](const ParkedWrite &p) { return p.waiter->key() == key; });
        if (w == parkedWrites_.end()) return false;
        acts.writeErrors.emplace_back(std::move(w->waiter), EINTR);
        parkedWrites_.erase(w);
        --stats_.blockedWriters;
    }
    // A cancelled front writer may have held back smaller writes that fit.
    pump(acts);
    runActions(lock, acts);
    return true;
}

void Channel::pump(Actions &acts, bool releaseHeld)
{
    bool again = true;
    bool noBatch = releaseHeld;
    while (again) {
        again = false;
        // What readers took frees memory the writers below may need.
        syncBudget();
        while (!parkedWrites_.empty()) {
            ParkedWrite &pw = parkedWrites_.front();
            if (pw.waiter->interrupted()) {
                acts.writeErrors.emplace_back(std::move(pw.waiter), EINTR);
            } else {
                const int rc = admit(*pw.handle, pw.framed, false);
                if (rc == 0) break;
                if (rc < 0)
                    acts.writeErrors.emplace_back(std::move(pw.waiter), -rc);
                else
                    acts.writes.emplace_back(std::move(pw.waiter), pw.requestBytes);
            }
            parkedWrites_.pop_front();
            --stats_.blockedWriters;
        }
        const bool scanAll = std::exchange(scanAllParked_, false);
        if (parkedReads_.empty() || !(scanAll || detached_ || policy_->anyReadable(*this))) break;
        const bool batch = !noBatch && batching();
        const auto now =
            batch ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
        bool held = false;
        for (auto it = parkedReads_.begin(); it != parkedReads_.end();) {
            const uintptr_t key = it->waiter->key();
            Delivery d;
            if (it->waiter->interrupted()) {
                acts.readErrors.emplace_back(std::move(it->waiter), EINTR);
            } else if (batch && holdForBatch(*it->handle, it->maxBytes, now)) {
                held = true;
                ++it;
                continue;
            } else if (tryTake(*it->handle, it->maxBytes, false, d)) {
                acts.reads.emplace_back(std::move(it->waiter), std::move(d));
                again = !parkedWrites_.empty();
            } else if (detached_) {
                acts.reads.emplace_back(std::move(it->waiter), Delivery{});
            } else {
                ++it;
                continue;
            }
            parkedReadIndex_.erase(key);
            it = parkedReads_.erase(it);
            --stats_.blockedReaders;
            if (!scanAll && !detached_ && !policy_->anyReadable(*this)) break;
        }
        // No timer to wake the held readers: answer them now instead.
        if (held && !armBatchWake()) noBatch = again = true;
    }
}

namespace {
std::mutex gWakeSchedulerMu;  // after any channel's mutex (taken inside pump)
Channel::WakeScheduler gWakeScheduler;
std::atomic<int64_t> gBatchWindowMs{Channel::kBatchWindow.count()};

void wakeMemoryWaitersSoon()
{
    {
        std::lock_guard g(gWakeSchedulerMu);
        if (gWakeScheduler && gWakeScheduler(std::chrono::milliseconds(0),
                                             [] { MemoryBudget::global().wakeWaiters(); }))
            return;
    }
    MemoryBudget::global().wakeWaiters();
}

}  // namespace

void Channel::setWakeScheduler(WakeScheduler scheduler, std::chrono::milliseconds window)
{
    std::lock_guard g(gWakeSchedulerMu);
    gWakeScheduler = std::move(scheduler);
    gBatchWindowMs = window.count();
}

bool Channel::holdForBatch(const Handle &h, size_t maxBytes,
                           std::chrono::steady_clock::time_point now) const
{
    if (!h.lastDeliveryAt_) return false;
    if (now - *h.lastDeliveryAt_ >= std::chrono::milliseconds(gBatchWindowMs.load())) return false;
    const std::optional<uint64_t> ready = policy_->fanOutReadyBytes(*this, h);
    return ready && *ready > 0 && *ready < maxBytes / 2;
}

bool Channel::batching() const
{
    if (settings_.kind != Kind::Topic || stats_.readers < kBatchMinReaders || detached_)
        return false;
    std::lock_guard g(gWakeSchedulerMu);
    return static_cast<bool>(gWakeScheduler);
}

bool Channel::armBatchWake()
{
    if (batchWakeArmed_) return true;
    std::lock_guard g(gWakeSchedulerMu);
    const std::chrono::milliseconds window(gBatchWindowMs.load());
    batchWakeArmed_ = gWakeScheduler && gWakeScheduler(window, [weak = weak_from_this()] {
                          if (auto c = weak.lock()) c->batchWake();
                      });
    return batchWakeArmed_;
}

void Channel::batchWake()
{
    Lock lock(mu_);
    batchWakeArmed_ = false;
    Actions acts;
    pump(acts, true);
    runActions(lock, acts);
}

unsigned Channel::events(const Handle &h) const
{
    unsigned ev = 0;
    if (h.reads_) {
        ev |= policy_->readable(*this, h);
        if (detached_ && !(ev & POLLIN)) ev |= POLLHUP;
    }
    // Also no POLLOUT while the memory budget is full; the channel is then
    // registered to be woken (and notify) when memory is freed.
    if (h.writes_ && parkedWrites_.empty() &&
        (settings_.overflow != Overflow::Block ||
         (fits(1) && MemoryBudget::global().fitsOrWait(1 + kQueuedMessageOverheadBytes, id_))))
        ev |= POLLOUT | POLLWRNORM;
    return ev;
}

void Channel::collectPolls(Actions &acts)
{
    for (Handle *h : polled_) {
        const unsigned ev = events(*h);
        if (ev & ~h->reportedEvents_) acts.polls.push_back(h->poll_);
        h->reportedEvents_ = ev;
    }
}

void Channel::runActions(Lock &lock, Actions &acts, bool writesFirst)
{
    bool wakeBudget = false;
    for (;;) {
        syncBudget();
        collectPolls(acts);
        // A durable channel acknowledges a write only once its messages are
        // in the journal (and, with fsync=always, on disk).
        std::shared_ptr<Journal> journal = journal_;
        const bool syncFirst = journal && settings_.fsync == FsyncPolicy::Always;
        if (journal && journal->flush() < 0) {
            for (auto &[waiter, n] : acts.writes)
                acts.writeErrors.emplace_back(std::move(waiter), EIO);
            acts.writes.clear();
        }
        wakeBudget |= std::exchange(wakeBudget_, false);
        lock.unlock();
        std::vector<Delivery> failed;
        std::vector<iovec> iov;
        std::vector<uint64_t> consumed;
        auto answerWrites = [&] {
            for (auto &[waiter, n] : acts.writes) {
                if (syncFirst)
                    JournalSyncer::instance().afterSync(journal, std::move(waiter), n);
                else if (waiter->done(n) < 0)
                    spdlog::debug("channel {}: writer gone after its write was queued", id_);
            }
        };
        if (writesFirst) answerWrites();
        for (auto &[waiter, d] : acts.reads) {
            iov.clear();
            for (const Entry &e : d.slices)
                iov.push_back(iovec{const_cast<char *>(e.data()), e.length});
            if (waiter->deliver(iov) < 0) {
                failed.push_back(std::move(d));
            } else if (journal) {
                for (const Entry &e : d.slices)
                    if (!e.isMark() && e.offset + e.length == e.payload->size())
                        consumed.push_back(e.seq);
                if (d.endOfStream) consumed.push_back(d.mark.seq);
            }
        }
        if (!consumed.empty()) {
            journal->gone(consumed);
            journal->flush();
        }
        if (!writesFirst) answerWrites();
        for (auto &[waiter, err] : acts.readErrors) waiter->fail(err);
        for (auto &[waiter, err] : acts.writeErrors) waiter->fail(err);
        for (auto &n : acts.polls) n->notify();
        acts = Actions{};
        if (failed.empty()) break;
        // The reader is gone (interrupted, killed): what it took goes back
        // where it was, and may now go to another reader.
        lock.lock();
        for (Delivery &d : failed) undo(d);
        pump(acts);
    }
    // Memory this channel freed may let writers of other channels in.
    if (wakeBudget) MemoryBudget::global().wakeWaiters();
}

void Channel::retryForMemory()
{
    Lock lock(mu_);
    Actions acts;
    pump(acts);
    runActions(lock, acts);
}

unsigned Channel::poll(Handle &h, std::shared_ptr<PollNotifier> notifier)
{
    std::shared_ptr<PollNotifier> replaced;
    Lock lock(mu_);
    if (notifier) {
        replaced = std::move(h.poll_);
        h.poll_ = std::move(notifier);
        polled_.insert(&h);
    }
    const unsigned ev = events(h);
    h.reportedEvents_ = ev;
    lock.unlock();
    return ev;
}

Settings Channel::settings() const
{
    std::lock_guard g(mu_);
    return settings_;
}

int Channel::changeSetting(std::string_view name, std::string_view value, std::string *why)
{
    Lock lock(mu_);
    Settings next = settings_;
    if (int rc = applySetting(&next, name, value, why); rc < 0) return rc;
    const bool kindChanged = next.kind != settings_.kind;
    if ((kindChanged || next.framing != settings_.framing) && !handles_.empty()) {
        if (why) *why = "kind and framing cannot change while the channel is open";
        return -EBUSY;
    }
    if ((kindChanged || next.framing != settings_.framing) && journal_ && !log_.empty()) {
        if (why)
            *why = "kind and framing of a durable channel cannot change while it holds messages";
        return -EBUSY;
    }
    settings_ = next;
    if (journal_) journal_->configure(next);
    if (kindChanged) setPolicy(next.kind);
    policy_->trim(*this);
    Actions acts;
    pump(acts);
    runActions(lock, acts);
    return 0;
}

ChannelStats Channel::stats() const
{
    std::lock_guard g(mu_);
    ChannelStats s = stats_;
    s.queuedBytes = log_.bytes();
    s.queuedMessages = log_.messages();
    s.maxBacklogBytes = policy_->backlogBytes(*this);
    return s;
}

uint64_t Channel::queuedBytes() const
{
    std::lock_guard g(mu_);
    return log_.bytes();
}

bool Channel::hasOpenHandles() const
{
    std::lock_guard g(mu_);
    return !handles_.empty();
}

void Channel::noteGone(const Entry &e)
{
    if (journal_ && e.seq) {
        const uint64_t seq = e.seq;
        journal_->gone(std::span<const uint64_t>(&seq, 1));
    }
}

void Channel::restore(RecoveredLog &rec)
{
    Lock lock(mu_);
    for (Entry &e : rec.entries) log_.restoreBack(std::move(e));
    rec.entries.clear();
    log_.reserveSeq(rec.nextSeq);
}

int Channel::attachJournal(std::shared_ptr<Journal> journal, bool recordQueued)
{
    Lock lock(mu_);
    if (journal_) log_.setObserver(nullptr);
    journal_ = std::move(journal);
    if (!journal_) return 0;
    journal_->configure(settings_);
    log_.setObserver(journal_.get());
    // What the channel held before durable was turned on goes in first.
    if (recordQueued)
        for (const Entry &e : log_) journal_->appended(e);
    return journal_->flush();
}

std::shared_ptr<Journal> Channel::detachJournal()
{
    Lock lock(mu_);
    log_.setObserver(nullptr);
    return std::move(journal_);
}

std::shared_ptr<Journal> Channel::journal() const
{
    Lock lock(mu_);
    return journal_;
}

void Channel::detach()
{
    Lock lock(mu_);
    detached_ = true;
    Actions acts;
    pump(acts);
    runActions(lock, acts);
}

void Channel::breakPipe()
{
    {
        Lock lock(mu_);
        broken_ = true;
    }
    shutdown();
}

void Channel::shutdown()
{
    Lock lock(mu_);
    detached_ = true;
    Actions acts;
    for (auto &pw : parkedWrites_) acts.writeErrors.emplace_back(std::move(pw.waiter), EPIPE);
    stats_.blockedWriters -= parkedWrites_.size();
    parkedWrites_.clear();
    pump(acts);
    runActions(lock, acts);
}

}  // namespace chanfs
