// `chanctl health MOUNT`: is a chanfs daemon answering at MOUNT? A liveness
// and readiness probe for service managers and container health checks,
// with one exit status per kind of failure so a script can tell a stale
// mount (restart the service) from a slow one (wait) from a mistake.
//
// Threading contract: run_health() is called once from main(); the probe
// runs on a thread of its own so a daemon that never answers cannot hold
// chanctl past --timeout (chanctl then exits with that thread still blocked
// in the kernel, which ends it with the process).
#pragma once

#include <string>

namespace chanctl {

// Exit statuses (documented in chanctl(1) and docs/monitoring.md). 1 and 2
// keep their meaning from every other command.
inline constexpr int kHealthOk = 0;
inline constexpr int kHealthError = 1;      // MOUNT cannot be checked at all
inline constexpr int kHealthNotChanfs = 3;  // not a chanfs mount point
inline constexpr int kHealthStale = 4;      // mounted, daemon gone (ENOTCONN)
inline constexpr int kHealthNoAnswer = 5;   // no answer within the timeout

struct HealthOptions {
    std::string mount;
    double timeout_s = 5.0;
    bool json = false;
};

int run_health(const HealthOptions &options);

}  // namespace chanctl
