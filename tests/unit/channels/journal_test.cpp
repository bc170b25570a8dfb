// Durable channels: the record format (journal_format.h) and the segment
// log (journal.h) under a channel, reopened as a restarted daemon would.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "channels/storage/journal.h"
#include "channels/storage/journal_format.h"
#include "channels/storage/journal_store.h"
#include "tests/unit/fakes.h"

namespace chanfs::test {
namespace {

namespace fsys = std::filesystem;

TEST(JournalFormat, Crc32cMatchesTheStandardCheckValue)
{
    // The check value of CRC-32C over "123456789" (RFC 3720, iSCSI).
    EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);
    EXPECT_EQ(crc32c("", 0), 0u);
    EXPECT_EQ(crc32cPortable("123456789", 9), 0xE3069283u);
}

TEST(JournalFormat, TheCrcInstructionAndTheTableAgree)
{
    std::string data;
    for (int i = 0; i < 300; ++i) data.push_back(static_cast<char>(i * 37 + (i >> 3)));
    for (size_t start = 0; start < 9; ++start)
        for (size_t len = 0; len + start <= data.size(); len += 7)
            ASSERT_EQ(crc32c(data.data() + start, len), crc32cPortable(data.data() + start, len))
                << start << "+" << len;
    // Chained: a CRC continued over a second piece equals one over both.
    EXPECT_EQ(crc32c(data.data() + 100, 200, crc32c(data.data(), 100)), crc32c(data.data(), 300));
}

std::string fileWith(std::initializer_list<std::pair<char, std::string>> records)
{
    std::string f(kSegmentMagic, kFileMagicBytes);
    for (const auto &[type, payload] : records) appendRecord(f, type, payload);
    return f;
}

TEST(JournalFormat, RecordsRoundTrip)
{
    const std::string f = fileWith({{'M', "hello"}, {'G', std::string(16, '\0')}, {'E', "x"}});
    const ScanResult r = scanRecords(f, kSegmentMagic);
    EXPECT_TRUE(r.problem.empty()) << r.problem;
    ASSERT_EQ(r.records.size(), 3u);
    EXPECT_EQ(r.records[0].type, 'M');
    EXPECT_EQ(r.records[0].payload, "hello");
    EXPECT_EQ(r.records[1].payload.size(), 16u);
    EXPECT_EQ(r.records[2].type, 'E');
    EXPECT_EQ(r.validEnd, f.size());
}

TEST(JournalFormat, ATornLastRecordIsCutOffAndReported)
{
    const std::string whole = fileWith({{'M', "first"}, {'M', "second"}});
    const size_t firstEnd = kFileMagicBytes + kRecordHeaderBytes + 6;
    for (size_t cut = firstEnd + 1; cut < whole.size(); ++cut) {
        const ScanResult r = scanRecords(std::string_view(whole).substr(0, cut), kSegmentMagic);
        ASSERT_EQ(r.records.size(), 1u) << "cut at " << cut;
        EXPECT_EQ(r.records[0].payload, "first");
        EXPECT_EQ(r.validEnd, firstEnd);
        EXPECT_NE(r.problem.find("torn"), std::string::npos) << r.problem;
    }
}

TEST(JournalFormat, AFlippedBitFailsTheChecksumAndEndsTheScan)
{
    std::string f = fileWith({{'M', "first"}, {'M', "second"}, {'M', "third"}});
    const size_t secondPayload = kFileMagicBytes + kRecordHeaderBytes + 6 + kRecordHeaderBytes + 2;
    f[secondPayload] ^= 0x04;
    const ScanResult r = scanRecords(f, kSegmentMagic);
    ASSERT_EQ(r.records.size(), 1u);
    EXPECT_EQ(r.records[0].payload, "first");
    EXPECT_NE(r.problem.find("checksum"), std::string::npos) << r.problem;
}

TEST(JournalFormat, WrongHeaderAndImpossibleLengthsAreProblemsNotRecords)
{
    EXPECT_FALSE(scanRecords("NOTCHANFS-and-more", kSegmentMagic).problem.empty());
    std::string f(kSegmentMagic, kFileMagicBytes);
    f += std::string("\xff\xff\xff\xff\0\0\0\0", 8);
    const ScanResult r = scanRecords(f, kSegmentMagic);
    EXPECT_TRUE(r.records.empty());
    EXPECT_EQ(r.validEnd, kFileMagicBytes);
    EXPECT_NE(r.problem.find("impossible"), std::string::npos) << r.problem;
    // A file cut inside its header (a crash right after creating it) is empty.
    EXPECT_TRUE(scanRecords(std::string(kSegmentMagic, 3), kSegmentMagic).problem.empty());
}

// The journal of a channel in the journal store.
Journal &journalOf(Channel &ch)
{
    auto store = std::dynamic_pointer_cast<JournalStore>(ch.messageStore());
    EXPECT_NE(store, nullptr);
    return store->journal();
}

// A temporary directory per test.
class JournalTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        char tmpl[] = "/tmp/chanfs-journal-test.XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        root_ = tmpl;
        dir_ = root_ + "/ch";
    }
    void TearDown() override { fsys::remove_all(root_); }

    // A channel with these settings (durable) and the journal in dir_,
    // which holds what an earlier run left in `rec`.
    std::shared_ptr<Channel> withJournal(SettingList kv, RecoveredLog *rec)
    {
        Settings s = settingsOf(kv);
        s.durable = true;
        auto ch = Channel::create(s, "durable-test");
        std::shared_ptr<Journal> j;
        std::string why;
        EXPECT_EQ(Journal::open(dir_, s, "durable-test", &j, rec, &why), 0) << why;
        if (!j) return ch;
        EXPECT_EQ(ch->useStore(std::make_shared<JournalStore>(j, *rec), false), 0);
        return ch;
    }

    // A channel with a fresh journal in dir_.
    std::shared_ptr<Channel> durable(SettingList kv)
    {
        RecoveredLog rec;
        auto ch = withJournal(kv, &rec);
        EXPECT_EQ(rec.nextSeq, 1u) << "the journal directory was not fresh";
        return ch;
    }

    // What a restarted daemon finds: a new channel refilled from dir_.
    std::shared_ptr<Channel> reopen(SettingList kv, RecoveredLog *seen = nullptr)
    {
        RecoveredLog rec;
        auto ch = withJournal(kv, &rec);
        if (seen) *seen = rec;
        return ch;
    }

    std::vector<std::string> segmentFiles() const
    {
        std::vector<std::string> out;
        for (const auto &e : fsys::directory_iterator(dir_))
            if (e.path().extension() == ".seg") out.push_back(e.path().string());
        std::sort(out.begin(), out.end());
        return out;
    }

    std::string root_, dir_;
};

std::string drain(Channel &ch, Handle &h)
{
    std::string all;
    for (;;) {
        const ReadOutcome out = readNow(ch, h, 1 << 20, {.nonblock = true});
        if (out.fails) break;
        all += out.data;
    }
    return all;
}

TEST_F(JournalTest, AQueueComesBackWithExactlyWhatWasNotConsumedInOrder)
{
    {
        auto ch = durable({{"kind", "queue"}});
        auto w = ch->open(false, true);
        for (int i = 1; i <= 5; ++i) writeOk(*ch, *w, "m" + std::to_string(i) + "\n");
        auto r = ch->open(true, false);
        EXPECT_EQ(readData(*ch, *r, 3), "m1\n");
        EXPECT_EQ(readData(*ch, *r, 3), "m2\n");
        // The daemon dies here: nothing is released or closed.
    }
    auto again = reopen({{"kind", "queue"}});
    auto r = again->open(true, false);
    EXPECT_EQ(drain(*again, *r), "m3\nm4\nm5\n");
    // New messages continue the numbering, and a second restart keeps them.
    auto w = again->open(false, true);
    writeOk(*again, *w, "m6\n");
    auto third = reopen({{"kind", "queue"}});
    auto r3 = third->open(true, false);
    EXPECT_EQ(drain(*third, *r3), "m6\n");
}

TEST_F(JournalTest, AFailedDeliveryIsNotConsumedAndAShortReadConsumesOnlyWhenFinished)
{
    {
        auto ch = durable({{"kind", "queue"}});
        auto w = ch->open(false, true);
        writeOk(*ch, *w, "alpha\n");
        writeOk(*ch, *w, "bravo-bravo\n");
        auto r = ch->open(true, false);
        const ReadOutcome dead = readNow(*ch, *r, 1 << 20, {.deliverRc = -ENOENT});
        EXPECT_EQ(dead.rejected, 1);
        EXPECT_EQ(readData(*ch, *r, 6), "alpha\n");
        EXPECT_EQ(readData(*ch, *r, 4), "brav");  // half of the second
    }
    auto again = reopen({{"kind", "queue"}});
    auto r = again->open(true, false);
    EXPECT_EQ(drain(*again, *r), "bravo-bravo\n");
}

TEST_F(JournalTest, DropOldestIsRecordedAsGone)
{
    {
        auto ch = durable({{"kind", "queue"}, {"capacity", "8"}, {"overflow", "drop-oldest"}});
        auto w = ch->open(false, true);
        for (const char *m : {"aaa\n", "bbb\n", "ccc\n"}) writeOk(*ch, *w, m);
        EXPECT_EQ(ch->stats().drops, 1u);
    }
    auto again = reopen({{"kind", "queue"}, {"capacity", "8"}, {"overflow", "drop-oldest"}});
    auto r = again->open(true, false);
    EXPECT_EQ(drain(*again, *r), "bbb\nccc\n");
}

TEST_F(JournalTest, APipeKeepsItsSessionMarks)
{
    {
        auto ch = durable({{"kind", "pipe"}});
        for (const char *session : {"one\n", "two\n"}) {
            auto w = ch->open(false, true);
            writeOk(*ch, *w, session);
            ch->release(*w);
        }
    }
    auto again = reopen({{"kind", "pipe"}});
    auto r = again->open(true, false);
    EXPECT_EQ(readData(*again, *r), "one\n");
    expectEof(*again, *r);
    EXPECT_EQ(readData(*again, *r), "two\n");
    expectEof(*again, *r);
}

TEST_F(JournalTest, ADamagedTailIsCutOffAndNeverDelivered)
{
    {
        auto ch = durable({{"kind", "queue"}});
        auto w = ch->open(false, true);
        writeOk(*ch, *w, "kept-1\n");
        writeOk(*ch, *w, "kept-2\n");
        writeOk(*ch, *w, "damaged\n");
    }
    const std::string seg = segmentFiles().back();
    const auto size = fsys::file_size(seg);
    {
        // Flip one byte of the last record's payload, and add a torn record.
        std::fstream f(seg, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(static_cast<std::streamoff>(size) - 3);
        f.put('X');
        f.seekp(0, std::ios::end);
        f.write("\x40\0\0\0abcd", 8);
    }
    RecoveredLog rec;
    auto again = reopen({{"kind", "queue"}}, &rec);
    EXPECT_GT(rec.cutBytes, 8u);
    auto r = again->open(true, false);
    EXPECT_EQ(drain(*again, *r), "kept-1\nkept-2\n");
    // The damaged file was kept aside and replaced by its good records, then appended to.
    EXPECT_TRUE(fsys::exists(seg + ".damaged"));
    auto w = again->open(false, true);
    writeOk(*again, *w, "after\n");
    auto third = reopen({{"kind", "queue"}});
    auto r3 = third->open(true, false);
    EXPECT_EQ(drain(*third, *r3), "after\n");
}

TEST_F(JournalTest, ConsumedSegmentsAreDeleted)
{
    auto ch = durable({{"kind", "queue"}, {"framing", "messages"}, {"capacity", "64M"}});
    auto w = ch->open(false, true);
    const std::string big(512 * 1024, 'z');
    for (int i = 0; i < 20; ++i) writeOk(*ch, *w, big);  // 10 MiB: three segments or more
    const size_t before = segmentFiles().size();
    EXPECT_GE(before, 3u);
    EXPECT_EQ(journalOf(*ch).segmentCount(), before);
    auto r = ch->open(true, false);
    for (int i = 0; i < 20; ++i) EXPECT_EQ(readData(*ch, *r).size(), big.size());
    // Only the segment being written to is left.
    EXPECT_EQ(segmentFiles().size(), 1u);
    EXPECT_EQ(journalOf(*ch).segmentCount(), 1u);
    auto again = reopen({{"kind", "queue"}, {"framing", "messages"}, {"capacity", "64M"}});
    EXPECT_EQ(again->stats().queuedMessages, 0u);
}

TEST_F(JournalTest, ATopicKeepsItsRetentionAndComesBackWithItsReplay)
{
    const SettingList kv{{"kind", "topic"},
                         {"framing", "messages"},
                         {"replay", "3"},
                         {"retention_bytes", "4M"},
                         {"capacity", "64M"}};
    {
        auto ch = durable(kv);
        auto w = ch->open(false, true);
        for (int i = 0; i < 40; ++i) {
            std::string m(256 * 1024, 'a' + static_cast<char>(i % 26));
            m += std::to_string(i);
            writeOk(*ch, *w, m);
        }
        // 10 MiB published, 4 MiB retained: whole old segments went.
        uint64_t onDisk = 0;
        for (const auto &f : segmentFiles()) onDisk += fsys::file_size(f);
        EXPECT_LE(onDisk, 4 * kMiB + kSegmentBytes + 64 * 1024);
        EXPECT_GE(onDisk, 4 * kMiB);
    }
    auto again = reopen(kv);
    auto r = again->open(true, false);
    // A new subscriber gets the last `replay` messages, in order.
    for (int i = 37; i < 40; ++i) {
        const std::string m = readData(*again, *r);
        EXPECT_EQ(m.substr(256 * 1024), std::to_string(i));
    }
    expectNothingToRead(*again, *r);
}

TEST_F(JournalTest, FsyncAlwaysAcknowledgesAfterTheSyncer)
{
    auto ch = durable({{"kind", "queue"}, {"fsync", "always"}});
    auto w = ch->open(false, true);
    auto res = issueWrite(*ch, *w, "synced\n");
    ASSERT_TRUE(res->waitDone());
    EXPECT_EQ(res->get().acceptedBytes, 7u);
    auto again = reopen({{"kind", "queue"}});
    auto r = again->open(true, false);
    EXPECT_EQ(drain(*again, *r), "synced\n");
}

// A Syncable whose sync() waits until it is let go.
class HeldSync final : public Syncable {
public:
    int sync() override
    {
        std::unique_lock lock(mu_);
        entered_ = true;
        cv_.notify_all();
        cv_.wait(lock, [this] { return released_; });
        return 0;
    }
    void waitEntered()
    {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [this] { return entered_; });
    }
    void release()
    {
        std::lock_guard g(mu_);
        released_ = true;
        cv_.notify_all();
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    bool entered_ = false;
    bool released_ = false;
};

TEST_F(JournalTest, DrainWaitsForTheAcknowledgementsTheSyncerThreadIsMaking)
{
    // The daemon drains before it ends its session: a write the syncer
    // thread is acknowledging must be answered by the time drain() returns.
    auto held = std::make_shared<HeldSync>();
    auto res = std::make_shared<WriteResult>();
    JournalSyncer::instance().afterSync(held, std::make_unique<FakeWriteWaiter>(res), 5);
    held->waitEntered();  // the syncer thread has taken the ack
    std::thread releaser([held] {
        std::this_thread::sleep_for(100ms);
        held->release();
    });
    JournalSyncer::instance().drain();
    EXPECT_TRUE(res->done()) << "drain() returned while the syncer was still acknowledging";
    releaser.join();
    ASSERT_TRUE(res->waitDone());
    EXPECT_EQ(res->get().acceptedBytes, 5u);
}

TEST_F(JournalTest, TurningDurableOnRecordsWhatIsQueuedAndOffDeletesTheLog)
{
    auto ch = makeChannel({{"kind", "queue"}});
    auto w = ch->open(false, true);
    writeOk(*ch, *w, "before\n");
    Settings s = ch->settings();
    s.durable = true;
    std::shared_ptr<Journal> j;
    RecoveredLog rec;
    std::string why;
    ASSERT_EQ(Journal::open(dir_, s, "t", &j, &rec, &why), 0) << why;
    RecoveredLog none;
    ASSERT_EQ(ch->useStore(std::make_shared<JournalStore>(j, none), true), 0);
    writeOk(*ch, *w, "after\n");
    {
        auto again = reopen({{"kind", "queue"}});
        auto r = again->open(true, false);
        EXPECT_EQ(drain(*again, *r), "before\nafter\n");
    }
    ch->leaveStore()->destroy();
    EXPECT_FALSE(fsys::exists(dir_));
}

TEST_F(JournalTest, KindCannotChangeWhileADurableChannelHoldsMessages)
{
    auto ch = durable({{"kind", "queue"}});
    auto w = ch->open(false, true);
    writeOk(*ch, *w, "x\n");
    ch->release(*w);
    std::string why;
    EXPECT_EQ(ch->changeSetting("kind", "topic", &why), -EBUSY);
    EXPECT_NE(why.find("durable"), std::string::npos) << why;
    auto r = ch->open(true, false);
    EXPECT_EQ(drain(*ch, *r), "x\n");
    ch->release(*r);
    EXPECT_EQ(ch->changeSetting("kind", "topic", &why), 0) << why;
}

}  // namespace
}  // namespace chanfs::test
