#include "fuse_waiters.h"

#include <spdlog/spdlog.h>

#include <cerrno>

#include "channel.h"

namespace chanfs::fs {

namespace {

class FuseReadWaiter final : public ReadWaiter {
public:
    explicit FuseReadWaiter(fuse_req_t req) : req_(req) {}
    uintptr_t key() const override { return reinterpret_cast<uintptr_t>(req_); }
    bool interrupted() const override { return fuse_req_interrupted(req_) != 0; }
    int deliver(std::span<const iovec> data) noexcept override
    {
        if (data.empty()) return fuse_reply_buf(req_, nullptr, 0);
        return fuse_reply_iov(req_, data.data(), static_cast<int>(data.size()));
    }
    void fail(int err) noexcept override { fuse_reply_err(req_, err); }

private:
    fuse_req_t req_;
};

class FuseWriteWaiter final : public WriteWaiter {
public:
    explicit FuseWriteWaiter(fuse_req_t req) : req_(req) {}
    uintptr_t key() const override { return reinterpret_cast<uintptr_t>(req_); }
    bool interrupted() const override { return fuse_req_interrupted(req_) != 0; }
    int done(size_t n) noexcept override { return fuse_reply_write(req_, n); }
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
