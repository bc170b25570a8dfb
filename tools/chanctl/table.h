// Human output: aligned text columns.
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

class Table {
public:
    explicit Table(size_t columns) : right_aligned_(columns, false) {}

    // Numbers read best right-aligned.
    void align_right(size_t column) { right_aligned_.at(column) = true; }
    // Cells are shown through printable(); a row shorter than the table is
    // padded with empty cells.
    void add_row(std::vector<std::string> cells);
    // Columns separated by two spaces, no trailing blanks.
    void print(std::ostream& out) const;

private:
    std::vector<bool> right_aligned_;
    std::vector<std::vector<std::string>> rows_;
};

}  // namespace chanctl
