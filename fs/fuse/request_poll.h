// Adaptive polling of /dev/fuse: after a request, a request thread keeps
// trying non-blocking reads for up to `poll_us` before it sleeps in
// poll(2). On a virtual machine the wake-up of a halted vCPU costs more
// than a FUSE round trip (FUSE-NOTES: 1 KiB writes 1.34x, round trip 1.28x
// faster with a 20 us spin); spinning while requests come back to back
// avoids it. The window adapts so an idle daemon burns nothing: a thread
// spins only while the last request came within the window, stops after
// one spin that found nothing, and while stopped probes with one spin
// every kProbeEvery requests to notice when traffic is dense again.
//
// Header-only so the bare FUSE loop (tools/bench/bare_fuse.cpp) polls with
// exactly the same rule and "chanfs / bare" stays a comparison of our code.
//
// Threading: a PollWindow belongs to one request thread (thread_local);
// readPolling() takes the caller's hooks and adds no locking of its own.
#pragma once

#include <poll.h>
#include <sys/types.h>
#include <time.h>

#include <cerrno>
#include <cstdint>

namespace chanfs::fs {

inline uint64_t monotonicNs()
{
    timespec ts;
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

class PollWindow {
public:
    // While stopped, every this many requests one gets a spin: a request
    // that slept is timed including the wake-up it paid, which alone could
    // keep dense traffic from ever re-arming the spin.
    static constexpr unsigned kProbeEvery = 16;

    explicit PollWindow(unsigned maxUs) : maxNs_(static_cast<uint64_t>(maxUs) * 1000) {}

    // How long the next read may spin before it sleeps; 0: sleep at once.
    uint64_t spinNs() const { return armed_ || probeDue() ? maxNs_ : 0; }
    // A spin caught a request: keep spinning.
    void caught()
    {
        armed_ = true;
        sleptSince_ = 0;
    }
    // A whole window passed without a request: stop spinning.
    void missed()
    {
        armed_ = false;
        sleptSince_ = 0;
    }
    // A request came after sleeping, gapNs after the read began.
    void slept(uint64_t gapNs)
    {
        armed_ = maxNs_ > 0 && gapNs <= maxNs_;
        sleptSince_ = armed_ ? 0 : sleptSince_ + 1;
    }
    bool armed() const { return armed_; }

private:
    bool probeDue() const { return sleptSince_ >= kProbeEvery; }

    uint64_t maxNs_;
    bool armed_ = false;
    unsigned sleptSince_ = 0;  // requests that slept since the last spin
};

// Reads one request. `tryRead()` is one non-blocking read(2) (its result,
// errno set on -1); `spinRead(deadlineNs)` repeats it until a request, an
// error other than EAGAIN or the deadline (returning -1/EAGAIN then) — the
// caller takes its lock once around the whole spin; `exited()` says that
// the session is ending. With `blocking`, /dev/fuse is in blocking mode and
// tryRead() sleeps by itself (no spin is possible then).
// Never returns -1 with EAGAIN: libfuse's loop would end on it.
template <typename TryRead, typename SpinRead, typename Exited>
ssize_t readPolling(int fd, PollWindow &w, bool blocking, TryRead tryRead, SpinRead spinRead,
                    Exited exited)
{
    for (;;) {
        const uint64_t start = monotonicNs();
        if (!blocking) {
            if (const uint64_t spin = w.spinNs(); spin > 0) {
                const ssize_t n = spinRead(start + spin);
                if (n >= 0 || errno != EAGAIN) {
                    w.caught();
                    return n;
                }
                w.missed();
            }
            if (exited()) {
                errno = EINTR;  // libfuse checks for exit
                return -1;
            }
            // Wait outside any lock (a cancellation point, as read(2) was).
            pollfd p{fd, POLLIN, 0};
            if (::poll(&p, 1, -1) < 0) return -1;  // EINTR: libfuse checks for exit
        }
        const ssize_t n = tryRead();
        // Another thread took the request this one was woken for.
        if (n < 0 && errno == EAGAIN) continue;
        const int err = errno;
        w.slept(monotonicNs() - start);
        errno = err;
        return n;
    }
}

// The spin of readPolling(): non-blocking reads until one is not EAGAIN,
// the deadline passes or the session ends.
template <typename TryRead, typename Exited>
ssize_t spinUntil(uint64_t deadlineNs, TryRead tryRead, Exited exited)
{
    for (;;) {
        const ssize_t n = tryRead();
        if (n >= 0 || errno != EAGAIN) return n;
        if (monotonicNs() >= deadlineNs || exited()) {
            errno = EAGAIN;
            return -1;
        }
    }
}

}  // namespace chanfs::fs
