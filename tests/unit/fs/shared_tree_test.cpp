// The shared tree (fs/tree/shared_tree.cpp) between two mounts, through an
// in-memory replica that stands for the JetStream key-value bucket: what a
// mount publishes, what the other applies, the order (revisions), conflicts,
// the snapshot, and a replica that is away for a while. The record format
// and key helpers (channels/storage/tree_replica.cpp) too.
#include <gtest/gtest.h>

#include <cerrno>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "channels/storage/nats/nats_link.h"
#include "channels/storage/registry.h"
#include "channels/storage/tree_replica.h"
#include "fs/tree/filesystem.h"
#include "fs/tree/node_ops.h"
#include "fs/tree/shared_tree.h"

namespace chanfs::fs {
namespace {

// The bucket: every stored record in revision order (history kept for the
// watchers), the latest per path for snapshots.
struct FakeBucket {
    std::vector<std::pair<uint64_t, TreeNodeRecord>> log;
    uint64_t revision = 0;
};

// One mount's replica on the shared bucket. put() queues (as the NATS one
// does); sync() stores what is queued, if "connected", and deliver() hands
// the watcher every stored record it has not seen, as the watch thread
// would. Single-threaded test: no locks.
class FakeReplica : public TreeReplica {
public:
    explicit FakeReplica(std::shared_ptr<FakeBucket> b) : bucket_(std::move(b)) {}
    int put(const TreeNodeRecord &r) override
    {
        if (r.path.empty() || r.path[0] != '/') return -EINVAL;
        outbox_.push_back(r);
        return 0;
    }
    void watch(std::function<void(const TreeChange &)> cb) override
    {
        cb_ = std::move(cb);
        snapshot();
    }
    void close() override { cb_ = nullptr; }
    size_t pending() const override { return outbox_.size(); }

    // Stores the outbox (only while connected), in order.
    void store()
    {
        if (!connected) return;
        for (TreeNodeRecord &r : outbox_) {
            // Through the stored bytes, as the NATS replica would.
            TreeNodeRecord back;
            std::string why;
            EXPECT_EQ(decodeTreeRecord(encodeTreeRecord(r), &back, &why), 0) << why;
            bucket_->log.emplace_back(++bucket_->revision, back);
        }
        outbox_.clear();
    }
    void deliver()
    {
        if (!cb_ || !connected) return;
        for (const auto &[rev, r] : bucket_->log) {
            if (rev <= delivered_) continue;
            delivered_ = rev;
            cb_(TreeChange{TreeChange::Kind::Record, rev, r});
        }
    }
    // A reconnect: the watch starts over with a snapshot.
    void snapshot()
    {
        if (!cb_ || !connected) return;
        std::map<std::string, std::pair<uint64_t, TreeNodeRecord>> latest;
        for (const auto &[rev, r] : bucket_->log) latest[r.path] = {rev, r};
        std::map<uint64_t, TreeNodeRecord> ordered;
        for (const auto &[p, e] : latest) ordered.emplace(e.first, e.second);
        for (const auto &[rev, r] : ordered) cb_(TreeChange{TreeChange::Kind::Record, rev, r});
        delivered_ = bucket_->revision;
        cb_(TreeChange{TreeChange::Kind::SnapshotDone, 0, {}});
    }

    bool connected = true;

private:
    std::shared_ptr<FakeBucket> bucket_;
    std::vector<TreeNodeRecord> outbox_;
    std::function<void(const TreeChange &)> cb_;
    uint64_t delivered_ = 0;
};

// One mount: a Filesystem with a shared tree, and the steps its handlers
// take for each local change.
struct Mount {
    Mount(std::shared_ptr<FakeBucket> b, const std::string &name)
        : fs(Options{}), replica(std::make_shared<FakeReplica>(std::move(b)))
    {
        fs.tree = std::make_shared<SharedTree>(fs, replica, name);
    }
    ~Mount() { fs.tree->stop(); }

    Node *at(const std::string &path)
    {
        Node *cur = fs.inodes.get(FUSE_ROOT_ID);
        size_t pos = 1;
        while (cur && pos < path.size()) {
            size_t end = path.find('/', pos);
            if (end == std::string::npos) end = path.size();
            cur = fs.inodes.child(*cur, path.substr(pos, end - pos));
            pos = end + 1;
        }
        return cur;
    }
    bool exists(const std::string &path)
    {
        std::shared_lock l(fs.inodes.mutex());
        return at(path) != nullptr;
    }
    std::string setting(const std::string &path, const std::string &key)
    {
        std::shared_lock l(fs.inodes.mutex());
        Node *n = at(path);
        if (!n) return "<none>";
        auto v =
            n->isDir ? formatSetting(n->defaults, key) : formatSetting(n->channel->settings(), key);
        return v ? *v : "<unset>";
    }
    std::pair<std::string, std::string> split(const std::string &path)
    {
        const size_t s = path.rfind('/');
        return {s == 0 ? "/" : path.substr(0, s), path.substr(s + 1)};
    }
    void mkdir(const std::string &path)
    {
        std::unique_lock l(fs.inodes.mutex());
        auto [dir, name] = split(path);
        int err = 0;
        Node *n = makeDirNode(fs, *at(dir), name, 0755, 0, 0, &err);
        ASSERT_NE(n, nullptr) << path << ": " << err;
        if (publishing) fs.tree->nodeChanged(*n);
    }
    void create(const std::string &path, const std::string &kind = "queue")
    {
        std::unique_lock l(fs.inodes.mutex());
        auto [dir, name] = split(path);
        Settings s = newChannelSettings(fs, *at(dir));
        std::string why;
        ASSERT_EQ(applySetting(&s, "kind", kind, &why), 0) << why;
        int err = 0;
        Node *n = makeChannelNode(fs, *at(dir), name, 0644, 0, 0, s, &err);
        ASSERT_NE(n, nullptr) << path << ": " << err;
        if (publishing) fs.tree->nodeChanged(*n);
    }
    void setxattr(const std::string &path, const std::string &key, const std::string &value)
    {
        std::unique_lock l(fs.inodes.mutex());
        Node *n = at(path);
        ASSERT_NE(n, nullptr) << path;
        std::string why;
        if (n->isDir) {
            ASSERT_EQ(applySetting(&n->defaults, key, value, &why), 0) << why;
            if (publishing) fs.tree->nodeChanged(*n, true);
        } else {
            ASSERT_EQ(n->channel->changeSetting(key, value, &why), 0) << why;
            ASSERT_EQ(matchDurability(fs, *n, &why), 0) << why;  // as setxattr does
            if (publishing) fs.tree->nodeChanged(*n);
        }
    }
    void remove(const std::string &path)
    {
        std::unique_lock l(fs.inodes.mutex());
        Node *n = at(path);
        ASSERT_NE(n, nullptr) << path;
        Node *dir = fs.inodes.get(n->parent);
        if (n->channel) n->channel->detach();
        fs.inodes.removeName(*dir, n->name);
        fs.tree->nodeRemoved(path);
    }
    void rename(const std::string &from, const std::string &to)
    {
        std::unique_lock l(fs.inodes.mutex());
        Node *n = at(from);
        ASSERT_NE(n, nullptr) << from;
        auto [toDir, toName] = split(to);
        Node *fromDir = fs.inodes.get(n->parent);
        fs.inodes.move(*fromDir, n->name, *at(toDir), toName);
        fs.tree->nodeMoved(*n, from);
    }
    // The replica stores what this mount queued.
    void sync() { replica->store(); }
    void receive() { replica->deliver(); }

    Filesystem fs;
    std::shared_ptr<FakeReplica> replica;
    bool publishing = true;  // the hooks run, as in the handlers
};

// NATS channels need a link to open their stores: one to a server that
// is not there (it never waits for the network; nothing here sends).
class NatsLinkEnvironment : public ::testing::Environment {
public:
    void SetUp() override
    {
        NatsConfig cfg;
        cfg.servers = {"nats://127.0.0.1:1"};
        std::string why;
        ASSERT_EQ(NatsLink::open(cfg, &link_, &why), 0) << why;
        setNatsLink(link_);
    }
    void TearDown() override
    {
        setNatsLink(nullptr);
        if (link_) link_->close();
    }

private:
    std::shared_ptr<NatsLink> link_;
};
const auto *const kNatsEnv = ::testing::AddGlobalTestEnvironment(new NatsLinkEnvironment);

class SharedTreeTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        a.fs.tree->start();
        b.fs.tree->start();
    }
    // Everything queued is stored, then both mounts get all of it.
    void settle()
    {
        a.sync();
        b.sync();
        a.receive();
        b.receive();
    }
    // A NATS-backed directory /plant on mount A, seen by B; its channels
    // are queues (a pipe cannot be a NATS channel).
    void plant()
    {
        a.mkdir("/plant");
        a.setxattr("/plant", "kind", "queue");
        a.setxattr("/plant", "backend", "nats");
        settle();
        ASSERT_TRUE(b.exists("/plant"));
    }

    std::shared_ptr<FakeBucket> bucket = std::make_shared<FakeBucket>();
    Mount a{bucket, "mount-a"};
    Mount b{bucket, "mount-b"};
};

TEST_F(SharedTreeTest, DirectoryChannelAndSettingsReachTheOtherMount)
{
    plant();
    EXPECT_EQ(b.setting("/plant", "backend"), "nats");
    a.create("/plant/temp", "topic");
    a.setxattr("/plant/temp", "replay", "10");
    a.mkdir("/plant/sub");
    settle();
    ASSERT_TRUE(b.exists("/plant/temp"));
    EXPECT_EQ(b.setting("/plant/temp", "kind"), "topic");
    EXPECT_EQ(b.setting("/plant/temp", "replay"), "10");
    EXPECT_EQ(b.setting("/plant/temp", "backend"), "nats");
    EXPECT_TRUE(b.exists("/plant/sub"));
    // And back: B's changes reach A.
    b.create("/plant/sub/jobs");
    settle();
    EXPECT_TRUE(a.exists("/plant/sub/jobs"));
    EXPECT_EQ(a.fs.tree->conflicts(), 0u);
    EXPECT_EQ(b.fs.tree->conflicts(), 0u);
}

TEST_F(SharedTreeTest, LocalDirectoriesAndChannelsStayLocal)
{
    a.mkdir("/local");
    a.create("/local/x");
    plant();
    a.create("/plant/mem");
    a.setxattr("/plant/mem", "backend", "memory");  // a local channel in a shared directory
    settle();
    EXPECT_FALSE(b.exists("/local"));
    EXPECT_FALSE(b.exists("/plant/mem"));
    // /plant (once shared), /plant/mem (made in it) and its removal (once
    // local): nothing of /local.
    EXPECT_EQ(bucket->log.size(), 3u);
}

TEST_F(SharedTreeTest, RemovalsReachTheOtherMount)
{
    plant();
    a.create("/plant/temp");
    a.mkdir("/plant/d");
    settle();
    ASSERT_TRUE(b.exists("/plant/temp"));
    a.remove("/plant/temp");
    a.remove("/plant/d");
    settle();
    EXPECT_FALSE(b.exists("/plant/temp"));
    EXPECT_FALSE(b.exists("/plant/d"));
    EXPECT_TRUE(b.exists("/plant"));
}

TEST_F(SharedTreeTest, ARenameMovesTheSameNodeOnTheOtherMount)
{
    plant();
    a.mkdir("/plant/d");
    a.create("/plant/d/q");
    settle();
    fuse_ino_t inoOnB;
    std::shared_ptr<Channel> chOnB;
    {
        std::shared_lock l(b.fs.inodes.mutex());
        inoOnB = b.at("/plant/d/q")->ino;
        chOnB = b.at("/plant/d/q")->channel;
    }
    a.rename("/plant/d", "/plant/e");
    settle();
    EXPECT_FALSE(b.exists("/plant/d"));
    ASSERT_TRUE(b.exists("/plant/e/q"));
    std::shared_lock l(b.fs.inodes.mutex());
    // Moved, not made again: open files on B keep their channel.
    EXPECT_EQ(b.at("/plant/e/q")->ino, inoOnB);
    EXPECT_EQ(b.at("/plant/e/q")->channel, chOnB);
}

TEST_F(SharedTreeTest, ARenameOutOfTheSharedTreeTakesADirectoryButNotANatsChannel)
{
    plant();
    a.mkdir("/plant/d");
    a.create("/plant/q");
    a.mkdir("/local");
    settle();
    // The directory inherited nats from /plant: under /local it is local.
    a.rename("/plant/d", "/local/d");
    // The channel's backend is its own: its messages stay in NATS, so it
    // stays shared wherever it goes.
    a.rename("/plant/q", "/local/q");
    settle();
    EXPECT_FALSE(b.exists("/plant/d"));
    EXPECT_FALSE(b.exists("/local/d"));
    EXPECT_FALSE(b.exists("/plant/q"));
    EXPECT_TRUE(b.exists("/local/q"));
    EXPECT_EQ(b.setting("/local/q", "backend"), "nats");
}

TEST_F(SharedTreeTest, ConflictingChangesEndWithTheLastWriterOnBothMounts)
{
    plant();
    a.create("/plant/q");
    settle();
    // Both change the same channel; A's is stored first, B's later.
    a.setxattr("/plant/q", "capacity", "2K");
    b.setxattr("/plant/q", "capacity", "4K");
    a.sync();
    b.sync();
    a.receive();
    b.receive();
    EXPECT_EQ(a.setting("/plant/q", "capacity"), "4096");
    EXPECT_EQ(b.setting("/plant/q", "capacity"), "4096");
    // B saw A's older change while its own was on the way: logged, skipped.
    EXPECT_EQ(b.fs.tree->conflicts(), 1u);
    EXPECT_EQ(a.fs.tree->conflicts(), 0u);
}

TEST_F(SharedTreeTest, AMountThatStartsLaterGetsTheSnapshotAndPublishesWhatItAlone)
{
    plant();
    a.create("/plant/temp", "topic");
    a.create("/plant/gone");
    settle();
    a.remove("/plant/gone");
    settle();
    Mount c(bucket, "mount-c");
    // C comes up with its own (restored) tree: /plant/gone, which A
    // removed, and /plant/mine, which no other mount knows.
    c.publishing = false;  // restored from its state directory, not made by hand
    c.mkdir("/plant");
    c.setxattr("/plant", "kind", "queue");
    c.setxattr("/plant", "backend", "nats");
    c.create("/plant/gone");
    c.create("/plant/mine");
    c.publishing = true;
    c.fs.tree->start();
    EXPECT_TRUE(c.exists("/plant/temp"));
    EXPECT_EQ(c.setting("/plant/temp", "kind"), "topic");
    EXPECT_FALSE(c.exists("/plant/gone"));
    EXPECT_TRUE(c.exists("/plant/mine"));
    c.sync();
    settle();
    EXPECT_TRUE(a.exists("/plant/mine"));
    EXPECT_TRUE(b.exists("/plant/mine"));
}

TEST_F(SharedTreeTest, ChangesMadeWhileTheReplicaIsAwayGoOutWhenItIsBack)
{
    plant();
    a.replica->connected = false;
    a.create("/plant/offline");
    settle();
    EXPECT_FALSE(b.exists("/plant/offline"));
    EXPECT_EQ(a.fs.tree->pending(), 1u);
    a.replica->connected = true;
    a.replica->snapshot();  // the watch starts over after a reconnect
    settle();
    EXPECT_TRUE(b.exists("/plant/offline"));
    EXPECT_EQ(a.fs.tree->pending(), 0u);
}

TEST_F(SharedTreeTest, ARemoteRmdirOfADirectoryWithLocalEntriesKeepsIt)
{
    plant();
    a.mkdir("/plant/d");
    settle();
    b.create("/plant/d/only-on-b");
    b.setxattr("/plant/d/only-on-b", "backend", "memory");
    a.remove("/plant/d");
    settle();
    EXPECT_TRUE(b.exists("/plant/d/only-on-b"));
}

TEST(TreeRecord, RoundTripsThroughItsText)
{
    TreeNodeRecord r;
    r.path = "/plant/temp";
    r.type = TreeNodeType::Channel;
    r.mode = 0640;
    r.uid = 1000;
    r.gid = 100;
    r.settings = {{"kind", "topic"}, {"replay", "10"}};
    r.movedFrom = "/plant/old";
    r.origin = "host-a.123";
    r.seq = 42;
    TreeNodeRecord back;
    std::string why;
    ASSERT_EQ(decodeTreeRecord(encodeTreeRecord(r), &back, &why), 0) << why;
    EXPECT_EQ(back, r);
    TreeNodeRecord gone;
    gone.path = "/plant/temp";
    gone.removed = true;
    gone.origin = "o";
    gone.seq = 1;
    ASSERT_EQ(decodeTreeRecord(encodeTreeRecord(gone), &back, &why), 0) << why;
    EXPECT_EQ(back, gone);
}

TEST(TreeRecord, BadTextIsRefusedWithAReason)
{
    TreeNodeRecord r;
    std::string why;
    EXPECT_EQ(decodeTreeRecord("", &r, &why), -EINVAL);
    EXPECT_EQ(decodeTreeRecord("hello\n", &r, &why), -EINVAL);
    EXPECT_EQ(decodeTreeRecord("chanfs-tree 1\npath /a\n", &r, &why), -EINVAL);  // no type
    EXPECT_EQ(decodeTreeRecord("chanfs-tree 1\npath /a\ntype fifo\n", &r, &why), -EINVAL);
    EXPECT_EQ(decodeTreeRecord("chanfs-tree 1\npath /a\ntype dir\nmode 99999\n", &r, &why),
              -EINVAL);
    EXPECT_FALSE(why.empty());
}

TEST(TreeKey, PathsBecomeValidKeysAndBack)
{
    EXPECT_EQ(treeKeyOf("/plant/temp"), "plant.temp");
    EXPECT_EQ(treeKeyOf("/a.b/c d/=x"), "a=2Eb.c=20d.=3Dx");
    for (const std::string p : {"/plant/temp", "/a.b/c d/=x", "/ü/\x01", "/x"})
        EXPECT_EQ(treePathOfKey(treeKeyOf(p)), p) << p;
    EXPECT_EQ(treePathOfKey(""), std::nullopt);
    EXPECT_EQ(treePathOfKey("a..b"), std::nullopt);
    EXPECT_EQ(treePathOfKey("a.=2F"), std::nullopt);  // a '/' inside a name
    EXPECT_EQ(treePathOfKey("a=4"), std::nullopt);
    EXPECT_EQ(treePathOfKey("a*"), std::nullopt);
}

}  // namespace
}  // namespace chanfs::fs
