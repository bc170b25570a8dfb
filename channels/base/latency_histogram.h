// Lock-free latency histograms for the daemon's metrics endpoint
// (fs/daemon/metrics.*): the request path only adds to atomics, a scrape
// reads them. Buckets are cumulative only when read (snapshot()), so an
// observation is one relaxed increment plus the sum.
//
// Threading contract: thread-safe; observe() never blocks. A snapshot taken
// while observations land may be off by the ones in flight (each counter is
// read once), which Prometheus tolerates.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace chanfs {

class LatencyHistogram {
public:
    // Upper bounds in seconds: 10 µs to 10 s, roughly x2.5 per step. FUSE
    // requests land in the first few, an fdatasync on a spinning disk in
    // the last ones.
    static constexpr std::array<double, 13> kBoundsSeconds = {
        0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001,
        0.0025,  0.01,     0.025,   0.1,    1.0,     10.0};

    void observe(std::chrono::nanoseconds elapsed) noexcept
    {
        const double seconds = std::chrono::duration<double>(elapsed).count();
        size_t i = 0;
        while (i < kBoundsSeconds.size() && seconds > kBoundsSeconds[i]) ++i;
        buckets_[i].fetch_add(1, std::memory_order_relaxed);
        sumNanos_.fetch_add(static_cast<uint64_t>(elapsed.count()), std::memory_order_relaxed);
    }

    struct Snapshot {
        // cumulative[i]: observations <= kBoundsSeconds[i]; the last is +Inf.
        std::array<uint64_t, kBoundsSeconds.size() + 1> cumulative{};
        double sumSeconds = 0;
        uint64_t count() const { return cumulative.back(); }
    };
    Snapshot snapshot() const noexcept
    {
        Snapshot s;
        uint64_t running = 0;
        for (size_t i = 0; i < buckets_.size(); ++i) {
            running += buckets_[i].load(std::memory_order_relaxed);
            s.cumulative[i] = running;
        }
        s.sumSeconds = static_cast<double>(sumNanos_.load(std::memory_order_relaxed)) / 1e9;
        return s;
    }

private:
    std::array<std::atomic<uint64_t>, kBoundsSeconds.size() + 1> buckets_{};
    std::atomic<uint64_t> sumNanos_{0};
};

// How long each journal fdatasync took (channels/storage/journal.cpp), for
// the whole process: the metrics endpoint shows the disk's share of latency.
inline LatencyHistogram &journalFsyncLatency()
{
    static LatencyHistogram histogram;
    return histogram;
}

}  // namespace chanfs
