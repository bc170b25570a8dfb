// A per-thread cache of small blocks (up to 256 bytes) for what the data
// path makes and frees once per request: a FUSE request's waiter and a
// read's list of slices. With glibc each of those was a malloc and a free,
// about 150 instructions a pair (callgrind); a thread's free list takes
// about 30. Like the payload block cache (buffer.cpp), a block freed on
// another thread goes on that thread's list, each size class keeps at most
// kMaxCachedPerClass blocks, and a thread's blocks are freed when it ends.
#pragma once

#include <cstddef>

namespace chanfs {

// A block of at least `bytes`, aligned for any type (operator new's
// alignment). Blocks over 256 bytes come from the heap.
void *takeSmallBlock(size_t bytes);
// Gives back a block from takeSmallBlock(bytes), with the same `bytes`.
void giveSmallBlock(void *p, size_t bytes) noexcept;
// Blocks the calling thread keeps (tests and diagnostics).
size_t cachedSmallBlocks();

// For containers: std::vector<T, SmallBlockAllocator<T>>.
template <class T>
struct SmallBlockAllocator {
    using value_type = T;
    static_assert(alignof(T) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__);
    SmallBlockAllocator() = default;
    template <class U>
    SmallBlockAllocator(const SmallBlockAllocator<U> &) noexcept
    {
    }
    T *allocate(size_t n) { return static_cast<T *>(takeSmallBlock(n * sizeof(T))); }
    void deallocate(T *p, size_t n) noexcept { giveSmallBlock(p, n * sizeof(T)); }
    template <class U>
    bool operator==(const SmallBlockAllocator<U> &) const noexcept
    {
        return true;
    }
};

// For a class whose objects are made one per request: operator new and
// delete from the cache (the sized delete passes the object's size back).
struct SmallBlockObject {
    static void *operator new(size_t bytes) { return takeSmallBlock(bytes); }
    static void operator delete(void *p, size_t bytes) noexcept { giveSmallBlock(p, bytes); }
};

}  // namespace chanfs
