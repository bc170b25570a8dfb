// The syncer thread: fdatasync of dirty journals and the tree log, and
// the fsync=always replies that wait for it.
#include "channels/storage/journal.h"

#include <dirent.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstring>
#include <optional>
#include <set>

#include "channels/base/file_io.h"
#include "channels/base/latency_histogram.h"
#include "channels/storage/journal_format.h"

#include "channels/storage/journal_files.h"

namespace chanfs {

using namespace journal_files;

JournalSyncer &JournalSyncer::instance()
{
    static JournalSyncer syncer;
    return syncer;
}

JournalSyncer::~JournalSyncer()
{
    {
        MutexLock g(mu_);
        stop_ = true;
    }
    cv_.notifyAll();
    if (thread_.joinable()) thread_.join();
}

// Started by the first use, not at construction: the daemon forks first.
void JournalSyncer::startThread()
{
    if (!thread_.joinable() && !stop_) thread_ = std::thread([this] { run(); });
}

void JournalSyncer::afterSync(std::shared_ptr<Syncable> target, std::unique_ptr<WriteWaiter> waiter,
                              size_t bytes)
{
    {
        MutexLock g(mu_);
        startThread();
        acks_.push_back(Ack{std::move(target), std::move(waiter), bytes});
    }
    cv_.notifyOne();
}

void JournalSyncer::markDirty(const std::shared_ptr<Syncable> &target)
{
    {
        MutexLock g(mu_);
        startThread();
        dirty_.push_back(target);
    }
    cv_.notifyOne();
}

void JournalSyncer::run()
{
    mu_.lock();
    while (!stop_) {
        // Writers waiting for their sync go at once; batch journals wait for
        // the interval so one fdatasync covers many writes.
        if (acks_.empty()) {
            if (dirty_.empty()) {
                while (!stop_ && acks_.empty() && dirty_.empty()) cv_.wait(mu_);
            } else {
                const auto deadline = std::chrono::steady_clock::now() + kBatchSyncInterval;
                while (!stop_ && acks_.empty() &&
                       cv_.waitUntil(mu_, deadline) != std::cv_status::timeout) {}
            }
        }
        std::vector<Ack> acks = std::move(acks_);
        std::vector<std::weak_ptr<Syncable>> dirty = std::move(dirty_);
        acks_.clear();
        dirty_.clear();
        busy_ = true;
        mu_.unlock();
        process(std::move(acks), std::move(dirty));
        mu_.lock();
        busy_ = false;
        idle_.notifyAll();
    }
    mu_.unlock();
}

void JournalSyncer::process(std::vector<Ack> acks, std::vector<std::weak_ptr<Syncable>> dirty)
{
    std::map<Syncable *, int> result;
    for (const Ack &a : acks) {
        auto [it, fresh] = result.try_emplace(a.target.get(), 0);
        if (fresh) it->second = a.target->sync();
    }
    for (const auto &w : dirty) {
        if (auto j = w.lock(); j && !result.count(j.get())) result[j.get()] = j->sync();
    }
    for (Ack &a : acks) {
        const int rc = result[a.target.get()];
        if (rc < 0)
            a.waiter->fail(-rc);
        else
            a.waiter->done(a.bytes);
    }
}

void JournalSyncer::drain()
{
    std::vector<Ack> acks;
    std::vector<std::weak_ptr<Syncable>> dirty;
    {
        // A batch the thread took is answered by the thread: wait for it,
        // or its replies could come after the caller ends the session.
        MutexLock lock(mu_);
        while (busy_) idle_.wait(mu_);
        acks = std::move(acks_);
        dirty = std::move(dirty_);
        acks_.clear();
        dirty_.clear();
    }
    process(std::move(acks), std::move(dirty));
}

}  // namespace chanfs
