// libFuzzer target: the values a user can put in `user.chanfs.*` xattrs.
//
//  - parseKind/parseFraming/parseOverflow/parseSize/parseCount on any text,
//    against a reference written here from the README (names exactly;
//    decimal digits with an optional K/M/G suffix; no overflow).
//  - parseFifoSpec, parseUdsListen, parseUdsConnect (user.chanfs.fifo and
//    user.chanfs.uds) on any text, against the README's rules.
//  - A sequence of Channel::changeSetting(name, value) calls, with writes,
//    reads and open handles in between: each call either accepts, and the
//    value reads back through settings(), or refuses with -EINVAL, -EBUSY
//    or -ENODATA, a reason, and the settings unchanged. After a kind change
//    whatever is queued must still be readable (a channel must never end
//    up holding data no reader can reach).

#include <limits.h>
#include <sys/un.h>

#include <cerrno>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <fuzzer/FuzzedDataProvider.h>

#include "channels/base/settings.h"
#include "channels/core/channel.h"
#include "channels/endpoints/bridge.h"
#include "channels/endpoints/uds_connect.h"
#include "channels/endpoints/uds_listen.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace chanfs;
using chanfs::fuzz::shown;

// Values worth trying beside arbitrary bytes (valid ones, edges, near misses).
const std::vector<std::string> kValues = {
    "pipe",
    "queue",
    "topic",
    "bytes",
    "lines",
    "messages",
    "lp32",
    "block",
    "drop-oldest",
    "error",
    "0",
    "1",
    "3",
    "64K",
    "1M",
    "1044480",
    "1044481",
    "64M",
    "67108865",
    "16G",
    "17179869185",
    "1000000",
    "1000001",
    "18446744073709551615",
    "18446744073709551616",
    "17179869184K",
    "18014398509481983K",
    "18014398509481984K",
    "17179869183G",
    "17179869184g",
    "-1",
    "+1",
    " 1",
    "1 ",
    "1k",
    "1KB",
    "K",
    "",
    "Pipe",
    "queue\n",
    "in:/tmp/f",
    "out:/tmp/f",
    "listen:/tmp/s",
    "listen-seqpacket:/tmp/s",
    "connect:/tmp/s",
};

std::string pickText(FuzzedDataProvider &in)
{
    if (in.ConsumeBool()) return kValues[in.ConsumeIntegralInRange<size_t>(0, kValues.size() - 1)];
    return in.ConsumeRandomLengthString(64);
}

bool allDigits(std::string_view t)
{
    if (t.empty()) return false;
    for (char c : t)
        if (c < '0' || c > '9') return false;
    return true;
}

// Decimal digits that fit in 64 bits (nullopt otherwise).
std::optional<unsigned __int128> referenceCount(std::string_view t)
{
    if (!allDigits(t)) return std::nullopt;
    unsigned __int128 v = 0;
    for (char c : t) {
        v = v * 10 + unsigned(c - '0');
        if (v > UINT64_MAX) return std::nullopt;
    }
    return v;
}

void checkValueParsers(std::string_view t)
{
    const std::string what = "value " + shown(t);
    {
        Kind k;
        const bool want = t == "pipe" || t == "queue" || t == "topic";
        const int rc = parseKind(t, &k);
        FUZZ_CHECK((rc == 0) == want && (rc == 0 || rc == -EINVAL), what + ": parseKind");
        if (rc == 0) FUZZ_CHECK(toString(k) == t, what + ": kind round trip");
    }
    {
        Framing f;
        const bool want = t == "bytes" || t == "lines" || t == "messages" || t == "lp32";
        const int rc = parseFraming(t, &f);
        FUZZ_CHECK((rc == 0) == want && (rc == 0 || rc == -EINVAL), what + ": parseFraming");
        if (rc == 0) FUZZ_CHECK(toString(f) == t, what + ": framing round trip");
    }
    {
        Overflow o;
        const bool want = t == "block" || t == "drop-oldest" || t == "error";
        const int rc = parseOverflow(t, &o);
        FUZZ_CHECK((rc == 0) == want && (rc == 0 || rc == -EINVAL), what + ": parseOverflow");
        if (rc == 0) FUZZ_CHECK(toString(o) == t, what + ": overflow round trip");
    }
    {
        uint64_t v = 12345;
        const auto want = referenceCount(t);
        const int rc = parseCount(t, &v);
        FUZZ_CHECK((rc == 0) == want.has_value() && (rc == 0 || rc == -EINVAL),
                   what + ": parseCount gave " + std::to_string(rc));
        if (rc == 0)
            FUZZ_CHECK(v == *want, what + ": parseCount value " + std::to_string(v));
        else
            FUZZ_CHECK(v == 12345, what + ": parseCount wrote its output on failure");
    }
    {
        uint64_t v = 12345;
        std::string_view digits = t;
        unsigned __int128 mult = 1;
        if (!digits.empty()) {
            switch (digits.back()) {
            case 'k':
            case 'K': mult = 1024; break;
            case 'm':
            case 'M': mult = 1024 * 1024; break;
            case 'g':
            case 'G': mult = 1024 * 1024 * 1024; break;
            default: break;
            }
            if (mult != 1) digits.remove_suffix(1);
        }
        std::optional<unsigned __int128> want = referenceCount(digits);
        if (want && *want * mult > UINT64_MAX) want.reset();
        const int rc = parseSize(t, &v);
        FUZZ_CHECK((rc == 0) == want.has_value() && (rc == 0 || rc == -EINVAL),
                   what + ": parseSize gave " + std::to_string(rc));
        if (rc == 0)
            FUZZ_CHECK(v == *want * mult, what + ": parseSize value " + std::to_string(v));
        else
            FUZZ_CHECK(v == 12345, what + ": parseSize wrote its output on failure");
    }
}

// Why a bridge path is refused (README: absolute, no NUL; sockets: fits
// sun_path), or "" if it is fine.
bool validFifoPath(std::string_view p)
{
    return !p.empty() && p[0] == '/' && p.find('\0') == std::string_view::npos &&
           p.size() < PATH_MAX;
}
bool validSocketPath(std::string_view p)
{
    return !p.empty() && p[0] == '/' && p.find('\0') == std::string_view::npos &&
           p.size() < sizeof(sockaddr_un::sun_path);
}

void checkBridgeParsers(std::string_view t)
{
    const std::string what = "bridge value " + shown(t);
    {
        FifoBridgeSpec spec;
        std::string why;
        const bool in = t.substr(0, 3) == "in:";
        const bool out = t.substr(0, 4) == "out:";
        const std::string_view path = in ? t.substr(3) : out ? t.substr(4) : std::string_view{};
        const bool want = (in || out) && validFifoPath(path);
        const int rc = parseFifoSpec(t, &spec, &why);
        FUZZ_CHECK((rc == 0) == want && (rc == 0 || rc == -EINVAL),
                   what + ": parseFifoSpec gave " + std::to_string(rc));
        if (rc == 0) {
            FUZZ_CHECK(spec.path == path, what + ": fifo path " + shown(spec.path));
            FUZZ_CHECK(spec.direction == (in ? FifoDirection::In : FifoDirection::Out), what);
        } else {
            FUZZ_CHECK(!why.empty(), what + ": refused without a reason");
        }
    }
    {
        UdsListenSpec spec;
        std::string why;
        const bool seq = t.substr(0, 17) == "listen-seqpacket:";
        const bool stream = t.substr(0, 7) == "listen:";
        const std::string_view path = seq      ? t.substr(17)
                                      : stream ? t.substr(7)
                                               : std::string_view{};
        const int rc = parseUdsListen(t, &spec, &why);
        if (!seq && !stream) {
            FUZZ_CHECK(rc == -ENOENT,
                       what + ": not a listen value, parseUdsListen gave " + std::to_string(rc));
        } else if (validSocketPath(path)) {
            FUZZ_CHECK(rc == 0, what + ": parseUdsListen refused a valid value: " + why);
            FUZZ_CHECK(spec.path == path && spec.seqpacket == seq, what + ": listen spec");
        } else {
            FUZZ_CHECK(rc == -EINVAL && !why.empty(),
                       what + ": parseUdsListen gave " + std::to_string(rc) + " why " + shown(why));
        }
    }
    {
        std::string path = "unchanged", why;
        const bool connect = t.substr(0, 8) == "connect:";
        const bool want = connect && validSocketPath(t.substr(8));
        const int rc = parseUdsConnect(t, &path, &why);
        FUZZ_CHECK((rc == 0) == want && (rc == 0 || rc == -EINVAL),
                   what + ": parseUdsConnect gave " + std::to_string(rc));
        if (rc == 0)
            FUZZ_CHECK(path == t.substr(8), what + ": connect path " + shown(path));
        else
            FUZZ_CHECK(!why.empty() && path == "unchanged", what + ": connect refusal");
    }
}

// Reads as a fs/ handler would, one nonblocking request.
struct ReadBox {
    bool delivered = false;
    int error = 0;
    std::string data;
};

class BoxReadWaiter final : public ReadWaiter {
public:
    explicit BoxReadWaiter(ReadBox *b) : b_(b) {}
    uintptr_t key() const override { return reinterpret_cast<uintptr_t>(this); }
    bool interrupted() const override { return false; }
    int deliver(std::span<const iovec> data) noexcept override
    {
        b_->delivered = true;
        b_->data = flatten(data);
        return 0;
    }
    void fail(int err) noexcept override { b_->error = err; }

private:
    ReadBox *b_;
};

class BoxWriteWaiter final : public WriteWaiter {
public:
    explicit BoxWriteWaiter(int *rc) : rc_(rc) {}
    uintptr_t key() const override { return reinterpret_cast<uintptr_t>(this); }
    bool interrupted() const override { return false; }
    int done(size_t) noexcept override
    {
        *rc_ = 0;
        return 0;
    }
    void fail(int err) noexcept override { *rc_ = -err; }

private:
    int *rc_;
};

ReadBox readOnce(Channel &ch, Handle &h, size_t maxBytes)
{
    ReadBox box;
    ReadRequest req;
    req.maxBytes = maxBytes;
    req.nonblock = true;
    ch.read(h, req, std::make_unique<BoxReadWaiter>(&box));
    return box;
}

int writeOnce(Channel &ch, Handle &h, std::string_view data)
{
    int rc = 1;
    WriteRequest req;
    req.data = {data.data(), data.size()};
    req.nonblock = true;
    ch.write(h, req, std::make_unique<BoxWriteWaiter>(&rc));
    FUZZ_CHECK(rc <= 0, "a nonblocking write was not answered");
    return rc;
}

void checkChangeSettings(FuzzedDataProvider &in)
{
    auto ch = Channel::create(Settings{}, "fuzz");
    std::vector<std::shared_ptr<Handle>> open;
    while (in.remaining_bytes() > 0) {
        const uint8_t op = in.ConsumeIntegral<uint8_t>();
        switch (op % 6) {
        case 0:
        case 1: {
            std::string name;
            if (in.ConsumeBool())
                name = std::string(kSettingNames[in.ConsumeIntegralInRange<size_t>(
                    0, std::size(kSettingNames) - 1)]);
            else
                name = in.ConsumeRandomLengthString(16);
            const std::string value = pickText(in);
            const std::string what = "changeSetting(" + shown(name) + ", " + shown(value) + ")";
            const Settings before = ch->settings();
            Settings expected = before;
            std::string whyRef;
            const int refRc = applySetting(&expected, name, value, &whyRef);
            std::string why;
            const int rc = ch->changeSetting(name, value, &why);
            const Settings after = ch->settings();
            FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -EBUSY || rc == -ENODATA,
                       what + " gave " + std::to_string(rc));
            FUZZ_CHECK(rc != -ENODATA ||
                           std::find(std::begin(kSettingNames), std::end(kSettingNames), name) ==
                               std::end(kSettingNames),
                       what + ": a known setting reported unknown");
            if (rc < 0) {
                FUZZ_CHECK(!why.empty(), what + ": refused without a reason");
                FUZZ_CHECK(after == before, what + ": refused but the settings changed");
                FUZZ_CHECK(rc != -EBUSY || !open.empty(), what + ": EBUSY with no handle open");
                if (rc != -EBUSY)
                    FUZZ_CHECK(refRc == rc, what + ": applySetting gave " + std::to_string(refRc));
                break;
            }
            FUZZ_CHECK(refRc == 0 && after == expected, what + ": differs from applySetting");
            FUZZ_CHECK(validate(after, nullptr) == 0, what + ": accepted an invalid combination");
            // The value reads back as the xattr would show it.
            const auto shownValue = formatSetting(after, name);
            FUZZ_CHECK(shownValue.has_value(), what + ": accepted an unknown name");
            // Numbers read back in decimal bytes or counts, whatever suffix was written.
            const bool isCount =
                name == "replay" || name == "retention_messages" || name == "replicas";
            const bool isSize =
                name == "capacity" || name == "max_message" || name == "retention_bytes";
            if (isCount || isSize) {
                uint64_t v = 0;
                FUZZ_CHECK((isCount ? parseCount(value, &v) : parseSize(value, &v)) == 0 &&
                               *shownValue == std::to_string(v),
                           what + ": reads back as " + *shownValue);
            } else {
                FUZZ_CHECK(*shownValue == value, what + ": reads back as " + *shownValue);
            }
            if ((after.kind != before.kind || after.framing != before.framing))
                FUZZ_CHECK(open.empty(), what + ": kind/framing changed while open");
            break;
        }
        case 2: {
            // A writer session: one write, closed again (or kept open).
            auto w = ch->open(false, true);
            const std::string data = in.ConsumeRandomLengthString(40);
            writeOnce(*ch, *w, data);
            if (in.ConsumeBool())
                open.push_back(w);
            else
                ch->release(*w);
            break;
        }
        case 3: {
            auto r = ch->open(true, false);
            readOnce(*ch, *r, in.ConsumeIntegralInRange<size_t>(1, 64));
            if (in.ConsumeBool())
                open.push_back(r);
            else
                ch->release(*r);
            break;
        }
        case 4:
            if (!open.empty()) {
                const size_t i = in.ConsumeIntegralInRange<size_t>(0, open.size() - 1);
                ch->release(*open[i]);
                open.erase(open.begin() + static_cast<std::ptrdiff_t>(i));
            }
            break;
        case 5:
            if (!open.empty()) {
                Handle &h = *open[in.ConsumeIntegralInRange<size_t>(0, open.size() - 1)];
                if (h.reads())
                    readOnce(*ch, h, in.ConsumeIntegralInRange<size_t>(1, 64));
                else
                    writeOnce(*ch, h, in.ConsumeRandomLengthString(40));
            }
            break;
        }
    }
    for (auto &h : open) ch->release(*h);
    // A queue shows its data to any reader: what is queued must come out.
    const Settings s = ch->settings();
    if (s.kind == Kind::Queue) {
        auto r = ch->open(true, false);
        for (int i = 0; i < 10000 && ch->stats().queuedBytes > 0; ++i) {
            const uint64_t queued = ch->stats().queuedBytes;
            const ReadBox got = readOnce(*ch, *r, 1 << 16);
            FUZZ_CHECK(got.delivered && !got.data.empty(),
                       std::to_string(queued) + " bytes queued in a " +
                           std::string(toString(s.framing)) + " queue, but a read got error " +
                           std::to_string(got.error));
        }
        ch->release(*r);
    }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
    chanfs::fuzz::quietLogs();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FuzzedDataProvider in(data, size);
    switch (in.ConsumeIntegralInRange<int>(0, 2)) {
    case 0: {
        const std::string t = in.ConsumeRemainingBytesAsString();
        checkValueParsers(t);
        break;
    }
    case 1: {
        const std::string t = in.ConsumeRemainingBytesAsString();
        checkBridgeParsers(t);
        break;
    }
    default: checkChangeSettings(in); break;
    }
    return 0;
}
