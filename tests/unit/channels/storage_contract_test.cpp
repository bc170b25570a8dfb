// The storage seam's contract (channels/core/message_store.h), one suite run
// against every store in the registry (channels/storage/registry.h): append,
// take, put back, drop, order, sequence numbers, what is queued, the
// acknowledgement of a write, and (for durable stores) recovery after a
// reopen. A new store gets all of it by adding its name to kStores.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "channels/core/channel.h"
#include "channels/storage/registry.h"
#include "tests/unit/fakes.h"

namespace chanfs::test {
namespace {

namespace fsys = std::filesystem;

const char *const kStores[] = {"memory", "journal"};

Entry message(std::string_view text)
{
    Entry e;
    e.payload = makePayload(text.data(), text.size());
    e.length = static_cast<uint32_t>(text.size());
    return e;
}

std::string textOf(const Entry &e)
{
    return e.isMark() ? std::string("<mark>") : std::string(e.data(), e.length);
}

std::vector<std::string> queuedTexts(const MessageStore &s)
{
    std::vector<std::string> out;
    for (const Entry &e : s.queued()) out.push_back(textOf(e));
    return out;
}

class StorageContract : public ::testing::TestWithParam<const char *> {
protected:
    void SetUp() override
    {
        backend_ = findStorage(GetParam());
        ASSERT_NE(backend_, nullptr) << GetParam() << " is not registered";
        char tmpl[] = "/tmp/chanfs-store-test.XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        root_ = tmpl;
    }
    void TearDown() override { fsys::remove_all(root_); }

    Settings queueSettings(std::string_view fsync = "never")
    {
        Settings s = settingsOf({{"kind", "queue"}, {"framing", "messages"}, {"fsync", fsync}});
        s.durable = backend_->durable;
        return s;
    }

    // Opens the store on the test's directory; fresh discards what it held.
    std::shared_ptr<MessageStore> open(bool fresh, Settings s, StoreRecovery *rec = nullptr)
    {
        StoreRequest req{root_ + "/ch", s, "contract-test", fresh};
        std::shared_ptr<MessageStore> store;
        std::string why;
        EXPECT_EQ(backend_->open(req, &store, rec, &why), 0) << why;
        if (store) store->configure(s);
        return store;
    }
    std::shared_ptr<MessageStore> open(bool fresh = true) { return open(fresh, queueSettings()); }

    const StorageBackend *backend_ = nullptr;
    std::string root_;
};

TEST_P(StorageContract, IsRegisteredUnderItsName)
{
    auto store = open();
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->name(), GetParam());
    EXPECT_EQ(store->durable(), backend_->durable);
    EXPECT_EQ(store->failure(), 0);
}

TEST_P(StorageContract, AppendKeepsOrderAndNumbersEntries)
{
    auto store = open();
    ASSERT_NE(store, nullptr);
    EXPECT_TRUE(store->queued().empty());
    store->append(message("one"));
    store->append(message("two!"));
    store->append(Entry{});  // a pipe's end-of-stream mark: no bytes, no message
    EXPECT_EQ(queuedTexts(*store), (std::vector<std::string>{"one", "two!", "<mark>"}));
    EXPECT_EQ(store->queued().size(), 3u);
    EXPECT_EQ(store->queued().messages(), 2u);
    EXPECT_EQ(store->queued().bytes(), 7u);
    EXPECT_EQ(store->queued().at(0).seq, 1u);
    EXPECT_EQ(store->queued().at(1).seq, 2u);
    EXPECT_EQ(store->queued().at(2).seq, 3u);
    EXPECT_EQ(store->queued().nextSeq(), 4u);
    EXPECT_EQ(store->flush(), 0);
}

TEST_P(StorageContract, TakeRemovesTheHeadAndPutBackRestoresIt)
{
    auto store = open();
    ASSERT_NE(store, nullptr);
    store->append(message("a"));
    store->append(message("bb"));
    Entry head = store->take();
    EXPECT_EQ(textOf(head), "a");
    EXPECT_EQ(head.seq, 1u);
    EXPECT_EQ(queuedTexts(*store), (std::vector<std::string>{"bb"}));
    EXPECT_EQ(store->queued().bytes(), 2u);
    EXPECT_EQ(store->queued().messages(), 1u);
    store->putBack(std::move(head));
    EXPECT_EQ(queuedTexts(*store), (std::vector<std::string>{"a", "bb"}));
    EXPECT_EQ(store->queued().front().seq, 1u);
    EXPECT_EQ(store->queued().bytes(), 3u);
    // Numbering goes on after the highest number handed out.
    store->append(message("c"));
    EXPECT_EQ(store->queued().at(2).seq, 3u);
}

TEST_P(StorageContract, PartialTakesOfTheHeadAreGivenBack)
{
    auto store = open();
    ASSERT_NE(store, nullptr);
    store->append(message("abcdef"));
    store->takeBytes(4);
    EXPECT_EQ(textOf(store->queued().front()), "ef");
    EXPECT_EQ(store->queued().bytes(), 2u);
    EXPECT_EQ(store->queued().messages(), 1u);
    store->putBackBytes(4);
    EXPECT_EQ(textOf(store->queued().front()), "abcdef");
    EXPECT_EQ(store->queued().bytes(), 6u);
}

TEST_P(StorageContract, DropTakesAnyEntryAndKeepsTheRestInOrder)
{
    auto store = open();
    ASSERT_NE(store, nullptr);
    for (const char *t : {"1", "22", "333"}) store->append(message(t));
    const Entry dropped = store->takeAt(1);
    EXPECT_EQ(textOf(dropped), "22");
    const uint64_t seq = dropped.seq;
    store->consumed(std::span<const uint64_t>(&seq, 1));
    EXPECT_EQ(store->flush(), 0);
    EXPECT_EQ(queuedTexts(*store), (std::vector<std::string>{"1", "333"}));
    EXPECT_EQ(store->queued().bytes(), 4u);
    EXPECT_EQ(store->queued().messages(), 2u);
}

TEST_P(StorageContract, RenumberMakesSequenceNumbersContiguousAndDropsMarks)
{
    auto store = open();
    ASSERT_NE(store, nullptr);
    store->append(message("x"));
    store->append(Entry{});
    store->append(message("y"));
    store->takeAt(0);
    store->renumber();
    EXPECT_EQ(queuedTexts(*store), (std::vector<std::string>{"y"}));
    EXPECT_EQ(store->queued().front().seq + 1, store->queued().nextSeq());
}

TEST_P(StorageContract, AWriteIsAcknowledgedExactlyOnce)
{
    for (const char *fsync : {"never", "batch", "always"}) {
        SCOPED_TRACE(fsync);
        auto store = open(true, queueSettings(fsync));
        ASSERT_NE(store, nullptr);
        store->append(message("kept"));
        ASSERT_EQ(store->flush(), 0);
        // fsync=always is the only policy that parks the reply, and only a
        // durable store has a disk to wait for.
        EXPECT_EQ(store->acknowledgesAfterSync(),
                  backend_->durable && std::string_view(fsync) == "always");
        auto r = std::make_shared<WriteResult>();
        store->acknowledgeAfterSync(std::make_unique<FakeWriteWaiter>(r), 4);
        ASSERT_TRUE(r->waitDone());
        const WriteOutcome out = r->get();
        EXPECT_EQ(out.completions, 1);
        EXPECT_EQ(out.dones, 1) << "error " << out.error;
        EXPECT_EQ(out.acceptedBytes, 4u);
        store->destroy();
    }
}

TEST_P(StorageContract, ReopenRecoversWhatWasNotConsumedIfDurable)
{
    {
        auto store = open();
        ASSERT_NE(store, nullptr);
        for (const char *t : {"first", "second", "third"}) store->append(message(t));
        ASSERT_EQ(store->flush(), 0);
        const Entry taken = store->take();
        const uint64_t seq = taken.seq;
        store->consumed(std::span<const uint64_t>(&seq, 1));  // its reply succeeded
        store->take();  // taken, but its reply never succeeded: still kept
        ASSERT_EQ(store->flush(), 0);
    }
    StoreRecovery rec;
    auto again = open(false, queueSettings(), &rec);
    ASSERT_NE(again, nullptr);
    if (!backend_->durable) {
        EXPECT_TRUE(again->queued().empty());
        EXPECT_EQ(rec.entries, 0u);
        return;
    }
    EXPECT_EQ(queuedTexts(*again), (std::vector<std::string>{"second", "third"}));
    EXPECT_EQ(rec.entries, 2u);
    EXPECT_EQ(again->queued().front().seq, 2u);
    again->append(message("fourth"));
    EXPECT_EQ(again->queued().at(2).seq, 4u) << "numbering must continue after a restart";
    ASSERT_EQ(again->flush(), 0);
    auto third = open(false, queueSettings());
    ASSERT_NE(third, nullptr);
    EXPECT_EQ(queuedTexts(*third), (std::vector<std::string>{"second", "third", "fourth"}));
}

TEST_P(StorageContract, FreshOpenAndDestroyForgetWhatWasKept)
{
    {
        auto store = open();
        ASSERT_NE(store, nullptr);
        store->append(message("old"));
        ASSERT_EQ(store->flush(), 0);
    }
    auto fresh = open(true);
    ASSERT_NE(fresh, nullptr);
    EXPECT_TRUE(fresh->queued().empty());
    fresh->append(message("new"));
    ASSERT_EQ(fresh->flush(), 0);
    fresh->destroy();
    EXPECT_FALSE(fsys::exists(root_ + "/ch")) << "destroy() must delete what the store kept";
    // The queued image stays usable after destroy().
    EXPECT_EQ(queuedTexts(*fresh), (std::vector<std::string>{"new"}));
    auto after = open(false);
    ASSERT_NE(after, nullptr);
    EXPECT_TRUE(after->queued().empty());
}

// Through a channel: what it queued moves into the store, reads consume
// from it, and a reader whose reply failed loses nothing.
TEST_P(StorageContract, AChannelMovesIntoTheStoreAndBackWithItsMessages)
{
    Settings s = queueSettings();
    auto ch = Channel::create(s, "contract-test");
    auto w = ch->open(false, true);
    writeOk(*ch, *w, "before");
    auto store = open(true, s);
    ASSERT_NE(store, nullptr);
    ASSERT_EQ(ch->useStore(store, true), 0);
    EXPECT_EQ(ch->messageStore()->name(), GetParam());
    writeOk(*ch, *w, "after");
    EXPECT_EQ(queuedTexts(*store), (std::vector<std::string>{"before", "after"}));
    auto r = ch->open(true, false);
    const ReadOutcome failed = readNow(*ch, *r, 100, {.deliverRc = -ENOENT});
    EXPECT_EQ(failed.rejectedData, "before");
    EXPECT_EQ(readData(*ch, *r), "before") << "a failed reply must put its message back";
    if (backend_->durable) {
        auto reopened = open(false, s);
        ASSERT_NE(reopened, nullptr);
        EXPECT_EQ(queuedTexts(*reopened), (std::vector<std::string>{"after"}));
    }
    auto left = ch->leaveStore();
    EXPECT_EQ(left, store);
    EXPECT_EQ(ch->messageStore()->name(), "memory");
    EXPECT_EQ(readData(*ch, *r), "after") << "leaving a store keeps what is queued";
    left->destroy();
    ch->release(*r);
    ch->release(*w);
}

INSTANTIATE_TEST_SUITE_P(Stores, StorageContract, ::testing::ValuesIn(kStores),
                         [](const auto &info) { return std::string(info.param); });

TEST(StorageRegistry, DurableMeansTheJournal)
{
    Settings s;
    EXPECT_EQ(storageFor(s).name, "memory");
    EXPECT_FALSE(storageFor(s).durable);
    s.durable = true;
    EXPECT_EQ(storageFor(s).name, "journal");
    EXPECT_TRUE(storageFor(s).durable);
    EXPECT_EQ(findStorage("no-such-store"), nullptr);
}

}  // namespace
}  // namespace chanfs::test
