#include "channels/endpoints/fd_pump.h"

#include <sys/epoll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include <spdlog/spdlog.h>

#include "channels/endpoints/bridge.h"

namespace chanfs {

namespace {

constexpr size_t kChunk = 64 * 1024;

// A packet from a SOCK_SEQPACKET peer, framed as one message of `f`.
std::string frameMessage(Framing f, std::string body)
{
    switch (f) {
    case Framing::Lines:
        if (body.empty() || body.back() != '\n') body.push_back('\n');
        return body;
    case Framing::Lp32: {
        const auto n = static_cast<uint32_t>(body.size());
        const char hdr[4] = {static_cast<char>(n & 0xff), static_cast<char>((n >> 8) & 0xff),
                             static_cast<char>((n >> 16) & 0xff),
                             static_cast<char>((n >> 24) & 0xff)};
        return std::string(hdr, 4) + body;
    }
    case Framing::Bytes:
    case Framing::Messages: break;
    }
    return body;
}

// Whole messages read from the channel, split into SOCK_SEQPACKET packets
// (framing removed: the packet boundary is the framing).
void splitMessages(Framing f, const std::string &data, std::deque<std::string> *out)
{
    if (f == Framing::Lines) {
        size_t start = 0;
        while (start < data.size()) {
            size_t nl = data.find('\n', start);
            if (nl == std::string::npos) nl = data.size();
            out->push_back(data.substr(start, nl - start));
            start = nl + 1;
        }
    } else if (f == Framing::Lp32) {
        size_t at = 0;
        while (at + 4 <= data.size()) {
            const auto *p = reinterpret_cast<const unsigned char *>(data.data() + at);
            const size_t n = p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<size_t>(p[3]) << 24);
            if (at + 4 + n > data.size()) break;
            out->push_back(data.substr(at + 4, n));
            at += 4 + n;
        }
    } else {
        out->push_back(data);
    }
}

// Rounds of recv-and-write one socket event may run while the channel
// takes each write at once, before the loop serves its other sockets.
constexpr int kReadsPerEvent = 16;

}  // namespace

// Completes a write into the channel. One answered at once, on the loop
// thread inside FdPump::writeIn(), is handed back there; one answered
// later (it was parked, or a journal acknowledged it after its sync, on
// another thread) goes through the loop like LoopWriteWaiter's.
class FdPump::InWriteWaiter final : public WriteWaiter {
public:
    InWriteWaiter(std::weak_ptr<FdPump> pump, EventLoop &loop)
        : pump_(std::move(pump)), loop_(loop), loopThread_(std::this_thread::get_id())
    {
    }
    uintptr_t key() const override { return reinterpret_cast<uintptr_t>(this); }
    bool interrupted() const override { return false; }
    int done(size_t n) noexcept override
    {
        finish(n, 0);
        return 0;
    }
    void fail(int err) noexcept override { finish(0, err); }

private:
    void finish(size_t n, int err) noexcept
    {
        if (std::this_thread::get_id() == loopThread_) {
            if (auto p = pump_.lock(); p && p->inWriteCall_) {
                p->syncDone_ = true;
                p->syncN_ = n;
                p->syncErr_ = err;
                return;
            }
        }
        try {
            if (auto p = pump_.lock()) loop_.post([p, n, err] { p->inWritten(n, err); });
        } catch (const std::bad_alloc &) {
            spdlog::error("bridge: out of memory");
        }
    }
    std::weak_ptr<FdPump> pump_;
    EventLoop &loop_;
    std::thread::id loopThread_;
};

FdPump::FdPump(EventLoop &loop, UniqueFd fd, Options opts,
               std::shared_ptr<std::atomic<uint64_t>> bytes, std::shared_ptr<Channel> toChannel,
               std::shared_ptr<Handle> writer, std::shared_ptr<Channel> fromChannel,
               std::shared_ptr<Handle> reader, Hooks hooks)
    : loop_(loop), fd_(std::move(fd)), opts_(std::move(opts)), bytes_(std::move(bytes)),
      toChannel_(std::move(toChannel)), writer_(std::move(writer)),
      fromChannel_(std::move(fromChannel)), reader_(std::move(reader)), hooks_(std::move(hooks))
{
    inOpen_ = writer_ != nullptr;
    outOpen_ = reader_ != nullptr;
}

void FdPump::start()
{
    self_ = shared_from_this();
    rewatch();
    pumpOut();
    maybeFinish();
}

size_t FdPump::maxMessageBytes() const
{
    return static_cast<size_t>(fromChannel_->settings().maxMessageBytes);
}

// Watches the socket for what can be acted on now. While a write into the
// channel waits and nothing is to be sent, it is not watched at all: a
// hang-up is reported whatever the mask and would spin the loop. Once the
// peer has stopped sending, an empty mask still reports its hang-up.
void FdPump::rewatch()
{
    if (finished_ || !fd_) return;
    uint32_t ev = 0;
    if (inOpen_ && !inWaiting_) ev |= EPOLLIN | EPOLLRDHUP;
    if (!sendQueue_.empty()) ev |= EPOLLOUT;
    const uint32_t want = ev == 0 && inWaiting_ ? ~0u : ev;
    if (want == watchedMask_) return;
    watchedMask_ = want;
    if (want == ~0u) {
        loop_.unwatch(fd_.get());
        return;
    }
    std::weak_ptr<FdPump> weak = weak_from_this();
    loop_.watch(fd_.get(), ev, [weak](uint32_t fired) {
        if (auto p = weak.lock()) p->onEvent(fired);
    });
}

void FdPump::onEvent(uint32_t fired)
{
    auto self = shared_from_this();
    if ((fired & EPOLLOUT) || ((fired & (EPOLLERR | EPOLLHUP)) && !sendQueue_.empty())) pumpOut();
    if (finished_) return;
    if (inOpen_ && !inWaiting_ && (fired & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
        readSock(fired);
    } else if (!inOpen_ && (fired & (EPOLLHUP | EPOLLERR))) {
        hangUp(nullptr);  // the peer, done sending, has gone
    }
}

// Peer -> channel: while the channel takes each chunk at once, read on
// (up to kReadsPerEvent chunks); the socket's watch stays as it is.
void FdPump::readSock(uint32_t fired)
{
    for (int i = 0; i < kReadsPerEvent && inOpen_ && !inWaiting_ && !finished_; ++i)
        if (!readChunk(fired)) return;
}

// One recv and its write into the channel; false when the socket had
// nothing more (or ended).
bool FdPump::readChunk(uint32_t fired)
{
    // A packet read takes one whole packet (MSG_TRUNC reports an oversize
    // one); a stream read takes up to kChunk into recvBuf_ itself.
    const size_t maxMessage = opts_.packets ? maxMessageBytes() : 0;
    std::string &buf = opts_.packets ? pktBuf_ : recvBuf_;
    const size_t room = opts_.packets ? maxMessage + 1 : kChunk;
    if (buf.size() < room) buf.resize(room);
    const ssize_t n = ::recv(fd_.get(), buf.data(), room, opts_.packets ? MSG_TRUNC : 0);
    if (n < 0) {
        if (errno != EAGAIN && errno != EINTR) hangUp(std::strerror(errno));
        return false;
    }
    if (n == 0) {
        // EPOLLHUP: the peer closed both ways. Otherwise it only stopped
        // sending (shutdown(SHUT_WR)) and still reads what we send.
        if (fired & EPOLLHUP) {
            hangUp(nullptr);
            return false;
        }
        endInbound();
        rewatch();
        return false;
    }
    if (opts_.packets) {
        if (static_cast<size_t>(n) > maxMessage) {
            hangUp("a packet is larger than max_message");
            return false;
        }
        recvBuf_ = frameMessage(fromChannel_->settings().framing,
                                pktBuf_.substr(0, static_cast<size_t>(n)));
        recvLen_ = recvBuf_.size();
    } else {
        recvLen_ = static_cast<size_t>(n);
    }
    *bytes_ += recvLen_;
    recvOff_ = 0;
    inWaiting_ = true;
    writeIn();
    return true;
}

void FdPump::writeIn()
{
    WriteRequest w;
    w.data = std::span<const char>(recvBuf_.data() + recvOff_, recvLen_ - recvOff_);
    inWriteCall_ = true;
    syncDone_ = false;
    toChannel_->write(*writer_, w, std::make_unique<InWriteWaiter>(weak_from_this(), loop_));
    inWriteCall_ = false;
    if (syncDone_) {
        syncDone_ = false;
        inWritten(syncN_, syncErr_);
        return;
    }
    // Parked: the socket is not read until the channel has room.
    rewatch();
}

void FdPump::inWritten(size_t n, int err)
{
    if (finished_) return;
    if (inOpen_ && err != 0 && opts_.hangUpOnRefusal) {
        hangUp(err == EMSGSIZE ? "malformed frame: a message over max_message"
                               : std::strerror(err));
        return;
    }
    recvOff_ += n;
    if (inOpen_ && err == 0 && recvOff_ < recvLen_) {
        writeIn();
        return;
    }
    if (err != 0 && inOpen_)
        spdlog::debug("{}: the channel refused {} bytes: {}", opts_.name, recvLen_ - recvOff_,
                      std::strerror(err));
    inWaiting_ = false;
    recvLen_ = recvOff_ = 0;
    rewatch();
}

void FdPump::endInbound()
{
    if (!inOpen_) return;
    inOpen_ = false;
    // Its writer session ends: a pipe gets its end-of-stream mark.
    if (writer_) toChannel_->release(*writer_);
    writer_.reset();
    if (hooks_.inboundEnded) hooks_.inboundEnded();
    maybeFinish();
}

void FdPump::stopReceiving()
{
    endInbound();
    rewatch();
}

void FdPump::finishSending()
{
    if (!outOpen_) return;
    outEnding_ = true;
    pumpOut();
}

// Channel -> peer.
void FdPump::pumpOut()
{
    if (finished_ || !fd_) return;
    while (!sendQueue_.empty()) {
        const std::string &front = sendQueue_.front();
        const ssize_t n = ::send(fd_.get(), front.data() + sendOff_, front.size() - sendOff_,
                                 MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                rewatch();
                return;
            }
            hangUp(std::strerror(errno));
            return;
        }
        *bytes_ += static_cast<uint64_t>(n);
        sendOff_ += static_cast<size_t>(n);
        if (sendOff_ < front.size()) {
            rewatch();
            return;
        }
        sendQueue_.pop_front();
        sendOff_ = 0;
    }
    rewatch();
    if (outEnding_) {
        endOutbound();
        return;
    }
    if (!outOpen_ || reading_) return;
    reading_ = true;
    ReadRequest r;
    // Packets: room for a whole message, so a packet is never split.
    r.maxBytes = opts_.packets ? maxMessageBytes() + 4 : kChunk;
    fromChannel_->read(
        *reader_, r,
        std::make_unique<LoopReadWaiter<FdPump>>(
            weak_from_this(), loop_,
            [](FdPump &p, std::string data, bool mark) { p.outDelivered(std::move(data), mark); },
            [](FdPump &p, int) { p.reading_ = false; }));
}

void FdPump::outDelivered(std::string data, bool mark)
{
    reading_ = false;
    if (finished_ || !outOpen_) return;
    if (mark) {
        // A pipe session ended: the peer gets end-of-file after its data.
        outEnding_ = true;
    } else if (opts_.packets) {
        splitMessages(fromChannel_->settings().framing, data, &sendQueue_);
    } else {
        sendQueue_.push_back(std::move(data));
    }
    pumpOut();
}

void FdPump::endOutbound()
{
    outEnding_ = false;
    if (!outOpen_) return;
    outOpen_ = false;
    ::shutdown(fd_.get(), SHUT_WR);
    if (reader_) fromChannel_->release(*reader_);
    reader_.reset();
    maybeFinish();
}

void FdPump::hangUp(const char *why)
{
    if (finished_) return;
    auto self = shared_from_this();
    if (why) spdlog::log(opts_.hangUpLevel, "{}: disconnected: {}", opts_.name, why);
    size_t unsent = 0;
    for (const auto &s : sendQueue_) unsent += s.size();
    unsent -= std::min(unsent, sendOff_);
    if (unsent && why)
        spdlog::log(opts_.hangUpLevel, "{}: left with {} bytes not yet sent; they are dropped",
                    opts_.name, unsent);
    sendQueue_.clear();
    sendOff_ = 0;
    outEnding_ = false;
    if (hooks_.broken) hooks_.broken();
    if (outOpen_) {
        outOpen_ = false;
        if (reader_) fromChannel_->release(*reader_);
        reader_.reset();
    }
    if (inOpen_) {
        endInbound();  // finishes
    } else {
        maybeFinish();
    }
}

// Both directions done: close the socket and let go.
void FdPump::maybeFinish()
{
    if (finished_ || inOpen_ || outOpen_) return;
    finished_ = true;
    if (fd_ && watchedMask_ != ~0u) loop_.unwatch(fd_.get());
    fd_.reset();
    auto self = std::move(self_);  // may be the last reference: kept to the end
    if (hooks_.finished) hooks_.finished();
}

}  // namespace chanfs
