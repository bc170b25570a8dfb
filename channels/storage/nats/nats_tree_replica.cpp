#include "channels/storage/nats/nats_tree_replica.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <thread>

#include "channels/base/log_limit.h"
#include "channels/base/mutex.h"
#include "channels/base/thread_annotations.h"
#include "channels/storage/registry.h"
#include "channels/storage/tree_outbox.h"
#include "channels/storage/nats/nats_handles.h"
#include "channels/storage/nats/nats_link.h"

namespace chanfs {

namespace {

using namespace std::chrono_literals;

// How long the watcher waits for an entry before it looks at the link
// again, and how soon a failed send or bind is tried again.
constexpr int64_t kWatchPollMs = 500;
constexpr auto kRetryDelay = 1000ms;

class NatsTreeReplica final : public TreeReplica,
                              public std::enable_shared_from_this<NatsTreeReplica> {
public:
    NatsTreeReplica(std::shared_ptr<NatsLink> link, std::shared_ptr<TreeOutboxLog> log,
                    std::vector<TreeOutboxEntry> waiting)
        : link_(std::move(link)), bucket_(natsTreeBucket(link_->prefix())), log_(std::move(log))
    {
        MutexLock g(mu_);
        for (TreeOutboxEntry &e : waiting)
            outbox_.push_back({std::move(e.key), std::move(e.value)});
    }
    ~NatsTreeReplica() override { close(); }

    void attach()
    {
        std::weak_ptr<NatsTreeReplica> weak = weak_from_this();
        link_->onStateChange([weak](bool up) {
            if (auto self = weak.lock()) self->linkChanged(up);
        });
    }

    int put(const TreeNodeRecord &r) override
    {
        if (r.path.size() < 2 || r.path[0] != '/') return -EINVAL;
        {
            MutexLock g(mu_);
            if (closing_) return -ESHUTDOWN;
            outbox_.push_back({treeKeyOf(r.path), encodeTreeRecord(r)});
            // In the file in the outbox's order (lock order: mu_, then the
            // log's). A write that fails keeps the change in memory only.
            if (log_) {
                if (int rc = log_->append({outbox_.back().key, outbox_.back().value}); rc < 0)
                    logLimited(spdlog::level::warn, "tree outbox",
                               "shared tree: cannot write a change to tree-outbox.log: {}; it "
                               "waits in memory only (lost if the daemon stops first)",
                               std::strerror(-rc));
            }
        }
        if (log_) syncSoon(log_);
        // Sent from the link's worker: a publish may wait on a full socket.
        kickLater(0ms);
        return 0;
    }

    void watch(std::function<void(const TreeChange &)> onChange) override
    {
        MutexLock g(mu_);
        if (closing_ || watcher_.joinable()) return;
        onChange_ = std::move(onChange);
        watcher_ = std::thread([this] { watchLoop(); });
    }

    void close() override
    {
        size_t dropped = 0;
        {
            MutexLock g(mu_);
            if (closing_) return;
            closing_ = true;
            dropped = outbox_.size();
            outbox_.clear();
            wake_.notifyAll();
        }
        if (log_) {
            // Kept on disk: the next mount sends them.
            if (log_->sync() == 0 && dropped) {
                spdlog::info("shared tree: {} changes not yet stored in bucket {} are kept in "
                             "tree-outbox.log and sent by the next mount",
                             dropped, bucket_);
                dropped = 0;
            }
        }
        {
            MutexLock g(mu_);
            if (kvWatcher *w = liveWatcher_) kvWatcher_Stop(w);
            wake_.notifyAll();
        }
        if (watcher_.joinable()) watcher_.join();
        if (dropped)
            spdlog::warn(
                "shared tree: {} changes not yet stored in bucket {} are dropped at unmount; the "
                "other mounts never see them",
                dropped, bucket_);
        MutexLock g(mu_);
        kv_.reset();
    }

    size_t pending() const override
    {
        MutexLock g(mu_);
        return outbox_.size();
    }

private:
    struct Outgoing {
        std::string key;
        std::string value;
    };

    void linkChanged(bool up)
    {
        {
            MutexLock g(mu_);
            // The watcher is kept across a reconnect: its ordered consumer
            // resumes after the last revision it delivered (cnats resets it
            // on its own thread). Destroying it here raced with that reset
            // inside libnats 3.4.1 (a heap-use-after-free in
            // jsSub_deleteConsumer under ASan, e2e 193 "while the server is
            // down"); a watch that fails for good still starts over below.
            wake_.notifyAll();
        }
        if (up) kickLater(0ms);
    }

    void kickLater(std::chrono::milliseconds delay)
    {
        std::weak_ptr<NatsTreeReplica> weak = weak_from_this();
        link_->post(
            [weak] {
                if (auto self = weak.lock()) self->sendHead();
            },
            delay);
    }

    // Sends the head of the outbox if nothing is on the way: one at a time,
    // so changes are stored in the order they were made, retries included.
    void sendHead()
    {
        Outgoing head;
        {
            MutexLock g(mu_);
            if (closing_ || inFlight_ || outbox_.empty() || !kv_ || !link_->connected()) return;
            inFlight_ = true;
            head = outbox_.front();
        }
        std::weak_ptr<NatsTreeReplica> weak = weak_from_this();
        const std::string subject = "$KV." + bucket_ + "." + head.key;
        const int rc =
            link_->publish(subject, head.value, "", {}, [weak](const NatsLink::PubAck &a) {
                if (auto self = weak.lock()) self->sent(a);
            });
        if (rc < 0) {
            {
                MutexLock g(mu_);
                inFlight_ = false;
            }
            // ENOTCONN: the reconnect sends it; anything else: again soon.
            if (rc != -ENOTCONN) kickLater(kRetryDelay);
        }
    }

    void sent(const NatsLink::PubAck &a)
    {
        {
            MutexLock g(mu_);
            inFlight_ = false;
            if (closing_) return;
            if (a.err == 0) {
                if (!outbox_.empty()) outbox_.pop_front();
                if (log_) {
                    // Emptied once all is stored; until then a done mark
                    // per stored change (replay skips as many).
                    const int rc = outbox_.empty() ? log_->clear() : log_->markDone();
                    if (rc < 0)
                        logLimited(spdlog::level::warn, "tree outbox",
                                   "shared tree: cannot update tree-outbox.log: {}",
                                   std::strerror(-rc));
                }
                if (failing_)
                    spdlog::info("shared tree: bucket {} takes changes again; {} waiting", bucket_,
                                 outbox_.size());
                failing_ = false;
            } else if (!failing_) {
                failing_ = true;
                spdlog::warn(
                    "shared tree: cannot store a change in bucket {}: {}; {} changes wait and are "
                    "sent again",
                    bucket_, a.why, outbox_.size());
            }
        }
        kickLater(a.err == 0 ? 0ms : kRetryDelay);
    }

    // Binds the bucket, or makes it. Runs on the watcher thread (it waits
    // for JetStream's reply). 0 or a cnats status.
    natsStatus bindBucket()
    {
        jsCtx *js = link_->jetstream();
        if (!js) return NATS_NOT_YET_CONNECTED;
        kvStore *raw = nullptr;
        natsStatus s = js_KeyValue(&raw, js, bucket_.c_str());
        if (s == NATS_NOT_FOUND) {
            kvConfig cfg;
            kvConfig_Init(&cfg);
            cfg.Bucket = bucket_.c_str();
            cfg.Description = "chanfs: the shared tree (directories, channels, settings)";
            cfg.History = 1;
            cfg.StorageType = js_FileStorage;
            cfg.Replicas = std::clamp(link_->clusterSize(), 1, 3);
            s = js_CreateKeyValue(&raw, js, &cfg);
            if (s == NATS_OK)
                spdlog::info("shared tree: bucket {} made ({} replicas)", bucket_, cfg.Replicas);
        }
        if (s != NATS_OK) return s;
        MutexLock g(mu_);
        kv_.reset(raw);
        return NATS_OK;
    }

    bool waitFor(std::chrono::milliseconds d)
    {
        MutexLock g(mu_);
        if (!closing_) wake_.waitUntil(mu_, std::chrono::steady_clock::now() + d);
        return !closing_;
    }

    void watchLoop()
    {
        bool complained = false;
        for (;;) {
            {
                MutexLock g(mu_);
                if (closing_) return;
            }
            if (!link_->connected()) {
                if (!waitFor(kRetryDelay)) return;
                continue;
            }
            bool haveBucket;
            {
                MutexLock g(mu_);
                haveBucket = kv_ != nullptr;
            }
            if (!haveBucket) {
                if (natsStatus s = bindBucket(); s != NATS_OK) {
                    if (!complained)
                        spdlog::error("shared tree: cannot open bucket {}: {} ({}); tried again",
                                      bucket_, natsStatus_GetText(s), nats_GetLastError(nullptr));
                    complained = true;
                    if (!waitFor(kRetryDelay)) return;
                    continue;
                }
                complained = false;
                kickLater(0ms);  // what waited for the bucket goes out now
            }
            watchOnce();
        }
    }

    // One watch, from a snapshot, until it fails or the replica closes (a
    // reconnect does not end it: see linkChanged()).
    void watchOnce()
    {
        kvWatcher *raw = nullptr;
        kvStore *kv;
        {
            MutexLock g(mu_);
            if (closing_ || !kv_) return;
            kv = kv_.get();  // reset only by close(), after this thread ends
        }
        // Without the mutex: it waits for JetStream to make the consumer,
        // and put() must never wait for that.
        kvWatchOptions o;
        kvWatchOptions_Init(&o);
        if (natsStatus s = kvStore_WatchAll(&raw, kv, &o); s != NATS_OK) {
            logLimited(spdlog::level::err, "tree watch",
                       "shared tree: cannot watch bucket {}: {}; tried again", bucket_,
                       natsStatus_GetText(s));
            waitFor(kRetryDelay);
            return;
        }
        nats::KvWatcherPtr w(raw);
        {
            MutexLock g(mu_);
            if (closing_) return;
            liveWatcher_ = raw;
        }
        for (;;) {
            {
                MutexLock g(mu_);
                if (closing_) break;
            }
            kvEntry *e = nullptr;
            const natsStatus s = kvWatcher_Next(&e, w.get(), kWatchPollMs);
            if (s == NATS_TIMEOUT) continue;
            if (s != NATS_OK) break;
            nats::KvEntryPtr entry(e);
            TreeChange c;
            if (!entry) {
                c.kind = TreeChange::Kind::SnapshotDone;
            } else if (!toChange(entry.get(), &c)) {
                continue;
            }
            onChange_(c);
        }
        MutexLock g(mu_);
        liveWatcher_ = nullptr;
    }

    bool toChange(kvEntry *e, TreeChange *c)
    {
        const char *key = kvEntry_Key(e);
        auto path = treePathOfKey(key ? key : "");
        if (!path) {
            logLimited(spdlog::level::warn, "tree key",
                       "shared tree: bucket {}: key {} is not a "
                       "path; skipped",
                       bucket_, key ? key : "");
            return false;
        }
        c->kind = TreeChange::Kind::Record;
        c->revision = kvEntry_Revision(e);
        const kvOperation op = kvEntry_Operation(e);
        if (op == kvOp_Delete || op == kvOp_Purge) {
            c->record.path = *path;
            c->record.removed = true;
            return true;
        }
        const char *data = static_cast<const char *>(kvEntry_Value(e));
        std::string why;
        if (decodeTreeRecord(
                std::string_view(data ? data : "", static_cast<size_t>(kvEntry_ValueLen(e))),
                &c->record, &why) < 0 ||
            c->record.path != *path) {
            logLimited(spdlog::level::warn, "tree record",
                       "shared tree: bucket {}: the record of {} is not one of ours ({}); skipped",
                       bucket_, *path, why.empty() ? "its path differs from its key" : why);
            return false;
        }
        return true;
    }

    const std::shared_ptr<NatsLink> link_;
    const std::string bucket_;
    // A leaf: nothing is called with it held but kvWatcher_Stop (which
    // does not wait).
    mutable Mutex mu_;
    CondVar wake_;
    std::deque<Outgoing> outbox_ GUARDED_BY(mu_);
    // SOURCE/state/tree-outbox.log (null without a state directory: the
    // outbox is then in memory only). Written under mu_.
    const std::shared_ptr<TreeOutboxLog> log_;
    bool inFlight_ GUARDED_BY(mu_) = false;
    bool failing_ GUARDED_BY(mu_) = false;
    bool closing_ GUARDED_BY(mu_) = false;
    nats::KvStorePtr kv_ GUARDED_BY(mu_);
    kvWatcher *liveWatcher_ GUARDED_BY(mu_) = nullptr;
    std::function<void(const TreeChange &)> onChange_;  // set before the thread starts
    std::thread watcher_;
};

}  // namespace

std::string natsTreeBucket(const std::string &prefix)
{
    return prefix + "_tree";
}

int openNatsTreeReplica(const std::shared_ptr<NatsLink> &link, const std::string &stateDir,
                        std::shared_ptr<TreeReplica> *out, std::string *why)
{
    if (!link) {
        *why = "no NATS link";
        return -EINVAL;
    }
    std::shared_ptr<TreeOutboxLog> log;
    std::vector<TreeOutboxEntry> waiting;
    if (!stateDir.empty()) {
        if (int rc = TreeOutboxLog::open(stateDir + "/tree-outbox.log", &log, &waiting, why);
            rc < 0)
            return rc;
    }
    auto r = std::make_shared<NatsTreeReplica>(link, std::move(log), std::move(waiting));
    r->attach();
    *out = std::move(r);
    return 0;
}

}  // namespace chanfs
