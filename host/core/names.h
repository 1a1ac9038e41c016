// core/names.h — "did you mean": the closest of a list of known names to a mistyped one, by
// Damerau-Levenshtein distance (optimal string alignment: insertions, deletions, substitutions and
// swaps of two neighbours each cost 1), so `--gtzn` finds `--gtzan` and `hrad` finds `hard`.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace hmr {

// Edits (insert, delete, substitute, swap two adjacent characters) turning `a` into `b`.
int edit_distance(std::string_view a, std::string_view b);

// The known name closest to `typed`, or "" when none is close: at most 2 edits and at most half
// of `typed`'s length (leading dashes aside), so a short unrelated word ("x") is not "corrected"
// into any short name. Ties go to the name listed first.
std::string closest_name(std::string_view typed, const std::vector<std::string>& known);

}  // namespace hmr
