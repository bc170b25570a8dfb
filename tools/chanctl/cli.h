// Command-line parsing shared by all subcommands: long options with a value
// either as `--name value` or `--name=value`, single-letter flags, options
// anywhere among the operands, and `--` to end options.
#pragma once

#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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
};

struct ParsedArgs {
    // (long name, value) in command-line order; value is empty for flags.
    std::vector<std::pair<std::string, std::string>> options;
    std::vector<std::string> operands;

    bool has(std::string_view long_name) const;
};

// Parses `args` (the words after the subcommand name). Throws UsageError on
// an unknown option, a missing value, or an empty value: chanctl leaves the
// checking of values to the daemon, but an empty one is always a mistake.
ParsedArgs parse_args(std::span<char *const> args, std::span<const OptionSpec> specs);

}  // namespace chanctl
