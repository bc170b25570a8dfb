// Human output: aligned text columns on a terminal, tab-separated lines
// when stdout is a pipe or a file.
#pragma once

#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace chanctl {

// `s` with control characters and backslashes escaped as \xNN / \\, so a
// file name or value cannot break a row or send escape sequences to the
// terminal.
std::string printable(std::string_view s);

// How a table is printed.
struct TableStyle {
    bool aligned = true;       // columns padded with spaces; else one tab between cells
    bool bold_header = false;  // the first row in bold (ANSI escape)
};

// The style for stdout: aligned on a terminal, with a bold header unless
// NO_COLOR is set or TERM is "dumb"; tab-separated and escape-free when
// stdout is not a terminal, so cut(1) and awk(1) read it. printable()
// escapes tabs in cells, so a tab always separates fields.
TableStyle stdout_style();
// True when stdout is a terminal.
bool stdout_is_terminal();

class Table {
public:
    explicit Table(size_t columns) : right_aligned_(columns, false) {}

    // Numbers read best right-aligned.
    void align_right(size_t column) { right_aligned_.at(column) = true; }
    // Cells are shown through printable(); a row shorter than the table is
    // padded with empty cells.
    void add_row(std::vector<std::string> cells);
    // Aligned: columns separated by two spaces, no trailing blanks.
    // `has_header`: the first row is a header (bold if the style says so).
    void print(std::ostream &out, const TableStyle &style = {}, bool has_header = false) const;

private:
    std::vector<bool> right_aligned_;
    std::vector<std::vector<std::string>> rows_;
};

}  // namespace chanctl
