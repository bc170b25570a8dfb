#include "tools/chanctl/scripting.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <string_view>

#include "channels/base/file_io.h"
#include "tools/chanctl/json.h"
#include "tools/chanctl/xattr_client.h"

namespace chanctl {
namespace {

using Clock = std::chrono::steady_clock;

int fail(const std::string &path, const std::string &what, int err)
{
    std::cerr << "chanctl: " << path << ": " << what << ": " << std::strerror(err) << '\n';
    return 1;
}

// A channel setting or stat; "" with *err set if it cannot be read (not a
// chanfs channel: ENODATA or ENOTSUP).
std::string attribute(const std::string &path, const std::string &name, int *err)
{
    std::string value;
    *err = -xattr::get(path, "user.chanfs." + name, value);
    return value;
}

// Milliseconds left before `deadline` for poll(2); -1 without one.
int remaining_ms(const std::optional<Clock::time_point> &deadline)
{
    if (!deadline) return -1;
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - Clock::now()).count();
    return left <= 0 ? 0 : static_cast<int>(std::min<long long>(left, INT32_MAX));
}

std::optional<Clock::time_point> deadline_of(const std::optional<double> &timeout_s)
{
    if (!timeout_s) return std::nullopt;
    return Clock::now() +
           std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(*timeout_s));
}

// The length in an lp32 frame's 4-byte little-endian header.
uint32_t lp32_length(std::string_view header)
{
    const auto *p = reinterpret_cast<const unsigned char *>(header.data());
    return p[0] | (p[1] << 8) | (p[2] << 16) | (uint32_t(p[3]) << 24);
}

// The channel's framing; "" with *err set if PATH is no chanfs channel.
std::string framing_of(const std::string &path, int *err)
{
    std::string framing = attribute(path, "framing", err);
    if (*err) fail(path, "not a chanfs channel (cannot read its framing)", *err);
    return framing;
}

// A message as the channel's framing wants it written.
std::string frame(std::string_view framing, std::string_view message)
{
    if (framing == "lp32") {
        const auto n = static_cast<uint32_t>(message.size());
        std::string out{static_cast<char>(n & 0xff), static_cast<char>((n >> 8) & 0xff),
                        static_cast<char>((n >> 16) & 0xff), static_cast<char>((n >> 24) & 0xff)};
        return out.append(message);
    }
    if (framing == "messages") return std::string(message);
    // lines and bytes: a line per message, as echo would write it.
    std::string out(message);
    if (out.empty() || out.back() != '\n') out += '\n';
    return out;
}

}  // namespace

int run_pub(const PubOptions &o)
{
    int err = 0;
    const std::string framing = framing_of(o.path, &err);
    if (err) return 1;
    std::vector<std::string> messages = o.messages;
    if (!o.file.empty()) {
        std::ifstream in(o.file, std::ios::binary);
        if (!in) return fail(o.file, "cannot open", errno ? errno : EIO);
        messages.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    const bool from_stdin = messages.empty() && o.file.empty();
    if (framing == "lp32" || framing == "messages") {
        for (const std::string &m : messages)
            if (m.size() > UINT32_MAX) return fail(o.path, "message too big", EMSGSIZE);
    }
    const int fd = ::open(o.path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return fail(o.path, "cannot open for writing", errno);
    int rc = 0;
    auto put = [&](std::string_view m) {
        // One write(2) per message where it fits: `messages` framing makes
        // each call one message, and chanfs never splits a write between writers.
        if (rc == 0) rc = chanfs::writeFully(fd, frame(framing, m));
    };
    if (from_stdin) {
        std::string line;
        while (rc == 0 && std::getline(std::cin, line)) put(line);
    } else {
        for (const std::string &m : messages) put(m);
    }
    const int close_rc = ::close(fd) < 0 ? -errno : 0;
    if (rc < 0) return fail(o.path, "write", -rc);
    if (close_rc < 0) return fail(o.path, "close", -close_rc);
    return 0;
}

int run_sub(const SubOptions &o)
{
    int err = 0;
    const std::string framing = framing_of(o.path, &err);
    if (err) return 1;
    const std::string kind = attribute(o.path, "kind", &err);
    const auto deadline = deadline_of(o.timeout_s);
    // Opening subscribes (a topic delivers from here on): only then is the
    // caller told to go on, so a writer it starts next cannot be missed.
    const int fd = ::open(o.path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return fail(o.path, "cannot open for reading", errno);
    if (o.ready_fd >= 0) {
        const char nl = '\n';
        [[maybe_unused]] ssize_t n = ::write(o.ready_fd, &nl, 1);
        ::close(o.ready_fd);
    }
    // A queue or pipe read takes what it returns: with a count, take no
    // more than the count (lp32: header then body; lines: a byte at a
    // time) so the rest stays for other readers. A topic reader takes only
    // its own copy, and `messages` gives one message per read anyway.
    const bool exact = o.count && kind != "topic" && framing != "messages";
    unsigned long got = 0;
    std::string pending;  // bytes read, not yet a whole message
    std::string buf(framing == "messages" ? (1u << 20) + 4096 : 65536, '\0');
    auto emit = [&](std::string_view message, std::string_view raw) {
        if (o.json) {
            std::cout << "{\"message\": " << json::quote(message) << "}\n";
        } else if (framing == "lp32" && !o.lp32_decode) {
            std::cout << raw;
        } else {
            std::cout << message;
            if (message.empty() || message.back() != '\n') std::cout << '\n';
        }
        ++got;
    };
    auto done = [&] { return o.count && got >= *o.count; };
    // Whole messages at the front of `pending`, out.
    auto drain = [&] {
        while (!done()) {
            if (framing == "lp32") {
                if (pending.size() < 4) return;
                const uint32_t len = lp32_length(pending);
                if (pending.size() - 4 < len) return;
                emit(std::string_view(pending).substr(4, len),
                     std::string_view(pending).substr(0, 4 + size_t(len)));
                pending.erase(0, 4 + size_t(len));
            } else {
                const size_t nl = pending.find('\n');
                if (nl == std::string::npos) return;
                emit(std::string_view(pending).substr(0, nl + 1), {});
                pending.erase(0, nl + 1);
            }
        }
    };
    // How much the next read may take.
    auto want = [&]() -> size_t {
        if (!exact) return buf.size();
        if (framing == "lp32") {
            if (pending.size() < 4) return 4 - pending.size();
            return std::min<size_t>(buf.size(), 4 + size_t(lp32_length(pending)) - pending.size());
        }
        return 1;
    };
    int status = 0;
    while (!done()) {
        pollfd p{fd, POLLIN, 0};
        const int ready = ::poll(&p, 1, remaining_ms(deadline));
        if (ready < 0) {
            if (errno == EINTR) continue;
            status = fail(o.path, "poll", errno);
            break;
        }
        if (ready == 0) {
            std::cout.flush();
            std::cerr << "chanctl: " << o.path << ": timed out after " << got << " message"
                      << (got == 1 ? "" : "s") << '\n';
            status = kTimedOut;
            break;
        }
        const ssize_t n = ::read(fd, buf.data(), want());
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) continue;
            status = fail(o.path, "read", errno);
            break;
        }
        if (n == 0) {  // a pipe's writer closed: end of stream
            if (o.count) {
                std::cerr << "chanctl: " << o.path << ": end of stream after " << got << " of "
                          << *o.count << " messages\n";
                status = 1;
            }
            break;
        }
        if (framing == "messages") {
            emit(std::string_view(buf.data(), static_cast<size_t>(n)), {});
        } else {
            pending.append(buf.data(), static_cast<size_t>(n));
            drain();
        }
        std::cout.flush();
    }
    ::close(fd);
    return status;
}

int run_wait(const WaitOptions &o)
{
    // A watcher: Linux's access mode 3 (O_ACCMODE) allows neither read(2)
    // nor write(2), and chanfs counts it as neither reader nor writer (so
    // it changes nothing it watches). It polls readable whenever queued
    // messages, readers or writers changed since its last poll: the stat
    // is read once per change, and nothing runs while nothing changes.
    const char *stat =
        o.until == WaitOptions::Until::Readers ? "stats.readers" : "stats.queued_messages";
    const auto deadline = deadline_of(o.timeout_s);
    const int fd = ::open(o.path.c_str(), O_ACCMODE | O_CLOEXEC);
    if (fd < 0) return fail(o.path, "cannot open to watch", errno);
    int status = 0;
    for (;;) {
        // Read after the last poll (or the open): a change after this read
        // makes the next poll return at once.
        int err = 0;
        const std::string text = attribute(o.path, stat, &err);
        if (err) {
            status = fail(o.path, std::string("cannot read ") + stat, err);
            break;
        }
        const unsigned long value = std::stoul(text);
        if (o.until == WaitOptions::Until::Empty ? value == 0 : value >= o.count) break;
        pollfd p{fd, POLLIN, 0};
        const int ready = ::poll(&p, 1, remaining_ms(deadline));
        if (ready < 0 && errno != EINTR) {
            status = fail(o.path, "poll", errno);
            break;
        }
        if (ready == 0) {
            std::cerr << "chanctl: " << o.path << ": timed out (" << stat << " is " << value
                      << ")\n";
            status = kTimedOut;
            break;
        }
        if (p.revents & (POLLHUP | POLLERR | POLLNVAL)) {
            std::cerr << "chanctl: " << o.path << ": the channel was removed\n";
            status = 1;
            break;
        }
    }
    ::close(fd);
    return status;
}

}  // namespace chanctl
