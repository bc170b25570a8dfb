// The storage seam's contract (channels/core/message_store.h), one suite run
// against every store in the registry (channels/storage/registry.h): append,
// take, put back, drop, order, sequence numbers, what is queued, the
// acknowledgement of a write, and (for durable stores) recovery after a
// reopen. A new store gets all of it by adding its name to kStores.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <future>
#include <set>
#include <memory>
#include <string>
#include <vector>

#include "channels/core/channel.h"
#include "channels/storage/nats/nats_link.h"
#include "channels/storage/registry.h"
#include "tests/unit/fakes.h"
#include "tests/unit/nats_server.h"

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

// ---- The NATS store (backend=nats): the same promises through a channel,
// against a nats-server the suite starts (tests/unit/nats_server.h). Its
// queued image holds only what came back from the stream, so the contract
// is checked where it shows: what a write's reply waits for, what readers
// get, what a failed reply gives back, and two channels on one subject
// standing for two hosts.
namespace chanfs::test {
namespace {

class NatsContract : public ::testing::Test {
protected:
    static void SetUpTestSuite()
    {
        server_ = new NatsServer();
        ASSERT_TRUE(server_->start()) << "nats-server did not start";
    }
    static void TearDownTestSuite()
    {
        delete server_;
        server_ = nullptr;
    }
    void SetUp() override
    {
        ASSERT_NE(server_, nullptr);
        NatsConfig cfg;
        cfg.servers = {server_->url()};
        std::string why;
        ASSERT_EQ(NatsLink::open(cfg, &link_, &why), 0) << why;
        ASSERT_TRUE(eventually([&] { return link_->connected(); })) << link_->lastError();
        setNatsLink(link_);
        label_ = std::string("/unit/") +
                 ::testing::UnitTest::GetInstance()->current_test_info()->name();
    }
    void TearDown() override
    {
        for (auto &[ch, h] : handles_) ch->release(*h);
        handles_.clear();
        channels_.clear();
        setNatsLink(nullptr);
        if (link_) link_->close();
    }

    // A NATS-backed channel named label_ (two of them: two hosts).
    std::shared_ptr<Channel> natsChannel(SettingList kv)
    {
        Settings s = settingsOf(kv);
        std::string why;
        EXPECT_EQ(applySetting(&s, "backend", "nats", &why), 0) << why;
        auto ch = Channel::create(s, label_);
        StoreRequest req{"", s, label_, true};
        std::shared_ptr<MessageStore> store;
        EXPECT_EQ(findStorage("nats")->open(req, &store, nullptr, &why), 0) << why;
        if (!store) return ch;
        EXPECT_EQ(ch->useStore(store, true), 0);
        channels_.push_back(ch);
        return ch;
    }
    std::shared_ptr<Handle> openOn(const std::shared_ptr<Channel> &ch, bool reads, bool writes)
    {
        auto h = ch->open(reads, writes);
        handles_.emplace_back(ch, h);
        return h;
    }
    static std::string stat(const Channel &ch, std::string_view name)
    {
        for (const auto &[k, v] : ch.stats().storeStats)
            if (k == name) return v;
        return "<none>";
    }
    bool ready(const Channel &ch) { return stat(ch, "nats_connected") == "1"; }
    // Writes and waits for JetStream's acknowledgement (the write's reply).
    void writeAcked(Channel &ch, Handle &w, std::string_view data)
    {
        auto r = issueWrite(ch, w, data);
        ASSERT_TRUE(r->waitDone(std::chrono::seconds(10))) << "no acknowledgement";
        EXPECT_EQ(r->get().dones, 1) << "error " << r->get().error;
        EXPECT_EQ(r->get().acceptedBytes, data.size());
    }
    std::string readWait(Channel &ch, Handle &r)
    {
        auto res = issueRead(ch, r, 1 << 20);
        EXPECT_TRUE(res->waitDone(std::chrono::seconds(10))) << "nothing came";
        return res->get().data;
    }

    static NatsServer *server_;
    std::shared_ptr<NatsLink> link_;
    std::string label_;
    std::vector<std::shared_ptr<Channel>> channels_;
    std::vector<std::pair<std::shared_ptr<Channel>, std::shared_ptr<Handle>>> handles_;
};

NatsServer *NatsContract::server_ = nullptr;

TEST_F(NatsContract, IsRegisteredAndKeepsMessagesElsewhere)
{
    const StorageBackend *b = findStorage("nats");
    ASSERT_NE(b, nullptr);
    EXPECT_FALSE(b->durable) << "needs no state directory";
    Settings s = settingsOf({{"kind", "queue"}, {"backend", "nats"}});
    EXPECT_EQ(storageFor(s).name, "nats");
    auto ch = natsChannel({{"kind", "queue"}});
    auto store = ch->messageStore();
    EXPECT_EQ(store->name(), "nats");
    EXPECT_TRUE(store->remote());
    EXPECT_TRUE(store->acknowledgesAfterSync()) << "fsync settings do not apply: always acked";
    EXPECT_EQ(stat(*ch, "backend"), "nats");
}

TEST_F(NatsContract, AWriteIsAnsweredOnceJetStreamAckedIt)
{
    auto ch = natsChannel({{"kind", "queue"}, {"framing", "lines"}});
    ASSERT_TRUE(eventually([&] { return ready(*ch); }));
    auto w = openOn(ch, false, true);
    writeAcked(*ch, *w, "one\ntwo\n");
    EXPECT_EQ(stat(*ch, "nats_pending"), "0");
    auto r = openOn(ch, true, false);
    EXPECT_EQ(readWait(*ch, *r), "one\n");
    EXPECT_EQ(readWait(*ch, *r), "two\n");
}

TEST_F(NatsContract, AFailedReplyPutsTheMessageBack)
{
    auto ch = natsChannel({{"kind", "queue"}, {"framing", "lines"}});
    ASSERT_TRUE(eventually([&] { return ready(*ch); }));
    auto w = openOn(ch, false, true);
    writeAcked(*ch, *w, "job\n");
    auto r = openOn(ch, true, false);
    auto failed = issueRead(*ch, *r, 100, {.deliverRc = -ENOENT});
    ASSERT_TRUE(failed->waitDone(std::chrono::seconds(10)));
    EXPECT_EQ(failed->get().rejectedData, "job\n");
    EXPECT_EQ(readWait(*ch, *r), "job\n") << "a failed reply must put its message back";
}

TEST_F(NatsContract, AQueueGivesEachMessageToOneHost)
{
    auto a = natsChannel({{"kind", "queue"}, {"framing", "lines"}});
    auto b = natsChannel({{"kind", "queue"}, {"framing", "lines"}});
    ASSERT_TRUE(eventually([&] { return ready(*a) && ready(*b); }));
    auto ra = openOn(a, true, false), rb = openOn(b, true, false);
    auto wa = openOn(a, false, true), wb = openOn(b, false, true);
    constexpr size_t kN = 200;
    // Both hosts' readers wait all along; each message goes to one of them.
    auto x = issueRead(*a, *ra, 100), y = issueRead(*b, *rb, 100);
    std::vector<std::shared_ptr<WriteResult>> writes;
    for (size_t i = 0; i < kN; ++i)
        writes.push_back(
            issueWrite(i % 2 ? *a : *b, i % 2 ? *wa : *wb, std::to_string(i) + "\n"));
    std::multiset<std::string> got;
    size_t onA = 0;
    EXPECT_TRUE(eventually([&] {
        if (x->done()) {
            got.insert(x->get().data);
            ++onA;
            x = issueRead(*a, *ra, 100);
        }
        if (y->done()) {
            got.insert(y->get().data);
            y = issueRead(*b, *rb, 100);
        }
        return got.size() >= kN;
    }));
    for (auto &wr : writes) EXPECT_TRUE(wr->waitDone(std::chrono::seconds(10)));
    EXPECT_EQ(got.size(), kN);
    std::set<std::string> unique(got.begin(), got.end());
    EXPECT_EQ(unique.size(), got.size()) << "a message came twice";
    for (size_t i = 0; i < kN; ++i) EXPECT_EQ(unique.count(std::to_string(i) + "\n"), 1u) << i;
    x->interrupt = true;
    y->interrupt = true;
    a->cancel(x->key);
    b->cancel(y->key);
}

// Fetch ahead and its give-back (nats_store.cpp readersWaiting, giveBack):
// a reader's pull brings more than it waits for, kept queued for the local
// readers; when the last of them closes, what they did not take goes back
// to the stream at once (NAK) and another host's reader gets each message
// exactly once, long before the ack wait.
TEST_F(NatsContract, FetchedAheadIsGivenBackWhenTheLastReaderCloses)
{
    auto a = natsChannel({{"kind", "queue"}, {"framing", "lines"}});
    auto b = natsChannel({{"kind", "queue"}, {"framing", "lines"}});
    ASSERT_TRUE(eventually([&] { return ready(*a) && ready(*b); }));
    auto w = openOn(a, false, true);
    constexpr int kN = 10;
    for (int i = 0; i < kN; ++i) writeAcked(*a, *w, "job " + std::to_string(i) + "\n");
    auto ra = a->open(true, false);
    std::multiset<std::string> got;
    got.insert(readWait(*a, *ra));
    got.insert(readWait(*a, *ra));
    ASSERT_TRUE(eventually([&] { return a->stats().queuedMessages == kN - 2; }))
        << "the second pull fetches ahead what is left: " << a->stats().queuedMessages;
    a->release(*ra);
    EXPECT_EQ(a->stats().queuedMessages, 0u) << "given back when the last reader closed";
    auto rb = openOn(b, true, false);
    for (int i = 2; i < kN; ++i) {
        auto res = issueRead(*b, *rb, 100);
        ASSERT_TRUE(res->waitDone(std::chrono::seconds(10))) << "message " << i << " not given back";
        got.insert(res->get().data);
    }
    std::multiset<std::string> want;
    for (int i = 0; i < kN; ++i) want.insert("job " + std::to_string(i) + "\n");
    EXPECT_EQ(got, want) << "each message exactly once, none lost";
    auto none = issueRead(*b, *rb, 100, {.nonblock = true});
    EXPECT_EQ(none->get().error, EAGAIN) << "a message came twice: " << none->get().data;
}

TEST_F(NatsContract, ATopicShowsBothHostsOneOrder)
{
    auto a = natsChannel({{"kind", "topic"}, {"framing", "lines"}});
    auto b = natsChannel({{"kind", "topic"}, {"framing", "lines"}});
    ASSERT_TRUE(eventually([&] { return ready(*a) && ready(*b); }));
    auto ra = openOn(a, true, false), rb = openOn(b, true, false);
    auto wa = openOn(a, false, true), wb = openOn(b, false, true);
    std::vector<std::shared_ptr<WriteResult>> writes;
    for (int i = 0; i < 50; ++i)
        writes.push_back(issueWrite(i % 2 ? *a : *b, i % 2 ? *wa : *wb,
                                    std::to_string(i) + "\n"));
    for (auto &wr : writes) ASSERT_TRUE(wr->waitDone(std::chrono::seconds(10)));
    std::string seenA, seenB;
    ASSERT_TRUE(eventually([&] {
        seenA += issueRead(*a, *ra, 1 << 20, {.nonblock = true})->get().data;
        seenB += issueRead(*b, *rb, 1 << 20, {.nonblock = true})->get().data;
        return std::count(seenA.begin(), seenA.end(), '\n') == 50 &&
               std::count(seenB.begin(), seenB.end(), '\n') == 50;
    }));
    EXPECT_EQ(seenA, seenB) << "one global order on every host";
}

TEST_F(NatsContract, AMessageOverTheServersPayloadIsRefused)
{
    auto ch = natsChannel({{"kind", "queue"}, {"framing", "messages"}});
    ASSERT_TRUE(eventually([&] { return ready(*ch); }));
    ASSERT_GT(link_->maxPayload(), 0);
    EXPECT_LE(ch->messageStore()->maxMessage(), static_cast<uint64_t>(link_->maxPayload()));
    auto w = openOn(ch, false, true);
    const std::string big(static_cast<size_t>(link_->maxPayload()), 'x');
    const WriteOutcome out = writeNow(*ch, *w, big);
    EXPECT_EQ(out.error, EMSGSIZE);
}

TEST_F(NatsContract, APipeCannotUseNats)
{
    Settings s;
    std::string why;
    EXPECT_EQ(applySetting(&s, "backend", "nats", &why), -EINVAL);
    EXPECT_NE(why.find("queue or topic"), std::string::npos) << why;
    EXPECT_EQ(applySetting(&s, "kind", "queue", &why), 0);
    EXPECT_EQ(applySetting(&s, "backend", "nats", &why), 0);
    EXPECT_EQ(applySetting(&s, "replicas", "2", &why), -EINVAL);
    EXPECT_EQ(applySetting(&s, "durable", "1", &why), 0) << "durable=1 is backend=journal";
    EXPECT_EQ(*formatSetting(s, "backend"), "journal");
}

TEST_F(NatsContract, WithoutALinkBackendNatsIsRefused)
{
    setNatsLink(nullptr);
    Settings s = settingsOf({{"kind", "queue"}, {"backend", "nats"}});
    StoreRequest req{"", s, label_, true};
    std::shared_ptr<MessageStore> store;
    std::string why;
    EXPECT_EQ(findStorage("nats")->open(req, &store, nullptr, &why), -EINVAL);
    EXPECT_NE(why.find("-o nats="), std::string::npos) << why;
}

TEST_F(NatsContract, MoreReplicasThanServersAreRefused)
{
    Settings s = settingsOf({{"kind", "queue"}, {"backend", "nats"}, {"replicas", "3"}});
    StoreRequest req{"", s, label_, true};
    std::shared_ptr<MessageStore> store;
    std::string why;
    EXPECT_EQ(findStorage("nats")->open(req, &store, nullptr, &why), -EINVAL);
    EXPECT_NE(why.find("replicas=3"), std::string::npos) << why;
}

// What a directory default of backend=nats is checked against (no store
// opens for it): the link, and the cluster size once the link knows it.
TEST_F(NatsContract, TheDirectoryCheckKnowsTheLinkAndTheClusterSize)
{
    ASSERT_TRUE(eventually([&] { return link_->clusterSize() > 0; }));
    std::string why;
    EXPECT_EQ(checkNatsWanted(0, &why), 0) << why;
    EXPECT_EQ(checkNatsWanted(1, &why), 0) << why;
    EXPECT_EQ(checkNatsWanted(3, &why), -EINVAL);
    EXPECT_NE(why.find("replicas=3 but the NATS cluster has 1 server"), std::string::npos) << why;
    setNatsLink(nullptr);
    EXPECT_EQ(checkNatsWanted(1, &why), -EINVAL);
    EXPECT_NE(why.find("-o nats="), std::string::npos) << why;
}

// max_message as the channel reports it is what writes are held to: lines'
// 1 MiB, clamped under the server's 1 MiB max payload.
TEST_F(NatsContract, MaxMessageShowsTheServersClamp)
{
    auto ch = natsChannel({{"kind", "queue"}, {"framing", "lines"}});
    ASSERT_TRUE(eventually([&] { return ready(*ch); }));
    ASSERT_GT(link_->maxPayload(), 0);
    EXPECT_EQ(ch->settings().maxMessageBytes, 1048576u) << "the setting is kept";
    EXPECT_LT(ch->maxMessage(), static_cast<uint64_t>(link_->maxPayload()));
    EXPECT_EQ(ch->maxMessage(), ch->messageStore()->maxMessage());
}

// rm (destroy()): the queue's consumer and the channel's messages leave the
// stream, so a channel made again with the name starts empty.
TEST_F(NatsContract, AQueueMadeAgainAfterRmHasNoneOfTheOldMessages)
{
    auto old = natsChannel({{"kind", "queue"}, {"framing", "lines"}});
    ASSERT_TRUE(eventually([&] { return ready(*old); }));
    auto w = openOn(old, false, true);
    writeAcked(*old, *w, "old\n");
    old->leaveStore()->destroy();
    old->detach();
    auto again = natsChannel({{"kind", "queue"}, {"framing", "lines"}});
    ASSERT_TRUE(eventually([&] { return ready(*again); }));
    auto w2 = openOn(again, false, true);
    writeAcked(*again, *w2, "new\n");
    auto r = openOn(again, true, false);
    EXPECT_EQ(readWait(*again, *r), "new\n") << "the removed channel's message came back";
}

TEST_F(NatsContract, ATopicMadeAgainAfterRmReplaysNoneOfTheOldMessages)
{
    auto old = natsChannel({{"kind", "topic"}, {"framing", "lines"}, {"replay", "10"}});
    ASSERT_TRUE(eventually([&] { return ready(*old); }));
    auto w = openOn(old, false, true);
    writeAcked(*old, *w, "old\n");
    old->leaveStore()->destroy();
    old->detach();
    auto again = natsChannel({{"kind", "topic"}, {"framing", "lines"}, {"replay", "10"}});
    ASSERT_TRUE(eventually([&] { return ready(*again); }));
    auto r = openOn(again, true, false);
    auto w2 = openOn(again, false, true);
    writeAcked(*again, *w2, "new\n");
    EXPECT_EQ(readWait(*again, *r), "new\n") << "the removed channel's message was replayed";
}

// Another host's rm while this host's reader is parked: the reader gets
// end-of-stream (as after a local rm), it does not wait forever.
TEST_F(NatsContract, AParkedReaderOnAnotherHostEndsWhenTheChannelIsRemoved)
{
    auto a = natsChannel({{"kind", "queue"}, {"framing", "lines"}});
    auto b = natsChannel({{"kind", "queue"}, {"framing", "lines"}});
    ASSERT_TRUE(eventually([&] { return ready(*a) && ready(*b); }));
    auto rb = openOn(b, true, false);
    auto parked = issueRead(*b, *rb, 100);
    a->leaveStore()->destroy();
    a->detach();
    const bool ended = parked->waitDone(std::chrono::seconds(10));
    EXPECT_TRUE(ended) << "the reader on the other host still waits";
    if (ended) {
        EXPECT_TRUE(parked->get().eof) << "got \"" << parked->get().data << "\"";
    } else {
        parked->interrupt = true;
        b->cancel(parked->key);
    }
}

// The cluster down: a write beyond capacity follows overflow at once, one
// that fits is held and answered once the cluster is back.
TEST(NatsLinkDown, WritesAreHeldUpToCapacityThenFollowOverflow)
{
    NatsServer server;
    NatsConfig cfg;
    cfg.servers = {server.url()};
    std::shared_ptr<NatsLink> link;
    std::string why;
    ASSERT_EQ(NatsLink::open(cfg, &link, &why), 0) << why;  // nothing listens yet
    setNatsLink(link);
    Settings s = settingsOf({{"kind", "queue"},
                             {"framing", "lines"},
                             {"capacity", "4096"},
                             {"overflow", "error"},
                             {"backend", "nats"}});
    auto ch = Channel::create(s, "/unit/down");
    StoreRequest req{"", s, "/unit/down", true};
    std::shared_ptr<MessageStore> store;
    ASSERT_EQ(findStorage("nats")->open(req, &store, nullptr, &why), 0) << why;
    ASSERT_EQ(ch->useStore(store, true), 0);
    auto w = ch->open(false, true);
    const WriteOutcome big = writeNow(*ch, *w, std::string(4999, 'b') + "\n");
    EXPECT_EQ(big.error, ENOBUFS) << "must not park with the cluster down";
    auto held = issueWrite(*ch, *w, "hello\n");
    EXPECT_FALSE(held->done()) << "answered before JetStream acknowledged it";
    std::string pending;
    for (const auto &[k, v] : ch->stats().storeStats)
        if (k == "nats_pending") pending = v;
    EXPECT_EQ(pending, "1");
    ASSERT_TRUE(server.start());
    ASSERT_TRUE(held->waitDone(std::chrono::seconds(15))) << "not answered after recovery";
    EXPECT_EQ(held->get().dones, 1);
    auto r = ch->open(true, false);
    auto res = issueRead(*ch, *r, 100);
    ASSERT_TRUE(res->waitDone(std::chrono::seconds(10)));
    EXPECT_EQ(res->get().data, "hello\n");
    ch->release(*r);
    ch->release(*w);
    setNatsLink(nullptr);
    link->close();
}

// A read waiting with the cluster down stays interruptible.
TEST(NatsLinkDown, AParkedReadCanBeInterrupted)
{
    NatsServer server;
    NatsConfig cfg;
    cfg.servers = {server.url()};
    std::shared_ptr<NatsLink> link;
    std::string why;
    ASSERT_EQ(NatsLink::open(cfg, &link, &why), 0) << why;
    setNatsLink(link);
    Settings s = settingsOf({{"kind", "queue"}, {"backend", "nats"}});
    auto ch = Channel::create(s, "/unit/down-read");
    StoreRequest req{"", s, "/unit/down-read", true};
    std::shared_ptr<MessageStore> store;
    ASSERT_EQ(findStorage("nats")->open(req, &store, nullptr, &why), 0) << why;
    ASSERT_EQ(ch->useStore(store, true), 0);
    auto r = ch->open(true, false);
    auto res = issueRead(*ch, *r, 100);
    EXPECT_FALSE(res->done());
    res->interrupt = true;
    EXPECT_TRUE(ch->cancel(res->key));
    ASSERT_TRUE(res->waitDone(std::chrono::seconds(2)));
    EXPECT_EQ(res->get().error, EINTR);
    ch->release(*r);
    setNatsLink(nullptr);
    link->close();
}

// ---- Group commit (nats_store.cpp sendOutbox): writes made while earlier
// ones wait for JetStream travel together in one pack, and each write is
// answered only once the pack carrying it was acknowledged.
class NatsGroupCommit : public ::testing::Test {
protected:
    void SetUp() override
    {
        ASSERT_TRUE(server_.start()) << "nats-server did not start";
        NatsConfig cfg;
        cfg.servers = {server_.url()};
        std::string why;
        ASSERT_EQ(NatsLink::open(cfg, &link_, &why), 0) << why;
        ASSERT_TRUE(eventually([&] { return link_->connected(); })) << link_->lastError();
        setNatsLink(link_);
        Settings s = settingsOf({{"kind", "queue"}, {"framing", "lines"}, {"backend", "nats"}});
        ch_ = Channel::create(s, "/unit/group");
        StoreRequest req{"", s, "/unit/group", true};
        std::shared_ptr<MessageStore> store;
        ASSERT_EQ(findStorage("nats")->open(req, &store, nullptr, &why), 0) << why;
        ASSERT_EQ(ch_->useStore(store, true), 0);
        ASSERT_TRUE(eventually([&] { return stat("nats_connected") == "1"; }));
    }
    void TearDown() override
    {
        for (auto &h : handles_) ch_->release(*h);
        handles_.clear();
        ch_.reset();
        setNatsLink(nullptr);
        if (link_) link_->close();
    }
    std::string stat(std::string_view name) const
    {
        for (const auto &[k, v] : ch_->stats().storeStats)
            if (k == name) return v;
        return "<none>";
    }
    Handle &open(bool reads, bool writes)
    {
        handles_.push_back(ch_->open(reads, writes));
        return *handles_.back();
    }
    // The server's one stream (this test's own server): its name, and how
    // many NATS messages it holds.
    std::string streamName()
    {
        std::string reply, why;
        EXPECT_EQ(link_->apiRequest("$JS.API.STREAM.NAMES", "{}", &reply, &why), 0) << why;
        return jsonString(reply, "streams");
    }
    int64_t natsMessagesInStream()
    {
        std::string reply, why;
        EXPECT_EQ(link_->apiRequest("$JS.API.STREAM.INFO." + streamName(), "", &reply, &why), 0)
            << why;
        return jsonInt(reply, "messages");
    }
    // Every line one reader gets until none is left.
    std::multiset<std::string> readAll(size_t expect)
    {
        Handle &r = open(true, false);
        std::multiset<std::string> got;
        while (got.size() < expect) {
            auto res = issueRead(*ch_, r, 100);
            if (!res->waitDone(std::chrono::seconds(10))) {
                res->interrupt = true;
                ch_->cancel(res->key);
                break;
            }
            got.insert(res->get().data);
        }
        return got;
    }

    NatsServer server_;
    std::shared_ptr<NatsLink> link_;
    std::shared_ptr<Channel> ch_;
    std::vector<std::shared_ptr<Handle>> handles_;
};

TEST_F(NatsGroupCommit, WritesHeldMeanwhileGoOutAsOnePackAndAreAnsweredAfterItsAck)
{
    // The cluster away: eight writers' writes wait in the outbox.
    server_.stop();
    ASSERT_TRUE(eventually([&] { return !link_->connected(); }));
    constexpr int kWriters = 8;
    std::vector<std::shared_ptr<WriteResult>> writes;
    std::vector<std::string> lines;
    for (int i = 0; i < kWriters; ++i) {
        lines.push_back("writer " + std::to_string(i) + "\n");
        writes.push_back(issueWrite(*ch_, open(false, true), lines.back()));
    }
    for (auto &w : writes) EXPECT_FALSE(w->done()) << "answered before JetStream acknowledged it";
    ASSERT_TRUE(server_.start());
    for (int i = 0; i < kWriters; ++i) {
        ASSERT_TRUE(writes[i]->waitDone(std::chrono::seconds(15))) << "writer " << i;
        EXPECT_EQ(writes[i]->get().dones, 1) << "writer " << i << " error " << writes[i]->get().error;
        EXPECT_EQ(writes[i]->get().acceptedBytes, lines[i].size());
    }
    EXPECT_EQ(stat("nats_pending"), "0");
    EXPECT_EQ(natsMessagesInStream(), 1) << "the eight writes gathered must go out as one pack";
    const std::multiset<std::string> got = readAll(kWriters);
    EXPECT_EQ(got, std::multiset<std::string>(lines.begin(), lines.end()))
        << "each write's message exactly once";
}

TEST_F(NatsGroupCommit, AFailedPackIsRetriedAndEveryWriterInItAnsweredOnce)
{
    // The stream gone under the channel: every publish fails until the
    // channel sets it up again (after the reconnect below).
    const std::string stream = streamName();
    ASSERT_FALSE(stream.empty());
    std::string reply, why;
    ASSERT_EQ(link_->apiRequest("$JS.API.STREAM.DELETE." + stream, "", &reply, &why), 0) << why;
    constexpr int kWriters = 8;
    std::vector<std::shared_ptr<WriteResult>> writes;
    std::vector<std::string> lines;
    for (int i = 0; i < kWriters; ++i) {
        lines.push_back("retried " + std::to_string(i) + "\n");
        writes.push_back(issueWrite(*ch_, open(false, true), lines.back()));
    }
    ASSERT_TRUE(eventually([&] { return !stat("nats_error").empty(); }))
        << "a publish that failed shows in stats.nats_error";
    for (auto &w : writes) EXPECT_FALSE(w->done()) << "a write answered though its pack failed";
    server_.stop();
    ASSERT_TRUE(eventually([&] { return !link_->connected(); }));
    ASSERT_TRUE(server_.start());
    for (int i = 0; i < kWriters; ++i) {
        ASSERT_TRUE(writes[i]->waitDone(std::chrono::seconds(15))) << "writer " << i;
        EXPECT_EQ(writes[i]->get().dones, 1) << "writer " << i << " error " << writes[i]->get().error;
        EXPECT_EQ(writes[i]->get().acceptedBytes, lines[i].size());
    }
    EXPECT_TRUE(eventually([&] { return stat("nats_error").empty(); })) << stat("nats_error");
    const std::multiset<std::string> got = readAll(kWriters);
    EXPECT_EQ(got, std::multiset<std::string>(lines.begin(), lines.end()))
        << "each write's message exactly once";
}

}  // namespace
}  // namespace chanfs::test

// ---- The link (nats_link.h): what open() checks, and that it never waits
// for the network.
namespace chanfs::test {
namespace {

TEST(NatsLinkOpen, RefusesABadUrl)
{
    for (const char *url : {"http://x:4222", "nats://", "nats://h:0", "nats://h:99999",
                            "nats://user:pw@h:4222", "nats://h:port"}) {
        SCOPED_TRACE(url);
        NatsConfig cfg;
        cfg.servers = {url};
        std::shared_ptr<NatsLink> link;
        std::string why;
        EXPECT_EQ(NatsLink::open(cfg, &link, &why), -EINVAL);
        EXPECT_FALSE(why.empty());
        EXPECT_EQ(link, nullptr);
    }
    EXPECT_EQ(checkNatsUrl("nats://n1:4222"), "");
    EXPECT_EQ(checkNatsUrl("tls://[::1]:4222"), "");
    EXPECT_NE(checkNatsPrefix("a.b"), "");
}

TEST(NatsLinkOpen, RefusesAMissingCredsFileAndNeverNamesASecret)
{
    NatsConfig cfg;
    cfg.servers = {"nats://127.0.0.1:4222"};
    cfg.credsFile = "/nonexistent/chanfs-test.creds";
    std::shared_ptr<NatsLink> link;
    std::string why;
    EXPECT_EQ(NatsLink::open(cfg, &link, &why), -ENOENT);
    EXPECT_NE(why.find("nats_creds"), std::string::npos) << why;
}

TEST(NatsLinkOpen, ComesUpWithTheServerDownAndConnectsWhenItStarts)
{
    NatsServer server;
    NatsConfig cfg;
    cfg.servers = {server.url()};
    std::shared_ptr<NatsLink> link;
    std::string why;
    const auto t0 = std::chrono::steady_clock::now();
    ASSERT_EQ(NatsLink::open(cfg, &link, &why), 0) << why;
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(500))
        << "open() waited for the network";
    EXPECT_FALSE(link->connected());
    EXPECT_TRUE(eventually([&] { return !link->lastError().empty(); }));
    std::atomic<int> ups{0};
    link->onStateChange([&](bool up) { ups += up ? 1 : 0; });
    ASSERT_TRUE(server.start());
    EXPECT_TRUE(eventually([&] { return link->connected(); }, std::chrono::seconds(15)));
    EXPECT_GE(ups.load(), 1);
    EXPECT_EQ(link->clusterSize(), 1);
    server.stop();
    EXPECT_TRUE(eventually([&] { return !link->connected(); }, std::chrono::seconds(15)));
    const auto t1 = std::chrono::steady_clock::now();
    link->close();
    EXPECT_LT(std::chrono::steady_clock::now() - t1, std::chrono::seconds(3))
        << "close() with the server down must be bounded";
    EXPECT_EQ(link->post([] {}), false) << "later calls fail fast";
}

}  // namespace
}  // namespace chanfs::test

// ---- Routing on the link: a PubAck reply and a delivery to a store's
// inbox never reach each other's handler.
namespace chanfs::test {
namespace {

TEST(NatsLinkRouting, AJetStreamDeliveryToAnInboxIsNeverTakenForAPubAck)
{
    NatsServer server;
    ASSERT_TRUE(server.start());
    NatsConfig cfg;
    cfg.servers = {server.url()};
    std::shared_ptr<NatsLink> link;
    std::string why;
    ASSERT_EQ(NatsLink::open(cfg, &link, &why), 0) << why;
    ASSERT_TRUE(eventually([&] { return link->connected(); })) << link->lastError();
    natsConnection *c = link->connection();
    // A publish whose PubAck never comes: its subscriber does not answer.
    natsSubscription *raw = nullptr;
    ASSERT_EQ(natsConnection_SubscribeSync(&raw, c, "silent.sink"), NATS_OK);
    nats::SubscriptionPtr silent(raw);
    ASSERT_EQ(natsConnection_Flush(c), NATS_OK);
    auto acked = std::make_shared<std::promise<NatsLink::PubAck>>();
    std::future<NatsLink::PubAck> ack = acked->get_future();
    ASSERT_EQ(link->publish("silent.sink", "x", "", {},
                            [acked](const NatsLink::PubAck &a) { acked->set_value(a); }),
              0);
    natsMsg *m = nullptr;
    ASSERT_EQ(natsSubscription_NextMsg(&m, silent.get(), 10000), NATS_OK);
    nats::MsgPtr sent(m);
    const std::string reply = natsMsg_GetReply(m);  // the ack prefix, then the ticket "1"
    ASSERT_EQ(reply.back(), '1');
    const size_t pre = reply.size() - 1;
    // A stream subject whose bytes from that offset read as the pending
    // ticket, delivered by a push consumer to one of the link's inboxes.
    const std::string subject = "t." + std::string(pre - 2, 'a') + "1";
    std::string out;
    ASSERT_EQ(link->apiRequest("$JS.API.STREAM.CREATE.T",
                               R"({"name":"T","subjects":["t.>"],"storage":"memory"})", &out,
                               &why),
              0)
        << why;
    const std::string inbox = link->newInbox();
    ASSERT_EQ(natsConnection_SubscribeSync(&raw, c, inbox.c_str()), NATS_OK);
    nats::SubscriptionPtr delivered(raw);
    ASSERT_EQ(link->apiRequest("$JS.API.CONSUMER.CREATE.T",
                               R"({"stream_name":"T","config":{"deliver_subject":")" + inbox +
                                   R"(","ack_policy":"none","deliver_policy":"all"}})",
                               &out, &why),
              0)
        << why;
    ASSERT_EQ(natsConnection_PublishString(c, subject.c_str(), "reading"), NATS_OK);
    ASSERT_EQ(natsSubscription_NextMsg(&m, delivered.get(), 10000), NATS_OK);
    nats::MsgPtr got(m);
    EXPECT_EQ(std::string(natsMsg_GetSubject(m)), subject);
    // The publish's outcome is decided once: by its own PubAck, which never
    // comes (a timeout), not by the delivery.
    ASSERT_EQ(ack.wait_for(std::chrono::seconds(15)), std::future_status::ready);
    EXPECT_EQ(ack.get().err, -ETIMEDOUT) << "a delivery to an inbox was taken for a PubAck";
    link->close();
}

}  // namespace
}  // namespace chanfs::test
