#include "tools/chanctl/json.h"

#include <cstdint>

namespace chanctl::json {

namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0 if the bytes
// there are not one (overlong forms, surrogates and values past U+10FFFF
// are rejected, as RFC 3629 requires).
size_t utf8_sequence_length(std::string_view s, size_t i)
{
    const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char b0 = byte(i);
    size_t len;
    uint32_t min;
    uint32_t cp;
    if (b0 < 0x80) return 1;
    if ((b0 & 0xE0) == 0xC0) {
        len = 2;
        min = 0x80;
        cp = b0 & 0x1F;
    } else if ((b0 & 0xF0) == 0xE0) {
        len = 3;
        min = 0x800;
        cp = b0 & 0x0F;
    } else if ((b0 & 0xF8) == 0xF0) {
        len = 4;
        min = 0x10000;
        cp = b0 & 0x07;
    } else {
        return 0;
    }
    if (i + len > s.size()) return 0;
    for (size_t k = 1; k < len; ++k) {
        const unsigned char b = byte(i + k);
        if ((b & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (b & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

}  // namespace

std::string quote(std::string_view s)
{
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(s.size() + 2);
    out += '"';
    size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        switch (c) {
        case '"':
            out += "\\\"";
            ++i;
            continue;
        case '\\':
            out += "\\\\";
            ++i;
            continue;
        case '\b':
            out += "\\b";
            ++i;
            continue;
        case '\f':
            out += "\\f";
            ++i;
            continue;
        case '\n':
            out += "\\n";
            ++i;
            continue;
        case '\r':
            out += "\\r";
            ++i;
            continue;
        case '\t':
            out += "\\t";
            ++i;
            continue;
        default: break;
        }
        if (c < 0x20) {
            out += "\\u00";
            out += kHex[c >> 4];
            out += kHex[c & 0xF];
            ++i;
            continue;
        }
        const size_t len = utf8_sequence_length(s, i);
        if (len == 0) {
            out += "\\ufffd";
            ++i;
            continue;
        }
        out.append(s.substr(i, len));
        i += len;
    }
    out += '"';
    return out;
}

bool is_integer(std::string_view s)
{
    if (s.empty()) return false;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
    }
    return s.size() == 1 || s[0] != '0';
}

void Writer::newline_indent()
{
    out_ << '\n';
    for (size_t i = 0; i < levels_.size(); ++i) out_ << "  ";
}

void Writer::before_value()
{
    if (after_key_) {
        after_key_ = false;
        return;
    }
    if (levels_.empty()) return;
    Level &level = levels_.back();
    if (!level.empty) out_ << ',';
    level.empty = false;
    newline_indent();
}

void Writer::close(char bracket)
{
    const bool was_empty = levels_.back().empty;
    levels_.pop_back();
    if (!was_empty) newline_indent();
    out_ << bracket;
}

void Writer::begin_object()
{
    before_value();
    out_ << '{';
    levels_.push_back({true, true});
}

void Writer::end_object()
{
    close('}');
}

void Writer::begin_array()
{
    before_value();
    out_ << '[';
    levels_.push_back({false, true});
}

void Writer::end_array()
{
    close(']');
}

void Writer::key(std::string_view name)
{
    before_value();
    out_ << quote(name) << ": ";
    after_key_ = true;
}

void Writer::string(std::string_view value)
{
    before_value();
    out_ << quote(value);
}

void Writer::integer(std::string_view digits)
{
    before_value();
    out_ << digits;
}

void Writer::number_or_string(std::string_view value)
{
    if (is_integer(value)) {
        integer(value);
    } else {
        string(value);
    }
}

void Writer::finish()
{
    out_ << '\n';
}

}  // namespace chanctl::json
