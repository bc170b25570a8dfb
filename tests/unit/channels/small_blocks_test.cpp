// channels/base/small_blocks.h: the per-thread cache of small blocks that
// waiters and a read's slice list come from.
#include "channels/base/small_blocks.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "channels/base/buffer.h"

namespace chanfs {
namespace {

TEST(SmallBlocks, AFreedBlockIsKeptForTheNextOfItsSizeClass)
{
    const size_t before = cachedSmallBlocks();
    void *p = takeSmallBlock(48);
    giveSmallBlock(p, 48);
    EXPECT_EQ(cachedSmallBlocks(), before + 1);
    // 33-64 bytes are one class: the kept block serves the next request.
    void *q = takeSmallBlock(40);
    EXPECT_EQ(q, p);
    EXPECT_EQ(cachedSmallBlocks(), before);
    giveSmallBlock(q, 40);
}

TEST(SmallBlocks, AThreadKeepsAtMost32BlocksOfAClass)
{
    std::vector<void *> blocks;
    for (int i = 0; i < 40; ++i) blocks.push_back(takeSmallBlock(100));
    const size_t before = cachedSmallBlocks();  // none of 97-128 bytes left
    for (void *p : blocks) giveSmallBlock(p, 100);
    EXPECT_EQ(cachedSmallBlocks(), before + 32);
}

TEST(SmallBlocks, BlocksOver256BytesAreNotKept)
{
    const size_t before = cachedSmallBlocks();
    void *p = takeSmallBlock(257);
    giveSmallBlock(p, 257);
    EXPECT_EQ(cachedSmallBlocks(), before);
}

TEST(SmallBlocks, ABlockFreedOnAnotherThreadGoesToThatThreadsCache)
{
    void *p = takeSmallBlock(16);
    std::thread t([p] {
        const size_t before = cachedSmallBlocks();
        giveSmallBlock(p, 16);  // kept here, freed when this thread ends
        EXPECT_EQ(cachedSmallBlocks(), before + 1);
    });
    t.join();
}

TEST(SmallBlocks, AOneSliceListComesFromTheCache)
{
    {
        EntryList warm(1);  // a block of the class exists in the cache now
    }
    const size_t before = cachedSmallBlocks();
    EntryList slices;
    slices.push_back(Entry{});
    EXPECT_EQ(cachedSmallBlocks(), before - 1);
    slices = EntryList();
    EXPECT_EQ(cachedSmallBlocks(), before);
}

}  // namespace
}  // namespace chanfs
