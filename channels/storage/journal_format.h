// The on-disk record format shared by durable channels' segment logs and the
// state directory's tree log: a file header, then records of
//   u32 body length | u32 CRC-32C of the body | body (type byte, payload)
// all little-endian. A record whose length runs past the end of the file is
// a torn write; one whose checksum does not match is corrupt. The tree log's
// reader (scanRecords) keeps every record before the first bad one and cuts
// the file there; a segment's reader (scanRecordsResync) skips the damage
// and carries on at the next whole, checksummed record, so a bad record
// costs that record, not the rest of its file.
//
// Pure functions over byte spans: thread-compatible, no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace chanfs {

// CRC-32C (Castagnoli), the checksum of iSCSI, ext4 metadata and LevelDB.
// Uses the CPU's crc32 instruction where there is one (x86-64 SSE4.2).
uint32_t crc32c(const void *data, size_t size, uint32_t crc = 0);
// The same by table lookup, on any CPU (tests compare the two).
uint32_t crc32cPortable(const void *data, size_t size, uint32_t crc = 0);

inline constexpr size_t kRecordHeaderBytes = 8;
inline constexpr size_t kFileMagicBytes = 8;
// Larger than any message (max_message is at most 64 MiB) plus its header.
inline constexpr uint32_t kMaxRecordBodyBytes = 64 * 1024 * 1024 + 64;

struct RecordView {
    char type = 0;
    std::string_view payload;
    size_t offset = 0;  // of the record header within the file
};

struct ScanResult {
    std::vector<RecordView> records;
    // Bytes from the file's start that hold the header and whole, valid
    // records; the file is cut there when validEnd < its size.
    size_t validEnd = 0;
    // Empty for a clean file; otherwise what was wrong and where.
    std::string problem;
};

// Reads the records of a file that should start with `magic` (8 bytes).
// A file shorter than the magic (a crash right after creating it) is empty.
ScanResult scanRecords(std::string_view file, std::string_view magic);

// A stretch of a file that holds no valid record.
struct DamagedRange {
    size_t offset = 0;
    size_t bytes = 0;
    std::string what;     // e.g. "checksum mismatch", "torn record"
    bool tail = false;    // runs to the end of the file with no record after it
    bool header = false;  // the file header itself (8 bytes) is wrong
};

struct ResyncScan {
    std::vector<RecordView> records;  // every valid record, in file order
    std::vector<DamagedRange> damage;
};

// Reads a segment file: a wrong header is damage (records after it are
// still read), and after a bad record the scan resumes at the next offset
// where a whole record with a matching checksum and a type byte in
// `types` starts. A record image inside a damaged stretch can be mistaken
// for a record only if its length, type and CRC-32C all match.
ResyncScan scanRecordsResync(std::string_view file, std::string_view magic, std::string_view types);

// Appends one record to `out`.
void appendRecord(std::string &out, char type, std::string_view payload);

// Little-endian fields inside a payload.
class PayloadWriter {
public:
    explicit PayloadWriter(std::string &out) : out_(out) {}
    void u8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
    void u16(uint16_t v) { le(v, 2); }
    void u32(uint32_t v) { le(v, 4); }
    void u64(uint64_t v) { le(v, 8); }
    // u32 length then the bytes.
    void str(std::string_view s)
    {
        u32(static_cast<uint32_t>(s.size()));
        out_.append(s);
    }

private:
    void le(uint64_t v, int n)
    {
        for (int i = 0; i < n; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    }
    std::string &out_;
};

// Reads fields back; every read fails (false) rather than run past the end.
class PayloadReader {
public:
    explicit PayloadReader(std::string_view in) : in_(in) {}
    bool u8(uint8_t *v);
    bool u16(uint16_t *v);
    bool u32(uint32_t *v);
    bool u64(uint64_t *v);
    bool str(std::string_view *v);
    std::string_view rest() const { return in_.substr(pos_); }
    bool atEnd() const { return pos_ == in_.size(); }

private:
    bool le(uint64_t *v, size_t n);
    std::string_view in_;
    size_t pos_ = 0;
};

}  // namespace chanfs
