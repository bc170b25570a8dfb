// Command-line parsing for chanctl, through CLI11: a command's options are
// a table of OptionSpec (the setting options come from channels/base/names.h
// through settings.h), built into a CLI11 subcommand; long options take a
// value as `--name value` or `--name=value`, options may come anywhere among
// the operands, and `--` ends them. Also the checks of option values that
// several commands share (counts, seconds, modes, paths).
//
// Threading contract: single-threaded (main() only).
#pragma once

#include <sys/types.h>

#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace chanctl {

// Bad command-line usage: main() turns it into a message, the command's
// usage line and exit status 2.
class UsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct OptionSpec {
    std::string_view long_name;  // without the leading "--"
    char short_name;             // '\0' if none
    bool takes_value;
    std::string_view metavar = "VALUE";  // for CLI11's messages
};

struct ParsedArgs {
    // (long name, value) in the order of the command's OptionSpecs; value
    // is empty for flags. An option given twice keeps its last value.
    std::vector<std::pair<std::string, std::string>> options;
    std::vector<std::string> operands;

    bool has(std::string_view long_name) const;
    // The value of an option that takes one, or nullptr if not given.
    const std::string *value(std::string_view long_name) const;
};

// One command's options added to its CLI11 subcommand; collect() reads
// them back after CLI::App::parse.
class BoundOptions {
public:
    BoundOptions(CLI::App &command, std::span<const OptionSpec> specs);
    ParsedArgs collect() const;

private:
    std::vector<std::pair<const OptionSpec *, CLI::Option *>> options_;
    std::vector<std::string> operands_;
};

// Value checks; each throws UsageError naming `option` and what it expects.
// A count: digits only; 0 only with zero_ok.
unsigned long parse_count(std::string_view option, const std::string &value, bool zero_ok);
// Seconds, from `min` (exclusive unless min_inclusive) to `max`;
// `expected` describes the range in the message ("up to 86400").
double parse_seconds(std::string_view option, const std::string &value, double min, double max,
                     bool min_inclusive, std::string_view expected);
// Octal permission bits, e.g. 0660.
mode_t parse_mode(const std::string &text);
// A path as the daemon needs it: absolute (relative to our cwd).
std::string absolute_path(const std::string &path);

}  // namespace chanctl
