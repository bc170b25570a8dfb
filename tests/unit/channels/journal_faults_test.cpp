// Durable channels when storage misbehaves: a full file system, a failed
// fdatasync (through the journal's fault hook, where a real file system
// cannot be made to fail on cue), and damaged, missing or misplaced files
// found at recovery (made by hand). Every test counts what was
// acknowledged, refused and restored, by number.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>

#include "channels/storage/journal.h"
#include "channels/storage/journal_store.h"
#include "channels/storage/journal_format.h"
#include "tests/unit/fakes.h"

namespace chanfs::test {
namespace {

namespace fsys = std::filesystem;

// Removes the fault hook however the test ends.
struct HookGuard {
    explicit HookGuard(JournalFaultHook h) { setJournalFaultHook(std::move(h)); }
    ~HookGuard() { setJournalFaultHook({}); }
};

std::string readFile(const std::string &path)
{
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

void writeFile(const std::string &path, std::string_view data)
{
    std::ofstream(path, std::ios::binary | std::ios::trunc)
        .write(data.data(), static_cast<std::streamsize>(data.size()));
}

std::string numbered(int i)
{
    return "msg-" + std::to_string(i) + "\n";
}

class JournalFaultsTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        char tmpl[] = "/tmp/chanfs-journal-faults.XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        root_ = tmpl;
        dir_ = root_ + "/ch";
    }
    void TearDown() override { fsys::remove_all(root_); }

    // A channel refilled from dir_ as a (re)started daemon would.
    std::shared_ptr<Channel> open(SettingList kv, RecoveredLog *rec = nullptr,
                                  std::shared_ptr<Journal> *journal = nullptr)
    {
        Settings s = settingsOf(kv);
        s.durable = true;
        auto ch = Channel::create(s, "faults-test");
        std::shared_ptr<Journal> j;
        RecoveredLog local;
        RecoveredLog &r = rec ? *rec : local;
        std::string why;
        EXPECT_EQ(Journal::open(dir_, s, "faults-test", &j, &r, &why), 0) << why;
        EXPECT_TRUE(j) << "open always gives a journal";
        if (!j) return ch;
        const bool fresh = r.entries.empty();
        EXPECT_EQ(ch->useStore(std::make_shared<JournalStore>(j, r), fresh), 0);
        if (journal) *journal = j;
        return ch;
    }

    std::vector<std::string> files(std::string_view ending) const
    {
        std::vector<std::string> out;
        for (const auto &e : fsys::directory_iterator(dir_)) {
            const std::string p = e.path().string();
            if (p.size() >= ending.size() &&
                p.compare(p.size() - ending.size(), ending.size(), ending) == 0)
                out.push_back(p);
        }
        std::sort(out.begin(), out.end());
        return out;
    }

    // Every message a reader gets now, split at newlines.
    static std::vector<std::string> drainLines(Channel &ch)
    {
        auto r = ch.open(true, false);
        std::string all;
        for (;;) {
            const ReadOutcome out = readNow(ch, *r, 1 << 20, {.nonblock = true});
            if (out.fails) break;
            all += out.data;
        }
        std::vector<std::string> lines;
        size_t pos = 0;
        while (pos < all.size()) {
            const size_t nl = all.find('\n', pos);
            lines.push_back(all.substr(pos, nl - pos + 1));
            pos = nl + 1;
        }
        ch.release(*r);
        return lines;
    }

    std::string root_, dir_;
};

std::vector<std::string> numberedList(std::initializer_list<int> ids)
{
    std::vector<std::string> out;
    for (int i : ids) out.push_back(numbered(i));
    return out;
}

std::vector<std::string> numberedRange(int from, int to, std::initializer_list<int> except = {})
{
    std::vector<std::string> out;
    for (int i = from; i <= to; ++i)
        if (std::find(except.begin(), except.end(), i) == except.end()) out.push_back(numbered(i));
    return out;
}

// The full disk, under each fsync policy: a refused write is ENOSPC, nothing
// of it is delivered or restored, and the channel takes writes again once
// there is room, without a remount.
class FullDiskTest : public JournalFaultsTest,
                     public ::testing::WithParamInterface<const char *> {};

TEST_P(FullDiskTest, ARefusedWriteIsEnospcAndNothingOfItIsKept)
{
    const SettingList kv = {{"kind", "queue"}, {"fsync", GetParam()}};
    std::atomic<bool> full{false};
    HookGuard hook([&](JournalOp op, const std::string &, size_t) {
        return full && op == JournalOp::Write ? -ENOSPC : 0;
    });
    int acknowledged = 0, refused = 0;
    {
        auto ch = open(kv);
        auto w = ch->open(false, true);
        auto reader = ch->open(true, false);
        for (int i = 1; i <= 30; ++i) {
            full = (i >= 11 && i <= 20);
            auto res = issueWrite(*ch, *w, numbered(i));
            ASSERT_TRUE(res->waitDone());
            const WriteOutcome out = res->get();
            if (out.dones) {
                ++acknowledged;
                EXPECT_FALSE(full) << i << " acknowledged while the disk was full";
            } else {
                ++refused;
                EXPECT_EQ(out.error, ENOSPC) << i;
            }
            if (i == 15) {
                EXPECT_NE(ch->stats().storageError.find("refusing writes"), std::string::npos)
                    << ch->stats().storageError;
            }
        }
        EXPECT_EQ(ch->stats().storageError, "ok");
        EXPECT_EQ(ch->stats().inMessages, 20u);
        // A reader sees exactly the acknowledged messages, in order.
        ch->release(*reader);
        EXPECT_EQ(drainLines(*ch), numberedRange(1, 30, {11, 12, 13, 14, 15, 16, 17, 18, 19, 20}));
        auto last = issueWrite(*ch, *w, numbered(31));
        ASSERT_TRUE(last->waitDone());
        EXPECT_EQ(last->get().dones, 1);
    }
    EXPECT_EQ(acknowledged, 20);
    EXPECT_EQ(refused, 10);
    // The journal holds the same, with no gap and no damage: the numbering
    // carried on as if the refused writes had never come.
    RecoveredLog rec;
    auto again = open(kv, &rec);
    EXPECT_EQ(rec.cutBytes, 0u);
    EXPECT_EQ(rec.lostEntries, 0u);
    EXPECT_EQ(drainLines(*again), numberedList({31}));
}

INSTANTIATE_TEST_SUITE_P(EveryFsyncPolicy, FullDiskTest,
                         ::testing::Values("never", "batch", "always"));

TEST_F(JournalFaultsTest, AWriteCutOffHalfWayIsCutBackToTheLastWholeRecord)
{
    const SettingList kv = {{"kind", "queue"}, {"framing", "messages"}};
    std::atomic<int> partial{0};
    HookGuard hook([&](JournalOp op, const std::string &, size_t) {
        return op == JournalOp::Write ? partial.exchange(0) : 0;
    });
    {
        auto ch = open(kv);
        auto w = ch->open(false, true);
        writeOk(*ch, *w, "first");
        partial = 7;  // the header of the next record gets in, then the disk is full
        const WriteOutcome out = writeNow(*ch, *w, "second");
        EXPECT_EQ(out.error, ENOSPC);
        writeOk(*ch, *w, "third");
    }
    RecoveredLog rec;
    auto again = open(kv, &rec);
    EXPECT_EQ(rec.cutBytes, 0u) << "the torn record was left in the file";
    EXPECT_TRUE(files(".damaged").empty());
    auto r = again->open(true, false);
    EXPECT_EQ(readData(*again, *r), "first");
    EXPECT_EQ(readData(*again, *r), "third");
    expectNothingToRead(*again, *r);
}

TEST_F(JournalFaultsTest, AFullDiskAtRotationRefusesTheWriteAndKeepsTheOldSegment)
{
    const SettingList kv = {{"kind", "queue"}, {"framing", "messages"}, {"capacity", "64M"}};
    const std::string big(512 * 1024, 'b');
    std::atomic<bool> noNewFiles{false};
    HookGuard hook([&](JournalOp op, const std::string &, size_t) {
        return noNewFiles && op == JournalOp::Create ? -ENOSPC : 0;
    });
    {
        auto ch = open(kv);
        auto w = ch->open(false, true);
        for (int i = 0; i < 8; ++i) writeOk(*ch, *w, big + std::to_string(i));
        noNewFiles = true;
        EXPECT_EQ(writeNow(*ch, *w, big + "8").error, ENOSPC);
        noNewFiles = false;
        writeOk(*ch, *w, big + "9");
    }
    auto again = open(kv);
    auto r = again->open(true, false);
    for (int i : {0, 1, 2, 3, 4, 5, 6, 7, 9})
        EXPECT_TRUE(readData(*again, *r) == big + std::to_string(i)) << "message " << i;
    expectNothingToRead(*again, *r);
}

// After a failed fdatasync the journal fails for good: the kernel may have
// dropped the pages, so a later fdatasync that succeeds proves nothing.
TEST_F(JournalFaultsTest, AFailedFdatasyncFailsEveryLaterWriteAndShowsInTheStats)
{
    const SettingList kv = {{"kind", "queue"}, {"fsync", "always"}};
    std::atomic<int> syncFailures{0};
    HookGuard hook([&](JournalOp op, const std::string &, size_t) {
        if (op != JournalOp::Sync) return 0;
        return syncFailures.fetch_sub(1) > 0 ? -EIO : 0;
    });
    auto ch = open(kv);
    auto w = ch->open(false, true);
    auto ok = issueWrite(*ch, *w, numbered(1));
    ASSERT_TRUE(ok->waitDone());
    EXPECT_EQ(ok->get().dones, 1);
    syncFailures = 1;  // only the next fdatasync fails
    auto bad = issueWrite(*ch, *w, numbered(2));
    ASSERT_TRUE(bad->waitDone());
    EXPECT_EQ(bad->get().error, EIO);
    for (int i = 3; i <= 5; ++i) {
        auto later = issueWrite(*ch, *w, numbered(i));
        ASSERT_TRUE(later->waitDone());
        EXPECT_EQ(later->get().error, EIO) << "write " << i << " after a failed fdatasync";
    }
    EXPECT_NE(ch->stats().storageError.find("failed: "), std::string::npos)
        << ch->stats().storageError;
    EXPECT_NE(ch->stats().storageError.find("fdatasync"), std::string::npos);
}

TEST_F(JournalFaultsTest, ABatchJournalWhoseFdatasyncFailedRefusesLaterWrites)
{
    const SettingList kv = {{"kind", "queue"}, {"fsync", "batch"}};
    HookGuard hook([&](JournalOp op, const std::string &, size_t) {
        return op == JournalOp::Sync ? -EIO : 0;
    });
    std::shared_ptr<Journal> j;
    auto ch = open(kv, nullptr, &j);
    auto w = ch->open(false, true);
    writeOk(*ch, *w, numbered(1));  // acknowledged before its fdatasync: the batch window
    EXPECT_EQ(j->sync(), -EIO);
    EXPECT_EQ(writeNow(*ch, *w, numbered(2)).error, EIO);
    EXPECT_EQ(j->failure(), -EIO);
}

// Two syncs at once (the batch syncer's and another caller's): the second
// one must not answer 0 while the first one's fdatasync of the same writes
// is still running, and then fails. Before, it found nothing dirty and
// answered 0 (an ASan CI run hit it in the test above).
TEST_F(JournalFaultsTest, ASyncWhileAnotherOnesFdatasyncRunsGetsThatFdatasyncsResult)
{
    std::promise<void> entered, release;
    std::shared_future<void> released = release.get_future().share();
    std::atomic<bool> first{true};
    HookGuard hook([&](JournalOp op, const std::string &, size_t) {
        if (op != JournalOp::Sync) return 0;
        if (first.exchange(false)) {
            entered.set_value();
            released.wait();
        }
        return -EIO;
    });
    // fsync=never: no batch syncer takes part, only the two syncs below.
    const SettingList kv = {{"kind", "queue"}, {"fsync", "never"}};
    std::shared_ptr<Journal> j;
    auto ch = open(kv, nullptr, &j);
    auto w = ch->open(false, true);
    writeOk(*ch, *w, numbered(1));
    auto firstSync = std::async(std::launch::async, [&] { return j->sync(); });
    entered.get_future().wait();  // the first one's fdatasync is running
    auto secondSync = std::async(std::launch::async, [&] { return j->sync(); });
    // Let the second one reach the journal while the first is still in its
    // fdatasync (a pause only makes the old bug show; the result does not
    // depend on it).
    secondSync.wait_for(std::chrono::milliseconds(200));
    release.set_value();
    EXPECT_EQ(firstSync.get(), -EIO);
    EXPECT_EQ(secondSync.get(), -EIO) << "answered before the fdatasync of its writes ended";
}

// Recovery. One flipped byte costs its record: the scan resumes at the next.
TEST_F(JournalFaultsTest, AFlippedByteCostsOneRecordAndTheFileIsKeptAside)
{
    const SettingList kv = {{"kind", "queue"}};
    {
        auto ch = open(kv);
        auto w = ch->open(false, true);
        for (int i = 1; i <= 100; ++i) writeOk(*ch, *w, numbered(i));
    }
    const std::string seg = files(".seg").at(0);
    std::string original = readFile(seg);
    const size_t at = original.find("msg-50\n");
    ASSERT_NE(at, std::string::npos);
    std::string damaged = original;
    damaged[at + 2] ^= 0x10;
    writeFile(seg, damaged);
    RecoveredLog rec;
    auto again = open(kv, &rec);
    EXPECT_EQ(rec.lostEntries, 1u);
    EXPECT_EQ(drainLines(*again), numberedRange(1, 100, {50}));
    ASSERT_EQ(files(".damaged").size(), 1u);
    EXPECT_EQ(readFile(files(".damaged")[0]), damaged) << "the damaged file was not kept as it was";
    // The segment now holds only whole records: a second recovery finds no damage.
    again.reset();
    RecoveredLog second;
    open(kv, &second);
    EXPECT_EQ(second.cutBytes, 0u);
    EXPECT_EQ(files(".damaged").size(), 1u);
}

TEST_F(JournalFaultsTest, FlippedBytesAtFixedSeedsCostOnlyTheirRecords)
{
    const SettingList kv = {{"kind", "queue"}};
    for (const unsigned seed : {1u, 7u, 42u}) {
        fsys::remove_all(dir_);
        {
            auto ch = open(kv);
            auto w = ch->open(false, true);
            for (int i = 1; i <= 200; ++i) writeOk(*ch, *w, numbered(i));
        }
        const std::string seg = files(".seg").at(0);
        std::string data = readFile(seg);
        std::mt19937 rng(seed);
        const size_t pos =
            kFileMagicBytes + rng() % (data.size() - kFileMagicBytes);  // inside the records
        data[pos] = static_cast<char>(data[pos] ^ (1 << (rng() % 8)));
        writeFile(seg, data);
        RecoveredLog rec;
        auto again = open(kv, &rec);
        const std::vector<std::string> got = drainLines(*again);
        EXPECT_EQ(rec.lostEntries, 1u) << "seed " << seed << " byte " << pos;
        EXPECT_EQ(got.size(), 199u) << "seed " << seed << " byte " << pos;
        // Whatever came back is what was written, in order, with one missing.
        size_t k = 0;
        while (k < got.size() && got[k] == numbered(static_cast<int>(k) + 1)) ++k;
        EXPECT_EQ(got, numberedRange(1, 200, {static_cast<int>(k) + 1})) << "seed " << seed;
    }
}

TEST_F(JournalFaultsTest, AFlippedBitInTheSegmentHeaderLosesNothing)
{
    const SettingList kv = {{"kind", "queue"}};
    {
        auto ch = open(kv);
        auto w = ch->open(false, true);
        for (int i = 1; i <= 10; ++i) writeOk(*ch, *w, numbered(i));
    }
    const std::string seg = files(".seg").at(0);
    std::string data = readFile(seg);
    data[3] ^= 0x01;
    writeFile(seg, data);
    RecoveredLog rec;
    auto again = open(kv, &rec);
    EXPECT_TRUE(fsys::exists(seg)) << "the segment was deleted";
    EXPECT_EQ(files(".damaged").size(), 1u);
    EXPECT_EQ(rec.lostEntries, 0u);
    EXPECT_EQ(drainLines(*again), numberedRange(1, 10));
}

TEST_F(JournalFaultsTest, ASegmentCutBelowItsHeaderIsKeptAsideAndReported)
{
    const SettingList kv = {{"kind", "queue"}, {"framing", "messages"}, {"capacity", "64M"}};
    const std::string big(512 * 1024, 'c');
    {
        auto ch = open(kv);
        auto w = ch->open(false, true);
        for (int i = 0; i < 20; ++i) writeOk(*ch, *w, big + std::to_string(i));
    }
    const std::vector<std::string> segs = files(".seg");
    ASSERT_GE(segs.size(), 3u);
    ::truncate(segs.back().c_str(), 5);
    RecoveredLog rec;
    auto again = open(kv, &rec);
    EXPECT_GE(rec.lostEntries, 1u) << "the messages of the cut segment were not counted";
    EXPECT_EQ(files(".damaged").size(), 1u);
    auto r = again->open(true, false);
    EXPECT_TRUE(readData(*again, *r) == big + "0");
}

// A deleted middle segment: its numbers are missing, and counted.
TEST_F(JournalFaultsTest, AMissingMiddleSegmentIsCountedAndTheRestServe)
{
    const SettingList kv = {{"kind", "queue"}, {"framing", "messages"}, {"capacity", "64M"}};
    const std::string big(512 * 1024, 'm');
    {
        auto ch = open(kv);
        auto w = ch->open(false, true);
        for (int i = 0; i < 24; ++i) writeOk(*ch, *w, big + std::to_string(i));
    }
    const std::vector<std::string> segs = files(".seg");
    ASSERT_GE(segs.size(), 3u);
    uint64_t inMiddle = 0;
    {
        const ResyncScan scan = scanRecordsResync(readFile(segs[1]), kSegmentMagic, "MEG");
        for (const RecordView &r : scan.records) inMiddle += r.type == 'M';
    }
    ASSERT_GT(inMiddle, 0u);
    fsys::remove(segs[1]);
    RecoveredLog rec;
    auto again = open(kv, &rec);
    EXPECT_EQ(rec.lostEntries, inMiddle);
    EXPECT_EQ(again->stats().queuedMessages, 24u - inMiddle);
}

// One damaged channel never stops the others: it comes up failed, serving
// what it could read, with the reason in its stats.
TEST_F(JournalFaultsTest, ASegmentThatIsADirectoryGivesAFailedChannelThatStillServes)
{
    const SettingList kv = {{"kind", "queue"}, {"framing", "messages"}, {"capacity", "64M"}};
    const std::string big(512 * 1024, 'd');
    {
        auto ch = open(kv);
        auto w = ch->open(false, true);
        for (int i = 0; i < 20; ++i) writeOk(*ch, *w, big + std::to_string(i));
    }
    const std::vector<std::string> segs = files(".seg");
    ASSERT_GE(segs.size(), 3u);
    fsys::remove(segs.back());
    fsys::create_directory(segs.back());
    RecoveredLog rec;
    std::shared_ptr<Journal> j;
    auto again = open(kv, &rec, &j);
    ASSERT_TRUE(j);
    EXPECT_EQ(j->failure(), -EIO);
    EXPECT_NE(again->stats().storageError.find("not a file"), std::string::npos)
        << again->stats().storageError;
    auto r = again->open(true, false);
    EXPECT_TRUE(readData(*again, *r) == big + "0");
    auto w = again->open(false, true);
    EXPECT_EQ(writeNow(*again, *w, "refused").error, EIO);
    // Nothing was deleted or rewritten in a journal that could not be read whole.
    EXPECT_EQ(files(".seg"), segs);
    EXPECT_TRUE(fsys::is_directory(segs.back()));
}

// Consumption survives the loss of the records written after it.
TEST_F(JournalFaultsTest, ConsumedMessagesStayConsumedWhenTheSegmentEndIsLost)
{
    const SettingList kv = {{"kind", "queue"}};
    size_t afterWrites = 0;
    {
        auto ch = open(kv);
        auto w = ch->open(false, true);
        for (int i = 1; i <= 20; ++i) writeOk(*ch, *w, numbered(i));
        afterWrites = fsys::file_size(files(".seg").at(0));
        auto r = ch->open(true, false);
        for (int i = 1; i <= 12; ++i) EXPECT_EQ(readData(*ch, *r, 7 + (i >= 10)), numbered(i));
    }
    // The records of consumption were written after the messages; lose them.
    ASSERT_EQ(::truncate(files(".seg").at(0).c_str(), static_cast<off_t>(afterWrites)), 0);
    RecoveredLog rec;
    auto again = open(kv, &rec);
    EXPECT_EQ(drainLines(*again), numberedRange(13, 20));
}

TEST_F(JournalFaultsTest, ALostSegmentEndIsCountedFromTheConsumedFile)
{
    const SettingList kv = {{"kind", "queue"}};
    std::vector<size_t> ends;
    {
        auto ch = open(kv);
        auto w = ch->open(false, true);
        for (int i = 1; i <= 10; ++i) {
            writeOk(*ch, *w, numbered(i));
            ends.push_back(fsys::file_size(files(".seg").at(0)));
        }
        auto r = ch->open(true, false);
        EXPECT_EQ(readData(*ch, *r, 6), numbered(1));  // saves the consumed file
    }
    // Cut after message 6: 7..10 are gone, and so is the record of consuming 1.
    ASSERT_EQ(::truncate(files(".seg").at(0).c_str(), static_cast<off_t>(ends[5])), 0);
    RecoveredLog rec;
    auto again = open(kv, &rec);
    EXPECT_EQ(rec.lostEntries, 4u);
    EXPECT_EQ(drainLines(*again), numberedRange(2, 6));
}

TEST_F(JournalFaultsTest, ADamagedRecordInATopicCostsOnlyThatRecord)
{
    const SettingList kv = {{"kind", "topic"}, {"replay", "1000"}, {"retention_messages", "1000"}};
    {
        auto ch = open(kv);
        auto w = ch->open(false, true);
        for (int i = 1; i <= 50; ++i) writeOk(*ch, *w, numbered(i));
    }
    const std::string seg = files(".seg").at(0);
    std::string data = readFile(seg);
    data[data.find("msg-20\n") + 1] ^= 0x40;
    writeFile(seg, data);
    RecoveredLog rec;
    auto again = open(kv, &rec);
    EXPECT_EQ(rec.lostEntries, 1u);
    auto r = again->open(true, false);
    std::string all;
    for (;;) {
        const ReadOutcome out = readNow(*again, *r, 1 << 20, {.nonblock = true});
        if (out.fails) break;
        all += out.data;
    }
    std::string expect;
    for (const std::string &m : numberedRange(1, 50, {20})) expect += m;
    EXPECT_EQ(all, expect);
    // New messages follow without a gap in the numbering.
    auto w = again->open(false, true);
    writeOk(*again, *w, numbered(51));
    EXPECT_EQ(readData(*again, *r), numbered(51));
}

TEST(JournalFormatResync, DamageIsSkippedAndTheScanCarriesOn)
{
    std::string f(kSegmentMagic, kFileMagicBytes);
    appendRecord(f, 'M', "one");
    const size_t second = f.size();
    appendRecord(f, 'M', "two");
    appendRecord(f, 'M', "three");
    f[second + kRecordHeaderBytes + 2] ^= 0x01;
    const ResyncScan r = scanRecordsResync(f, kSegmentMagic, "MEG");
    ASSERT_EQ(r.records.size(), 2u);
    EXPECT_EQ(r.records[0].payload, "one");
    EXPECT_EQ(r.records[1].payload, "three");
    ASSERT_EQ(r.damage.size(), 1u);
    EXPECT_EQ(r.damage[0].offset, second);
    EXPECT_EQ(r.damage[0].bytes, kRecordHeaderBytes + 4);
    EXPECT_FALSE(r.damage[0].tail);
    // A torn last record is damage at the tail.
    const ResyncScan torn =
        scanRecordsResync(std::string_view(f).substr(0, f.size() - 2), kSegmentMagic, "MEG");
    ASSERT_FALSE(torn.damage.empty());
    EXPECT_TRUE(torn.damage.back().tail);
    // A file cut inside its header is reported, not taken for empty.
    const ResyncScan shortFile = scanRecordsResync(f.substr(0, 5), kSegmentMagic, "MEG");
    ASSERT_EQ(shortFile.damage.size(), 1u);
    EXPECT_TRUE(shortFile.damage[0].header);
}

}  // namespace
}  // namespace chanfs::test
