#include "tools/bench/compare.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <vector>

namespace chanfs::bench {

namespace {

using nlohmann::json;

// What each JSON ratio key is measured against (report.cpp's names).
struct RatioKey {
    const char *key;
    const char *label;
    const char *reference;
    const char *fallback;  // the reference when the first is absent
};
const RatioKey kRatios[] = {
    {"vs_fifo", "xFIFO", "kernel FIFO", nullptr},
    {"vs_bare", "xbare", "bare FUSE loop", nullptr},
    {"vs_bare_polling", "xbare+p", "bare FUSE loop, polling", "bare FUSE loop"},
    {"vs_queue", "xqueue", "chanfs queue/lines delivery=one", nullptr},
    // chanfs over NATS: against the same channel in memory, and against
    // raw JetStream async publish of the same replicas. The reference of
    // each series is in its "<key>_ref" (it differs by kind and replicas).
    {"vs_memory", "xmemory", nullptr, nullptr},
    {"vs_raw_js", "xrawJS", nullptr, nullptr},
};

// The reference of key k for series s: its "<key>_ref", else the table's.
std::string referenceOf(const json &s, const RatioKey &k)
{
    const std::string own = s.value(std::string(k.key) + "_ref", "");
    if (!own.empty()) return own;
    return k.reference ? k.reference : "";
}

std::optional<json> readJson(const std::string &what, std::istream &in)
{
    json j = json::parse(in, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("figures")) {
        std::fprintf(stderr, "chanfs-bench: %s is not a chanfs-bench --json file\n", what.c_str());
        return std::nullopt;
    }
    return j;
}

const json *findSeries(const json &run, const std::string &figure, const std::string &transport)
{
    for (const json &f : run["figures"])
        if (f.value("figure", "") == figure && f.value("transport", "") == transport) return &f;
    return nullptr;
}

// Half the range of the per-round ratios of `s` against `ref`; 0 if the
// rounds do not pair up.
double halfRange(const json &s, const json &ref, bool higherIsBetter)
{
    const json &a = s["samples"], &b = ref["samples"];
    if (!a.is_array() || !b.is_array() || a.size() != b.size() || a.empty()) return 0;
    std::vector<double> r;
    for (size_t i = 0; i < a.size(); ++i) {
        const double x = a[i].get<double>(), y = b[i].get<double>();
        if (x <= 0 || y <= 0) return 0;
        r.push_back(higherIsBetter ? x / y : y / x);
    }
    const auto [lo, hi] = std::minmax_element(r.begin(), r.end());
    return (*hi - *lo) / 2;
}

double spreadOf(const json &run, const json &s, const RatioKey &k)
{
    const std::string figure = s.value("figure", "");
    const std::string reference = referenceOf(s, k);
    if (reference.empty()) return 0;
    const json *ref = findSeries(run, figure, reference);
    if (!ref && k.fallback) ref = findSeries(run, figure, k.fallback);
    if (!ref) return 0;
    return halfRange(s, *ref, s.value("unit", "") != "us");
}

void compare(const json &oldRun, const json &newRun, const std::string &oldName, std::FILE *out)
{
    std::fprintf(out, "compared with %s (%s, poll_us=%s)\n", oldName.c_str(),
                 oldRun.value("date", "?").c_str(),
                 oldRun.contains("poll_us") ? std::to_string(oldRun["poll_us"].get<int>()).c_str()
                                            : "not recorded");
    std::fprintf(out, "  %-8s %-34s %-8s %7s %7s %8s %8s\n", "figure", "transport", "ratio", "old",
                 "new", "change", "spread");
    unsigned compared = 0, dropped = 0;
    for (const json &s : newRun["figures"]) {
        const std::string figure = s.value("figure", ""), transport = s.value("transport", "");
        const json *o = findSeries(oldRun, figure, transport);
        if (!o) continue;
        for (const RatioKey &k : kRatios) {
            const double was = o->value(k.key, 0.0), now = s.value(k.key, 0.0);
            if (was <= 0 || now <= 0 || transport == referenceOf(s, k)) continue;
            const double spread = std::max(spreadOf(oldRun, *o, k), spreadOf(newRun, s, k));
            const bool drop = was - now > spread;
            ++compared;
            dropped += drop;
            std::fprintf(out, "  %-8s %-34s %-8s %7.2f %7.2f %+7.0f%% %8.2f%s\n", figure.c_str(),
                         transport.c_str(), k.label, was, now, (now / was - 1) * 100, spread,
                         drop ? "  DROP" : "");
        }
    }
    if (oldRun.contains("idle_cpu_percent") && newRun.contains("idle_cpu_percent")) {
        for (const auto &[daemon, now] : newRun["idle_cpu_percent"].items()) {
            if (!oldRun["idle_cpu_percent"].contains(daemon)) continue;
            std::fprintf(out, "  idle CPU %-41s %6.3f%% -> %.3f%%\n", daemon.c_str(),
                         oldRun["idle_cpu_percent"][daemon].get<double>(), now.get<double>());
        }
    }
    std::fprintf(out,
                 "%u ratios compared; %u dropped by more than the spread of the rounds%s\n"
                 "(a benchmark, not a test: the exit status does not depend on these)\n",
                 compared, dropped, dropped ? " (DROP)" : "");
}

}  // namespace

bool printComparisonText(const std::string &oldPath, const std::string &newJsonText, std::FILE *out)
{
    std::ifstream oldIn(oldPath);
    if (!oldIn) {
        std::fprintf(stderr, "chanfs-bench: cannot read %s\n", oldPath.c_str());
        return false;
    }
    std::istringstream newIn(newJsonText);
    const std::optional<json> oldRun = readJson(oldPath, oldIn);
    const std::optional<json> newRun = readJson("this run's JSON", newIn);
    if (!oldRun || !newRun) return false;
    compare(*oldRun, *newRun, oldPath, out);
    return true;
}

bool printComparison(const std::string &oldPath, const std::string &newPath, std::FILE *out)
{
    std::ifstream in(newPath);
    if (!in) {
        std::fprintf(stderr, "chanfs-bench: cannot read %s\n", newPath.c_str());
        return false;
    }
    std::stringstream text;
    text << in.rdbuf();
    return printComparisonText(oldPath, text.str(), out);
}

}  // namespace chanfs::bench
