#include "channels/base/buffer.h"

namespace chanfs {

Payload makePayload(const char *data, size_t size)
{
    return std::make_shared<const std::string>(data, size);
}

void MessageLog::account(const Entry &e, int sign)
{
    if (e.isMark()) return;
    if (sign > 0) {
        bytes_ += e.length;
        ++messages_;
    } else {
        bytes_ -= e.length;
        --messages_;
    }
}

void MessageLog::pushBack(Entry e)
{
    e.seq = nextSeq_++;
    e.streamPos = streamEnd_;
    if (!e.isMark()) streamEnd_ += e.length;
    account(e, +1);
    entries_.push_back(std::move(e));
    if (observer_) observer_->appended(entries_.back());
}

void MessageLog::restoreBack(Entry e)
{
    nextSeq_ = std::max(nextSeq_, e.seq + 1);
    e.streamPos = streamEnd_;
    if (!e.isMark()) streamEnd_ += e.length;
    account(e, +1);
    entries_.push_back(std::move(e));
}

void MessageLog::pushFront(Entry e)
{
    account(e, +1);
    entries_.push_front(std::move(e));
}

Entry MessageLog::popFront()
{
    Entry e = std::move(entries_.front());
    entries_.pop_front();
    account(e, -1);
    return e;
}

Entry MessageLog::eraseAt(size_t i)
{
    Entry e = std::move(entries_[i]);
    entries_.erase(entries_.begin() + static_cast<std::ptrdiff_t>(i));
    account(e, -1);
    return e;
}

void MessageLog::consumeFront(uint32_t n)
{
    Entry &e = entries_.front();
    e.offset += n;
    e.length -= n;
    bytes_ -= n;
}

void MessageLog::unconsumeFront(uint32_t n)
{
    Entry &e = entries_.front();
    e.offset -= n;
    e.length += n;
    bytes_ += n;
}

size_t MessageLog::indexOfSeq(uint64_t seq) const
{
    if (entries_.empty()) return 0;
    const uint64_t first = entries_.front().seq;
    if (seq < first) return 0;
    const uint64_t idx = seq - first;
    return idx < entries_.size() ? static_cast<size_t>(idx) : entries_.size();
}

void MessageLog::resequence()
{
    uint64_t pos = 0;
    std::deque<Entry> kept;
    for (Entry &e : entries_) {
        if (e.isMark()) continue;
        e.seq = nextSeq_++;
        e.streamPos = pos;
        pos += e.length;
        kept.push_back(std::move(e));
    }
    entries_ = std::move(kept);
    streamEnd_ = pos;
    messages_ = entries_.size();
}

void MessageLog::rollback(BackMark m)
{
    while (!entries_.empty() && entries_.back().seq >= m.nextSeq) {
        account(entries_.back(), -1);
        entries_.pop_back();
    }
    nextSeq_ = m.nextSeq;
    streamEnd_ = m.streamEnd;
}

}  // namespace chanfs
