#include "channels/core/channel.h"

#include <poll.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <utility>

#include "channels/base/log_limit.h"
#include "channels/core/kind_policy.h"
#include "channels/core/memory_budget.h"

namespace chanfs {

namespace {

// A leaf lock: never held with a channel's mutex.
Mutex gRegistryMu;
std::unordered_map<uint64_t, std::weak_ptr<Channel>> gRegistry GUARDED_BY(gRegistryMu);
std::atomic<uint64_t> gNextChannelId{1};

// The last reference to a channel may go while fs/ holds its inode table
// lock: the writers its memory lets in are answered from the timer thread
// instead, so no reply is made under that lock. Inline if no timer runs.
void wakeMemoryWaitersSoon();

}  // namespace

Channel::Channel(const Settings &settings, std::string name)
    : id_(gNextChannelId.fetch_add(1)), name_(std::move(name)), settings_(settings),
      store_(makeMemoryStore()), policy_(makeKindPolicy(settings.kind))
{
}

std::shared_ptr<Channel> Channel::create(const Settings &settings, std::string name)
{
    auto ch = std::make_shared<Channel>(settings, std::move(name));
    MutexLock g(gRegistryMu);
    gRegistry.emplace(ch->id(), ch);
    return ch;
}

std::shared_ptr<Channel> Channel::find(uint64_t id)
{
    MutexLock g(gRegistryMu);
    auto it = gRegistry.find(id);
    return it == gRegistry.end() ? nullptr : it->second.lock();
}

Channel::~Channel() NO_THREAD_SAFETY_ANALYSIS  // the last reference: nobody else can lock
{
    {
        MutexLock g(gRegistryMu);
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
    MutexLock g(mu_);
    name_ = std::move(name);
}

std::string Channel::name() const
{
    MutexLock g(mu_);
    return name_;
}

void Channel::setPolicy(Kind kind)
{
    policy_ = makeKindPolicy(kind);
    // Marks only mean something to a pipe; topic cursors need contiguous
    // sequence numbers.
    store_->renumber();
}

std::shared_ptr<Handle> Channel::open(bool reads, bool writes)
{
    mu_.lock();
    auto h = std::make_shared<Handle>(nextHandleId_++, reads, writes);
    handles_.insert(h.get());
    if (reads) ++stats_.readers;
    if (writes) ++stats_.writers;
    if (h->watches()) h->watchSeen_ = watched();
    policy_->onOpen(*this, *h);
    Actions acts;
    pump(acts);
    runActions(acts);
    return h;
}

void Channel::release(Handle &h)
{
    mu_.lock();
    if (h.released_) {
        mu_.unlock();
        return;
    }
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
    policy_->onRelease(*this, h);
    h.pending_.clear();
    h.kindState_.reset();
    // One reader fewer (the last one: a store that fetched ahead gives
    // back what it holds for them).
    store_->readersWaiting(parkedReads_.size(), store_->queued().messages(), stats_.readers);
    pump(acts);
    runActions(acts);
}

bool Channel::tryTake(Handle &h, size_t maxBytes, bool continuation, Delivery &d)
{
    // The handle is kept only for a read that takes something (undo() puts
    // it back there): a read that finds nothing (the first try of one that
    // parks, a parked one pumped in vain) costs no reference count.
    // The next chunk of one large read(2) that already has its one message.
    if (maxBytes == 0 || (continuation && h.pending_.empty() && readsOneMessage(h))) {
        d.handle = h.shared_from_this();
        return true;
    }
    if (!policy_->take(*this, h, maxBytes, continuation, d)) return false;
    d.handle = h.shared_from_this();
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
    readImpl(h, req, waiter, true);
}

bool Channel::readOrReturn(Handle &h, const ReadRequest &req, std::unique_ptr<ReadWaiter> &waiter)
{
    return readImpl(h, req, waiter, false);
}

bool Channel::readImpl(Handle &h, const ReadRequest &req, std::unique_ptr<ReadWaiter> &waiter,
                       bool mayPark)
{
    mu_.lock();
    Delivery d;
    // A read the kind holds back (a subscriber of a crowded topic coming
    // back within the window) waits like a parked one.
    const bool hold =
        !req.continuation && !req.nonblock && batching() &&
        policy_->holdsRead(*this, h, req.maxBytes, std::chrono::steady_clock::now()) &&
        armHoldWake();
    const bool took = !hold && tryTake(h, req.maxBytes, req.continuation, d);
    const bool waits = !took && (hold || !(req.continuation || detached_ || req.nonblock));
    if (waits && !mayPark) {
        // Nothing was taken or changed (a hold timer armed for this read
        // only causes a spurious pump): the caller arms its interrupt and
        // reads again. Returned before the Actions are built: a read
        // that parks pays for this first try (callgrind: about 380
        // instructions with this order, 510 with the Actions built first).
        mu_.unlock();
        return false;
    }
    Actions acts;
    if (took) {
        acts.reads.emplace_back(std::move(waiter), std::move(d));
    } else if (!waits) {
        if (req.nonblock && !req.continuation && !detached_)
            acts.readErrors.emplace_back(std::move(waiter), EAGAIN);
        else
            acts.reads.emplace_back(std::move(waiter), Delivery{});
    } else if (waiter->interrupted()) {
        acts.readErrors.emplace_back(std::move(waiter), EINTR);
    } else {
        const uintptr_t key = waiter->key();
        parkedReads_.push_back(ParkedRead{&h, req.maxBytes, std::move(waiter)});
        parkedReadIndex_[key] = std::prev(parkedReads_.end());
        ++stats_.blockedReaders;
        store_->readersWaiting(parkedReads_.size(), store_->queued().messages(), stats_.readers);
    }
    pump(acts);
    runActions(acts);
    return true;
}

void Channel::setOneMessagePerRead(Handle &h)
{
    MutexLock lock(mu_);
    h.oneMessage_ = true;
}

void Channel::unread(Handle &h, std::string_view data)
{
    if (data.empty()) return;
    mu_.lock();
    if (h.released_) {
        mu_.unlock();
        return;
    }
    Entry e;
    e.payload = makePayload(data.data(), data.size());
    e.length = static_cast<uint32_t>(data.size());
    h.pending_.push_front(std::move(e));
    stats_.outBytes -= std::min<uint64_t>(stats_.outBytes, data.size());
    Actions acts;
    collectPolls(acts);
    runActions(acts);
}

bool Channel::cancel(uintptr_t key)
{
    mu_.lock();
    Actions acts;
    if (auto it = parkedReadIndex_.find(key); it != parkedReadIndex_.end()) {
        acts.readErrors.emplace_back(std::move(it->second->waiter), EINTR);
        parkedReads_.erase(it->second);
        parkedReadIndex_.erase(it);
        --stats_.blockedReaders;
        // One reader fewer: a store fetching on demand stops counting it.
        store_->readersWaiting(parkedReads_.size(), store_->queued().messages(), stats_.readers);
    } else {
        auto w = std::find_if(parkedWrites_.begin(), parkedWrites_.end(),
                              [key](const ParkedWrite &p) { return p.waiter->key() == key; });
        if (w == parkedWrites_.end()) {
            mu_.unlock();
            return false;
        }
        acts.writeErrors.emplace_back(std::move(w->waiter), EINTR);
        parkedWrites_.erase(w);
        --stats_.blockedWriters;
    }
    // A cancelled front writer may have held back smaller writes that fit.
    pump(acts);
    runActions(acts);
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
            } else if (batch && policy_->holdsRead(*this, *it->handle, it->maxBytes, now)) {
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
        if (held && !armHoldWake()) noBatch = again = true;
    }
}

namespace {
Mutex gWakeSchedulerMu;  // after any channel's mutex (taken inside pump)
Channel::WakeScheduler gWakeScheduler GUARDED_BY(gWakeSchedulerMu);
std::atomic<int64_t> gHoldWindowMs{Channel::kHoldWindow.count()};

void wakeMemoryWaitersSoon()
{
    {
        MutexLock g(gWakeSchedulerMu);
        if (gWakeScheduler && gWakeScheduler(std::chrono::milliseconds(0),
                                             [] { MemoryBudget::global().wakeWaiters(); }))
            return;
    }
    MemoryBudget::global().wakeWaiters();
}

}  // namespace

void Channel::setWakeScheduler(WakeScheduler scheduler, std::chrono::milliseconds window)
{
    MutexLock g(gWakeSchedulerMu);
    gWakeScheduler = std::move(scheduler);
    gHoldWindowMs = window.count();
}

std::chrono::milliseconds Channel::holdWindow() const
{
    return std::chrono::milliseconds(gHoldWindowMs.load());
}

bool Channel::batching() const
{
    if (detached_ || !policy_->batchesReads(*this)) return false;
    MutexLock g(gWakeSchedulerMu);
    return static_cast<bool>(gWakeScheduler);
}

bool Channel::armHoldWake()
{
    if (holdWakeArmed_) return true;
    MutexLock g(gWakeSchedulerMu);
    holdWakeArmed_ = gWakeScheduler && gWakeScheduler(holdWindow(), [weak = weak_from_this()] {
                         if (auto c = weak.lock()) c->holdWake();
                     });
    return holdWakeArmed_;
}

void Channel::holdWake()
{
    mu_.lock();
    holdWakeArmed_ = false;
    Actions acts;
    pump(acts, true);
    runActions(acts);
}

WatchedStats Channel::watched() const
{
    return {store_->queued().messages(), store_->queued().bytes(), stats_.readers, stats_.writers,
            stats_.blockedReaders,       stats_.blockedWriters};
}

unsigned Channel::events(const Handle &h) const
{
    unsigned ev = 0;
    if (h.watches()) {
        if (watched() != h.watchSeen_) ev |= POLLIN | POLLRDNORM;
        if (detached_) ev |= POLLHUP;
        return ev;
    }
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
    // A kernel pipe wakes its readers on every write, not only when it
    // turns readable: an edge-triggered epoll reader that leaves data
    // behind would otherwise never see another edge.
    const bool fresh = std::exchange(newMessages_, false);
    for (Handle *h : polled_) {
        const unsigned ev = events(*h);
        if ((ev & ~h->reportedEvents_) || (fresh && h->reads_ && (ev & POLLIN)))
            acts.polls.push_back(h->poll_);
        h->reportedEvents_ = ev;
    }
}

void Channel::Actions::clear()
{
    reads.clear();
    writes.clear();
    readErrors.clear();
    writeErrors.clear();
    polls.clear();
    retired.clear();
}

void Channel::runActions(Actions &acts, bool writesFirst)
{
    bool wakeBudget = false;
    for (;;) {
        syncBudget();
        collectPolls(acts);
        // A write is acknowledged only once the store keeps its messages
        // (message_store.h: for a journal, written, and with fsync=always
        // on disk). The store is copied: it may be replaced once unlocked.
        std::shared_ptr<MessageStore> store = store_;
        const bool syncFirst = store->acknowledgesAfterSync();
        const bool tracksConsumed = store->durable();
        // Writes were flushed when they were admitted (admit(): one the
        // store refuses is taken back whole); this saves what else changed
        // (consumption, marks), and a store that fails keeps it buffered.
        store->flush();
        wakeBudget |= std::exchange(wakeBudget_, false);
        mu_.unlock();
        std::vector<Delivery> failed;
        std::array<iovec, 8> fewIov;
        std::vector<iovec> iov;
        std::vector<uint64_t> consumed;
        auto answerWrites = [&] {
            for (auto &[waiter, n] : acts.writes) {
                if (syncFirst)
                    store->acknowledgeAfterSync(std::move(waiter), n);
                else if (waiter->done(n) < 0)
                    spdlog::debug("channel {}: writer gone after its write was queued", id_);
            }
        };
        if (writesFirst) answerWrites();
        for (auto &[waiter, d] : acts.reads) {
            // The usual reply has a few slices: they go on the stack.
            std::span<const iovec> slices;
            if (d.slices.size() <= fewIov.size()) {
                for (size_t i = 0; i < d.slices.size(); ++i)
                    fewIov[i] = iovec{const_cast<char *>(d.slices[i].data()), d.slices[i].length};
                slices = std::span<const iovec>(fewIov.data(), d.slices.size());
            } else {
                iov.clear();
                for (const Entry &e : d.slices)
                    iov.push_back(iovec{const_cast<char *>(e.data()), e.length});
                slices = iov;
            }
            if (waiter->deliver(slices) < 0) {
                failed.push_back(std::move(d));
            } else if (tracksConsumed) {
                for (const Entry &e : d.slices)
                    if (!e.isMark() && e.offset + e.length == e.payload->size())
                        consumed.push_back(e.seq);
                if (d.endOfStream) consumed.push_back(d.mark.seq);
            }
        }
        if (!consumed.empty()) {
            store->consumed(consumed);
            store->flush();
        }
        if (!writesFirst) answerWrites();
        for (auto &[waiter, err] : acts.readErrors) waiter->fail(err);
        for (auto &[waiter, err] : acts.writeErrors) waiter->fail(err);
        for (auto &n : acts.polls) n->notify();
        acts.clear();
        if (failed.empty()) break;
        // The reader is gone (interrupted, killed): what it took goes back
        // where it was, and may now go to another reader.
        mu_.lock();
        for (Delivery &d : failed) undo(d);
        pump(acts);
    }
    // Memory this channel freed may let writers of other channels in.
    if (wakeBudget) MemoryBudget::global().wakeWaiters();
}

unsigned Channel::poll(Handle &h, std::shared_ptr<PollNotifier> notifier)
{
    std::shared_ptr<PollNotifier> replaced;  // dropped after the lock
    MutexLock lock(mu_);
    if (notifier) {
        replaced = std::move(h.poll_);
        h.poll_ = std::move(notifier);
        polled_.insert(&h);
    }
    const unsigned ev = events(h);
    h.reportedEvents_ = ev;
    if (h.watches()) {
        // What this poll reports is seen: the next change is a new edge.
        h.watchSeen_ = watched();
        h.reportedEvents_ &= ~unsigned(POLLIN | POLLRDNORM);
    }
    return ev;
}

void Channel::detach()
{
    mu_.lock();
    detached_ = true;
    Actions acts;
    pump(acts);
    runActions(acts);
}

void Channel::breakPipe()
{
    {
        MutexLock lock(mu_);
        broken_ = true;
    }
    shutdown();
}

void Channel::shutdown()
{
    mu_.lock();
    detached_ = true;
    Actions acts;
    for (auto &pw : parkedWrites_) acts.writeErrors.emplace_back(std::move(pw.waiter), EPIPE);
    stats_.blockedWriters -= parkedWrites_.size();
    parkedWrites_.clear();
    pump(acts);
    runActions(acts);
}

}  // namespace chanfs
