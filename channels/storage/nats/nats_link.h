// The daemon's one connection to a NATS JetStream cluster, shared by every
// NATS-backed store and by the shared tree (link contract:
// docs/nats.md#the-link).
//
// open() checks the configuration and returns at once: connecting (and
// reconnecting, forever) happens on cnats's threads, so a mount whose
// cluster is down comes up and the stores start working when it appears.
// Message delivery for every subscription made through the link runs on
// cnats's global delivery pool (a bounded number of threads, however many
// channels), and calls that wait for a JetStream API reply run on the link's
// one worker thread (post()), never on a FUSE request thread.
//
// Threading contract: thread-safe. The link's mutex is a leaf: it is never
// held while calling a callback, a cnats function that may wait, or a
// store; callers may hold a channel mutex when calling publish(), post(),
// connected() or lastError() (lock order: channel mutex, then the link's).
#pragma once

#include <nats/nats.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "channels/base/mutex.h"
#include "channels/base/thread_annotations.h"
#include "channels/storage/nats/nats_config.h"
#include "channels/storage/nats/nats_handles.h"

namespace chanfs {

class NatsLink : public std::enable_shared_from_this<NatsLink> {
public:
    // Checks the config (URLs parse, files readable) and starts connecting
    // in the background. 0 or -errno (EINVAL bad URL or prefix,
    // ENOENT/EACCES for a creds/CA/cert/key file) with *why.
    static int open(const NatsConfig &cfg, std::shared_ptr<NatsLink> *out, std::string *why);
    ~NatsLink();
    NatsLink(const NatsLink &) = delete;
    NatsLink &operator=(const NatsLink &) = delete;

    // Null until the first connect attempt returned (at most the connect
    // timeout after open(), on the link's worker); then valid until close().
    natsConnection *connection() const;
    jsCtx *jetstream() const;
    const std::string &prefix() const { return cfg_.prefix; }
    int64_t ackWaitNs() const { return int64_t(cfg_.ackWaitSeconds) * 1'000'000'000; }
    bool connected() const;
    // "" or why the link is down (never a secret).
    std::string lastError() const;
    // Servers in the cluster (for the replicas default and check); 0 until
    // connected once.
    int clusterSize() const;
    // The server's max_payload (bytes a message may carry with headers); 0
    // until connected once.
    int64_t maxPayload() const;
    // Since open(): publishes JetStream acknowledged, publishes that failed
    // (an error reply, no reply in time, or not sent), and disconnects.
    uint64_t publishesAcked() const { return pubAcked_.load(std::memory_order_relaxed); }
    uint64_t publishFailures() const { return pubFailed_.load(std::memory_order_relaxed); }
    uint64_t disconnects() const { return disconnects_.load(std::memory_order_relaxed); }
    // Called (from a cnats thread or the worker, no lock held) on every
    // connect and disconnect.
    void onStateChange(std::function<void(bool connected)> cb);
    // Drains nothing that is not acknowledged: stops the worker, closes the
    // connection (bounded: ~2 s even with the cluster down). Later calls
    // fail fast (-ESHUTDOWN / null handles).
    void close();
    bool closed() const { return closed_.load(); }

    // ---- For the stores (beyond the contract, additive) ----------------
    // Runs `task` on the link's worker thread (JetStream API requests that
    // wait for a reply); false once closed. after: not before that delay.
    bool post(std::function<void()> task,
              std::chrono::milliseconds after = std::chrono::milliseconds(0));
    // Runs `task` on the link's worker once the link is connected: at once
    // if it is, else after the next connect (before the state callbacks'
    // work of that connect). Dropped if the link closes first; false once
    // closed. Never waits.
    bool whenConnected(std::function<void()> task);
    // What a publish came to: 0 and the stream sequence (duplicate: the
    // stream had it already, by its message id), or -errno with why
    // (ENOBUFS stream full, ETIMEDOUT no ack in time, ENOTCONN).
    struct PubAck {
        int err = 0;
        uint64_t seq = 0;
        bool duplicate = false;
        std::string why;
    };
    using PubAckFn = std::function<void(const PubAck &)>;
    // Publishes `data` to `subject` with Nats-Msg-Id `msgId` (empty: none)
    // and the given extra headers, without waiting: `done` is called once,
    // from a cnats thread (or the worker on timeout), with the PubAck.
    // Returns 0, or -errno (ENOTCONN, ESHUTDOWN) and `done` is not called.
    int publish(const std::string &subject, std::string_view data, const std::string &msgId,
                const std::vector<std::pair<std::string, std::string>> &headers, PubAckFn done);
    // How long a publish waits for its ack before done(-ETIMEDOUT).
    static constexpr std::chrono::milliseconds kAckTimeout{4000};
    // A JetStream API request made from the worker (never a FUSE thread):
    // the reply's JSON, or -errno and why.
    int apiRequest(const std::string &subject, const std::string &json, std::string *reply,
                   std::string *why, int64_t timeoutMs = 2000);
    // A fresh inbox subject (unique per link).
    std::string newInbox();

private:
    explicit NatsLink(NatsConfig cfg);
    void start(nats::OptionsPtr opts);
    void connectOnce(const std::shared_ptr<natsOptions> &opts);
    void workerLoop();
    void setConnected(bool up, const std::string &why);
    void expireAcks();
    // The ticket a PubAck reply subject names; 0 for any other subject.
    uint64_t ackTicketOf(const char *subject) const;
    static void onAckMsg(natsConnection *, natsSubscription *, natsMsg *msg, void *closure);
    static void onConnected(natsConnection *, void *closure);
    static void onDisconnected(natsConnection *, void *closure);
    static void onReconnected(natsConnection *, void *closure);
    static void onClosed(natsConnection *, void *closure);
    static void onError(natsConnection *, natsSubscription *, natsStatus s, void *closure);

    struct Task {
        std::chrono::steady_clock::time_point at;
        std::function<void()> fn;
    };
    struct PendingAck {
        std::chrono::steady_clock::time_point deadline;
        PubAckFn done;
    };

    const NatsConfig cfg_;
    std::atomic<bool> closed_{false};
    std::atomic<bool> connected_{false};
    std::atomic<bool> closedSeen_{false};
    std::atomic<int> clusterSize_{0};
    std::atomic<int64_t> maxPayload_{0};
    std::atomic<natsConnection *> connRaw_{nullptr};
    std::atomic<jsCtx *> jsRaw_{nullptr};
    std::atomic<uint64_t> pubAcked_{0}, pubFailed_{0}, disconnects_{0};
    // _INBOX.<nuid>.a. : PubAck replies come to ackPrefix_<ticket> (the ack
    // wildcard ackPrefix_* matches nothing else).
    std::string ackPrefix_;
    // _INBOX.<nuid>.i. : newInbox() gives inboxPrefix_<n>.
    std::string inboxPrefix_;

    mutable Mutex mu_;  // a leaf: see the threading contract above
    std::string lastError_ GUARDED_BY(mu_);
    std::vector<std::function<void(bool)>> stateCbs_ GUARDED_BY(mu_);
    std::deque<Task> tasks_ GUARDED_BY(mu_);
    std::vector<std::function<void()>> onConnect_ GUARDED_BY(mu_);  // whenConnected()
    std::unordered_map<uint64_t, PendingAck> acks_ GUARDED_BY(mu_);
    uint64_t nextTicket_ GUARDED_BY(mu_) = 1;
    uint64_t nextInbox_ GUARDED_BY(mu_) = 1;
    CondVar wake_;

    // Owned by the worker until close() joins it.
    nats::ConnectionPtr conn_;
    nats::JsCtxPtr js_;
    nats::SubscriptionPtr ackSub_;
    std::thread worker_;
};

// The JSON string value of `key` at the top level of `json` (or in an
// "error" object for "description"); "" if absent. Small helpers for the
// JetStream API replies.
std::string jsonString(std::string_view json, std::string_view key);
// The integer value of `key` anywhere in `json` (first match), or `dflt`.
int64_t jsonInt(std::string_view json, std::string_view key, int64_t dflt = -1);

}  // namespace chanfs
