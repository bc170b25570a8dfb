// The durable journal's file helpers, shared by the journal's files
// (journal.cpp: appends and consumption; journal_recovery.cpp: reading a
// journal back at mount; journal_syncer.cpp: the fdatasync thread).
// Internal to channels/storage. Stateless but for the fault hook, which
// has its own mutex: thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "channels/storage/journal.h"

namespace chanfs::journal_files {

constexpr char kConsumedMagic[] = "CHANFSC1";
constexpr size_t kConsumedSlotBytes = 40;

struct ConsumedState {
    uint64_t generation = 0;
    uint64_t below = 0;    // every seq below is consumed
    uint64_t nextSeq = 0;  // the numbering had reached this
};

int timedFdatasync(int fd);
std::string segmentName(uint64_t firstSeq);
bool parseSegmentName(const std::string &name, uint64_t *seq);
int makeDirs(const std::string &dir);
int hooked(JournalOp op, const std::string &path, size_t bytes);
bool isFull(int err);
int writeChecked(int fd, const std::string &path, std::string_view data);
int syncChecked(int fd, const std::string &path);
int truncateChecked(int fd, const std::string &path, uint64_t size);
std::string consumedRecord(const ConsumedState &c);
bool parseConsumed(std::string_view file, ConsumedState *out);
std::string asideName(const std::string &path);
int writeNewFile(const std::string &path, std::string_view data);
std::string seqRange(uint64_t from, uint64_t to);

}  // namespace chanfs::journal_files
