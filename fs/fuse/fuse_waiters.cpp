#include "fs/fuse/fuse_waiters.h"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <new>
#include <string>

#include "channels/base/small_blocks.h"
#include "channels/core/channel.h"
#include "fs/base/request_counters.h"

namespace chanfs::fs {

namespace {

// A reply's result, counted for the metrics endpoint when the kernel
// refused it (the channel then takes the delivery back).
int counted(int rc)
{
    if (rc < 0) requestCounters().failedReplies.fetch_add(1, std::memory_order_relaxed);
    return rc;
}

// Above this many slices a read reply is copied into one buffer.
constexpr size_t kMaxReplySegments = 64;

// A waiter is made and freed per READ and WRITE request, nearly always on
// the same request thread: it comes from that thread's small-block cache
// (channels/base/small_blocks.h), not malloc.
class FuseReadWaiter final : public ReadWaiter, public SmallBlockObject {
public:
    explicit FuseReadWaiter(fuse_req_t req) : req_(req) {}
    uintptr_t key() const override { return reinterpret_cast<uintptr_t>(req_); }
    bool interrupted() const override { return fuse_req_interrupted(req_) != 0; }
    int deliver(std::span<const iovec> data) noexcept override
    {
        if (data.empty()) return counted(fuse_reply_buf(req_, nullptr, 0));
        if (data.size() <= kMaxReplySegments)
            return logged(fuse_reply_iov(req_, data.data(), static_cast<int>(data.size())));
        // One read can carry a hundred thousand small messages, and writev
        // takes at most IOV_MAX segments: the kernel would refuse the reply
        // and the reader would hang. Copying is cheaper than many segments.
        std::string flat;
        try {
            flat = flatten(data);
        } catch (const std::bad_alloc &) {
            // Answered, but nothing was delivered: the channel keeps the data.
            fuse_reply_err(req_, ENOMEM);
            return -ENOMEM;
        }
        return logged(fuse_reply_buf(req_, flat.data(), flat.size()));
    }
    void fail(int err) noexcept override { fuse_reply_err(req_, err); }

private:
    // -ENOENT is the normal "requester went away"; anything else means the
    // kernel refused the reply and the reader may be left waiting.
    static int logged(int rc)
    {
        if (rc < 0 && rc != -ENOENT) spdlog::error("read reply refused by the kernel: {}", rc);
        return counted(rc);
    }
    fuse_req_t req_;
};

class FuseWriteWaiter final : public WriteWaiter, public SmallBlockObject {
public:
    explicit FuseWriteWaiter(fuse_req_t req) : req_(req) {}
    uintptr_t key() const override { return reinterpret_cast<uintptr_t>(req_); }
    bool interrupted() const override { return fuse_req_interrupted(req_) != 0; }
    int done(size_t n) noexcept override { return counted(fuse_reply_write(req_, n)); }
    void fail(int err) noexcept override { fuse_reply_err(req_, err); }

private:
    fuse_req_t req_;
};

class FusePollNotifier final : public PollNotifier {
public:
    explicit FusePollNotifier(fuse_pollhandle *ph) : ph_(ph) {}
    ~FusePollNotifier() override { fuse_pollhandle_destroy(ph_); }
    FusePollNotifier(const FusePollNotifier &) = delete;
    FusePollNotifier &operator=(const FusePollNotifier &) = delete;
    void notify() noexcept override
    {
        // -ENOENT: the poller already went away; nothing to wake.
        if (int rc = fuse_lowlevel_notify_poll(ph_); rc < 0 && rc != -ENOENT)
            spdlog::debug("poll notification failed: {}", rc);
    }

private:
    fuse_pollhandle *ph_;
};

void onInterrupt(fuse_req_t req, void *data)
{
    const auto channelId = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(data));
    requestCounters().interrupts.fetch_add(1, std::memory_order_relaxed);
    if (auto ch = Channel::find(channelId)) {
        if (ch->cancel(reinterpret_cast<uintptr_t>(req)))
            spdlog::debug("channel {}: waiting request interrupted", ch->name());
    }
}

}  // namespace

std::unique_ptr<ReadWaiter> makeReadWaiter(fuse_req_t req)
{
    return std::make_unique<FuseReadWaiter>(req);
}

std::unique_ptr<WriteWaiter> makeWriteWaiter(fuse_req_t req)
{
    return std::make_unique<FuseWriteWaiter>(req);
}

std::shared_ptr<PollNotifier> makePollNotifier(fuse_pollhandle *ph)
{
    return std::make_shared<FusePollNotifier>(ph);
}

void armInterrupt(fuse_req_t req, uint64_t channelId)
{
    fuse_req_interrupt_func(req, onInterrupt,
                            reinterpret_cast<void *>(static_cast<uintptr_t>(channelId)));
}

}  // namespace chanfs::fs
