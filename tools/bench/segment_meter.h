// What a durable channel's journal wrote: the bytes of every segment file
// it made, measured from outside the daemon. A fanotify mark on the
// channel's journal directory reports each segment as the daemon closes it
// (rotated out, or the journal removed with its channel), with a descriptor
// that keeps the file readable after the daemon deleted it, so its size is
// final. A thread takes the reports as they come, so a deleted segment is
// released at once, as it would be without the meter.
//
// Needs CAP_SYS_ADMIN (fanotify with file descriptors); without it,
// watch() says why and the bench reports no disk figures.
//
// Threading: watch() and collect() from one thread; the meter's own thread
// reads the reports.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "channels/base/unique_fd.h"

namespace chanfs::bench {

struct DiskUse {
    uint64_t bytes = 0;     // sum of the segment files' final sizes
    uint64_t segments = 0;  // segment files closed
};

class SegmentMeter {
public:
    // Marks `dir` (it must exist); nullptr and `why` if it cannot.
    static std::unique_ptr<SegmentMeter> watch(const std::string &dir, std::string *why);
    ~SegmentMeter();
    SegmentMeter(const SegmentMeter &) = delete;
    SegmentMeter &operator=(const SegmentMeter &) = delete;

    // Call once the journal is gone (its channel removed, so every segment
    // is closed): what was written, or nothing if a report was lost.
    std::optional<DiskUse> collect();

    SegmentMeter(UniqueFd fan, UniqueFd stop);  // use watch()

private:
    void run();

    UniqueFd fan_;
    UniqueFd stop_;  // eventfd: collect() asks the thread to finish
    std::thread thread_;
    DiskUse use_;
    bool lost_ = false;
};

}  // namespace chanfs::bench
