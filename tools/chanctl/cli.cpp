#include "tools/chanctl/cli.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <filesystem>

namespace chanctl {

bool ParsedArgs::has(std::string_view long_name) const
{
    return std::any_of(options.begin(), options.end(),
                       [&](const auto &opt) { return opt.first == long_name; });
}

const std::string *ParsedArgs::value(std::string_view long_name) const
{
    for (const auto &[name, value] : options)
        if (name == long_name) return &value;
    return nullptr;
}

BoundOptions::BoundOptions(CLI::App &command, std::span<const OptionSpec> specs)
{
    // The option names of this command: a value that is one of them means
    // the value was forgotten (`--output --json`); `--name=--x` still
    // passes a value that starts with "--".
    std::vector<std::string> names;
    for (const OptionSpec &spec : specs) names.push_back("--" + std::string(spec.long_name));
    const auto check_value = [names](const std::string &value) -> std::string {
        if (value.empty()) return "needs a non-empty value";
        if (std::find(names.begin(), names.end(), value) != names.end())
            return "needs a value (got the option '" + value + "')";
        return {};
    };
    for (const OptionSpec &spec : specs) {
        std::string name = "--" + std::string(spec.long_name);
        if (spec.short_name != '\0') name = std::string{'-', spec.short_name} + "," + name;
        CLI::Option *option = nullptr;
        if (spec.takes_value) {
            option = command.add_option(name)
                         ->type_name(std::string(spec.metavar))
                         ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast)
                         ->check(CLI::Validator(check_value, ""));
        } else {
            option = command.add_flag(name)->disable_flag_override();
        }
        options_.emplace_back(&spec, option);
    }
    command.add_option("operands", operands_);
}

ParsedArgs BoundOptions::collect() const
{
    ParsedArgs parsed;
    for (const auto &[spec, option] : options_) {
        if (option->count() == 0) continue;
        parsed.options.emplace_back(std::string(spec->long_name),
                                    spec->takes_value ? option->results().back() : std::string());
    }
    parsed.operands = operands_;
    return parsed;
}

unsigned long parse_count(std::string_view option, const std::string &value, bool zero_ok)
{
    unsigned long n = 0;
    const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (ec != std::errc() || ptr != value.data() + value.size() || (!zero_ok && n == 0))
        throw UsageError("invalid " + std::string(option) + " '" + value + "' (expected a count" +
                         (zero_ok ? "" : " of 1 or more") + ")");
    return n;
}

double parse_seconds(std::string_view option, const std::string &value, double min, double max,
                     bool min_inclusive, std::string_view expected)
{
    char *end = nullptr;
    const double seconds = std::strtod(value.c_str(), &end);
    const bool above_min = min_inclusive ? seconds >= min : seconds > min;
    if (value.empty() || end != value.c_str() + value.size() || !(above_min && seconds <= max))
        throw UsageError("invalid " + std::string(option) + " '" + value + "' (expected seconds, " +
                         std::string(expected) + ")");
    return seconds;
}

mode_t parse_mode(const std::string &text)
{
    unsigned value = 0;
    const char *end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value, 8);
    if (ec != std::errc() || ptr != end || value > 07777) {
        throw UsageError("invalid mode '" + text + "' (expected octal, e.g. 0660)");
    }
    return static_cast<mode_t>(value);
}

std::string absolute_path(const std::string &path)
{
    if (path.starts_with('/')) return path;
    std::error_code ec;
    const auto cwd = std::filesystem::current_path(ec);
    if (ec) throw UsageError("cannot resolve '" + path + "': " + ec.message());
    return (cwd / path).lexically_normal().string();
}

}  // namespace chanctl
