// systemd readiness and watchdog (Type=notify): tells the service manager
// READY=1 once the mount answers a request, keeps STATUS= current with the
// entry count and memory, sends WATCHDOG=1 at half of WATCHDOG_USEC while
// the request loop answers, and STOPPING=1 on the way out. Through
// libsystemd's sd_notify; without NOTIFY_SOCKET it does nothing.
//
// "The mount answers" is tested the way a client would: a getxattr of the
// mount root's stats, which the kernel never caches, so it is a round trip
// through the request loop. A loop that hangs leaves that call waiting, no
// WATCHDOG=1 follows, and systemd restarts the service.
//
// Threading contract: created, stopping() and destroyed on main()'s thread;
// the probing runs on its own thread. Destroy it only after the FUSE session
// is gone: a probe still waiting on the mount returns when the session's
// device closes.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "channels/base/mutex.h"

namespace chanfs::fs {

class ServiceNotifier {
public:
    // nullptr if the process was not started with NOTIFY_SOCKET.
    static std::unique_ptr<ServiceNotifier> start(std::string mountpoint);
    ~ServiceNotifier();
    ServiceNotifier(const ServiceNotifier &) = delete;
    ServiceNotifier &operator=(const ServiceNotifier &) = delete;

    // The request loop has ended: STOPPING=1, and no more probes.
    void stopping();

    ServiceNotifier(std::string mountpoint, uint64_t watchdogUsec);

private:
    void run();
    // One round trip through the mount; the status line on success.
    bool probe(std::string *status) const;
    // Waits up to `usec` or until stopping(); false if stopping.
    bool sleepFor(uint64_t usec) EXCLUDES(mu_);

    const std::string mountpoint_;
    const uint64_t watchdogUsec_;  // 0: no watchdog
    Mutex mu_;                     // a leaf lock
    CondVar wake_;
    bool stopping_ GUARDED_BY(mu_) = false;
    std::thread thread_;
};

}  // namespace chanfs::fs
