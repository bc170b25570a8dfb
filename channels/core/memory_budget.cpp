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
    MutexLock g(mu_);
    return used_;
}

size_t MemoryBudget::waitingChannels() const
{
    MutexLock g(mu_);
    return waiting_.size();
}

bool MemoryBudget::fitsLocked(uint64_t bytes) const
{
    return used_ <= limit_ && bytes <= limit_ - used_;
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
        used_, limit_.load());
}

void MemoryBudget::noteReleasedLocked()
{
    if (fullLogged_ && used_ <= limit_ / 2) {
        fullLogged_ = false;
        spdlog::info("max_memory: {} of {} bytes buffered, below half again", used_, limit_.load());
    }
}

void MemoryBudget::addWaiterLocked(uint64_t id)
{
    if (id != 0 && waiting_.insert(id).second) order_.push_back(id);
}

bool MemoryBudget::tryCharge(uint64_t bytes, uint64_t waiterId)
{
    MutexLock g(mu_);
    if (fitsLocked(bytes)) {
        used_ += bytes;
        return true;
    }
    addWaiterLocked(waiterId);
    noteFullLocked();
    return false;
}

void MemoryBudget::charge(uint64_t bytes)
{
    MutexLock g(mu_);
    used_ += bytes;
}

bool MemoryBudget::release(uint64_t bytes)
{
    MutexLock g(mu_);
    used_ -= bytes <= used_ ? bytes : used_;
    noteReleasedLocked();
    return !waiting_.empty() && fitsLocked(1);
}

bool MemoryBudget::fitsOrWait(uint64_t bytes, uint64_t waiterId)
{
    MutexLock g(mu_);
    if (fitsLocked(bytes)) return true;
    addWaiterLocked(waiterId);
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
        }
        while (!ids.empty()) {
            {
                MutexLock g(mu_);
                if (!fitsLocked(1)) {
                    // The untried keep their place ahead of those that tried.
                    for (auto it = ids.rbegin(); it != ids.rend(); ++it)
                        if (waiting_.insert(*it).second) order_.push_front(*it);
                    ids.clear();
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
