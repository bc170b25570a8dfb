// ReadWaiter/WriteWaiter/PollNotifier over libfuse requests: how a channel
// answers a FUSE request now or later, from whichever thread has the data.
#pragma once

#include <memory>

#include "channels/base/waiters.h"
#include "fs/base/fuse_api.h"

namespace chanfs::fs {

std::unique_ptr<ReadWaiter> makeReadWaiter(fuse_req_t req);
std::unique_ptr<WriteWaiter> makeWriteWaiter(fuse_req_t req);
std::shared_ptr<PollNotifier> makePollNotifier(fuse_pollhandle *ph);

// Registers the interrupt callback that cancels the parked request on the
// channel with this id. Must be called before the request can be parked and
// with no channel lock held (libfuse runs the callback under its own lock).
void armInterrupt(fuse_req_t req, uint64_t channelId);

}  // namespace chanfs::fs
