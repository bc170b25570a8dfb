#include "fs/daemon/service_notify.h"

#include <spdlog/spdlog.h>
#include <sys/xattr.h>
#include <systemd/sd-daemon.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>

namespace chanfs::fs {

namespace {

// Without a watchdog, STATUS= is refreshed this often.
constexpr uint64_t kStatusIntervalUsec = 10'000'000;
// A probe that failed (not yet mounted, a transient error) is retried after.
constexpr uint64_t kRetryUsec = 100'000;

bool readRootStat(const std::string &mountpoint, const char *name, std::string *out)
{
    char buf[64];
    const ssize_t n = ::getxattr(mountpoint.c_str(), name, buf, sizeof buf);
    if (n < 0) return false;
    out->assign(buf, static_cast<size_t>(n));
    return true;
}

}  // namespace

std::unique_ptr<ServiceNotifier> ServiceNotifier::start(std::string mountpoint)
{
    const char *socket = std::getenv("NOTIFY_SOCKET");
    if (!socket || !*socket) return nullptr;
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) <= 0) usec = 0;
    auto n = std::make_unique<ServiceNotifier>(std::move(mountpoint), usec);
    n->thread_ = std::thread([p = n.get()] { p->run(); });
    return n;
}

ServiceNotifier::ServiceNotifier(std::string mountpoint, uint64_t watchdogUsec)
    : mountpoint_(std::move(mountpoint)), watchdogUsec_(watchdogUsec)
{
}

ServiceNotifier::~ServiceNotifier()
{
    stopping();
    if (thread_.joinable()) thread_.join();
}

void ServiceNotifier::stopping()
{
    {
        MutexLock g(mu_);
        if (stopping_) return;
        stopping_ = true;
    }
    wake_.notifyAll();
    sd_notify(0, "STOPPING=1\nSTATUS=unmounting");
}

bool ServiceNotifier::sleepFor(uint64_t usec)
{
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(usec);
    MutexLock lock(mu_);
    while (!stopping_ && wake_.waitUntil(mu_, deadline) != std::cv_status::timeout) {}
    return !stopping_;
}

bool ServiceNotifier::probe(std::string *status) const
{
    std::string entries, used, limit;
    if (!readRootStat(mountpoint_, "user.chanfs.stats.entries", &entries) ||
        !readRootStat(mountpoint_, "user.chanfs.stats.memory_bytes", &used) ||
        !readRootStat(mountpoint_, "user.chanfs.stats.max_memory", &limit))
        return false;
    *status = "STATUS=" + entries + " entries, " + used + " of " + limit + " bytes of memory";
    return true;
}

void ServiceNotifier::run()
{
    std::string status;
    // READY=1 only after the loop answered: main() starts the loop right
    // after starting this thread, and the first probe waits in the kernel
    // until it does.
    while (!probe(&status)) {
        spdlog::debug("readiness probe of {}: {}", mountpoint_, std::strerror(errno));
        if (!sleepFor(kRetryUsec)) return;
    }
    {
        MutexLock g(mu_);
        if (stopping_) return;
        sd_notify(0, ("READY=1\n" + status).c_str());
    }
    const uint64_t interval = watchdogUsec_ ? watchdogUsec_ / 2 : kStatusIntervalUsec;
    while (sleepFor(interval)) {
        if (!probe(&status)) {
            // Not answered (the loop is ending, or the mount is gone):
            // no WATCHDOG=1, so systemd notices if it stays that way.
            spdlog::warn("watchdog probe of {} failed: {}", mountpoint_, std::strerror(errno));
            continue;
        }
        MutexLock g(mu_);
        if (stopping_) return;
        sd_notify(0, ((watchdogUsec_ ? "WATCHDOG=1\n" : "") + status).c_str());
    }
}

}  // namespace chanfs::fs
