// A FUSE interrupt is armed only for a read or write that must wait, not
// for the common one the channel answers at once.
//
// The channel first tries the request without parking it (readOrReturn,
// writeOrReturn). One that would wait comes back untouched, so no other
// thread can see it yet; `arm` then registers the interrupt with no
// channel lock held and the request is tried again, parking if it still
// must wait. If the interrupt came first, libfuse runs the callback inside
// the arming call: it takes the channel's mutex (not held here), finds
// nothing parked, and the second try sees interrupted() and fails with
// EINTR. A request that never waits (O_NONBLOCK, the next chunk of one
// large read) is not armed at all.
//
// Header-only and free of libfuse so the unit tests drive it with fakes
// (tests/unit/fs/wait_arming_test.cpp).
#pragma once

#include <memory>
#include <utility>

#include "channels/core/channel.h"

namespace chanfs::fs {

template <typename Arm>
void readArmedToWait(Channel &ch, Handle &h, const ReadRequest &req,
                     std::unique_ptr<ReadWaiter> waiter, Arm &&arm)
{
    if (req.nonblock || req.continuation) {
        ch.read(h, req, std::move(waiter));
        return;
    }
    if (ch.readOrReturn(h, req, waiter)) return;
    arm();
    ch.read(h, req, std::move(waiter));
}

template <typename Arm>
void writeArmedToWait(Channel &ch, Handle &h, const WriteRequest &req,
                      std::unique_ptr<WriteWaiter> waiter, Arm &&arm)
{
    if (req.nonblock) {
        ch.write(h, req, std::move(waiter));
        return;
    }
    if (ch.writeOrReturn(h, req, waiter)) return;
    arm();
    ch.write(h, req, std::move(waiter));
}

}  // namespace chanfs::fs
