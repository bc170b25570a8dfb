// Message storage of a channel: immutable payloads shared between the log,
// topic subscribers and in-flight replies, and the ordered log of entries.
// Not thread-safe: a MessageLog is guarded by its channel's mutex.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "channels/base/small_blocks.h"

namespace chanfs {

// One message's bytes: immutable once built; shared so a reply in flight
// keeps its bytes alive while the channel lock is released. A Payload is a
// view into a block it shares ownership of: the messages one write
// produced share one allocation (makePayloads), each with its own Payload
// pointer, so two messages never compare equal even when their bytes are
// adjacent (queue.cpp's merging of a message's slices relies on that).
//
// The block lives until the last of its messages is gone, so bytes read
// from the front of a write can outlive their message until the rest of
// that write is consumed too: at most one write request (1 MiB) per block
// still partly queued. Queues and topics drop from the front in order, so
// that is one block per channel at a time, not charged to max_memory.
using Payload = std::shared_ptr<const std::string_view>;

// A copy of the bytes in one allocation.
Payload makePayload(const char *data, size_t size);

// Blocks of 1-8 KiB messages freed on the calling thread and kept there for
// the next message (at most 64 KiB per thread; tests and diagnostics).
size_t cachedPayloadBlocks();

// Offset and length of one message in a write's bytes.
struct MessageSpan {
    size_t offset;
    size_t length;
};
// Copies the messages `spans` (in order, non-empty, not overlapping) out of
// `data` into one allocation and appends one Payload per message to `out`.
void makePayloads(const char *data, std::span<const MessageSpan> spans, std::vector<Payload> &out);

// A message, the unread part of one, or (payload == nullptr) a pipe's
// end-of-stream mark.
struct Entry {
    Payload payload;
    uint32_t offset = 0;
    uint32_t length = 0;
    uint64_t seq = 0;        // position in the channel's history
    uint64_t session = 0;    // pipe: the writer session it belongs to
    uint64_t streamPos = 0;  // topic: bytes published before it

    bool isMark() const { return payload == nullptr; }
    const char *data() const { return payload->data() + offset; }
};

// A read's slices: one or two entries, made and freed per read, so they
// come from the thread's small-block cache (small_blocks.h).
using EntryList = std::vector<Entry, SmallBlockAllocator<Entry>>;

// Told of every entry appended to a log (a durable channel's journal).
// Called with the owning channel's mutex held.
class LogObserver {
public:
    virtual ~LogObserver() = default;
    virtual void appended(const Entry &e) = 0;
};

// The ordered entries of a channel with running totals. Topic logs only grow
// at the back and shrink at the front, so their sequence numbers stay
// contiguous and a sequence number finds its entry in O(1).
class MessageLog {
public:
    bool empty() const { return entries_.empty(); }
    size_t size() const { return entries_.size(); }
    const Entry &front() const { return entries_.front(); }
    Entry &front() { return entries_.front(); }
    const Entry &at(size_t i) const { return entries_[i]; }

    // Appends, giving the entry the next sequence number and stream position.
    void pushBack(Entry e);
    // Appends an entry read back from a durable log, keeping its seq (which
    // must be above every seq in the log). The observer is not told.
    void restoreBack(Entry e);
    // The next appended entry gets at least this seq (a durable log's
    // numbering continues after a restart).
    void reserveSeq(uint64_t next) { nextSeq_ = std::max(nextSeq_, next); }
    void setObserver(LogObserver *o) { observer_ = o; }
    // Puts an entry back at the head (a failed delivery), keeping its seq.
    void pushFront(Entry e);
    Entry popFront();
    // Removes the entry at index i (drop-oldest skipping marks).
    Entry eraseAt(size_t i);
    // Shrinks the head entry by n bytes (a partial read of bytes framing).
    void consumeFront(uint32_t n);
    // Gives the head entry back n bytes it had consumed (a failed delivery).
    void unconsumeFront(uint32_t n);

    // Index of the entry with sequence number seq, or size() if past the end.
    // Only meaningful for contiguous (topic) logs.
    size_t indexOfSeq(uint64_t seq) const;
    // Renumbers entries contiguously (after a kind change to topic).
    void resequence();
    // Where the log's back is now; rollback() removes what was appended
    // after it (a write its durable journal refused), so numbering and
    // stream positions carry on as if it had never been appended.
    struct BackMark {
        uint64_t nextSeq;
        uint64_t streamEnd;
    };
    BackMark backMark() const { return BackMark{nextSeq_, streamEnd_}; }
    void rollback(BackMark m);

    uint64_t bytes() const { return bytes_; }
    uint64_t messages() const { return messages_; }
    uint64_t nextSeq() const { return nextSeq_; }
    uint64_t streamEnd() const { return streamEnd_; }

    auto begin() const { return entries_.begin(); }
    auto end() const { return entries_.end(); }

private:
    void account(const Entry &e, int sign);

    std::deque<Entry> entries_;
    uint64_t bytes_ = 0;
    uint64_t messages_ = 0;
    uint64_t nextSeq_ = 1;
    uint64_t streamEnd_ = 0;
    LogObserver *observer_ = nullptr;
};

}  // namespace chanfs
