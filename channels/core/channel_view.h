// The narrow view of a channel its kind policy (kind_policy.h) gets, and
// the per-handle state a kind may keep. Channel implements the view; every
// method runs with the channel's mutex held (the policy's own calls).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "channels/base/buffer.h"
#include "channels/base/settings.h"
#include "channels/core/message_store.h"

namespace chanfs {

class Handle;

// What a kind keeps per handle (a topic subscriber's cursor). Made by the
// policy's onOpen(), dropped with the handle; a handle's kind never changes.
class KindHandleState {
public:
    virtual ~KindHandleState() = default;
};

// The narrow view of a channel its kind policy gets: the store, the
// settings, the open-handle counts and a handle's own entries. Implemented
// by Channel; valid with the channel's mutex held.
class ChannelView {
public:
    virtual MessageStore &store() = 0;
    virtual const MessageStore &store() const = 0;
    virtual const Settings &config() const = 0;
    virtual const std::string &label() const = 0;  // for log lines
    virtual uint64_t readerCount() const = 0;
    virtual uint64_t writerCount() const = 0;
    // A message was dropped (stats).
    virtual void countDrop(uint64_t bytes) = 0;
    // Entries `h` reads before the store: the rest of a message it read in
    // part, or (topic) deliveries that failed and come again.
    virtual std::deque<Entry> &pendingOf(Handle &h) = 0;
    virtual const std::deque<Entry> &pendingOf(const Handle &h) const = 0;
    // A reader that takes at most one whole message per read.
    virtual bool readsOneMessage(const Handle &h) const = 0;
    // The handle was released (a failed delivery comes back after it).
    virtual bool isReleased(const Handle &h) const = 0;
    virtual std::unique_ptr<KindHandleState> &kindStateOf(Handle &h) = 0;
    virtual const KindHandleState *kindStateOf(const Handle &h) const = 0;
    // How long a read held back by holdsRead() may wait (Channel's timer).
    virtual std::chrono::milliseconds holdWindow() const = 0;

protected:
    ~ChannelView() = default;
};

}  // namespace chanfs
