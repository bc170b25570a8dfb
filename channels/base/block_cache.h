// A per-thread cache of freed heap blocks, in size classes, for blocks the
// data path makes and frees once per message or request (buffer.cpp: 1-8
// KiB payload blocks; small_blocks.cpp: waiters and slice lists). A block
// freed on another thread goes on that thread's list; each class keeps at
// most MaxPerClass blocks and a thread at most MaxBytes in all; a thread's
// blocks are freed when it ends, and blocks freed after that (by other
// thread_local or static destructors) go straight to the heap.
//
// Under ASan a cached block is poisoned but for its free-list link, so a
// use after free is still reported, and LeakSanitizer (which does not read
// poisoned memory) can follow the list; each thread's cache is an LSan root
// region, so blocks cached by a thread still running at exit (a NATS
// client thread) are not reported as leaked. Fully poisoned, an ASan e2e
// run reported the 32 waiters a NATS thread kept as leaks.
//
// Classes: sizes Min+1 .. Max in steps of Step (a block of Min bytes or
// less, or over Max, is not cached: it comes from and goes to the heap).
#pragma once

#include <array>
#include <cstddef>
#include <new>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/lsan_interface.h>
#define CHANFS_BLOCK_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define CHANFS_BLOCK_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#define CHANFS_LSAN_ROOT(p, n) __lsan_register_root_region(p, n)
#define CHANFS_LSAN_UNROOT(p, n) __lsan_unregister_root_region(p, n)
#else
#define CHANFS_BLOCK_POISON(p, n) ((void)(p), (void)(n))
#define CHANFS_BLOCK_UNPOISON(p, n) ((void)(p), (void)(n))
#define CHANFS_LSAN_ROOT(p, n) ((void)(p), (void)(n))
#define CHANFS_LSAN_UNROOT(p, n) ((void)(p), (void)(n))
#endif

namespace chanfs {

template <size_t Min, size_t Step, size_t Max, size_t MaxPerClass, size_t MaxBytes>
class ThreadBlockCache {
public:
    static constexpr size_t kClasses = (Max - Min) / Step;
    static_assert(Min + kClasses * Step == Max, "Max - Min must be a multiple of Step");

    ThreadBlockCache() { CHANFS_LSAN_ROOT(this, sizeof(*this)); }
    ThreadBlockCache(const ThreadBlockCache &) = delete;
    ThreadBlockCache &operator=(const ThreadBlockCache &) = delete;

    ~ThreadBlockCache()
    {
        CHANFS_LSAN_UNROOT(this, sizeof(*this));
        gone_ = true;
        for (Free *&head : free_) {
            while (head) {
                Free *next = head->next;
                ::operator delete(static_cast<void *>(head));
                head = next;
            }
        }
    }

    // A block of at least `bytes`, aligned as operator new aligns.
    static void *take(size_t bytes)
    {
        const size_t c = classOf(bytes);
        if (c == kClasses) return ::operator new(bytes);
        if (gone_) return ::operator new(classBytes(c));
        ThreadBlockCache &cache = local();
        Free *head = cache.free_[c];
        if (!head) return ::operator new(classBytes(c));
        CHANFS_BLOCK_UNPOISON(head, classBytes(c));
        cache.free_[c] = head->next;
        --cache.count_[c];
        cache.bytes_ -= classBytes(c);
        return head;
    }

    // Gives back a block from take(bytes), with the same `bytes`.
    static void give(void *p, size_t bytes) noexcept
    {
        const size_t c = classOf(bytes);
        if (c == kClasses || gone_) {
            ::operator delete(p);
            return;
        }
        ThreadBlockCache &cache = local();
        if (cache.count_[c] >= MaxPerClass || cache.bytes_ + classBytes(c) > MaxBytes) {
            ::operator delete(p);
            return;
        }
        Free *f = ::new (p) Free{cache.free_[c]};
        cache.free_[c] = f;
        ++cache.count_[c];
        cache.bytes_ += classBytes(c);
        CHANFS_BLOCK_POISON(reinterpret_cast<char *>(f) + sizeof(Free), classBytes(c) - sizeof(Free));
    }

    // Blocks the calling thread keeps (tests and diagnostics).
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
    static_assert(Min + Step >= sizeof(Free), "a cached block holds the free list's link");

    static size_t classOf(size_t bytes)
    {
        if (bytes <= Min || bytes > Max) return kClasses;
        return (bytes - Min - 1) / Step;
    }
    static size_t classBytes(size_t c) { return Min + (c + 1) * Step; }

    static ThreadBlockCache &local()
    {
        thread_local ThreadBlockCache cache;
        return cache;
    }
    static inline thread_local bool gone_ = false;

    std::array<Free *, kClasses> free_{};
    std::array<size_t, kClasses> count_{};
    size_t bytes_ = 0;
};

// For containers: std::vector<T, CacheAllocator<T, Source>>, where Source
// has static take(bytes) and give(p, bytes) (a ThreadBlockCache, or a
// struct forwarding to one compiled elsewhere).
template <class T, class Source>
struct CacheAllocator {
    using value_type = T;
    static_assert(alignof(T) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__);
    CacheAllocator() = default;
    template <class U>
    CacheAllocator(const CacheAllocator<U, Source> &) noexcept
    {
    }
    template <class U>
    struct rebind {
        using other = CacheAllocator<U, Source>;
    };
    T *allocate(size_t n) { return static_cast<T *>(Source::take(n * sizeof(T))); }
    void deallocate(T *p, size_t n) noexcept { Source::give(p, n * sizeof(T)); }
    template <class U>
    bool operator==(const CacheAllocator<U, Source> &) const noexcept
    {
        return true;
    }
};

}  // namespace chanfs
