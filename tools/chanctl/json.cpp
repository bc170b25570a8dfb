#include "tools/chanctl/json.h"

#include <nlohmann/json.hpp>

namespace chanctl::json {

std::string quote(std::string_view s)
{
    // nlohmann-json does the escaping and the UTF-8 check; invalid bytes
    // become U+FFFD (written as the character itself, not as \ufffd).
    return nlohmann::json(std::string(s))
        .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
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
