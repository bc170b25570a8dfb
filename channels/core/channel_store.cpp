// Channel: settings, stats and the message store it uses (channel.h).
#include "channels/core/channel.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>

#include "channels/core/kind_policy.h"
#include "channels/core/memory_budget.h"

namespace chanfs {

Settings Channel::settings() const
{
    MutexLock g(mu_);
    return settings_;
}

uint64_t Channel::maxMessage() const
{
    MutexLock g(mu_);
    return std::min<uint64_t>(settings_.maxMessageBytes, store_->maxMessage());
}

int Channel::changeSetting(std::string_view name, std::string_view value, std::string *why)
{
    mu_.lock();
    Settings next = settings_;
    int rc = applySetting(&next, name, value, why);
    const bool kindChanged = next.kind != settings_.kind;
    // A watcher holds no kind or framing state: it does not keep them fixed.
    const bool inUse = std::any_of(handles_.begin(), handles_.end(),
                                   [](const Handle *h) { return !h->watches(); });
    if (rc == 0 && (kindChanged || next.framing != settings_.framing) && inUse) {
        if (why) *why = "kind and framing cannot change while the channel is open";
        rc = -EBUSY;
    }
    if (rc == 0 && (kindChanged || next.framing != settings_.framing) && store_->durable() &&
        !store_->queued().empty()) {
        if (why)
            *why = "kind and framing of a durable channel cannot change while it holds messages";
        rc = -EBUSY;
    }
    if (rc < 0) {
        mu_.unlock();
        return rc;
    }
    settings_ = next;
    store_->configure(next);
    if (kindChanged) setPolicy(next.kind);
    policy_->trim(*this);
    Actions acts;
    pump(acts);
    runActions(acts);
    return 0;
}

ChannelStats Channel::stats() const
{
    MutexLock g(mu_);
    ChannelStats s = stats_;
    s.queuedBytes = store_->queued().bytes();
    s.queuedMessages = store_->queued().messages();
    s.maxBacklogBytes = policy_->backlogBytes(*this);
    if (store_->durable()) s.storageError = store_->health();
    store_->describe(&s.storeStats);
    return s;
}

uint64_t Channel::queuedBytes() const
{
    MutexLock g(mu_);
    return store_->queued().bytes();
}

bool Channel::hasOpenHandles() const
{
    MutexLock g(mu_);
    return !handles_.empty();
}

void Channel::countDrop(uint64_t bytes)
{
    ++stats_.drops;
    stats_.droppedBytes += bytes;
}

namespace {

// A remote store's way back into its channel, held by the store: weak, so a
// store outliving its channel (replies in flight) feeds nothing.
class ChannelFeed final : public StoreFeed {
public:
    explicit ChannelFeed(std::weak_ptr<Channel> ch) : ch_(std::move(ch)) {}
    void arrived(std::vector<Payload> messages) override
    {
        if (auto ch = ch_.lock()) ch->arrive(messages);
    }
    void changed() override
    {
        if (auto ch = ch_.lock()) ch->retryParked();
    }
    void gone() override
    {
        if (auto ch = ch_.lock()) ch->detach();
    }

private:
    const std::weak_ptr<Channel> ch_;
};

}  // namespace

int Channel::useStore(std::shared_ptr<MessageStore> store, bool carryQueued)
{
    if (store->remote()) store->attach(std::make_shared<ChannelFeed>(weak_from_this()));
    MutexLock lock(mu_);
    if (carryQueued) store->adoptQueued(*store_);
    store->configure(settings_);
    // What the channel held before goes in first.
    if (carryQueued) store->recordQueued();
    // A store that cannot keep what is carried into it is refused (the
    // channel stays where it was); one brought back at mount is used even
    // if it failed: it serves what it recovered and refuses writes with
    // its failure() (one damaged channel never takes the others down).
    if (int rc = store->flush(); rc < 0 && carryQueued) {
        store_->adoptQueued(*store);
        return rc;
    }
    // What a store brought back at mount counts as queued once more (st_size
    // is the bytes ever queued: it never shrinks under a reader).
    if (!carryQueued) stats_.totalBytes += store->queued().bytes();
    store_ = std::move(store);
    return 0;
}

std::shared_ptr<MessageStore> Channel::leaveStore()
{
    MutexLock lock(mu_);
    std::shared_ptr<MessageStore> memory = makeMemoryStore();
    memory->adoptQueued(*store_);
    return std::exchange(store_, std::move(memory));
}

std::shared_ptr<MessageStore> Channel::messageStore() const
{
    MutexLock lock(mu_);
    return store_;
}

}  // namespace chanfs
