#include "tools/chanctl/cli.h"

#include <algorithm>

namespace chanctl {

bool ParsedArgs::has(std::string_view long_name) const
{
    return std::any_of(options.begin(), options.end(),
                       [&](const auto &opt) { return opt.first == long_name; });
}

namespace {

const OptionSpec *find_long(std::span<const OptionSpec> specs, std::string_view name)
{
    for (const auto &spec : specs) {
        if (spec.long_name == name) return &spec;
    }
    return nullptr;
}

const OptionSpec *find_short(std::span<const OptionSpec> specs, char name)
{
    for (const auto &spec : specs) {
        if (spec.short_name != '\0' && spec.short_name == name) return &spec;
    }
    return nullptr;
}

}  // namespace

ParsedArgs parse_args(std::span<char *const> args, std::span<const OptionSpec> specs)
{
    ParsedArgs parsed;
    bool options_ended = false;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string_view arg = args[i];
        // A lone "-" is an operand by convention, as is anything after "--".
        if (options_ended || arg.size() < 2 || arg[0] != '-') {
            parsed.operands.emplace_back(arg);
            continue;
        }
        if (arg == "--") {
            options_ended = true;
            continue;
        }

        const OptionSpec *spec = nullptr;
        std::string shown;  // the option as the user wrote it, for messages
        std::string value;
        bool has_inline_value = false;
        if (arg.starts_with("--")) {
            std::string_view name = arg.substr(2);
            const size_t eq = name.find('=');
            if (eq != std::string_view::npos) {
                value = std::string(name.substr(eq + 1));
                name = name.substr(0, eq);
                has_inline_value = true;
            }
            shown = "--" + std::string(name);
            spec = find_long(specs, name);
        } else {
            // Single-letter options are flags only and are not bundled:
            // chanctl has too few of them for "-rh" style to be worth it.
            if (arg.size() != 2) throw UsageError("unknown option '" + std::string(arg) + "'");
            shown = std::string(arg);
            spec = find_short(specs, arg[1]);
        }
        if (spec == nullptr) throw UsageError("unknown option '" + shown + "'");

        if (spec->takes_value) {
            if (!has_inline_value) {
                // No setting's value starts with "--", so a following option
                // means the value was forgotten; `--name=--x` still passes one.
                if (i + 1 >= args.size() || std::string_view(args[i + 1]).starts_with("--")) {
                    throw UsageError("option '" + shown + "' needs a value");
                }
                value = args[++i];
            }
            if (value.empty()) throw UsageError("option '" + shown + "' needs a non-empty value");
        } else if (has_inline_value) {
            throw UsageError("option '" + shown + "' takes no value");
        }
        parsed.options.emplace_back(std::string(spec->long_name), std::move(value));
    }
    return parsed;
}

}  // namespace chanctl
