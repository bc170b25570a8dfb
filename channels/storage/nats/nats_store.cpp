// The NATS store (backend=nats, docs/nats.md): a queue or topic channel
// whose messages live in a JetStream stream shared by every chanfs mount of
// the cluster. The channel's queued image holds only what came back from the
// stream (in the stream's order); local writes go to the store's outbox, are
// published with a message id, and their write is answered once JetStream
// acknowledged every message of it.
//
//   topic  one stream per directory (limits retention, file storage) with a
//          subject per channel; each mount reads it through one push
//          consumer per channel (acks none, flow control, heartbeats),
//          recreated from the last stream sequence seen after a reconnect.
//   queue  one work-queue stream per directory, a subject per channel and
//          one durable pull consumer per channel shared by every mount
//          (explicit acks). Parked readers pull as many messages as they
//          lack; a message is acked once the reply carrying it succeeded
//          (consumed()); a failed reply puts it back here.
//
// Threading contract: message_store.h's. The store's mutex comes after the
// channel's (channel mutex, then the store's, then the link's) and is never
// held while calling the feed, a waiter or a cnats call that may wait.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "channels/base/mutex.h"
#include "channels/base/thread_annotations.h"
#include "channels/core/message_store.h"
#include "channels/storage/nats/nats_link.h"
#include "channels/storage/registry.h"

namespace chanfs {

namespace {

// Group commit: packs in flight per channel. While that many wait for
// their acks, new writes gather in the outbox and go out as one pack
// (several chanfs messages in one NATS message) when an ack frees room.
constexpr size_t kPublishWindow = 16;
// Headers (message id, pack count) and the pack's length words.
constexpr uint64_t kHeaderRoom = 512;
constexpr int64_t kPullExpiresNs = 5'000'000'000;  // a pull request stays open that long
// Fetch ahead: a pull for readers that lack messages asks for up to this
// many (fewer if their bytes, at the average message size seen, would not
// fit the channel's capacity); what they do not take at once waits queued
// here for the next local read.
constexpr size_t kFetchAhead = 64;
constexpr int64_t kTopicHistoryPerChannel = 100000;
constexpr int64_t kDuplicateWindowNs = 120'000'000'000;
// Tries a removed channel gets at deleting its consumer and messages when
// the link fails under the request (each after the link is back).
constexpr int kDeleteAttempts = 5;

uint64_t fnv1a(std::string_view s)
{
    uint64_t h = 1469598103934665603ULL;
    for (unsigned char c : s) {
        h ^= c;
        h *= 1099511628211ULL;
    }
    return h;
}

std::string hex64(uint64_t v)
{
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
    return buf;
}

// A channel name as one subject token: letters, digits, '-' and '_' stay,
// every other byte is _XX.
std::string subjectToken(std::string_view name)
{
    std::string out;
    for (unsigned char c : name) {
        if (std::isalnum(c) || c == '-') {
            out += static_cast<char>(c);
        } else {
            char buf[4];
            std::snprintf(buf, sizeof buf, "_%02x", c);
            out += buf;
        }
    }
    return out.empty() ? "_" : out;
}

std::string jsonQuote(std::string_view s)
{
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out + "\"";
}

// The stream sequence in a JetStream delivery's reply subject:
// $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>
// (and the 12-token form with domain and account hash).
uint64_t streamSeqOf(const char *reply)
{
    if (!reply) return 0;
    std::vector<std::string_view> tok;
    std::string_view r(reply);
    size_t start = 0;
    for (size_t i = 0; i <= r.size(); ++i)
        if (i == r.size() || r[i] == '.') {
            tok.push_back(r.substr(start, i - start));
            start = i + 1;
        }
    size_t idx = 0;
    if (tok.size() == 9)
        idx = 5;
    else if (tok.size() >= 12)
        idx = 7;
    else
        return 0;
    uint64_t v = 0;
    for (char c : tok[idx]) {
        if (c < '0' || c > '9') return 0;
        v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    return v;
}

// One NATS message for several chanfs messages of one write: each is a
// 4-byte big-endian length and its bytes (header Chanfs-Pack: N).
void appendLength(std::string &out, uint32_t n)
{
    const char b[4] = {static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                       static_cast<char>(n >> 8), static_cast<char>(n)};
    out.append(b, 4);
}

// Several chanfs messages as one NATS message's body (count > 1: the
// Chanfs-Pack header says how many; one is sent as itself).
std::string encodePack(const std::vector<Payload> &messages)
{
    if (messages.size() == 1) return std::string(messages[0]->data(), messages[0]->size());
    std::string body;
    for (const Payload &p : messages) {
        appendLength(body, static_cast<uint32_t>(p->size()));
        body.append(p->data(), p->size());
    }
    return body;
}

bool unpack(std::string_view body, uint32_t count, std::vector<Payload> &out)
{
    size_t at = 0;
    for (uint32_t i = 0; i < count; ++i) {
        if (body.size() - at < 4) return false;
        const auto *p = reinterpret_cast<const unsigned char *>(body.data() + at);
        const uint32_t n = (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) |
                           (uint32_t(p[2]) << 8) | uint32_t(p[3]);
        at += 4;
        if (body.size() - at < n) return false;
        out.push_back(makePayload(body.data() + at, n));
        at += n;
    }
    return at == body.size();
}

// A message taken from a queue's pull consumer: acked once every chanfs
// message it carried is consumed.
struct AckRef {
    std::string reply;
    uint32_t count = 0;      // chanfs messages it carried
    uint32_t remaining = 0;  // not yet consumed (or re-published, see giveBack)
    uint32_t taken = 0;      // consumed by a successful reply (stats.nats_acked)
};

class NatsStore final : public MessageStore,
                        public LogObserver,
                        public std::enable_shared_from_this<NatsStore> {
public:
    NatsStore(std::shared_ptr<NatsLink> link, const StoreRequest &req)
        : link_(std::move(link)), label_(req.label), queue_(req.settings.kind == Kind::Queue),
          replicasWanted_(static_cast<int>(req.settings.replicas))
    {
        std::string path = req.label;
        const auto slash = path.rfind('/');
        const std::string dir = slash == std::string::npos ? "" : path.substr(0, slash);
        const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
        dirHash_ = hex64(fnv1a(dir)).substr(0, 12);
        nameToken_ = subjectToken(name);
        msgIdPrefix_ = hex64(fnv1a(req.label) ^ static_cast<uint64_t>(::getpid()) ^
                             static_cast<uint64_t>(
                                 std::chrono::steady_clock::now().time_since_epoch().count())) +
                       ".";
        observeAppends(this);
        MutexLock g(mu_);
        replay_ = req.settings.replay;
        error_ = "waiting for the NATS link";
    }

    ~NatsStore() override
    {
        observeAppends(nullptr);
        if (topicSub_) natsSubscription_Unsubscribe(topicSub_.get());
        if (pullSub_) natsSubscription_Unsubscribe(pullSub_.get());
    }

    void start()
    {
        std::weak_ptr<NatsStore> weak = weak_from_this();
        link_->onStateChange([weak](bool up) {
            if (auto self = weak.lock()) self->linkChanged(up);
        });
        scheduleSetup(std::chrono::milliseconds(0));
    }

    std::string_view name() const override { return "nats"; }
    bool durable() const override { return true; }
    bool remote() const override { return true; }
    bool suits(const Settings &s) const override
    {
        return s.nats && (s.kind == Kind::Queue) == queue_ &&
               static_cast<int>(s.replicas) == replicasWanted_;
    }

    void attach(std::shared_ptr<StoreFeed> feed) override
    {
        MutexLock g(mu_);
        feed_ = std::move(feed);
    }

    // [channel mutex] A local write's message (to the outbox) or one from
    // the stream coming back (its ack is remembered by sequence number).
    void appended(const Entry &e) override
    {
        if (e.isMark()) return;
        MutexLock g(mu_);
        if (auto it = arriving_.find(e.payload.get()); it != arriving_.end()) {
            if (it->second) {
                unacked_[e.seq] = it->second;
                scheduleKeepAlive();
            }
            arriving_.erase(it);
            return;
        }
        building_.push_back(e.payload);
        ++nextOutNo_;
        buildingBytes_ += e.length;
        heldBytes_ += e.length;
    }

    int flush() override
    {
        std::vector<PublishJob> jobs;
        {
            MutexLock g(mu_);
            sendOutbox(jobs);
        }
        runPublishes(jobs);
        return 0;
    }

    void configure(const Settings &s) override
    {
        MutexLock g(mu_);
        overflowError_ = s.overflow == Overflow::Error;
        capacity_ = s.capacityBytes;
    }

    uint64_t heldBytes() const override
    {
        MutexLock g(mu_);
        return heldBytes_;
    }

    bool holdingWrites() const override
    {
        MutexLock g(mu_);
        return !ready_ || !link_->connected();
    }

    uint64_t maxMessage() const override
    {
        const int64_t payload = link_->maxPayload();
        const uint64_t max = payload > 0 ? static_cast<uint64_t>(payload) : kMiB;
        return max > kHeaderRoom ? max - kHeaderRoom : 1;
    }

    bool acknowledgesAfterSync() const override { return true; }

    void acknowledgeAfterSync(std::unique_ptr<WriteWaiter> waiter, size_t bytes) override
    {
        {
            MutexLock g(mu_);
            // Answered once every outbox message so far is acked: the
            // write's own are among them, in whatever pack they went.
            const uint64_t upTo = nextOutNo_ - 1;
            if (upTo >= lowestUnacked()) {
                writeWaiters_.push_back(WaitingWrite{upTo, std::move(waiter), bytes});
                return;
            }
        }
        (void)waiter->done(bytes);
    }

    void consumed(std::span<const uint64_t> seqs) override
    {
        if (!queue_) return;
        std::vector<std::string> acks;
        {
            MutexLock g(mu_);
            if (!seqs.empty()) lastTaken_ = std::chrono::steady_clock::now();
            for (uint64_t seq : seqs) {
                auto it = unacked_.find(seq);
                if (it == unacked_.end()) continue;
                std::shared_ptr<AckRef> ref = std::move(it->second);
                unacked_.erase(it);
                ++ref->taken;
                if (--ref->remaining == 0) {
                    acks.push_back(ref->reply);
                    acked_ += ref->taken;
                }
            }
        }
        natsConnection *c = link_->connection();
        for (const std::string &reply : acks)
            if (c) natsConnection_PublishString(c, reply.c_str(), "+ACK");
    }

    // Each pull has its own reply subject (the pull inbox's prefix and the
    // pull's id): its end (a 408 when it expired, a 409) is counted against
    // that pull only, deliveries against the oldest open one, and a pull whose end never came
    // (lost with a server) is forgotten once its expiry has passed, so the
    // readers still parked get a new one.
    void readersWaiting(size_t parked, size_t queued, size_t readers) override
    {
        if (!queue_) return;
        std::string subject, body, inbox;
        uint64_t id = 0;
        GiveBack back;
        struct SendBack {  // NATS calls after the store's mutex is let go
            NatsStore *self;
            GiveBack &back;
            ~SendBack() { self->sendGiveBack(back); }
        } sendBack{this, back};
        {
            MutexLock g(mu_);
            parked_ = parked;
            queued_ = queued;
            readers_ = readers;
            if (parked > 0) gaveBackIdle_ = false;
            // No local reader left, or none took anything for half the ack
            // wait: what was fetched for them goes back to the stream.
            if (readers == 0 || giveBackDue_) {
                if (giveBackDue_ && parked == 0) gaveBackIdle_ = true;
                giveBackDue_ = false;
                giveBack(back);
                queued = queued_ = this->queued().messages();
            }
            if (parked <= queued || !ready_ || !link_->connected() || destroyed_ || consumerGone_ ||
                !pullSub_)
                return;
            const size_t want = std::max(parked - queued, fetchAhead());
            if (want <= outstanding_) return;
            const size_t n = want - outstanding_;
            outstanding_ += n;
            id = nextPullId_++;
            spdlog::debug("channel {}: NATS pull {} for {}", label_, id, n);
            pulls_.emplace(id, PullRequest{n});
            subject = "$JS.API.CONSUMER.MSG.NEXT." + streamName() + "." + durableName();
            body = "{\"batch\":" + std::to_string(n) +
                   ",\"expires\":" + std::to_string(kPullExpiresNs) + "}";
            inbox = pullInbox_ + "." + std::to_string(id);
        }
        natsConnection *c = link_->connection();
        if (!c || natsConnection_PublishRequest(c, subject.c_str(), inbox.c_str(), body.data(),
                                                static_cast<int>(body.size())) != NATS_OK) {
            // Not sent: forgotten at once, asked again on the next change.
            MutexLock g(mu_);
            endPull(id);
            return;
        }
        std::weak_ptr<NatsStore> weak = weak_from_this();
        link_->post(
            [weak, id] {
                if (auto self = weak.lock()) self->expirePull(id);
            },
            std::chrono::milliseconds(kPullExpiresNs / 1000000 + 200));
    }

    std::string health() const override
    {
        MutexLock g(mu_);
        return error_.empty() ? "ok" : error_;
    }

    void describe(std::vector<std::pair<std::string, std::string>> *out) const override
    {
        MutexLock g(mu_);
        const bool up = ready_ && link_->connected();
        size_t pending = 0;
        for (const auto &[id, p] : packs_) pending += p.count;
        pending += building_.size();
        std::string err = error_;
        if (err.empty() && !link_->connected()) err = link_->lastError();
        out->emplace_back("backend", "nats");
        out->emplace_back("nats_connected", up ? "1" : "0");
        out->emplace_back("nats_pending", std::to_string(pending));
        out->emplace_back("nats_acked", std::to_string(acked_));
        out->emplace_back("nats_redelivered", std::to_string(redelivered_));
        // Up: why the last publish failed, until one is acked again.
        out->emplace_back("nats_error", up ? publishError_ : err);
    }

    // Removed here (rm, or the backend changed): what this mount holds
    // goes, then what the stream holds for the channel (deleteShared()).
    void destroy() override
    {
        if (letGo()) deleteShared(kDeleteAttempts);
    }

    // Removed by another mount, which deletes what the stream holds: only
    // this mount's own topic push consumer goes (it would expire anyway).
    void abandon() override
    {
        if (!letGo() || queue_) return;
        std::shared_ptr<NatsStore> self = shared_from_this();
        link_->post([self] { self->deleteTopicConsumer(); });
    }

private:
    struct Pack {
        std::string body;
        uint64_t firstNo = 0;  // outbox number of its first message
        uint32_t count = 0;
        uint64_t bytes = 0;
        bool sent = false;
    };
    struct PublishJob {
        uint64_t id;
        std::string body;
        uint32_t count;
    };
    struct WaitingWrite {
        uint64_t upTo;  // outbox number of the write's last message
        std::unique_ptr<WriteWaiter> waiter;
        size_t bytes;
    };
    struct PullRequest {
        size_t remaining;  // messages it may still bring
    };
    // What giveBack() took off the queue, sent once the store's mutex is
    // let go: NAKs, and the rests of partly delivered messages.
    struct GiveBack {
        struct Rest {
            std::shared_ptr<AckRef> ref;
            std::vector<Payload> payloads;
            std::string msgId;
        };
        std::string subject;
        std::vector<std::string> naks;
        std::vector<Rest> rest;
    };

    // Stops pulling and subscribing; false if it was let go before.
    bool letGo()
    {
        MutexLock g(mu_);
        if (destroyed_) return false;
        destroyed_ = true;
        if (topicSub_) natsSubscription_Unsubscribe(topicSub_.get());
        if (pullSub_) natsSubscription_Unsubscribe(pullSub_.get());
        return true;
    }

    // On the link's worker once it is connected (never a FUSE thread): the
    // queue's durable consumer is deleted (with it every pull still open
    // on any mount, so none takes a message of a channel made again with
    // this name) and the channel's subject is purged from the stream (a
    // channel made again starts empty). Tried again after an outage.
    void deleteShared(int attemptsLeft)
    {
        std::shared_ptr<NatsStore> self = shared_from_this();
        link_->whenConnected([self, attemptsLeft] { self->deleteSharedOnce(attemptsLeft); });
    }

    void deleteSharedOnce(int attemptsLeft)
    {
        std::string stream, durable, subj, topicConsumer;
        {
            MutexLock g(mu_);
            if (replicas_ == 0)
                replicas_ = replicasWanted_ ? replicasWanted_
                                            : std::min(std::max(1, link_->clusterSize()), 3);
            stream = streamName();
            durable = durableName();
            subj = subject();
            topicConsumer = topicConsumer_;
        }
        std::string reply, why;
        int rc = 0;
        if (queue_)
            rc = link_->apiRequest("$JS.API.CONSUMER.DELETE." + stream + "." + durable, "", &reply,
                                   &why);
        else if (!topicConsumer.empty())
            rc = link_->apiRequest("$JS.API.CONSUMER.DELETE." + stream + "." + topicConsumer, "",
                                   &reply, &why);
        if (rc == 0 || notFound(rc, why))
            rc = link_->apiRequest("$JS.API.STREAM.PURGE." + stream,
                                   "{\"filter\":" + jsonQuote(subj) + "}", &reply, &why);
        if (rc == 0 || notFound(rc, why)) {
            spdlog::debug("channel {}: removed from NATS stream {}", label_, stream);
            return;
        }
        if ((rc == -ENOTCONN || rc == -ETIMEDOUT) && attemptsLeft > 1 && !link_->closed()) {
            deleteShared(attemptsLeft - 1);
            return;
        }
        spdlog::warn("channel {}: removed; its NATS messages stay in stream {}: {}", label_, stream,
                     why);
    }

    void deleteTopicConsumer()
    {
        std::string stream, consumer, reply, why;
        {
            MutexLock g(mu_);
            if (replicas_ == 0) return;  // never set up: no consumer
            stream = streamName();
            consumer = topicConsumer_;
        }
        if (!consumer.empty())
            (void)link_->apiRequest("$JS.API.CONSUMER.DELETE." + stream + "." + consumer, "",
                                    &reply, &why, 500);
    }

    // A JetStream API error saying the stream or consumer is not there.
    static bool notFound(int rc, const std::string &why)
    {
        return rc == -EIO && why.find("not found") != std::string::npos;
    }

    std::string kindTag() const REQUIRES(mu_)
    {
        return std::string(queue_ ? "q" : "t") + std::to_string(replicas_);
    }
    std::string streamName() const REQUIRES(mu_)
    {
        return link_->prefix() + "_" + kindTag() + "_" + dirHash_;
    }
    std::string subject() const REQUIRES(mu_)
    {
        return link_->prefix() + "." + kindTag() + "." + dirHash_ + "." + nameToken_;
    }
    std::string durableName() const REQUIRES(mu_)
    {
        return link_->prefix() + "_" + dirHash_ + "_" + hex64(fnv1a(nameToken_)).substr(0, 12);
    }

    // The outbox number of the oldest message not acked yet (nextOutNo_
    // when every one is).
    uint64_t lowestUnacked() const REQUIRES(mu_)
    {
        if (!packs_.empty()) return packs_.begin()->second.firstNo;
        return nextOutNo_ - building_.size();
    }

    // Group commit: packs that failed go out again first; what gathered in
    // building_ is closed into packs and published only while fewer than
    // kPublishWindow packs wait for their acks, so writes made meanwhile
    // travel together in the next pack (each write is still answered only
    // once the pack carrying its last message is acked).
    void sendOutbox(std::vector<PublishJob> &jobs) REQUIRES(mu_)
    {
        if (!ready_ || !link_->connected() || destroyed_) return;
        pumpOutbox(jobs);
        if (inflight_ >= kPublishWindow || building_.empty()) return;
        closePack();
        pumpOutbox(jobs);
    }

    // What appended() gathered becomes packs of at most the server's max
    // payload each.
    void closePack() REQUIRES(mu_)
    {
        if (building_.empty()) return;
        const uint64_t limit = maxMessage();
        uint64_t no = nextOutNo_ - building_.size();
        size_t i = 0;
        while (i < building_.size()) {
            Pack p;
            p.firstNo = no + i;
            if (building_.size() - i == 1 || building_[i]->size() + 4 > limit) {
                p.body.assign(building_[i]->data(), building_[i]->size());
                p.count = 1;
                p.bytes = building_[i]->size();
                ++i;
            } else {
                while (i < building_.size() && p.body.size() + building_[i]->size() + 4 <= limit) {
                    appendLength(p.body, static_cast<uint32_t>(building_[i]->size()));
                    p.body.append(building_[i]->data(), building_[i]->size());
                    p.bytes += building_[i]->size();
                    ++p.count;
                    ++i;
                }
                if (p.count == 1) {  // one message only: sent as itself
                    p.body.erase(0, 4);
                }
            }
            packs_.emplace(nextPackId_++, std::move(p));
        }
        building_.clear();
        buildingBytes_ = 0;
    }

    void pumpOutbox(std::vector<PublishJob> &jobs) REQUIRES(mu_)
    {
        if (!ready_ || !link_->connected() || destroyed_) return;
        for (auto &[id, p] : packs_) {
            if (inflight_ >= kPublishWindow) break;
            if (p.sent) continue;
            p.sent = true;
            ++inflight_;
            jobs.push_back(PublishJob{id, p.body, p.count});
        }
    }

    void runPublishes(std::vector<PublishJob> &jobs)
    {
        if (jobs.empty()) return;
        std::string subj;
        {
            MutexLock g(mu_);
            subj = subject();
        }
        std::weak_ptr<NatsStore> weak = weak_from_this();
        for (PublishJob &j : jobs) {
            std::vector<std::pair<std::string, std::string>> headers;
            if (j.count > 1) headers.emplace_back("Chanfs-Pack", std::to_string(j.count));
            const uint64_t id = j.id;
            const int rc = link_->publish(subj, j.body, msgIdPrefix_ + std::to_string(id), headers,
                                          [weak, id](const NatsLink::PubAck &ack) {
                                              if (auto self = weak.lock()) self->onAck(id, ack);
                                          });
            if (rc < 0) {
                NatsLink::PubAck ack;
                ack.err = rc;
                ack.why = std::strerror(-rc);
                onAck(id, ack);
            }
        }
    }

    void onAck(uint64_t id, const NatsLink::PubAck &ack)
    {
        std::vector<WaitingWrite> done;
        std::vector<PublishJob> jobs;
        std::shared_ptr<StoreFeed> feed;
        bool retryLater = false;
        {
            MutexLock g(mu_);
            auto it = packs_.find(id);
            if (it == packs_.end()) return;
            if (it->second.sent && inflight_ > 0) --inflight_;
            if (ack.err == 0) {
                heldBytes_ -= std::min(heldBytes_, it->second.bytes);
                packs_.erase(it);
                const uint64_t low = lowestUnacked();
                while (!writeWaiters_.empty() && writeWaiters_.front().upTo < low) {
                    done.push_back(std::move(writeWaiters_.front()));
                    writeWaiters_.pop_front();
                }
                if (!publishError_.empty()) publishError_.clear();
            } else {
                // Kept and sent again (same message id: stored once):
                // at once after a timeout, a little later otherwise.
                it->second.sent = false;
                if (publishError_ != ack.why) {
                    spdlog::warn("channel {}: NATS publish not acknowledged: {}; retrying", label_,
                                 ack.why);
                    publishError_ = ack.why;
                }
                retryLater = ack.err != -ETIMEDOUT;
            }
            if (!retryLater) sendOutbox(jobs);
            feed = feed_;
        }
        runPublishes(jobs);
        if (retryLater) {
            std::weak_ptr<NatsStore> weak = weak_from_this();
            link_->post(
                [weak] {
                    if (auto self = weak.lock()) self->flush();
                },
                std::chrono::milliseconds(500));
        }
        for (WaitingWrite &w : done) (void)w.waiter->done(w.bytes);
        if (feed && (!done.empty() || ack.err == 0)) feed->changed();
    }

    void linkChanged(bool up)
    {
        std::shared_ptr<StoreFeed> feed;
        {
            MutexLock g(mu_);
            if (destroyed_) return;
            feed = feed_;
            if (!up) {
                // Pull requests and publishes in flight are lost with the
                // connection: sent again once it is back.
                outstanding_ = 0;
                pulls_.clear();
                for (auto &[id, p] : packs_) p.sent = false;
                inflight_ = 0;
            }
        }
        if (up) scheduleSetup(std::chrono::milliseconds(0));
        if (feed) feed->changed();
    }

    void scheduleSetup(std::chrono::milliseconds after)
    {
        std::weak_ptr<NatsStore> weak = weak_from_this();
        link_->post(
            [weak] {
                if (auto self = weak.lock()) self->setup();
            },
            after);
    }

    // On the link's worker: the stream, the consumer and the subscription,
    // then the outbox goes out. Tried again until it works.
    void setup()
    {
        {
            MutexLock g(mu_);
            // A channel removed elsewhere (lostConsumer()) gets no consumer
            // made again here: made again, it is a new channel (and store).
            if (destroyed_ || consumerGone_ || settingUp_) return;
            settingUp_ = true;
        }
        std::string why;
        const int rc = setupOnce(&why);
        std::shared_ptr<StoreFeed> feed;
        std::vector<PublishJob> jobs;
        {
            MutexLock g(mu_);
            settingUp_ = false;
            if (rc == 0) {
                ready_ = true;
                if (!error_.empty())
                    spdlog::info("channel {}: NATS stream {} ready", label_, streamName());
                error_.clear();
                sendOutbox(jobs);
            } else {
                if (error_ != why && rc != -ENOTCONN)
                    spdlog::warn("channel {}: NATS stream not ready: {}", label_, why);
                error_ = why;
            }
            feed = feed_;
        }
        runPublishes(jobs);
        if (rc < 0 && rc != -EINVAL && link_->connected())
            scheduleSetup(std::chrono::milliseconds(1000));
        if (feed) feed->changed();
    }

    int setupOnce(std::string *why)
    {
        if (!link_->connected() || !link_->connection()) {
            *why = link_->lastError().empty() ? "not connected" : link_->lastError();
            return -ENOTCONN;
        }
        const int cluster = std::max(1, link_->clusterSize());
        if (replicasWanted_ > cluster) {
            *why = "replicas=" + std::to_string(replicasWanted_) + " but the NATS cluster has " +
                   std::to_string(cluster) + " server(s)";
            return -EINVAL;
        }
        std::string stream, subj, durable, reply, subjects;
        int replicas = 0;
        {
            MutexLock g(mu_);
            if (replicas_ == 0) replicas_ = replicasWanted_ ? replicasWanted_ : std::min(cluster, 3);
            replicas = replicas_;
            stream = streamName();
            subj = subject();
            durable = durableName();
            subjects = link_->prefix() + "." + kindTag() + "." + dirHash_ + ".>";
        }
        std::string cfg = "{\"name\":" + jsonQuote(stream) + ",\"subjects\":[" +
                          jsonQuote(subjects) + "],\"storage\":\"file\",\"num_replicas\":" +
                          std::to_string(replicas) +
                          ",\"duplicate_window\":" + std::to_string(kDuplicateWindowNs);
        if (queue_)
            cfg += ",\"retention\":\"workqueue\",\"discard\":\"new\"}";
        else
            cfg += ",\"retention\":\"limits\",\"discard\":\"old\",\"max_msgs_per_subject\":" +
                   std::to_string(kTopicHistoryPerChannel) + "}";
        int rc = link_->apiRequest("$JS.API.STREAM.CREATE." + stream, cfg, &reply, why);
        // When the stream was made (its identity: a stream deleted and made
        // again has a new time), from the reply or, if the create was
        // refused, from the stream's info.
        std::string streamCreated = rc == 0 ? jsonString(reply, "created") : "";
        // Made by another mount (or an earlier run) already: used as it is.
        if (rc == -EIO && why->find("already in use") != std::string::npos) {
            rc = 0;
            std::string info, ignored;
            if (link_->apiRequest("$JS.API.STREAM.INFO." + stream, "", &info, &ignored) == 0)
                streamCreated = jsonString(info, "created");
        }
        if (rc < 0) {
            *why = "stream " + stream + ": " + *why;
            return rc;
        }
        if (queue_) {
            // Made before in this same stream (this is a reconnect): only
            // looked up, never made again. The mount that removed the
            // channel deletes the durable consumer once its link is back; a
            // create here racing that delete (this mount's reconnect before
            // the tree told it of the removal) would make it again, left
            // behind in the stream for good (abandon() deletes nothing
            // shared). Gone: removed elsewhere, as a pull's 409 Consumer
            // Deleted says. A stream that is not the one the consumer was
            // made in (deleted and made again, so its consumers went with
            // it) gets the consumer made again.
            bool madeBefore = false;
            {
                MutexLock g(mu_);
                madeBefore = !streamCreated.empty() && streamCreated == consumerStream_;
            }
            if (madeBefore) {
                rc = link_->apiRequest("$JS.API.CONSUMER.INFO." + stream + "." + durable, "",
                                       &reply, why);
                // Asked three times, a second apart, before it counts as
                // gone: a cluster in a leader election is not trusted to
                // know (the setup is tried again after an error).
                if (notFound(rc, *why)) {
                    bool gone = false;
                    {
                        MutexLock g(mu_);
                        gone = ++consumerMissing_ >= 3;
                    }
                    if (!gone) {
                        *why = "consumer " + durable + " not found after a reconnect";
                        return -EAGAIN;
                    }
                    lostConsumer("not found after a reconnect");
                    *why = "consumer " + durable + " is gone: removed on another mount";
                    return -EINVAL;
                }
                if (rc == 0) {
                    MutexLock g(mu_);
                    consumerMissing_ = 0;
                }
            } else {
                const std::string ccfg =
                    "{\"stream_name\":" + jsonQuote(stream) + ",\"config\":{\"durable_name\":" +
                    jsonQuote(durable) + ",\"filter_subject\":" + jsonQuote(subj) +
                    ",\"ack_policy\":\"explicit\",\"ack_wait\":" +
                    std::to_string(link_->ackWaitNs()) +
                    ",\"deliver_policy\":\"all\",\"max_waiting\":4096,\"max_ack_pending\":-1}}";
                rc = link_->apiRequest("$JS.API.CONSUMER.DURABLE.CREATE." + stream + "." + durable,
                                       ccfg, &reply, why);
                if (rc == -EIO && why->find("already") != std::string::npos) rc = 0;
            }
            if (rc < 0) {
                *why = "consumer " + durable + ": " + *why;
                return rc;
            }
            MutexLock g(mu_);
            consumerStream_ = streamCreated;
            if (!pullSub_) {
                pullInbox_ = link_->newInbox();
                pullSub_ = subscribe(pullInbox_ + ".*", onQueueMsg);
                if (!pullSub_) {
                    *why = "cannot subscribe to the pull inbox";
                    return -EIO;
                }
            }
            return 0;
        }
        // topic: a fresh push consumer from the last sequence seen.
        std::string inbox;
        uint64_t from = 0, replay = 0;
        std::string oldConsumer;
        {
            MutexLock g(mu_);
            replay = replay_;
            if (topicSub_) {
                natsSubscription_Unsubscribe(topicSub_.get());
                topicSub_.reset();
            }
            topicInbox_ = link_->newInbox();
            inbox = topicInbox_;
            from = lastStreamSeq_ + 1;
            oldConsumer = std::exchange(topicConsumer_, "");
            topicSub_ = subscribe(inbox, onTopicMsg);
            if (!topicSub_) {
                *why = "cannot subscribe to the topic inbox";
                return -EIO;
            }
        }
        if (!oldConsumer.empty()) {
            std::string ignored, w;
            link_->apiRequest("$JS.API.CONSUMER.DELETE." + stream + "." + oldConsumer, "",
                              &ignored, &w, 500);
        }
        std::string deliver;
        if (from > 1)
            deliver = "\"deliver_policy\":\"by_start_sequence\",\"opt_start_seq\":" +
                      std::to_string(from);
        else if (replay > 0)
            deliver = "\"deliver_policy\":\"all\"";
        else
            deliver = "\"deliver_policy\":\"new\"";
        const std::string ccfg =
            "{\"stream_name\":" + jsonQuote(stream) + ",\"config\":{\"deliver_subject\":" +
            jsonQuote(inbox) + ",\"filter_subject\":" + jsonQuote(subj) + "," + deliver +
            ",\"ack_policy\":\"none\",\"flow_control\":true,\"idle_heartbeat\":2000000000,"
            "\"inactive_threshold\":60000000000,\"mem_storage\":true,\"num_replicas\":1}}";
        rc = link_->apiRequest("$JS.API.CONSUMER.CREATE." + stream, ccfg, &reply, why);
        if (rc < 0) {
            *why = "topic consumer: " + *why;
            return rc;
        }
        MutexLock g(mu_);
        topicConsumer_ = jsonString(reply, "name");
        if (from <= 1) {
            // A new consumer's deliveries start after the sequence the stream
            // had: nothing older comes twice after a reconnect.
        }
        return 0;
    }

    // How many messages a pull may ask for: up to kFetchAhead, as many as
    // fit the channel's capacity (less what is queued and on its way) at
    // the average message size seen so far; 0 before any came (the first
    // pull asks only for what the readers lack).
    size_t fetchAhead() const REQUIRES(mu_)
    {
        if (avgBytes_ <= 0) return 0;
        const double used = static_cast<double>(queued().bytes()) + outstanding_ * avgBytes_;
        const double room = static_cast<double>(capacity_) - used;
        if (room <= avgBytes_) return 1;
        return std::min(kFetchAhead, static_cast<size_t>(room / avgBytes_));
    }

    // [channel mutex] Fetched messages still queued here are taken off the
    // queue and given back: a NATS message none of whose messages was taken
    // is NAKed (the stream delivers it again, to any host, at once); the
    // rest of one partly delivered is published again as a new message, and
    // the original acked once that is stored, so what a reader got is never
    // delivered twice and what it did not get is not lost. A head message a
    // reader has read a part of stays (its rest is the next local read's).
    void giveBack(GiveBack &out) REQUIRES(mu_)
    {
        std::map<AckRef *, std::pair<std::shared_ptr<AckRef>, std::vector<Payload>>> back;
        std::vector<Entry> keep;
        while (!queued().empty()) {
            if (queued().front().offset > 0) {
                keep.push_back(take());
                continue;
            }
            Entry e = take();
            auto it = unacked_.find(e.seq);
            if (it == unacked_.end()) {  // not fetched (cannot happen for a queue): stays
                keep.push_back(std::move(e));
                continue;
            }
            std::shared_ptr<AckRef> ref = std::move(it->second);
            unacked_.erase(it);
            --ref->remaining;
            auto &slot = back[ref.get()];
            slot.first = ref;
            slot.second.push_back(e.payload);
        }
        for (auto it = keep.rbegin(); it != keep.rend(); ++it) putBack(std::move(*it));
        if (back.empty()) return;
        out.subject = subject();
        size_t republished = 0;
        for (auto &[raw, slot] : back) {
            auto &[ref, payloads] = slot;
            if (ref->remaining == 0 && payloads.size() == ref->count) {
                out.naks.push_back(ref->reply);
                continue;
            }
            ++ref->remaining;  // the new message's ack
            republished += payloads.size();
            out.rest.push_back(
                {ref, std::move(payloads), msgIdPrefix_ + "r" + std::to_string(nextRepublish_++)});
        }
        spdlog::debug("channel {}: fetched messages given back: {} NAKed, {} published again",
                      label_, out.naks.size(), republished);
    }

    void sendGiveBack(GiveBack &back)
    {
        if (natsConnection *c = link_->connection())
            for (const std::string &reply : back.naks)
                natsConnection_PublishString(c, reply.c_str(), "-NAK");
        for (auto &r : back.rest) republishRest(back.subject, r);
    }

    // The part of a NATS message no reader got, as a new message of the
    // stream; the original is acked once that is stored and the part
    // readers took is consumed. If it cannot be stored, the original is
    // never acked: redelivered after the ack wait (at least once).
    void republishRest(const std::string &subj, GiveBack::Rest &r)
    {
        std::vector<std::pair<std::string, std::string>> headers;
        if (r.payloads.size() > 1)
            headers.emplace_back("Chanfs-Pack", std::to_string(r.payloads.size()));
        std::weak_ptr<NatsStore> weak = weak_from_this();
        std::shared_ptr<AckRef> ref = r.ref;
        link_->publish(subj, encodePack(r.payloads), r.msgId, headers,
                       [weak, ref](const NatsLink::PubAck &ack) {
                           auto self = weak.lock();
                           if (!self || ack.err != 0) return;
                           bool last = false;
                           {
                               MutexLock g(self->mu_);
                               last = --ref->remaining == 0;
                               if (last) self->acked_ += ref->taken;
                           }
                           if (natsConnection *c = self->link_->connection(); c && last)
                               natsConnection_PublishString(c, ref->reply.c_str(), "+ACK");
                       });
    }

    // While fetched messages are held unacked (queued here, or taken by a
    // reply not yet made): every quarter of the ack wait each is kept alive
    // with +WPI, so JetStream does not deliver it elsewhere; once nothing
    // was taken for half the ack wait, the channel is asked to let the
    // store give back what is still queued (readersWaiting).
    void scheduleKeepAlive() REQUIRES(mu_)
    {
        if (keepAliveScheduled_ || unacked_.empty()) return;
        keepAliveScheduled_ = true;
        std::weak_ptr<NatsStore> weak = weak_from_this();
        link_->post(
            [weak] {
                if (auto self = weak.lock()) self->keepAlive();
            },
            std::chrono::milliseconds(link_->ackWaitNs() / 4'000'000));
    }

    void keepAlive()
    {
        std::vector<std::string> replies;
        std::shared_ptr<StoreFeed> feed;
        {
            MutexLock g(mu_);
            keepAliveScheduled_ = false;
            if (destroyed_ || unacked_.empty()) return;
            const auto idle = std::chrono::steady_clock::now() - lastTaken_;
            if (idle >= std::chrono::nanoseconds(link_->ackWaitNs() / 2)) {
                giveBackDue_ = true;
                feed = feed_;
            }
            std::unordered_set<AckRef *> seen;
            for (const auto &[seq, ref] : unacked_)
                if (seen.insert(ref.get()).second) replies.push_back(ref->reply);
            scheduleKeepAlive();
        }
        if (natsConnection *c = link_->connection())
            for (const std::string &reply : replies)
                natsConnection_PublishString(c, reply.c_str(), "+WPI");
        if (feed) feed->changed();
    }

    static bool statusOf(natsMsg *m, std::string *code)
    {
        const char *v = nullptr;
        if (natsMsg_GetDataLength(m) == 0 && natsMsgHeader_Get(m, "Status", &v) == NATS_OK && v) {
            *code = v;
            return true;
        }
        return false;
    }

    // What a subscription's callbacks name: the store, weakly, so a
    // delivery racing the store's end finds it gone. Freed by cnats's
    // on-complete callback, after the subscription's last delivery.
    struct SubClosure {
        std::weak_ptr<NatsStore> store;
    };
    static void onSubComplete(void *closure)
    {
        std::unique_ptr<SubClosure> gone(static_cast<SubClosure *>(closure));
    }
    nats::SubscriptionPtr subscribe(const std::string &subject, natsMsgHandler cb)
    {
        auto closure = std::make_unique<SubClosure>();
        closure->store = weak_from_this();
        natsSubscription *raw = nullptr;
        if (natsConnection_Subscribe(&raw, link_->connection(), subject.c_str(), cb,
                                     closure.get()) != NATS_OK)
            return nullptr;
        nats::SubscriptionPtr sub(raw);
        if (natsSubscription_SetOnCompleteCB(raw, onSubComplete, closure.get()) == NATS_OK)
            closure.release();  // cnats hands it back to onSubComplete
        else
            natsSubscription_Unsubscribe(raw);  // no callback may outlive `closure`
        return sub;
    }

    static void onTopicMsg(natsConnection *nc, natsSubscription *, natsMsg *m, void *closure)
    {
        nats::MsgPtr msg(m);
        if (auto self = static_cast<SubClosure *>(closure)->store.lock()) self->topicMsg(nc, m);
    }

    void topicMsg(natsConnection *nc, natsMsg *m)
    {
        std::string status;
        if (statusOf(m, &status)) {
            // Flow control asks for an empty reply; heartbeats need none.
            if (const char *reply = natsMsg_GetReply(m); reply && *reply)
                natsConnection_Publish(nc, reply, nullptr, 0);
            return;
        }
        const uint64_t sseq = streamSeqOf(natsMsg_GetReply(m));
        std::vector<Payload> messages;
        if (!decode(m, messages)) return;
        std::shared_ptr<StoreFeed> feed;
        {
            MutexLock g(mu_);
            if (destroyed_) return;
            if (sseq != 0 && sseq <= lastStreamSeq_) return;  // seen before a reconnect
            if (sseq) lastStreamSeq_ = sseq;
            feed = feed_;
            for (const Payload &p : messages) arriving_.emplace(p.get(), nullptr);
        }
        if (feed) feed->arrived(messages);
        clearArriving(messages);
    }

    static void onQueueMsg(natsConnection *, natsSubscription *, natsMsg *m, void *closure)
    {
        nats::MsgPtr msg(m);
        if (auto self = static_cast<SubClosure *>(closure)->store.lock()) self->queueMsg(m);
    }

    // The pull a status (408, 409...) answers: the last token of its subject
    // (the pull's reply subject; deliveries carry the stream's subject).
    static uint64_t pullIdOf(natsMsg *m)
    {
        const char *subj = natsMsg_GetSubject(m);
        if (!subj) return 0;
        const char *dot = std::strrchr(subj, '.');
        return dot ? std::strtoull(dot + 1, nullptr, 10) : 0;
    }

    // A pull's end saying the durable consumer is no more: 409 Consumer
    // Deleted (the channel was removed on another mount while the pull was
    // open) or 503 no responders (a pull sent after that).
    static bool consumerGone(natsMsg *m, const std::string &status)
    {
        if (status == "503") return true;
        const char *desc = nullptr;
        if (status != "409" || natsMsgHeader_Get(m, "Description", &desc) != NATS_OK || !desc)
            return false;
        std::string d(desc);
        std::transform(d.begin(), d.end(), d.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        return d.find("consumer deleted") != std::string::npos;
    }

    // The channel was removed elsewhere: no more pulls (they would only
    // come back 503 at once), and the channel behaves as removed here (its
    // waiting readers get end-of-stream). A setup that works again (after
    // a reconnect) pulls again.
    void lostConsumer(const std::string &status)
    {
        std::shared_ptr<StoreFeed> feed;
        {
            MutexLock g(mu_);
            if (destroyed_ || consumerGone_) return;
            consumerGone_ = true;
            pulls_.clear();
            outstanding_ = 0;
            feed = feed_;
        }
        spdlog::warn("channel {}: its NATS consumer is gone ({}): removed on another mount; its "
                     "readers get end-of-stream",
                     label_, status);
        if (feed) feed->gone();
    }

    // The pull `id` is over: what it could still have brought is no longer
    // counted as on its way.
    void endPull(uint64_t id) REQUIRES(mu_)
    {
        auto it = pulls_.find(id);
        if (it == pulls_.end()) return;
        outstanding_ -= std::min(outstanding_, it->second.remaining);
        pulls_.erase(it);
    }

    void queueMsg(natsMsg *m)
    {
        std::string status;
        std::shared_ptr<StoreFeed> feed;
        if (statusOf(m, &status)) {
            const uint64_t pull = pullIdOf(m);
            if (consumerGone(m, status)) {
                lostConsumer(status);
                return;
            }
            // 404 no messages, 408 request expired, 409 too many waiting or
            // a leader change: that pull is over; the readers still parked
            // ask again (changed()).
            spdlog::debug("channel {}: NATS pull {} ended: {}", label_, pull, status);
            {
                MutexLock g(mu_);
                endPull(pull);
                feed = feed_;
            }
            if (feed) feed->changed();
            return;
        }
        const char *reply = natsMsg_GetReply(m);
        std::vector<Payload> messages;
        if (!decode(m, messages) || !reply) return;
        auto ref = std::make_shared<AckRef>();
        ref->reply = reply;
        ref->count = ref->remaining = static_cast<uint32_t>(messages.size());
        // JetStream's delivery count (the message metadata): above 1, some
        // consumer had it before and did not acknowledge it in time, or
        // gave it back.
        uint64_t delivered = 0;
        if (jsMsgMetaData *meta = nullptr; natsMsg_GetMetaData(&meta, m) == NATS_OK) {
            delivered = meta->NumDelivered;
            jsMsgMetaData_Destroy(meta);
        }
        bool wanted = false;
        {
            MutexLock g(mu_);
            // A delivery carries the stream's subject, not the pull's: it
            // answers the oldest open pull (the server serves them in order).
            if (auto it = pulls_.begin(); it != pulls_.end()) {
                if (outstanding_ > 0) --outstanding_;
                if (it->second.remaining > 0 && --it->second.remaining == 0) pulls_.erase(it);
            } else if (outstanding_ > 0) {
                --outstanding_;
            }
            // Fetched for local readers, and kept for them while any is
            // open; once none is (all closed), given back at once, so a
            // reader on another host gets it now rather than after the ack
            // wait. Likewise after an idle give-back until a local reader
            // parks again: the pull that fetched ahead may still be open at
            // the server, which serves it first, and would bring back here
            // what was just given back (and give it back again at each
            // keep-alive round, until the pull expired).
            wanted = !destroyed_ && feed_ && readers_ > 0 && !(gaveBackIdle_ && parked_ == 0);
            if (wanted) {
                feed = feed_;
                if (delivered > 1) redelivered_ += messages.size();
                for (const Payload &p : messages) {
                    arriving_.emplace(p.get(), ref);
                    const double size = static_cast<double>(p->size());
                    avgBytes_ = avgBytes_ <= 0 ? size : avgBytes_ * 0.9 + size * 0.1;
                }
                if (unacked_.empty() && !keepAliveScheduled_)
                    lastTaken_ = std::chrono::steady_clock::now();
            }
        }
        if (!wanted) {
            spdlog::debug("channel {}: a message fetched for a reader that left is given back",
                          label_);
            if (natsConnection *c = link_->connection())
                natsConnection_PublishString(c, reply, "-NAK");
            return;
        }
        feed->arrived(messages);
        clearArriving(messages);
    }

    void clearArriving(const std::vector<Payload> &messages)
    {
        MutexLock g(mu_);
        for (const Payload &p : messages) arriving_.erase(p.get());
    }

    bool decode(natsMsg *m, std::vector<Payload> &out)
    {
        const std::string_view body(natsMsg_GetData(m),
                                    static_cast<size_t>(natsMsg_GetDataLength(m)));
        const char *pack = nullptr;
        if (natsMsgHeader_Get(m, "Chanfs-Pack", &pack) == NATS_OK && pack) {
            const uint32_t count = static_cast<uint32_t>(std::strtoul(pack, nullptr, 10));
            if (count == 0 || !unpack(body, count, out)) {
                spdlog::warn("channel {}: a NATS message with a damaged pack skipped", label_);
                out.clear();
                return false;
            }
            return true;
        }
        out.push_back(makePayload(body.data(), body.size()));
        return true;
    }

    // A pull's expiry has passed and no status said it ended (the server
    // that had it went away): forgotten, and the readers ask again.
    void expirePull(uint64_t id)
    {
        std::shared_ptr<StoreFeed> feed;
        {
            MutexLock g(mu_);
            if (pulls_.find(id) == pulls_.end()) return;
            endPull(id);
            feed = feed_;
        }
        if (feed) feed->changed();
    }

    const std::shared_ptr<NatsLink> link_;
    const std::string label_;
    const bool queue_;
    const int replicasWanted_;
    std::string dirHash_, nameToken_, msgIdPrefix_;

    mutable Mutex mu_;  // after the channel's mutex, before the link's
    std::shared_ptr<StoreFeed> feed_ GUARDED_BY(mu_);
    int replicas_ GUARDED_BY(mu_) = 0;
    uint64_t replay_ GUARDED_BY(mu_) = 0;
    bool ready_ GUARDED_BY(mu_) = false;
    bool settingUp_ GUARDED_BY(mu_) = false;
    bool destroyed_ GUARDED_BY(mu_) = false;
    bool consumerGone_ GUARDED_BY(mu_) = false;  // lostConsumer() ran
    // Queue: the `created` time of the stream its setup made (or found) the
    // consumer in; empty until then.
    std::string consumerStream_ GUARDED_BY(mu_);
    int consumerMissing_ GUARDED_BY(mu_) = 0;    // lookups in a row that did not find it
    bool overflowError_ GUARDED_BY(mu_) = false;
    std::string error_ GUARDED_BY(mu_);
    std::string publishError_ GUARDED_BY(mu_);
    // Outbox: local messages of the write being admitted, then packs by id.
    std::vector<Payload> building_ GUARDED_BY(mu_);
    uint64_t buildingBytes_ GUARDED_BY(mu_) = 0;
    std::map<uint64_t, Pack> packs_ GUARDED_BY(mu_);
    uint64_t nextPackId_ GUARDED_BY(mu_) = 1;
    uint64_t nextOutNo_ GUARDED_BY(mu_) = 1;  // outbox number of the next local message
    size_t inflight_ GUARDED_BY(mu_) = 0;
    uint64_t heldBytes_ GUARDED_BY(mu_) = 0;
    std::deque<WaitingWrite> writeWaiters_ GUARDED_BY(mu_);
    // Messages from the stream being fed to the channel (by payload).
    std::unordered_map<const void *, std::shared_ptr<AckRef>> arriving_ GUARDED_BY(mu_);
    std::unordered_map<uint64_t, std::shared_ptr<AckRef>> unacked_ GUARDED_BY(mu_);
    // Queues: chanfs messages acknowledged to JetStream (after their FUSE
    // reply succeeded), and those taken whose delivery count was above 1.
    uint64_t acked_ GUARDED_BY(mu_) = 0;
    uint64_t redelivered_ GUARDED_BY(mu_) = 0;
    // queue
    std::string pullInbox_ GUARDED_BY(mu_);
    nats::SubscriptionPtr pullSub_ GUARDED_BY(mu_);
    size_t outstanding_ GUARDED_BY(mu_) = 0;
    size_t parked_ GUARDED_BY(mu_) = 0, queued_ GUARDED_BY(mu_) = 0;
    size_t readers_ GUARDED_BY(mu_) = 0;  // local reading handles open
    uint64_t capacity_ GUARDED_BY(mu_) = 0;
    double avgBytes_ GUARDED_BY(mu_) = 0;  // of the messages fetched (moving average)
    // Fetch ahead's give-back: when a reply last took a fetched message,
    // whether the keep-alive timer runs, and whether it found them idle.
    std::chrono::steady_clock::time_point lastTaken_ GUARDED_BY(mu_);
    bool keepAliveScheduled_ GUARDED_BY(mu_) = false;
    bool giveBackDue_ GUARDED_BY(mu_) = false;
    // An idle give-back happened and no local reader parked since: what a
    // pull still brings is given back at once (queueMsg).
    bool gaveBackIdle_ GUARDED_BY(mu_) = false;
    uint64_t nextRepublish_ GUARDED_BY(mu_) = 1;
    std::map<uint64_t, PullRequest> pulls_ GUARDED_BY(mu_);  // by id, still open
    uint64_t nextPullId_ GUARDED_BY(mu_) = 1;
    // topic
    std::string topicInbox_ GUARDED_BY(mu_);
    std::string topicConsumer_ GUARDED_BY(mu_);
    nats::SubscriptionPtr topicSub_ GUARDED_BY(mu_);
    uint64_t lastStreamSeq_ GUARDED_BY(mu_) = 0;

};

}  // namespace

int openNatsStore(const StoreRequest &req, std::shared_ptr<MessageStore> *out, StoreRecovery *,
                  std::string *why)
{
    std::shared_ptr<NatsLink> link = natsLink();
    if (!link) {
        *why = "backend=nats needs a NATS cluster: mount with -o nats=nats://HOST:PORT";
        return -EINVAL;
    }
    if (req.settings.kind == Kind::Pipe) {
        *why = "a pipe cannot use backend=nats: use kind queue or topic";
        return -EINVAL;
    }
    const int cluster = link->clusterSize();
    if (link->connected() && cluster > 0 && static_cast<int>(req.settings.replicas) > cluster) {
        *why = "replicas=" + std::to_string(req.settings.replicas) +
               " but the NATS cluster has " + std::to_string(cluster) + " server(s)";
        return -EINVAL;
    }
    auto store = std::make_shared<NatsStore>(link, req);
    store->configure(req.settings);
    store->start();
    *out = std::move(store);
    return 0;
}

}  // namespace chanfs
