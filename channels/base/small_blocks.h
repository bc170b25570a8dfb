// A per-thread cache of small blocks (up to 256 bytes) for what the data
// path makes and frees once per request: a FUSE request's waiter and a
// read's list of slices. With glibc each of those was a malloc and a free,
// about 150 instructions a pair (callgrind); a thread's free list takes
// about 30. The same cache as the payload blocks' (block_cache.h), with
// its own size classes (small_blocks.cpp).
#pragma once

#include <cstddef>

#include "channels/base/block_cache.h"

namespace chanfs {

// A block of at least `bytes`, aligned for any type (operator new's
// alignment). Blocks over 256 bytes come from the heap.
void *takeSmallBlock(size_t bytes);
// Gives back a block from takeSmallBlock(bytes), with the same `bytes`.
void giveSmallBlock(void *p, size_t bytes) noexcept;
// Blocks the calling thread keeps (tests and diagnostics).
size_t cachedSmallBlocks();

// For containers: std::vector<T, SmallBlockAllocator<T>>.
struct SmallBlocks {
    static void *take(size_t bytes) { return takeSmallBlock(bytes); }
    static void give(void *p, size_t bytes) noexcept { giveSmallBlock(p, bytes); }
};
template <class T>
using SmallBlockAllocator = CacheAllocator<T, SmallBlocks>;

// For a class whose objects are made one per request: operator new and
// delete from the cache (the sized delete passes the object's size back).
struct SmallBlockObject {
    static void *operator new(size_t bytes) { return takeSmallBlock(bytes); }
    static void operator delete(void *p, size_t bytes) noexcept { giveSmallBlock(p, bytes); }
};

}  // namespace chanfs
