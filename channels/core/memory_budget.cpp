#include "channels/core/memory_budget.h"

#include <spdlog/spdlog.h>

#include <deque>

#include "channels/core/channel.h"

namespace chanfs {

MemoryBudget &MemoryBudget::global()
{
    static MemoryBudget budget;
    return budget;
}

void MemoryBudget::setLimit(uint64_t bytes)
{
    bool raised = false;
    {
        MutexLock g(mu_);
        raised = bytes > limit_;
        limit_ = bytes;
    }
    if (raised) wakeWaiters();
}

uint64_t MemoryBudget::limit() const
{
    return limit_.load(std::memory_order_relaxed);
}

uint64_t MemoryBudget::used() const
{
    return used_.load();
}

size_t MemoryBudget::waitingChannels() const
{
    MutexLock g(mu_);
    return waiting_.size();
}

bool MemoryBudget::fitsWith(uint64_t used, uint64_t bytes) const
{
    const uint64_t limit = limit_.load(std::memory_order_relaxed);
    return used <= limit && bytes <= limit - used;
}

bool MemoryBudget::chargeIfFits(uint64_t bytes)
{
    uint64_t used = used_.load();
    while (fitsWith(used, bytes))
        if (used_.compare_exchange_weak(used, used + bytes)) return true;
    return false;
}

void MemoryBudget::noteFullLocked()
{
    if (fullLogged_ || limit_ == kUnlimited) return;
    // One line per episode, and at most one every 10 s: a budget that a
    // steady flood keeps at its edge must not fill the log.
    const auto now = std::chrono::steady_clock::now();
    if (lastFullLog_ != std::chrono::steady_clock::time_point{} &&
        now - lastFullLog_ < std::chrono::seconds(10))
        return;
    lastFullLog_ = now;
    fullLogged_ = true;
    spdlog::warn(
        "max_memory reached: {} of {} bytes buffered; writers wait or are refused as "
        "their channels' overflow policies say until readers drain some",
        used_.load(), limit_.load());
}

void MemoryBudget::noteReleasedLocked()
{
    if (fullLogged_ && used_ <= limit_ / 2) {
        fullLogged_ = false;
        spdlog::info("max_memory: {} of {} bytes buffered, below half again", used_.load(),
                     limit_.load());
    }
}

bool MemoryBudget::addWaiterLocked(uint64_t id)
{
    if (id == 0 || !waiting_.insert(id).second) return false;
    order_.push_back(id);
    waitingCount_ = waiting_.size();
    return true;
}

void MemoryBudget::dropNewWaiterLocked(uint64_t id)
{
    waiting_.erase(id);
    if (!order_.empty() && order_.back() == id) order_.pop_back();
    waitingCount_ = waiting_.size();
}

bool MemoryBudget::tryCharge(uint64_t bytes, uint64_t waiterId)
{
    if (chargeIfFits(bytes)) return true;
    MutexLock g(mu_);
    // Registered first, then looked at again: a release in between either
    // sees the registration or left the memory for this second look.
    const bool added = addWaiterLocked(waiterId);
    if (chargeIfFits(bytes)) {
        if (added) dropNewWaiterLocked(waiterId);
        return true;
    }
    noteFullLocked();
    return false;
}

void MemoryBudget::charge(uint64_t bytes)
{
    used_.fetch_add(bytes);
}

bool MemoryBudget::release(uint64_t bytes)
{
    uint64_t used = used_.load();
    while (!used_.compare_exchange_weak(used, used - (bytes <= used ? bytes : used))) {}
    if (fullLogged_.load(std::memory_order_relaxed)) {
        MutexLock g(mu_);
        noteReleasedLocked();
    }
    return waitingCount_.load() > 0 && fitsWith(used_.load(), 1);
}

bool MemoryBudget::fitsOrWait(uint64_t bytes, uint64_t waiterId)
{
    if (fitsWith(used_.load(), bytes)) return true;
    MutexLock g(mu_);
    const bool added = addWaiterLocked(waiterId);
    if (fitsWith(used_.load(), bytes)) {
        if (added) dropNewWaiterLocked(waiterId);
        return true;
    }
    return false;
}

namespace {
thread_local bool tWaking = false;
thread_local bool tWakeAgain = false;
}  // namespace

void MemoryBudget::wakeWaiters()
{
    if (tWaking) {
        tWakeAgain = true;
        return;
    }
    tWaking = true;
    // Oldest first, and only while memory is left: a channel that gets
    // nothing in goes to the back, so no waiting channel starves, and one
    // small release does not make every waiting channel try.
    do {
        tWakeAgain = false;
        std::deque<uint64_t> ids;
        {
            MutexLock g(mu_);
            ids.swap(order_);
            waiting_.clear();
            waitingCount_ = 0;
        }
        while (!ids.empty()) {
            {
                MutexLock g(mu_);
                if (!fitsWith(used_.load(), 1)) {
                    // The untried keep their place ahead of those that tried.
                    for (auto it = ids.rbegin(); it != ids.rend(); ++it)
                        if (waiting_.insert(*it).second) order_.push_front(*it);
                    waitingCount_ = waiting_.size();
                    ids.clear();
                    // A release between the look and the registration saw
                    // no one waiting: look again, and go round once more
                    // if memory came back meanwhile.
                    if (fitsWith(used_.load(), 1)) tWakeAgain = true;
                    break;
                }
            }
            const uint64_t id = ids.front();
            ids.pop_front();
            if (auto ch = Channel::find(id)) ch->retryForMemory();
        }
    } while (tWakeAgain);
    tWaking = false;
}

}  // namespace chanfs
