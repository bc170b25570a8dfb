// A minimal streaming JSON writer: enough for chanctl's output, which is
// a few levels of objects and arrays holding strings and integers. Strings
// are encoded by nlohmann-json; this file only lays out the structure (two
// spaces per level), streaming, so `top --json` prints each refresh as it
// comes.
#pragma once

#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace chanctl::json {

// Returns `s` as a quoted JSON string. File names and attribute values are
// arbitrary bytes while JSON must be UTF-8: bytes that are not valid UTF-8
// become U+FFFD so the output always parses.
std::string quote(std::string_view s);

// True if `s` is an integer JSON accepts as a number as written
// (digits, no leading zero unless it is the only digit).
bool is_integer(std::string_view s);

// Writes pretty-printed JSON (two-space indent) to a stream. The caller
// is responsible for a well-formed sequence of calls.
class Writer {
public:
    explicit Writer(std::ostream &out) : out_(out) {}

    void begin_object();
    void end_object();
    void begin_array();
    void end_array();
    void key(std::string_view name);
    void string(std::string_view value);
    // `digits` must satisfy is_integer().
    void integer(std::string_view digits);
    // A number when the text is a plain integer, a string otherwise:
    // attribute values are text, but most of them are counts.
    void number_or_string(std::string_view value);
    // Ends the document with a newline.
    void finish();

private:
    struct Level {
        bool is_object;
        bool empty;
    };

    void before_value();
    void close(char bracket);
    void newline_indent();

    std::ostream &out_;
    std::vector<Level> levels_;
    bool after_key_ = false;
};

}  // namespace chanctl::json
