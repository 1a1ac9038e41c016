// core/names.cpp — optimal string alignment distance (Damerau 1964, Levenshtein 1966): the usual
// dynamic programme over prefixes with a transposition case; names are short, so O(|a| |b|).
#include "core/names.h"

#include <algorithm>

namespace hmr {

int edit_distance(std::string_view a, std::string_view b) {
  const std::size_t n = a.size(), m = b.size();
  // d[i][j]: distance between a[0, i) and b[0, j); rows kept whole for the transposition case.
  std::vector<std::vector<int>> d(n + 1, std::vector<int>(m + 1, 0));
  for (std::size_t i = 0; i <= n; ++i) d[i][0] = static_cast<int>(i);
  for (std::size_t j = 0; j <= m; ++j) d[0][j] = static_cast<int>(j);
  for (std::size_t i = 1; i <= n; ++i)
    for (std::size_t j = 1; j <= m; ++j) {
      const int cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[n][m];
}

std::string closest_name(std::string_view typed, const std::vector<std::string>& known) {
  // Leading dashes carry no meaning for closeness: "--ab" vs "--k" would otherwise look near.
  const auto bare = [](std::string_view s) {
    while (!s.empty() && s.front() == '-') s.remove_prefix(1);
    return s;
  };
  const std::string_view t = bare(typed);
  if (t.empty()) return {};
  const int limit = std::min(2, static_cast<int>(t.size() / 2));
  std::string best;
  int best_d = limit + 1;
  for (const std::string& k : known) {
    const int dist = edit_distance(t, bare(k));
    if (dist < best_d) {
      best_d = dist;
      best = k;
    }
  }
  return best;
}

}  // namespace hmr
