// chanctl's subcommands as data: each one's usage line and help text, its
// options (main() builds them into CLI11 subcommands) and the function that
// runs it with the parsed arguments.
//
// Threading contract: single-threaded (main() only).
#pragma once

#include <functional>
#include <string_view>
#include <vector>

#include "tools/chanctl/cli.h"

namespace chanctl {

struct Command {
    std::string_view name;
    std::string_view usage;  // without the leading "usage: "
    std::string_view summary;
    std::string_view details;  // printed after the usage line by `help`
    bool has_settings;         // takes the --kind... options (names.h)
    std::vector<OptionSpec> options;
    // Returns the exit status; throws UsageError on bad arguments.
    std::function<int(const ParsedArgs &)> run;
};

const std::vector<Command> &commands();
const Command *find_command(std::string_view name);

}  // namespace chanctl
