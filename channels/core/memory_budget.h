// The daemon-wide memory budget (-o max_memory=): the bytes of message data
// all channels together may hold. Each channel charges what it queues (see
// Channel::syncBudget: queued message bytes plus a per-message overhead;
// writers' unfinished messages and readers' unread remainders are bounded
// per handle instead, see the README) and releases it as it goes; a write that would
// push the total past the limit finds its channel "full" and follows the
// channel's overflow policy. A channel whose writer must wait for memory is
// registered here, and whoever frees memory later wakes it (wakeWaiters()),
// whichever channel that memory was in.
//
// Threading contract: thread-safe. Lock order: a channel's mutex, then mu_
// (charge/release/register run under a channel's lock). mu_ is innermost:
// nothing is called while it is held. wakeWaiters() takes channel mutexes
// and must be called with no channel mutex held.
//
// A charge that fits and a release take no lock: every message is charged
// once and released once, and mu_ was two lock round trips per message
// (about 110 instructions). used_ changes only by atomic read-modify-write.
// A charge that does not fit takes mu_, registers its channel, and then
// looks at used_ again; a release changes used_ and then looks for
// registered channels (waitingCount_). Both pairs are sequentially
// consistent, so either the release sees the registration (and its caller
// wakes the waiters) or the second look sees the released memory: no
// wake-up is lost.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <unordered_set>

#include "channels/base/mutex.h"

namespace chanfs {

class MemoryBudget {
public:
    static constexpr uint64_t kUnlimited = UINT64_MAX;

    // The one budget every channel uses (unlimited until set).
    static MemoryBudget &global();

    // Changes the limit; memory already held stays charged. Wakes waiters
    // if the limit went up. Call with no channel mutex held.
    void setLimit(uint64_t bytes);
    uint64_t limit() const;
    uint64_t used() const;
    // Channels registered as waiting for memory (for tests and stats).
    size_t waitingChannels() const;

    // Charges `bytes` if the total stays within the limit and returns true.
    // Otherwise charges nothing, and if `waiterId` is not 0 registers that
    // channel to be woken when memory is released (atomically with the
    // check, so a release between the two cannot be missed).
    bool tryCharge(uint64_t bytes, uint64_t waiterId);
    // Charges without checking (memory a channel already holds and cannot
    // refuse, such as a bigger remainder put back).
    void charge(uint64_t bytes);
    // Returns true if a channel is waiting for memory: the caller must then
    // call wakeWaiters() once it holds no channel mutex.
    bool release(uint64_t bytes);
    // True if `bytes` more would fit now; otherwise registers `waiterId` (if
    // not 0) like tryCharge (a writer polling for POLLOUT).
    bool fitsOrWait(uint64_t bytes, uint64_t waiterId);

    // Lets every registered channel retry its waiting writers. A channel
    // that still cannot proceed registers again. Reentrant calls on one
    // thread (a woken channel freeing memory itself) are folded into the
    // outermost one.
    void wakeWaiters();

private:
    // Whether `bytes` more fit with `used` charged.
    bool fitsWith(uint64_t used, uint64_t bytes) const;
    // Charges `bytes` if they fit; no lock.
    bool chargeIfFits(uint64_t bytes);
    void noteFullLocked() REQUIRES(mu_);
    void noteReleasedLocked() REQUIRES(mu_);
    // Registers `id` (not 0); true if it was not registered yet.
    bool addWaiterLocked(uint64_t id) REQUIRES(mu_);
    // Takes back the registration addWaiterLocked() just made.
    void dropNewWaiterLocked(uint64_t id) REQUIRES(mu_);

    mutable Mutex mu_;
    // Written under mu_, read without it by limit(): every write checks it
    // (Channel::checkBudgetSize), and a lock there cost a lock per message.
    std::atomic<uint64_t> limit_{kUnlimited};
    // Changed by atomic read-modify-write only, with or without mu_ (see
    // the threading contract above).
    std::atomic<uint64_t> used_{0};
    // Channels waiting for memory, by id, in the order they registered.
    std::unordered_set<uint64_t> waiting_ GUARDED_BY(mu_);
    std::deque<uint64_t> order_ GUARDED_BY(mu_);
    // waiting_.size(), written under mu_, read by release() without it.
    std::atomic<size_t> waitingCount_{0};
    // A "reached" line waits for its "below half"; written under mu_, read
    // by release() without it (only a set flag makes it take mu_).
    std::atomic<bool> fullLogged_{false};
    std::chrono::steady_clock::time_point lastFullLog_ GUARDED_BY(mu_){};
};

}  // namespace chanfs
