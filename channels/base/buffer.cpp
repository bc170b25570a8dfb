#include "channels/base/buffer.h"

#include <array>
#include <cstddef>
#include <cstring>
#include <new>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define CHANFS_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define CHANFS_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define CHANFS_POISON(p, n) ((void)(p), (void)(n))
#define CHANFS_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace chanfs {

namespace {

// Blocks of 1-8 KiB messages, kept per thread for reuse. A 1 KiB message's
// block (bytes, view, control block) is just over glibc's per-thread cache
// limit (1032 bytes), so each one went to malloc's shared bins: a write and
// the read that frees its message now reuse one block without malloc.
// Sizes are rounded up to 512-byte classes; each thread keeps at most
// kMaxCachedPerClass blocks per class and kMaxCachedBytes in all, so a
// thread holds at most 64 KiB it does not use. The memory budget charges
// messages, not blocks, so it is unchanged by the cache.
class BlockCache {
public:
    static constexpr size_t kStep = 512;
    static constexpr size_t kMin = 1024;                // smaller: glibc's tcache
    static constexpr size_t kMax = 8 * 1024 + kStep;    // 8 KiB payload and headers
    static constexpr size_t kClasses = (kMax - kMin) / kStep;
    static constexpr size_t kMaxCachedPerClass = 8;
    static constexpr size_t kMaxCachedBytes = 64 * 1024;

    ~BlockCache()
    {
        gone_ = true;
        for (Free *&head : free_) {
            while (head) {
                CHANFS_UNPOISON(head, sizeof(Free));
                Free *next = head->next;
                ::operator delete(static_cast<void *>(head));
                head = next;
            }
        }
    }

    // Class of a block size, or kClasses if it is not cached.
    static size_t classOf(size_t bytes)
    {
        if (bytes <= kMin || bytes > kMax) return kClasses;
        return (bytes - kMin - 1) / kStep;
    }
    static size_t classBytes(size_t c) { return kMin + (c + 1) * kStep; }

    static void *take(size_t bytes)
    {
        const size_t c = classOf(bytes);
        if (c == kClasses) return ::operator new(bytes);
        if (gone_) return ::operator new(classBytes(c));
        BlockCache &cache = local();
        Free *head = cache.free_[c];
        if (!head) return ::operator new(classBytes(c));
        CHANFS_UNPOISON(head, classBytes(c));
        cache.free_[c] = head->next;
        --cache.count_[c];
        cache.bytes_ -= classBytes(c);
        return head;
    }

    static void give(void *p, size_t bytes)
    {
        const size_t c = classOf(bytes);
        if (c == kClasses || gone_) {
            ::operator delete(p);
            return;
        }
        BlockCache &cache = local();
        if (cache.count_[c] >= kMaxCachedPerClass ||
            cache.bytes_ + classBytes(c) > kMaxCachedBytes) {
            ::operator delete(p);
            return;
        }
        Free *f = ::new (p) Free{cache.free_[c]};
        cache.free_[c] = f;
        ++cache.count_[c];
        cache.bytes_ += classBytes(c);
        CHANFS_POISON(f, classBytes(c));
    }

    // Blocks the calling thread keeps (tests).
    static size_t cachedBlocks()
    {
        if (gone_) return 0;
        size_t n = 0;
        for (size_t k : local().count_) n += k;
        return n;
    }

private:
    struct Free {
        Free *next;
    };
    static BlockCache &local()
    {
        thread_local BlockCache cache;
        return cache;
    }
    // Set when this thread's cache is destroyed (thread exit): blocks freed
    // later (by other thread_local or static destructors) go to the heap.
    static thread_local bool gone_;

    std::array<Free *, kClasses> free_{};
    std::array<size_t, kClasses> count_{};
    size_t bytes_ = 0;
};

thread_local bool BlockCache::gone_ = false;

// The allocator of message blocks: the block cache above.
template <class T>
struct BlockAllocator {
    using value_type = T;
    static_assert(alignof(T) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__);
    BlockAllocator() = default;
    template <class U>
    BlockAllocator(const BlockAllocator<U> &) noexcept
    {
    }
    T *allocate(size_t n) { return static_cast<T *>(BlockCache::take(n * sizeof(T))); }
    void deallocate(T *p, size_t n) noexcept { BlockCache::give(p, n * sizeof(T)); }
    template <class U>
    bool operator==(const BlockAllocator<U> &) const noexcept
    {
        return true;
    }
};

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
