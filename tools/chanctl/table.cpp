#include "tools/chanctl/table.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace chanctl {

std::string printable(std::string_view s)
{
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(s.size());
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == '\\') {
            out += "\\\\";
        } else if (c < 0x20 || c == 0x7f) {
            out += "\\x";
            out += kHex[c >> 4];
            out += kHex[c & 0xF];
        } else {
            out += ch;
        }
    }
    return out;
}

namespace {

// Display width, counting each UTF-8 sequence as one column; good enough
// for the names and values chanctl shows (no wide characters expected).
size_t display_width(std::string_view s)
{
    return static_cast<size_t>(std::count_if(
        s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

}  // namespace

void Table::add_row(std::vector<std::string> cells)
{
    cells.resize(right_aligned_.size());
    for (auto &cell : cells) cell = printable(cell);
    rows_.push_back(std::move(cells));
}

bool stdout_is_terminal()
{
    return ::isatty(STDOUT_FILENO) == 1;
}

TableStyle stdout_style()
{
    TableStyle style;
    style.aligned = stdout_is_terminal();
    const char *no_color = std::getenv("NO_COLOR");
    const char *term = std::getenv("TERM");
    style.bold_header = style.aligned && (no_color == nullptr || *no_color == '\0') &&
                        !(term != nullptr && std::strcmp(term, "dumb") == 0);
    return style;
}

void Table::print(std::ostream &out, const TableStyle &style, bool has_header) const
{
    if (!style.aligned) {
        for (const auto &row : rows_) {
            for (size_t c = 0; c < row.size(); ++c) out << (c > 0 ? "\t" : "") << row[c];
            out << '\n';
        }
        return;
    }
    const size_t columns = right_aligned_.size();
    std::vector<size_t> widths(columns, 0);
    for (const auto &row : rows_) {
        for (size_t c = 0; c < columns; ++c) widths[c] = std::max(widths[c], display_width(row[c]));
    }
    for (const auto &row : rows_) {
        std::string line;
        for (size_t c = 0; c < columns; ++c) {
            const size_t pad = widths[c] - display_width(row[c]);
            const bool last = c + 1 == columns;
            if (c > 0) line += "  ";
            if (right_aligned_[c]) {
                line.append(pad, ' ');
                line += row[c];
            } else {
                line += row[c];
                if (!last) line.append(pad, ' ');
            }
        }
        while (!line.empty() && line.back() == ' ') line.pop_back();
        if (has_header && style.bold_header && &row == &rows_.front()) {
            out << "\x1b[1m" << line << "\x1b[0m\n";
        } else {
            out << line << '\n';
        }
    }
}

}  // namespace chanctl
