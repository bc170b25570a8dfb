// chanfs-bench --compare: each ratio of a run against the same ratio of an
// earlier run (both as written by --json), with a flag on a drop larger
// than the run-to-run spread. A benchmark, not a test: a drop is printed,
// never an exit status.
//
// The spread of a ratio is half the range of its per-round values (each
// round's sample over the reference's sample of the same round: rounds are
// interleaved, so both saw the same machine), the larger of the two runs'.
//
// Threading: main thread only.
#pragma once

#include <cstdio>
#include <string>

namespace chanfs::bench {

// Compares the run in newJsonText with the one in the file oldPath. False
// (with a message on stderr) if either cannot be read.
bool printComparisonText(const std::string &oldPath, const std::string &newJsonText,
                         std::FILE *out);
// The same with both runs read from files.
bool printComparison(const std::string &oldPath, const std::string &newPath, std::FILE *out);

}  // namespace chanfs::bench
