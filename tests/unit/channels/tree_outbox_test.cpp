// SOURCE/state/tree-outbox.log (channels/storage/tree_outbox.h): what is
// appended comes back after a reopen, done marks skip what was stored, a
// torn tail and a damaged record are skipped (and the file kept aside),
// clear() empties it.
#include "channels/storage/tree_outbox.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace chanfs {
namespace {

class TreeOutboxTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        std::string tmpl = ::testing::TempDir() + "tree_outbox.XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
        dir_ = tmpl;
        path_ = dir_ + "/tree-outbox.log";
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    std::vector<TreeOutboxEntry> reopen(std::shared_ptr<TreeOutboxLog> *log = nullptr)
    {
        std::shared_ptr<TreeOutboxLog> l;
        std::vector<TreeOutboxEntry> waiting;
        std::string why;
        EXPECT_EQ(TreeOutboxLog::open(path_, &l, &waiting, &why), 0) << why;
        if (log) *log = l;
        return waiting;
    }
    std::string contents(const std::string &p) const
    {
        std::ifstream in(p, std::ios::binary);
        return {std::istreambuf_iterator<char>(in), {}};
    }
    void write(const std::string &bytes) const
    {
        std::ofstream(path_, std::ios::binary | std::ios::trunc) << bytes;
    }

    std::string dir_, path_;
    const TreeOutboxEntry a_{"a", "record of /a"}, b_{"b.c", std::string("x\0y", 3)},
        c_{"c", ""};
};

TEST_F(TreeOutboxTest, AppendedChangesComeBackInOrderAndDoneMarksSkipStoredOnes)
{
    std::shared_ptr<TreeOutboxLog> log;
    EXPECT_TRUE(reopen(&log).empty());
    ASSERT_EQ(log->append(a_), 0);
    ASSERT_EQ(log->append(b_), 0);
    ASSERT_EQ(log->append(c_), 0);
    ASSERT_EQ(log->sync(), 0);
    log.reset();
    EXPECT_EQ(reopen(&log), (std::vector<TreeOutboxEntry>{a_, b_, c_}));
    ASSERT_EQ(log->markDone(), 0);  // a was stored
    log.reset();
    EXPECT_EQ(reopen(&log), (std::vector<TreeOutboxEntry>{b_, c_}));
    ASSERT_EQ(log->clear(), 0);  // all stored
    log.reset();
    EXPECT_TRUE(reopen().empty());
    EXPECT_EQ(contents(path_), "");
}

TEST_F(TreeOutboxTest, ATornTailIsSkippedAndTheFileKeptAside)
{
    const std::string whole = TreeOutboxLog::encodePut(a_) + TreeOutboxLog::encodePut(b_);
    const std::string torn = whole + TreeOutboxLog::encodePut(c_).substr(0, 20);
    write(torn);
    std::shared_ptr<TreeOutboxLog> log;
    EXPECT_EQ(reopen(&log), (std::vector<TreeOutboxEntry>{a_, b_}));
    // The bytes it could not read are kept, never deleted.
    EXPECT_EQ(contents(path_ + ".damaged-1"), torn);
    // The fresh log holds what was read, and takes new changes after it.
    ASSERT_EQ(log->append(c_), 0);
    log.reset();
    EXPECT_EQ(reopen(), (std::vector<TreeOutboxEntry>{a_, b_, c_}));
    // A header cut short counts as torn too.
    write(TreeOutboxLog::encodePut(a_) + TreeOutboxLog::encodePut(b_).substr(0, 6));
    EXPECT_EQ(reopen(), (std::vector<TreeOutboxEntry>{a_}));
    EXPECT_TRUE(std::filesystem::exists(path_ + ".damaged-2"));
}

TEST_F(TreeOutboxTest, ADamagedRecordIsSkippedTheOthersAreRead)
{
    std::string bad = TreeOutboxLog::encodePut(b_);
    bad[bad.size() - 1] ^= 0x55;  // crc mismatch
    const std::string bytes = TreeOutboxLog::encodePut(a_) + bad + TreeOutboxLog::encodePut(c_);
    write(bytes);
    EXPECT_EQ(reopen(), (std::vector<TreeOutboxEntry>{a_, c_}));
    EXPECT_EQ(contents(path_ + ".damaged-1"), bytes);

    // Garbage with no magic, and an absurd length: skipped to the next record.
    std::string huge = TreeOutboxLog::encodePut(b_);
    huge[11] = '\x7f';
    size_t damaged = 0;
    EXPECT_EQ(TreeOutboxLog::parse("junk" + TreeOutboxLog::encodePut(a_) + huge +
                                       TreeOutboxLog::encodePut(c_),
                                   &damaged, "test"),
              (std::vector<TreeOutboxEntry>{a_, c_}));
    EXPECT_EQ(damaged, 2u);
    // More done marks than puts: nothing waits.
    EXPECT_TRUE(TreeOutboxLog::parse(TreeOutboxLog::encodePut(a_) + TreeOutboxLog::encodeDone() +
                                         TreeOutboxLog::encodeDone(),
                                     &damaged, "test")
                    .empty());
}

}  // namespace
}  // namespace chanfs
