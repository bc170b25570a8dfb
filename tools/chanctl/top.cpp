// chanctl top: a live table of the channels under a directory (commands.h).
#include <signal.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <map>

#include "tools/chanctl/commands.h"
#include "tools/chanctl/entry.h"
#include "tools/chanctl/json.h"
#include "tools/chanctl/table.h"

namespace chanctl {

namespace {

volatile std::sig_atomic_t g_stop = 0;

void on_stop_signal(int)
{
    g_stop = 1;
}

// Sleeps `seconds` unless SIGINT/SIGTERM arrives first.
void sleep_interruptibly(double seconds)
{
    timespec left{};
    left.tv_sec = static_cast<time_t>(seconds);
    left.tv_nsec = static_cast<long>((seconds - static_cast<double>(left.tv_sec)) * 1e9);
    while (!g_stop && ::nanosleep(&left, &left) != 0 && errno == EINTR) {}
}

uint64_t counter(const Entry &entry, std::string_view key)
{
    const std::string *value = entry.find(key);
    return value ? std::strtoull(value->c_str(), nullptr, 10) : 0;
}

struct Sample {
    uint64_t in = 0;
    uint64_t out = 0;
};

std::string rate_text(double per_second)
{
    char text[32];
    std::snprintf(text, sizeof text, "%.1f", per_second);
    return text;
}

// One refresh: the channels under `dir` with rates against `previous`
// (taken `elapsed_s` ago), which is then replaced by this sample.
void print_top(const TopOptions &options, std::map<std::string, Sample> &previous, double elapsed_s,
               int &status)
{
    std::vector<Entry> entries;
    collect_entries(options.dir, "", /*recursive=*/true, entries, status);
    std::map<std::string, Sample> current;

    static const char *const kHeader[] = {"NAME",  "KIND",    "IN/s",    "OUT/s", "QUEUED",
                                          "BYTES", "READERS", "WRITERS", "DROPS"};
    Table table(std::size(kHeader));
    for (size_t c = 2; c < std::size(kHeader); ++c) table.align_right(c);
    table.add_row(std::vector<std::string>(std::begin(kHeader), std::end(kHeader)));

    std::ostringstream json_text;
    json::Writer writer(json_text);
    writer.begin_array();
    for (const auto &entry : entries) {
        if (entry.type != EntryType::channel) continue;
        const Sample now{counter(entry, "stats.in_messages"), counter(entry, "stats.out_messages")};
        current[entry.name] = now;
        // A channel new since the last sample has no rate yet.
        const auto before = previous.find(entry.name);
        const bool has_rate = before != previous.end() && elapsed_s > 0;
        const double in_rate =
            has_rate ? static_cast<double>(now.in - std::min(now.in, before->second.in)) / elapsed_s
                     : 0;
        const double out_rate =
            has_rate
                ? static_cast<double>(now.out - std::min(now.out, before->second.out)) / elapsed_s
                : 0;
        auto value = [&](std::string_view key) {
            const std::string *v = entry.find(key);
            return v ? *v : std::string("-");
        };
        if (options.json) {
            writer.begin_object();
            writer.key("name");
            writer.string(entry.name);
            writer.key("kind");
            writer.string(value("kind"));
            writer.key("in_per_s");
            has_rate ? writer.integer(std::to_string(static_cast<uint64_t>(in_rate + 0.5)))
                     : writer.string("-");
            writer.key("out_per_s");
            has_rate ? writer.integer(std::to_string(static_cast<uint64_t>(out_rate + 0.5)))
                     : writer.string("-");
            for (const char *key :
                 {"queued_messages", "queued_bytes", "readers", "writers", "drops"}) {
                writer.key(key);
                writer.number_or_string(value(std::string("stats.") + key));
            }
            writer.end_object();
        } else {
            table.add_row({entry.name, value("kind"), has_rate ? rate_text(in_rate) : "-",
                           has_rate ? rate_text(out_rate) : "-", value("stats.queued_messages"),
                           value("stats.queued_bytes"), value("stats.readers"),
                           value("stats.writers"), value("stats.drops")});
        }
    }
    writer.end_array();
    previous = std::move(current);

    if (options.json) {
        writer.finish();
        std::cout << json_text.str();
    } else if (stdout_is_terminal()) {
        // Home, clear, a title line, then the table: a refresh in place.
        char interval[32];
        std::snprintf(interval, sizeof interval, "%g", options.interval_s);
        std::cout << "\x1b[H\x1b[2J"
                  << "chanctl top " << printable(options.dir) << ": every " << interval
                  << " s, Ctrl-C to quit\n\n";
        table.print(std::cout, stdout_style(), /*has_header=*/true);
    } else {
        // Piped: one table per refresh, a blank line between them.
        static bool first = true;
        if (!first) std::cout << '\n';
        first = false;
        table.print(std::cout, stdout_style(), /*has_header=*/true);
    }
    std::cout.flush();
}

}  // namespace

int run_top(const TopOptions &options)
{
    Entry root;
    root.path = options.dir;
    root.name = options.dir;
    InspectError error;
    if (!inspect(root, /*follow=*/true, error)) {
        report_inspect_error(options.dir, error);
        return 1;
    }
    if (root.type != EntryType::directory) {
        report("top", options.dir, ENOTDIR);
        return 1;
    }
    struct sigaction action {};
    action.sa_handler = on_stop_signal;
    sigemptyset(&action.sa_mask);
    // No SA_RESTART: the signal cuts the sleep short. Installed even where
    // the shell started us with SIGINT ignored (a background job).
    ::sigaction(SIGINT, &action, nullptr);
    ::sigaction(SIGTERM, &action, nullptr);

    int status = 0;
    std::map<std::string, Sample> previous;
    std::vector<Entry> first;
    {
        // The first sample only sets the baseline for the rates.
        int ignored = 0;
        collect_entries(options.dir, "", /*recursive=*/true, first, ignored);
        for (const auto &entry : first) {
            if (entry.type == EntryType::channel)
                previous[entry.name] = {counter(entry, "stats.in_messages"),
                                        counter(entry, "stats.out_messages")};
        }
    }
    auto last = std::chrono::steady_clock::now();
    for (unsigned shown = 0; !g_stop && (options.iterations == 0 || shown < options.iterations);
         ++shown) {
        sleep_interruptibly(options.interval_s);
        if (g_stop) break;
        const auto now = std::chrono::steady_clock::now();
        const double elapsed_s = std::chrono::duration<double>(now - last).count();
        last = now;
        print_top(options, previous, elapsed_s, status);
    }
    return status;
}

}  // namespace chanctl
