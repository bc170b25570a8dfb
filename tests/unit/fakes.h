// Recording fakes of the waiter interfaces in channels/base/waiters.h, and small
// helpers that drive a Channel the way fs/ does (one waiter per request).
//
// Thread-safe: every result is guarded by its own mutex, so a waiter may be
// completed on any thread while the test thread waits for it.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "channels/base/settings.h"
#include "channels/base/waiters.h"
#include "channels/core/channel.h"

namespace chanfs::test {

using namespace std::chrono_literals;

// Keys identify requests for Channel::cancel(); fs/ uses the fuse_req_t.
inline uintptr_t freshKey()
{
    static std::atomic<uintptr_t> next{0x1000};
    return next.fetch_add(1);
}

// What happened to one read request.
struct ReadOutcome {
    int completions = 0;  // deliver() + fail() calls: exactly 1 when done
    int accepted = 0;     // deliver() calls that returned 0
    int rejected = 0;     // deliver() calls refused (the requester was gone)
    int fails = 0;        // fail() calls
    int error = 0;        // the errno given to fail()
    bool eof = false;     // an accepted delivery of no bytes
    std::string data;     // accepted bytes
    std::string rejectedData;
    bool destroyed = false;  // the channel let go of the waiter
};

// Shared between a FakeReadWaiter and the test. Configure before issuing
// the request; `interrupt` may be flipped at any time.
class ReadResult {
public:
    uintptr_t key = freshKey();
    int deliverRc = 0;                // e.g. -ENOENT: the reader died
    std::function<void()> onDeliver;  // runs inside deliver(), no channel lock held
    std::atomic<bool> interrupt{false};

    ReadOutcome get() const
    {
        std::lock_guard g(mu_);
        return out_;
    }
    bool done() const { return get().completions > 0; }
    // Waits until the request is completed; false on timeout.
    bool waitDone(std::chrono::milliseconds timeout = 30s) const
    {
        std::unique_lock l(mu_);
        return cv_.wait_for(l, timeout, [this] { return out_.completions > 0; });
    }

    int recordDelivery(std::string bytes)
    {
        std::lock_guard g(mu_);
        ++out_.completions;
        if (deliverRc < 0) {
            ++out_.rejected;
            out_.rejectedData += bytes;
        } else {
            ++out_.accepted;
            out_.eof = bytes.empty();
            out_.data += bytes;
        }
        cv_.notify_all();
        return deliverRc;
    }
    void recordFail(int err)
    {
        std::lock_guard g(mu_);
        ++out_.completions;
        ++out_.fails;
        out_.error = err;
        cv_.notify_all();
    }
    void recordDestroyed()
    {
        std::lock_guard g(mu_);
        out_.destroyed = true;
    }

private:
    mutable std::mutex mu_;
    mutable std::condition_variable cv_;
    ReadOutcome out_;
};

class FakeReadWaiter final : public ReadWaiter {
public:
    explicit FakeReadWaiter(std::shared_ptr<ReadResult> r) : r_(std::move(r)) {}
    ~FakeReadWaiter() override { r_->recordDestroyed(); }
    FakeReadWaiter(const FakeReadWaiter &) = delete;
    FakeReadWaiter &operator=(const FakeReadWaiter &) = delete;

    uintptr_t key() const override { return r_->key; }
    bool interrupted() const override { return r_->interrupt.load(); }
    int deliver(std::span<const iovec> data) noexcept override
    {
        std::string bytes;
        for (const iovec &v : data) bytes.append(static_cast<const char *>(v.iov_base), v.iov_len);
        if (r_->onDeliver) r_->onDeliver();
        return r_->recordDelivery(std::move(bytes));
    }
    void fail(int err) noexcept override { r_->recordFail(err); }

private:
    std::shared_ptr<ReadResult> r_;
};

// What happened to one write request.
struct WriteOutcome {
    int completions = 0;  // done() + fail() calls: exactly 1 when done
    int dones = 0;
    size_t acceptedBytes = 0;
    int fails = 0;
    int error = 0;
    bool destroyed = false;
};

class WriteResult {
public:
    uintptr_t key = freshKey();
    int doneRc = 0;
    std::atomic<bool> interrupt{false};

    WriteOutcome get() const
    {
        std::lock_guard g(mu_);
        return out_;
    }
    bool done() const { return get().completions > 0; }
    bool waitDone(std::chrono::milliseconds timeout = 30s) const
    {
        std::unique_lock l(mu_);
        return cv_.wait_for(l, timeout, [this] { return out_.completions > 0; });
    }

    int recordDone(size_t n)
    {
        std::lock_guard g(mu_);
        ++out_.completions;
        ++out_.dones;
        out_.acceptedBytes = n;
        cv_.notify_all();
        return doneRc;
    }
    void recordFail(int err)
    {
        std::lock_guard g(mu_);
        ++out_.completions;
        ++out_.fails;
        out_.error = err;
        cv_.notify_all();
    }
    void recordDestroyed()
    {
        std::lock_guard g(mu_);
        out_.destroyed = true;
    }

private:
    mutable std::mutex mu_;
    mutable std::condition_variable cv_;
    WriteOutcome out_;
};

class FakeWriteWaiter final : public WriteWaiter {
public:
    explicit FakeWriteWaiter(std::shared_ptr<WriteResult> r) : r_(std::move(r)) {}
    ~FakeWriteWaiter() override { r_->recordDestroyed(); }
    FakeWriteWaiter(const FakeWriteWaiter &) = delete;
    FakeWriteWaiter &operator=(const FakeWriteWaiter &) = delete;

    uintptr_t key() const override { return r_->key; }
    bool interrupted() const override { return r_->interrupt.load(); }
    int done(size_t n) noexcept override { return r_->recordDone(n); }
    void fail(int err) noexcept override { r_->recordFail(err); }

private:
    std::shared_ptr<WriteResult> r_;
};

// Counts wake-ups and notices its own destruction.
struct PollProbe {
    std::atomic<int> notifies{0};
    std::atomic<int> destroyed{0};
};

class FakePollNotifier final : public PollNotifier {
public:
    explicit FakePollNotifier(std::shared_ptr<PollProbe> p) : p_(std::move(p)) {}
    ~FakePollNotifier() override { p_->destroyed.fetch_add(1); }
    FakePollNotifier(const FakePollNotifier &) = delete;
    FakePollNotifier &operator=(const FakePollNotifier &) = delete;
    void notify() noexcept override { p_->notifies.fetch_add(1); }

private:
    std::shared_ptr<PollProbe> p_;
};

inline std::shared_ptr<PollNotifier> makeNotifier(const std::shared_ptr<PollProbe> &p)
{
    return std::make_shared<FakePollNotifier>(p);
}

// ---- helpers -------------------------------------------------------------

using SettingList = std::initializer_list<std::pair<std::string_view, std::string_view>>;

// Settings built the way a user sets them: through the xattr names.
inline Settings settingsOf(SettingList kv)
{
    Settings s;
    for (const auto &[name, value] : kv) {
        std::string why;
        EXPECT_EQ(applySetting(&s, name, value, &why), 0) << name << "=" << value << ": " << why;
    }
    return s;
}

inline std::shared_ptr<Channel> makeChannel(SettingList kv)
{
    return Channel::create(settingsOf(kv), "unit-test");
}

struct ReadOpts {
    bool nonblock = false;
    bool continuation = false;
    int deliverRc = 0;
    bool interrupted = false;
    std::function<void()> onDeliver{};
};

// Issues one read; the result shows whether it completed or is parked.
inline std::shared_ptr<ReadResult> issueRead(Channel &ch, Handle &h, size_t maxBytes,
                                             ReadOpts opts = {})
{
    auto r = std::make_shared<ReadResult>();
    r->deliverRc = opts.deliverRc;
    r->onDeliver = std::move(opts.onDeliver);
    r->interrupt = opts.interrupted;
    ReadRequest req;
    req.maxBytes = maxBytes;
    req.nonblock = opts.nonblock;
    req.continuation = opts.continuation;
    ch.read(h, req, std::make_unique<FakeReadWaiter>(r));
    return r;
}

// A read that must be answered at once.
inline ReadOutcome readNow(Channel &ch, Handle &h, size_t maxBytes, ReadOpts opts = {})
{
    auto r = issueRead(ch, h, maxBytes, std::move(opts));
    const ReadOutcome out = r->get();
    EXPECT_EQ(out.completions, 1) << "the read was not answered at once";
    return out;
}

// The bytes of a read that must be answered at once with data.
inline std::string readData(Channel &ch, Handle &h, size_t maxBytes = 1 << 20)
{
    const ReadOutcome out = readNow(ch, h, maxBytes);
    EXPECT_EQ(out.accepted, 1);
    EXPECT_EQ(out.fails, 0) << "error " << out.error;
    EXPECT_FALSE(out.eof) << "got end-of-stream instead of data";
    return out.data;
}

// A nonblocking read that finds nothing: EAGAIN, no end-of-stream.
inline void expectNothingToRead(Channel &ch, Handle &h)
{
    const ReadOutcome out = readNow(ch, h, 1 << 20, {.nonblock = true});
    EXPECT_EQ(out.fails, 1) << "got data \"" << out.data << "\" eof=" << out.eof;
    EXPECT_EQ(out.error, EAGAIN);
}

// A read answered at once with end-of-stream.
inline void expectEof(Channel &ch, Handle &h)
{
    const ReadOutcome out = readNow(ch, h, 1 << 20);
    EXPECT_EQ(out.accepted, 1) << "error " << out.error;
    EXPECT_TRUE(out.eof) << "got data \"" << out.data << "\" instead of end-of-stream";
}

struct WriteOpts {
    bool nonblock = false;
    bool interrupted = false;
};

inline std::shared_ptr<WriteResult> issueWrite(Channel &ch, Handle &h, std::string_view data,
                                               WriteOpts opts = {})
{
    auto r = std::make_shared<WriteResult>();
    r->interrupt = opts.interrupted;
    WriteRequest req;
    req.data = std::span<const char>(data.data(), data.size());
    req.nonblock = opts.nonblock;
    ch.write(h, req, std::make_unique<FakeWriteWaiter>(r));
    return r;
}

// A write that must be answered at once.
inline WriteOutcome writeNow(Channel &ch, Handle &h, std::string_view data, WriteOpts opts = {})
{
    auto r = issueWrite(ch, h, data, opts);
    const WriteOutcome out = r->get();
    EXPECT_EQ(out.completions, 1) << "the write was not answered at once";
    return out;
}

// A write that must be accepted whole at once.
inline void writeOk(Channel &ch, Handle &h, std::string_view data)
{
    const WriteOutcome out = writeNow(ch, h, data);
    EXPECT_EQ(out.dones, 1) << "write of \"" << data << "\" failed with " << out.error;
    EXPECT_EQ(out.acceptedBytes, data.size());
}

// One lp32 frame: 4-byte little-endian length, then the body.
inline std::string lp32Frame(std::string_view body)
{
    const auto n = static_cast<uint32_t>(body.size());
    std::string f;
    f.push_back(static_cast<char>(n & 0xff));
    f.push_back(static_cast<char>((n >> 8) & 0xff));
    f.push_back(static_cast<char>((n >> 16) & 0xff));
    f.push_back(static_cast<char>((n >> 24) & 0xff));
    f.append(body);
    return f;
}

}  // namespace chanfs::test
