// One connected socket <-> channel pump, shared by every socket endpoint (a
// uds=connect connection, each uds=listen client): what the peer sends is
// written into one channel as one writer session, what another channel
// delivers is sent to the peer.
//
// - The peer's end-of-file (shutdown(SHUT_WR), or a close) ends the inbound
//   session: the writer handle is released, so a pipe channel gets its
//   end-of-stream mark. The pump keeps sending: a half-closed peer is still
//   a reader.
// - A pipe's end-of-stream mark read from the outbound channel (or
//   finishSending()) sends what is queued, then half-closes the socket
//   (shutdown(SHUT_WR)) and releases the reader handle: the peer sees
//   end-of-file after the session it consumed.
// - Once both directions are done, or the connection breaks (an error, or
//   the peer closed both ways), the socket is closed and `finished` runs.
// - Packet mode (SOCK_SEQPACKET): one packet is one message of the
//   channel's framing, both ways.
//
// Threading contract: bound to its EventLoop's thread; construct anywhere,
// call everything else on the loop thread. The channels' waiters post their
// outcomes to the loop. A started pump keeps itself alive until finished.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>

#include <spdlog/spdlog.h>

#include "channels/base/event_loop.h"
#include "channels/base/unique_fd.h"
#include "channels/core/channel.h"

namespace chanfs {

class FdPump : public std::enable_shared_from_this<FdPump> {
public:
    struct Options {
        std::string name;      // for log lines, e.g. "uds listen /run/x.sock: client 3"
        bool packets = false;  // SOCK_SEQPACKET
        // A chunk the inbound channel refuses (EMSGSIZE: a malformed frame,
        // ENOBUFS) hangs the peer up, with a warning; otherwise only that
        // chunk is lost.
        bool hangUpOnRefusal = false;
        // How a hang-up for a reason (an error, a bad packet) is logged.
        spdlog::level::level_enum hangUpLevel = spdlog::level::warn;
    };
    struct Hooks {
        std::function<void()> broken;        // the connection broke (before inboundEnded)
        std::function<void()> inboundEnded;  // the peer will send nothing more
        std::function<void()> finished;      // socket closed, handles released
    };
    // `writer` on `toChannel` takes what the peer sends (null: nothing is
    // read from the peer); `reader` on `fromChannel` gives what is sent.
    // `bytes` counts both ways.
    FdPump(EventLoop &loop, UniqueFd fd, Options opts, std::shared_ptr<std::atomic<uint64_t>> bytes,
           std::shared_ptr<Channel> toChannel, std::shared_ptr<Handle> writer,
           std::shared_ptr<Channel> fromChannel, std::shared_ptr<Handle> reader, Hooks hooks);
    FdPump(const FdPump &) = delete;
    FdPump &operator=(const FdPump &) = delete;

    void start();
    // Reads no more from the peer; the inbound session ends.
    void stopReceiving();
    // Sends nothing more from the channel: what is queued goes, then the
    // socket is half-closed.
    void finishSending();
    // Hangs up now; what was not yet sent is dropped (logged if `why`).
    void hangUp(const char *why);
    bool finished() const { return finished_; }

private:
    void rewatch();
    void onEvent(uint32_t fired);
    void readSock(uint32_t fired);
    bool readChunk(uint32_t fired);
    void writeIn();
    void inWritten(size_t n, int err);
    class InWriteWaiter;
    void endInbound();
    void pumpOut();
    void outDelivered(std::string data, bool mark);
    void endOutbound();
    void maybeFinish();
    size_t maxMessageBytes() const;

    EventLoop &loop_;
    UniqueFd fd_;
    const Options opts_;
    std::shared_ptr<std::atomic<uint64_t>> bytes_;
    std::shared_ptr<Channel> toChannel_;
    std::shared_ptr<Handle> writer_;
    std::shared_ptr<Channel> fromChannel_;
    std::shared_ptr<Handle> reader_;
    Hooks hooks_;

    // Inbound: bytes [recvOff_, recvLen_) of recvBuf_ still go into the
    // channel. recvBuf_ keeps its size between reads: growing a string
    // zero-fills it, 64 KiB per recv.
    bool inOpen_ = true;
    bool inWaiting_ = false;  // a write into toChannel_ is parked
    // Set around toChannel_->write(): a write the channel takes at once is
    // answered on this thread before write() returns, and is finished
    // here (syncDone_, syncN_, syncErr_) instead of through the loop's task
    // queue. Loop thread only (the waiter checks the thread first).
    bool inWriteCall_ = false;
    bool syncDone_ = false;
    size_t syncN_ = 0;
    int syncErr_ = 0;
    std::string recvBuf_;
    std::string pktBuf_;  // packets: one packet before framing
    size_t recvLen_ = 0;
    size_t recvOff_ = 0;

    // Outbound: stream, one string per delivery; packets, one per message.
    bool outOpen_ = true;
    bool outEnding_ = false;  // half-close once sendQueue_ is sent
    bool reading_ = false;    // a read of fromChannel_ is parked
    std::deque<std::string> sendQueue_;
    size_t sendOff_ = 0;

    uint32_t watchedMask_ = ~0u;  // what rewatch() last asked for; ~0: unwatched
    bool finished_ = false;
    std::shared_ptr<FdPump> self_;
};

}  // namespace chanfs
