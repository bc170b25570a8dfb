#include "channels/base/small_blocks.h"

#include "channels/base/block_cache.h"

namespace chanfs {

namespace {

// Size classes of 32 bytes up to 256, at most 32 blocks each: a thread
// keeps at most 36 KiB it does not use, far less in practice (a waiter is
// 16 bytes, a one-slice read's list 48).
using SmallCache = ThreadBlockCache</*Min=*/0, /*Step=*/32, /*Max=*/256, /*MaxPerClass=*/32,
                                    /*MaxBytes=*/36 * 1024>;

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
