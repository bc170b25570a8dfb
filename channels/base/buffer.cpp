#include "channels/base/buffer.h"

#include <cstddef>
#include <cstring>
#include <new>

#include "channels/base/block_cache.h"

namespace chanfs {

namespace {

// Blocks of 1-8 KiB messages, kept per thread for reuse. A 1 KiB message's
// block (bytes, view, control block) is just over glibc's per-thread cache
// limit (1032 bytes), so each one went to malloc's shared bins: a write and
// the read that frees its message now reuse one block without malloc.
// Sizes are rounded up to 512-byte classes; each thread keeps at most
// 8 blocks per class and 64 KiB in all, so a
// thread holds at most 64 KiB it does not use. The memory budget charges
// messages, not blocks, so it is unchanged by the cache.
using BlockCache = ThreadBlockCache</*Min=*/1024 /* smaller: glibc's tcache */, /*Step=*/512,
                                    /*Max=*/8 * 1024 + 512 /* 8 KiB payload and headers */,
                                    /*MaxPerClass=*/8, /*MaxBytes=*/64 * 1024>;
template <class T>
using BlockAllocator = CacheAllocator<T, BlockCache>;

// One block for `views` string_views followed by `bytes` bytes, with its
// control block in the same allocation. max_align_t units keep the views
// aligned and are trivial, so the block is not zeroed first.
std::shared_ptr<std::max_align_t[]> allocateBlock(size_t views, size_t bytes)
{
    const size_t head = views * sizeof(std::string_view);
    const size_t units = (head + bytes + sizeof(std::max_align_t) - 1) / sizeof(std::max_align_t);
    return std::allocate_shared_for_overwrite<std::max_align_t[]>(
        BlockAllocator<std::max_align_t>(), units ? units : 1);
}

// Places view i of the block (string_view is trivially destructible:
// nothing to run when the block goes) and shares the block's ownership.
Payload viewInto(const std::shared_ptr<std::max_align_t[]> &block, size_t i, const char *data,
                 size_t size)
{
    char *const storage = reinterpret_cast<char *>(block.get());
    const auto *view = ::new (storage + i * sizeof(std::string_view)) std::string_view(data, size);
    return Payload(block, view);  // aliasing constructor
}

}  // namespace

size_t cachedPayloadBlocks()
{
    return BlockCache::cachedBlocks();
}

void makePayloads(const char *data, std::span<const MessageSpan> spans, std::vector<Payload> &out)
{
    if (spans.empty()) return;
    const size_t first = spans.front().offset;
    const size_t bytes = spans.back().offset + spans.back().length - first;
    auto block = allocateBlock(spans.size(), bytes);
    char *const copy =
        reinterpret_cast<char *>(block.get()) + spans.size() * sizeof(std::string_view);
    std::memcpy(copy, data + first, bytes);
    out.reserve(out.size() + spans.size());
    for (size_t i = 0; i < spans.size(); ++i)
        out.push_back(viewInto(block, i, copy + (spans[i].offset - first), spans[i].length));
}

Payload makePayload(const char *data, size_t size)
{
    auto block = allocateBlock(1, size);
    char *const copy = reinterpret_cast<char *>(block.get()) + sizeof(std::string_view);
    if (size > 0) std::memcpy(copy, data, size);
    return viewInto(block, 0, copy, size);
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
