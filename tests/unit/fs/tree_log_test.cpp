// The state directory's tree log records (fs/tree/tree_log.h).
#include <gtest/gtest.h>

#include "fs/tree/tree_log.h"

namespace chanfs::fs {
namespace {

TreeRecord channel(uint64_t ino, uint64_t parent, std::string name)
{
    TreeRecord r;
    r.ino = ino;
    r.parent = parent;
    r.mode = 0640;
    r.uid = 65534;
    r.gid = 65534;
    r.name = std::move(name);
    r.values = {{"kind", "queue"}, {"durable", "1"}, {"fifo", "in:/run/x.fifo"}};
    return r;
}

std::string logOf(std::initializer_list<TreeRecord> nodes, std::initializer_list<uint64_t> drops)
{
    std::string f(kTreeLogMagic, kFileMagicBytes);
    for (const TreeRecord &r : nodes) appendNodeRecord(f, r);
    for (uint64_t ino : drops) appendDropRecord(f, ino);
    return f;
}

TEST(TreeLog, TheLastRecordOfEachNodeWinsAndDropsRemove)
{
    TreeRecord dir;
    dir.ino = 2;
    dir.parent = 1;
    dir.isDir = true;
    dir.mode = 0755;
    dir.name = "jobs";
    dir.values = {{"kind", "topic"}};
    TreeRecord a = channel(3, 2, "a");
    TreeRecord moved = channel(3, 1, "a-renamed");
    moved.mode = 0600;
    const TreeReplay r = replayTreeLog(logOf({dir, a, channel(4, 2, "b"), moved}, {4}));
    EXPECT_TRUE(r.problems.empty());
    ASSERT_EQ(r.nodes.size(), 2u);
    EXPECT_EQ(r.nodes.at(2), dir);
    EXPECT_EQ(r.nodes.at(3), moved);
    EXPECT_EQ(r.records, 5u);
}

TEST(TreeLog, DamageKeepsEverythingBeforeIt)
{
    std::string f = logOf({channel(3, 1, "a"), channel(4, 1, "b")}, {});
    const size_t whole = f.size();
    f.resize(whole - 5);  // torn second record
    TreeReplay r = replayTreeLog(f);
    ASSERT_EQ(r.nodes.size(), 1u);
    EXPECT_EQ(r.nodes.begin()->second.name, "a");
    ASSERT_EQ(r.problems.size(), 1u);
    EXPECT_LT(r.validEnd, f.size());
}

TEST(TreeLog, AMalformedRecordWithAGoodChecksumIsSkippedAndReported)
{
    std::string f(kTreeLogMagic, kFileMagicBytes);
    appendRecord(f, 'N', "short");  // fields missing
    appendRecord(f, 'Q', "");       // unknown type
    appendNodeRecord(f, channel(5, 1, "ok"));
    const TreeReplay r = replayTreeLog(f);
    EXPECT_EQ(r.problems.size(), 2u);
    ASSERT_EQ(r.nodes.size(), 1u);
    EXPECT_EQ(r.nodes.at(5).name, "ok");
    // A node that claims no parent (other than the root) is malformed too.
    std::string g(kTreeLogMagic, kFileMagicBytes);
    appendNodeRecord(g, channel(6, 0, "orphan"));
    EXPECT_TRUE(replayTreeLog(g).nodes.empty());
}

}  // namespace
}  // namespace chanfs::fs

namespace chanfs::fs {
namespace {

TEST(TreeLog, TheHighWaterMarkIsAboveEveryNumberEverNamedAndSurvivesARewrite)
{
    // Nodes 3..9 were made and 9 dropped; a rewrite wrote the mark first.
    std::string f(kTreeLogMagic, kFileMagicBytes);
    appendHighWaterRecord(f, 40);
    appendNodeRecord(f, channel(3, 1, "a"));
    EXPECT_EQ(replayTreeLog(f).nextIno, 40u);
    appendNodeRecord(f, channel(41, 1, "b"));
    appendDropRecord(f, 57);
    const TreeReplay r = replayTreeLog(f);
    EXPECT_TRUE(r.problems.empty());
    EXPECT_EQ(r.nextIno, 58u);  // a dropped node's number counts too
    EXPECT_EQ(r.nodes.size(), 2u);
    // Without any mark: the highest number named, plus one.
    EXPECT_EQ(replayTreeLog(logOf({channel(7, 1, "x")}, {})).nextIno, 8u);
    // A malformed mark is reported and skipped.
    std::string g(kTreeLogMagic, kFileMagicBytes);
    appendRecord(g, 'H', "abc");
    const TreeReplay bad = replayTreeLog(g);
    EXPECT_EQ(bad.problems.size(), 1u);
    EXPECT_EQ(bad.nextIno, 0u);
}

}  // namespace
}  // namespace chanfs::fs
