// The measurements of chanfs-bench. Each one sets up fresh links, moves a
// known number of bytes or messages, checks that all of them arrived (and,
// on lines framing, that every read ended on a line boundary), and returns
// times. Any error or short delivery fails the whole run.
//
// Threading: called from the main thread; each starts and joins its own
// writer/reader/subscriber threads.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>

#include "tools/bench/harness.h"
#include "tools/bench/transports.h"

namespace chanfs::bench {

struct StreamResult {
    double seconds = 0;        // first write to the reader's last byte
    double writerSeconds = 0;  // first write to the last write's return
    size_t reads = 0;          // read(2) calls that returned data
};
// One writer, one reader: totalBytes in writes of writeBytes, read with a
// buffer of readBytes.
StreamResult runStream(Transport &t, size_t writeBytes, size_t totalBytes, size_t readBytes);

// Seconds for `rounds` round trips of msgBytes each way.
double runPingPong(Transport &t, size_t rounds, size_t msgBytes);

// One publisher, `subscribers` readers (64 KiB buffers), `count` messages of
// msgBytes: seconds until the last subscriber has every message.
// chanfsDir empty: the kernel reference, one pipe per subscriber that the
// publisher writes each message into. Otherwise a chanfs topic/lines there.
double runFanout(const std::string &chanfsDir, unsigned subscribers, size_t count, size_t msgBytes);

struct ScaleResult {
    ProcStats before, during, after;
    double setupSeconds = 0;  // parking the readers / creating the channels
    double undoSeconds = 0;   // waking the readers / removing the channels
};
// n readers (threads with small stacks) blocked on one chanfs queue, then
// woken all at once by unlinking it.
ScaleResult runParkedReaders(const std::string &chanfsDir, pid_t daemon, unsigned n);
// n idle channels created, then removed.
ScaleResult runIdleChannels(const std::string &chanfsDir, pid_t daemon, unsigned n);

}  // namespace chanfs::bench
