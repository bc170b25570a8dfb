// The commands for scripts: `pub` writes messages with the channel's
// framing applied, `sub` prints the messages it reads until a count or a
// timeout, `wait` blocks until a channel's stats meet a condition. Their
// exit statuses: 0 done, 1 failed, 2 usage, 5 timed out (as `health`).
//
// Threading contract: single-threaded; each run_* is called once from main().
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace chanctl {

inline constexpr int kTimedOut = 5;

struct PubOptions {
    std::string path;
    std::vector<std::string> messages;  // empty: stdin, one message per line
    std::string file;                   // --file: its whole content is one message
};
int run_pub(const PubOptions &options);

struct SubOptions {
    std::string path;
    std::optional<unsigned long> count;  // -n: exit 0 after this many
    std::optional<double> timeout_s;     // exit kTimedOut when it passes
    bool json = false;                   // one {"message": ...} object per line
    bool lp32_decode = false;            // lp32: print the bodies, not the frames
    int ready_fd = -1;                   // written to and closed once subscribed
};
int run_sub(const SubOptions &options);

struct WaitOptions {
    std::string path;
    enum class Until { Empty, Readers, Messages } until = Until::Empty;
    unsigned long count = 0;  // --readers N / --messages N: at least N
    std::optional<double> timeout_s;
};
int run_wait(const WaitOptions &options);

}  // namespace chanctl
