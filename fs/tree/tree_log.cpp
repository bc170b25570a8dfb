#include "fs/tree/tree_log.h"

#include <algorithm>

namespace chanfs::fs {

void appendNodeRecord(std::string &out, const TreeRecord &r)
{
    std::string payload;
    PayloadWriter w(payload);
    w.u64(r.ino);
    w.u64(r.parent);
    w.u8(r.isDir ? 1 : 0);
    w.u32(r.mode);
    w.u32(r.uid);
    w.u32(r.gid);
    w.str(r.name);
    w.u32(static_cast<uint32_t>(r.values.size()));
    for (const auto &[k, v] : r.values) {
        w.str(k);
        w.str(v);
    }
    appendRecord(out, 'N', payload);
}

void appendDropRecord(std::string &out, uint64_t ino)
{
    std::string payload;
    PayloadWriter(payload).u64(ino);
    appendRecord(out, 'D', payload);
}

void appendHighWaterRecord(std::string &out, uint64_t nextIno)
{
    std::string payload;
    PayloadWriter(payload).u64(nextIno);
    appendRecord(out, 'H', payload);
}

namespace {

bool decodeNode(std::string_view payload, TreeRecord *r)
{
    PayloadReader in(payload);
    uint8_t isDir = 0;
    uint32_t count = 0;
    std::string_view name;
    if (!in.u64(&r->ino) || !in.u64(&r->parent) || !in.u8(&isDir) || !in.u32(&r->mode) ||
        !in.u32(&r->uid) || !in.u32(&r->gid) || !in.str(&name) || !in.u32(&count))
        return false;
    if (r->ino == 0 || isDir > 1 || (r->ino != 1 && (r->parent == 0 || name.empty()))) return false;
    r->isDir = isDir == 1;
    r->name = name;
    for (uint32_t i = 0; i < count; ++i) {
        std::string_view k, v;
        if (!in.str(&k) || !in.str(&v)) return false;
        r->values.emplace_back(k, v);
    }
    return in.atEnd();
}

}  // namespace

TreeReplay replayTreeLog(std::string_view file)
{
    TreeReplay out;
    const ScanResult scan = scanRecords(file, kTreeLogMagic);
    out.validEnd = scan.validEnd;
    if (!scan.problem.empty()) out.problems.push_back(scan.problem);
    for (const RecordView &rec : scan.records) {
        ++out.records;
        if (rec.type == 'N') {
            TreeRecord r;
            if (!decodeNode(rec.payload, &r)) {
                out.problems.push_back("malformed node record at offset " +
                                       std::to_string(rec.offset) + "; skipped");
                continue;
            }
            out.nextIno = std::max(out.nextIno, r.ino + 1);
            out.nodes[r.ino] = std::move(r);
        } else if (rec.type == 'D') {
            PayloadReader in(rec.payload);
            uint64_t ino = 0;
            if (!in.u64(&ino) || !in.atEnd()) {
                out.problems.push_back("malformed drop record at offset " +
                                       std::to_string(rec.offset) + "; skipped");
                continue;
            }
            out.nodes.erase(ino);
            out.nextIno = std::max(out.nextIno, ino + 1);
        } else if (rec.type == 'H') {
            PayloadReader in(rec.payload);
            uint64_t next = 0;
            if (!in.u64(&next) || !in.atEnd()) {
                out.problems.push_back("malformed high-water record at offset " +
                                       std::to_string(rec.offset) + "; skipped");
                continue;
            }
            out.nextIno = std::max(out.nextIno, next);
        } else {
            out.problems.push_back("unknown record type at offset " + std::to_string(rec.offset) +
                                   "; skipped");
        }
    }
    return out;
}

}  // namespace chanfs::fs
