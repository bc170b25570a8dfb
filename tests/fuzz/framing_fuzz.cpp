// libFuzzer target: framing, in two modes chosen by the input's first byte.
//
//  1. frameWrite() over a sequence of write chunks of fuzzer-chosen sizes
//     and bytes, the writer's partial carried with applyHeld() exactly as
//     Channel::write does, compared step by step with a slow reference
//     framer written here from the README's definitions, plus the framing
//     invariants (lines end in '\n', lp32 headers match lengths, EMSGSIZE
//     only for a message really over max_message).
//  2. A real Channel (pipe/queue/topic x every framing, a fuzzer-chosen
//     capacity, overflow block or error) fed whole messages in fuzzer-sized write chunks, read back
//     with fuzzer-sized short reads by one or two readers, all interleaved
//     in a fuzzer-chosen order. Every read must return exactly what the
//     README says (the bytes next in the stream; as many whole messages as
//     fit, or the start of one that does not; one message at most for
//     `messages`), EAGAIN only when nothing is readable, a write refused
//     with EAGAIN only when its messages really do not fit, and at the end
//     every committed byte read back, in order, by every reader.

#include <cerrno>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <fuzzer/FuzzedDataProvider.h>

#include "channels/base/settings.h"
#include "channels/core/channel.h"
#include "channels/framing/framing.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace chanfs;
using chanfs::fuzz::shown;

uint32_t le32(const char *p)
{
    const auto *u = reinterpret_cast<const unsigned char *>(p);
    return uint32_t(u[0]) | uint32_t(u[1]) << 8 | uint32_t(u[2]) << 16 | uint32_t(u[3]) << 24;
}

std::string lp32Header(size_t n)
{
    std::string h(4, '\0');
    for (int i = 0; i < 4; ++i) h[i] = static_cast<char>((n >> (8 * i)) & 0xff);
    return h;
}

// ---- mode 1: frameWrite against a reference -------------------------------

struct Reference {
    bool error = false;     // EMSGSIZE
    bool dropHeld = false;  // the refused message began in the held partial
    std::vector<std::string> messages;
    std::string held;
};

// The README's framing rules, one byte at a time, with no shortcuts.
Reference referenceFrame(Framing f, uint64_t maxMessage, const std::string &held,
                         const std::string &data)
{
    Reference r;
    switch (f) {
    case Framing::Bytes:
        if (!data.empty()) r.messages.push_back(data);
        return r;
    case Framing::Messages:
        if (data.size() > maxMessage)
            r.error = true;
        else if (!data.empty())
            r.messages.push_back(data);
        return r;
    case Framing::Lines:
    case Framing::Lp32: break;
    }
    const std::string all = held + data;
    size_t pos = 0;
    auto refuse = [&] {
        r.error = true;
        r.dropHeld = pos < held.size();
        r.messages.clear();
        r.held.clear();
    };
    while (pos < all.size()) {
        const size_t avail = all.size() - pos;
        size_t len = 0;  // of the complete message at pos, 0 if incomplete
        if (f == Framing::Lines) {
            const size_t nl = all.find('\n', pos);
            if (nl == std::string::npos) {
                // A partial that can no longer end within the limit.
                if (avail >= maxMessage)
                    refuse();
                else
                    r.held = all.substr(pos);
                return r;
            }
            len = nl - pos + 1;
            if (len > maxMessage) {
                refuse();
                return r;
            }
        } else {
            if (avail < 4) {
                r.held = all.substr(pos);
                return r;
            }
            const uint64_t body = le32(all.data() + pos);
            if (body > maxMessage) {
                refuse();
                return r;
            }
            if (avail < body + 4) {
                r.held = all.substr(pos);
                return r;
            }
            len = static_cast<size_t>(body + 4);
        }
        r.messages.push_back(all.substr(pos, len));
        pos += len;
    }
    return r;
}

void fuzzFrameWrite(FuzzedDataProvider &in)
{
    const auto framing = static_cast<Framing>(in.ConsumeIntegralInRange<int>(0, 3));
    const uint16_t m = in.ConsumeIntegral<uint16_t>();
    // Small limits find the edges; the largest one checks nothing overflows.
    const uint64_t maxMessage = m == 0xffff ? kMaxMessageLimitBytes : (m % 512) + 1;
    std::string held;
    while (in.remaining_bytes() > 0) {
        const size_t size = in.ConsumeIntegralInRange<size_t>(0, 300);
        const std::string data = in.ConsumeBytesAsString(size);
        const std::string what = std::string("framing ") + std::string(toString(framing)) +
                                 ", max_message " + std::to_string(maxMessage) + ", held " +
                                 shown(held) + ", data " + shown(data);
        const Reference want = referenceFrame(framing, maxMessage, held, data);
        FramedWrite got = frameWrite(framing, maxMessage, held, {data.data(), data.size()});

        FUZZ_CHECK(got.error == 0 || got.error == -EMSGSIZE, what);
        FUZZ_CHECK((got.error != 0) == want.error,
                   what + (want.error ? ": a message over max_message was accepted"
                                      : ": refused though no message is over max_message"));
        if (got.error) {
            FUZZ_CHECK(got.messages.empty() && got.messageBytes == 0, what);
            FUZZ_CHECK(got.dropHeld == want.dropHeld, what + ": dropHeld");
            // Channel::write: the refused request is gone, and the held
            // partial with it if the refused message began there.
            if (got.dropHeld) held.clear();
            continue;
        }
        FUZZ_CHECK(!got.dropHeld, what);
        FUZZ_CHECK(got.messages.size() == want.messages.size(),
                   what + ": " + std::to_string(got.messages.size()) + " messages, expected " +
                       std::to_string(want.messages.size()));
        uint64_t total = 0;
        std::string joined;
        for (size_t i = 0; i < got.messages.size(); ++i) {
            const std::string msg(*got.messages[i]);
            FUZZ_CHECK(msg == want.messages[i], what + ": message " + std::to_string(i) + " is " +
                                                    shown(msg) + ", expected " +
                                                    shown(want.messages[i]));
            FUZZ_CHECK(!msg.empty(), what + ": an empty message");
            // The framings' own promises, independent of the reference.
            if (framing == Framing::Lines) {
                FUZZ_CHECK(msg.back() == '\n' && msg.find('\n') == msg.size() - 1,
                           what + ": a line message " + shown(msg));
                FUZZ_CHECK(msg.size() <= maxMessage, what);
            } else if (framing == Framing::Lp32) {
                FUZZ_CHECK(msg.size() >= 4 && le32(msg.data()) == msg.size() - 4,
                           what + ": an lp32 frame whose header does not match " + shown(msg));
                FUZZ_CHECK(msg.size() - 4 <= maxMessage, what);
            } else if (framing == Framing::Messages) {
                FUZZ_CHECK(msg == data && msg.size() <= maxMessage, what);
            }
            total += msg.size();
            joined += msg;
        }
        FUZZ_CHECK(got.messageBytes == total, what + ": messageBytes");
        const std::string before = held;
        applyHeld(held, got, {data.data(), data.size()});
        FUZZ_CHECK(held == want.held,
                   what + ": held afterwards " + shown(held) + ", expected " + shown(want.held));
        if (framing == Framing::Lines || framing == Framing::Lp32) {
            // Nothing lost or invented: messages + new partial = old partial + data.
            FUZZ_CHECK(joined + held == before + data, what + ": bytes lost or invented");
            if (framing == Framing::Lines)
                FUZZ_CHECK(held.find('\n') == std::string::npos && held.size() < maxMessage,
                           what + ": held " + shown(held));
        } else {
            FUZZ_CHECK(held.empty(), what + ": a held partial without boundaries");
        }
    }
}

// ---- mode 2: a real channel ------------------------------------------------

struct ReadBox {
    int completions = 0;
    bool delivered = false;
    int error = 0;
    std::string data;
};

class BoxReadWaiter final : public ReadWaiter {
public:
    explicit BoxReadWaiter(std::shared_ptr<ReadBox> b) : b_(std::move(b)) {}
    uintptr_t key() const override { return reinterpret_cast<uintptr_t>(this); }
    bool interrupted() const override { return false; }
    int deliver(std::span<const iovec> data) noexcept override
    {
        ++b_->completions;
        b_->delivered = true;
        b_->data = flatten(data);
        return 0;
    }
    void fail(int err) noexcept override
    {
        ++b_->completions;
        b_->error = err;
    }

private:
    std::shared_ptr<ReadBox> b_;
};

struct WriteBox {
    int completions = 0;
    size_t accepted = 0;
    int error = 0;
};

class BoxWriteWaiter final : public WriteWaiter {
public:
    explicit BoxWriteWaiter(std::shared_ptr<WriteBox> b) : b_(std::move(b)) {}
    uintptr_t key() const override { return reinterpret_cast<uintptr_t>(this); }
    bool interrupted() const override { return false; }
    int done(size_t n) noexcept override
    {
        ++b_->completions;
        b_->accepted = n;
        return 0;
    }
    void fail(int err) noexcept override
    {
        ++b_->completions;
        b_->error = err;
    }

private:
    std::shared_ptr<WriteBox> b_;
};

class ChannelRun {
public:
    explicit ChannelRun(FuzzedDataProvider &in) : in_(in)
    {
        kind_ = static_cast<Kind>(in.ConsumeIntegralInRange<int>(0, 2));
        framing_ = static_cast<Framing>(in.ConsumeIntegralInRange<int>(0, 3));
        const uint16_t c = in.ConsumeIntegral<uint16_t>();
        capacity_ = c == 0xffff ? kDefaultCapacityBytes : (c % 600) + 1;
        overflowError_ = in.ConsumeBool();
        Settings s;
        std::string why;
        const std::string cap = std::to_string(capacity_);
        FUZZ_CHECK(applySetting(&s, "kind", toString(kind_), &why) == 0, why);
        FUZZ_CHECK(applySetting(&s, "framing", toString(framing_), &why) == 0, why);
        // The model below is batch delivery (a read takes every whole
        // message that fits); delivery=one is covered by the unit tests.
        FUZZ_CHECK(applySetting(&s, "delivery", "batch", &why) == 0, why);
        FUZZ_CHECK(applySetting(&s, "capacity", cap, &why) == 0, why);
        FUZZ_CHECK(applySetting(&s, "overflow", overflowError_ ? "error" : "block", &why) == 0,
                   why);
        what_ = std::string(toString(kind_)) + "/" + std::string(toString(framing_)) +
                " capacity " + cap + (overflowError_ ? " overflow=error" : "");

        // The messages, whole (max_message stays at its default, far above
        // what a fuzz input holds), and the stream of bytes they make.
        const int count = in.ConsumeIntegralInRange<int>(0, 24);
        for (int i = 0; i < count; ++i) {
            const size_t len = in.ConsumeIntegralInRange<size_t>(framing_ == Framing::Messages, 80);
            std::string body = in.ConsumeBytesAsString(len);
            std::string msg;
            switch (framing_) {
            case Framing::Lines:
                for (char &ch : body)
                    if (ch == '\n') ch = ' ';
                msg = body + "\n";
                break;
            case Framing::Lp32: msg = lp32Header(body.size()) + body; break;
            case Framing::Bytes:
            case Framing::Messages: msg = body; break;
            }
            if (msg.empty()) continue;  // an empty `messages` write carries nothing
            stream_ += msg;
            messageEnds_.insert(stream_.size());
            messageSizes_.push_back(msg.size());
        }
        // A writer may stop in the middle of its last message: the fragment
        // is dropped at close and must never be read.
        if (framing_ != Framing::Messages && !stream_.empty())
            stream_.resize(stream_.size() -
                           in.ConsumeIntegralInRange<size_t>(0, 3) % stream_.size());
        if (framing_ == Framing::Bytes) {
            for (size_t i = 1; i <= stream_.size(); ++i) messageEnds_.insert(i);
        }

        ch_ = Channel::create(s, "fuzz");
        const int readers = kind_ == Kind::Topic ? in.ConsumeIntegralInRange<int>(1, 2) : 1;
        for (int i = 0; i < readers; ++i) readers_.push_back({ch_->open(true, false), 0});
        writer_ = ch_->open(false, true);
    }

    void run()
    {
        while (in_.remaining_bytes() > 0) {
            const uint8_t op = in_.ConsumeIntegral<uint8_t>();
            if (op % 3 == 0) {
                if (!parked_) write(in_.ConsumeIntegralInRange<size_t>(1, 100), op & 0x80);
            } else {
                read(readers_[(op / 3) % readers_.size()],
                     in_.ConsumeIntegralInRange<size_t>(1, 120));
            }
        }
        // Whatever the order was, everything must get through.
        for (int guard = 0; written_ < stream_.size() || parked_; ++guard) {
            FUZZ_CHECK(guard < 100000, what_ + ": the writer never got through");
            if (!parked_) write(100, false);
            if (parked_ || stalled_)
                for (Reader &r : readers_) read(r, 4096);
            stalled_ = false;
        }
        for (Reader &r : readers_)
            while (r.pos < committed()) read(r, 4096);
        for (Reader &r : readers_) read(r, 4096);  // nothing more: EAGAIN

        const ChannelStats st = ch_->stats();
        const uint64_t fragment = written_ - committed();
        FUZZ_CHECK(st.inBytes == committed(),
                   what_ + ": stats.in_bytes " + std::to_string(st.inBytes));
        FUZZ_CHECK(st.inMessages == inMessages_,
                   what_ + ": stats.in_messages " + std::to_string(st.inMessages));
        FUZZ_CHECK(st.outBytes == committed() * readers_.size(), what_ + ": stats.out_bytes");
        FUZZ_CHECK(st.blockedReaders == 0 && st.blockedWriters == 0, what_);
        FUZZ_CHECK(st.drops == 0, what_ + ": drops before close");

        ch_->release(*writer_);
        const ChannelStats after = ch_->stats();
        FUZZ_CHECK(after.drops == (fragment ? 1u : 0u) && after.droppedBytes == fragment,
                   what_ + ": the unfinished " + std::to_string(fragment) +
                       "-byte message at close: drops " + std::to_string(after.drops) + ", " +
                       std::to_string(after.droppedBytes) + " bytes");
        FUZZ_CHECK(after.queuedBytes == 0, what_ + ": " + std::to_string(after.queuedBytes) +
                                               " bytes still queued after every reader read all");
        for (Reader &r : readers_) {
            if (kind_ == Kind::Pipe) {
                // The writer's close: one end-of-stream, then nothing.
                auto box = issueRead(r, 4096);
                FUZZ_CHECK(box->delivered && box->data.empty(),
                           what_ + ": no end-of-stream after the last writer closed");
            }
            auto box = issueRead(r, 4096);
            FUZZ_CHECK(box->error == EAGAIN,
                       what_ + ": a read after the end found " + shown(box->data));
        }
        for (Reader &r : readers_) ch_->release(*r.handle);
    }

private:
    struct Reader {
        std::shared_ptr<Handle> handle;
        uint64_t pos;  // bytes of the stream read so far
    };

    // Bytes that form complete messages among those written.
    uint64_t committed() const
    {
        if (framing_ == Framing::Bytes || framing_ == Framing::Messages) return written_;
        auto it = messageEnds_.upper_bound(written_);
        return it == messageEnds_.begin() ? 0 : *std::prev(it);
    }
    // The end of the stored entry that holds byte `pos` (what capacity
    // counts as unread: a message read in part no longer counts).
    uint64_t entryEnd(uint64_t pos) const
    {
        if (framing_ == Framing::Bytes) {
            if (pos == 0 || chunkEnds_.count(pos)) return pos;
            auto it = chunkEnds_.upper_bound(pos);
            return it == chunkEnds_.end() ? pos : *it;
        }
        if (pos == 0 || messageEnds_.count(pos)) return pos;
        auto it = messageEnds_.upper_bound(pos);
        return it == messageEnds_.end() ? pos : *it;
    }
    uint64_t backlog() const
    {
        uint64_t slowest = UINT64_MAX;
        for (const Reader &r : readers_) {
            // A consuming kind with no boundaries takes part of an entry
            // and leaves the rest in the log; a topic reader (or a framed
            // message) keeps the rest to itself.
            const bool inLog = framing_ == Framing::Bytes && kind_ != Kind::Topic;
            const uint64_t start = inLog ? r.pos : entryEnd(r.pos);
            slowest = std::min(slowest, start);
        }
        return committed() > slowest ? committed() - slowest : 0;
    }

    std::shared_ptr<ReadBox> issueRead(Reader &r, size_t maxBytes)
    {
        auto box = std::make_shared<ReadBox>();
        ReadRequest req;
        req.maxBytes = maxBytes;
        req.nonblock = true;
        ch_->read(*r.handle, req, std::make_unique<BoxReadWaiter>(box));
        FUZZ_CHECK(box->completions == 1, what_ + ": a nonblocking read was not answered once");
        return box;
    }

    void read(Reader &r, size_t maxBytes)
    {
        const uint64_t before = committed();
        auto box = issueRead(r, maxBytes);
        settleParkedWrite();
        const std::string at = what_ + ": read(" + std::to_string(maxBytes) + ") at " +
                               std::to_string(r.pos) + " of " + std::to_string(before) +
                               " readable bytes";
        // What the read must return: from pos, as many whole messages as
        // fit (joining framings) or one (messages), else the first
        // maxBytes of the message that does not fit; bytes: all it can.
        const uint64_t limit = std::min<uint64_t>(r.pos + maxBytes, before);
        uint64_t end = limit;
        if (r.pos < before) {
            auto first = messageEnds_.upper_bound(r.pos);
            if (framing_ == Framing::Messages) {
                if (first != messageEnds_.end() && *first <= limit) end = *first;
            } else {
                auto last = messageEnds_.upper_bound(limit);
                if (last != messageEnds_.begin() && *std::prev(last) > r.pos)
                    end = *std::prev(last);
            }
        }
        if (r.pos == before) {
            FUZZ_CHECK(
                box->error == EAGAIN,
                at + ": expected EAGAIN, got " +
                    (box->delivered ? shown(box->data) : "error " + std::to_string(box->error)));
            return;
        }
        FUZZ_CHECK(box->delivered,
                   at + ": failed with " + std::to_string(box->error) + " though data is readable");
        FUZZ_CHECK(box->data == stream_.substr(r.pos, end - r.pos),
                   at + ": got " + shown(box->data) + ", expected " +
                       shown(stream_.substr(r.pos, end - r.pos)));
        r.pos = end;
    }

    // Writes the next `size` bytes (one message for `messages` framing).
    void write(size_t size, bool blocking)
    {
        if (written_ >= stream_.size()) return;
        if (framing_ == Framing::Messages) size = messageSizes_[messagesWritten_];
        size = std::min<size_t>(size, stream_.size() - written_);
        const uint64_t committedBefore = committed();
        const uint64_t completes = [&] {
            const uint64_t saved = written_;
            written_ += size;
            const uint64_t c = committed();
            written_ = saved;
            return c - committedBefore;
        }();
        const uint64_t backlogBefore = backlog();
        auto box = std::make_shared<WriteBox>();
        WriteRequest req;
        req.data = std::span<const char>(stream_.data() + written_, size);
        req.nonblock = !blocking;
        pendingSize_ = size;
        writeBox_ = box;
        ch_->write(*writer_, req, std::make_unique<BoxWriteWaiter>(box));
        const std::string at = what_ + ": write of " + std::to_string(size) + " bytes completing " +
                               std::to_string(completes) + " with " +
                               std::to_string(backlogBefore) + " unread";
        // A write that completes messages waits (or gets EAGAIN; with
        // overflow=error, ENOBUFS) exactly when they do not fit beside an
        // unread backlog.
        const bool mustWait =
            completes > 0 && backlogBefore > 0 && backlogBefore + completes > capacity_;
        if (box->completions == 0) {
            FUZZ_CHECK(blocking && mustWait && !overflowError_, at + ": parked, though it fits");
            parked_ = true;
            return;
        }
        FUZZ_CHECK(box->completions == 1, at);
        if (box->error) {
            const int expected = overflowError_ ? ENOBUFS : EAGAIN;
            FUZZ_CHECK(box->error == expected && (!blocking || overflowError_) && mustWait,
                       at + ": failed with " + std::to_string(box->error));
            stalled_ = true;
            writeBox_.reset();
            return;
        }
        FUZZ_CHECK(!mustWait, at + ": accepted though it does not fit");
        accepted();
    }

    void accepted()
    {
        FUZZ_CHECK(writeBox_->accepted == pendingSize_, what_ + ": a write accepted in part");
        const uint64_t committedBefore = committed();
        written_ += pendingSize_;
        if (framing_ == Framing::Bytes) {
            chunkEnds_.insert(written_);
            ++inMessages_;
        } else if (framing_ == Framing::Messages) {
            ++messagesWritten_;
            ++inMessages_;
        } else {
            inMessages_ += std::distance(messageEnds_.upper_bound(committedBefore),
                                         messageEnds_.upper_bound(committed()));
        }
        writeBox_.reset();
    }

    // A parked write is answered when a read makes room.
    void settleParkedWrite()
    {
        if (!parked_ || writeBox_->completions == 0) return;
        FUZZ_CHECK(writeBox_->completions == 1 && writeBox_->error == 0,
                   what_ + ": a parked write failed with " + std::to_string(writeBox_->error));
        parked_ = false;
        accepted();
    }

    FuzzedDataProvider &in_;
    Kind kind_{};
    Framing framing_{};
    uint64_t capacity_ = 0;
    bool overflowError_ = false;  // overflow=error instead of block
    std::string what_;
    std::string stream_;
    std::set<uint64_t> messageEnds_;  // stream offsets where a message ends
    std::vector<size_t> messageSizes_;
    std::set<uint64_t> chunkEnds_;  // bytes framing: where accepted writes ended
    std::shared_ptr<Channel> ch_;
    std::vector<Reader> readers_;
    std::shared_ptr<Handle> writer_;
    uint64_t written_ = 0;  // stream bytes accepted
    size_t messagesWritten_ = 0;
    uint64_t inMessages_ = 0;
    bool parked_ = false;
    bool stalled_ = false;  // the last write got EAGAIN
    size_t pendingSize_ = 0;
    std::shared_ptr<WriteBox> writeBox_;
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
    chanfs::fuzz::quietLogs();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FuzzedDataProvider in(data, size);
    if (in.ConsumeBool()) {
        fuzzFrameWrite(in);
    } else {
        ChannelRun run(in);
        run.run();
    }
    return 0;
}
