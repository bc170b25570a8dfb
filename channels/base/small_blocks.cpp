#include "channels/base/small_blocks.h"

#include <array>
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

// Size classes of 32 bytes up to 256, at most 32 blocks each: a thread
// keeps at most 36 KiB it does not use, far less in practice (a waiter is
// 16 bytes, a one-slice read's list 48).
class SmallCache {
public:
    static constexpr size_t kStep = 32;
    static constexpr size_t kMax = 256;
    static constexpr size_t kClasses = kMax / kStep;
    static constexpr size_t kMaxCachedPerClass = 32;

    ~SmallCache()
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
        if (bytes == 0 || bytes > kMax) return kClasses;
        return (bytes - 1) / kStep;
    }
    static size_t classBytes(size_t c) { return (c + 1) * kStep; }

    static void *take(size_t bytes)
    {
        const size_t c = classOf(bytes);
        if (c == kClasses) return ::operator new(bytes);
        if (gone_) return ::operator new(classBytes(c));
        SmallCache &cache = local();
        Free *head = cache.free_[c];
        if (!head) return ::operator new(classBytes(c));
        CHANFS_UNPOISON(head, classBytes(c));
        cache.free_[c] = head->next;
        --cache.count_[c];
        return head;
    }

    static void give(void *p, size_t bytes) noexcept
    {
        const size_t c = classOf(bytes);
        if (c == kClasses || gone_) {
            ::operator delete(p);
            return;
        }
        SmallCache &cache = local();
        if (cache.count_[c] >= kMaxCachedPerClass) {
            ::operator delete(p);
            return;
        }
        Free *f = ::new (p) Free{cache.free_[c]};
        cache.free_[c] = f;
        ++cache.count_[c];
        CHANFS_POISON(f, classBytes(c));
    }

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
    static SmallCache &local()
    {
        thread_local SmallCache cache;
        return cache;
    }
    // Set when this thread's cache is destroyed (thread exit): blocks freed
    // later (by other thread_local or static destructors) go to the heap.
    static thread_local bool gone_;

    std::array<Free *, kClasses> free_{};
    std::array<size_t, kClasses> count_{};
};

thread_local bool SmallCache::gone_ = false;

}  // namespace

void *takeSmallBlock(size_t bytes)
{
    return SmallCache::take(bytes);
}

void giveSmallBlock(void *p, size_t bytes) noexcept
{
    SmallCache::give(p, bytes);
}

size_t cachedSmallBlocks()
{
    return SmallCache::cachedBlocks();
}

}  // namespace chanfs
