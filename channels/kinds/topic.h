// Topic kind (topic.cpp): what tests and tools need to know of it.
//
// Fan-out batching. On a topic with kTopicBatchMinReaders subscribers or
// more, one write would wake them all for a message each, and on FUSE every
// wake costs a reply and a new READ: 64 subscribers spent 64 requests per
// message. So a blocking read by a subscriber that was last answered less
// than the hold window ago (Channel::kHoldWindow), with less than half its
// buffer ready, waits for the window's end and then takes everything at
// once. A subscriber idle for longer (sporadic messages) is answered at
// once; so is one whose buffer is half full.
#pragma once

#include <cstddef>

namespace chanfs {

inline constexpr size_t kTopicBatchMinReaders = 16;

}  // namespace chanfs
