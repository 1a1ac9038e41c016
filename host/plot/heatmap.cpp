// plot/heatmap.cpp — contingency counts and their heatmap. Layout: title on top, column names
// written vertically under the table, row names to the left; the figure grows with the table
// (cell side fits the widest count) so 54 genres stay legible instead of shrinking to nothing.
#include "plot/heatmap.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "core/error.h"
#include "plot/canvas.h"

namespace hmr::plot {

namespace {

std::string name_of(std::int32_t l, const std::vector<std::string>& names) {
  return l >= 0 && static_cast<std::size_t>(l) < names.size() && !names[static_cast<std::size_t>(l)].empty()
             ? names[static_cast<std::size_t>(l)]
             : std::to_string(l);
}

// White (0) to dark blue (1) through the palette's blue, as a linear ramp in sRGB.
Rgb shade(double t) {
  const Rgb a = rgb_hex(0xFFFFFF), m = rgb_hex(0x6BAED6), b = rgb_hex(0x08306B);
  auto mix = [](Rgb p, Rgb q, double u) {
    return Rgb{p.r + (q.r - p.r) * u, p.g + (q.g - p.g) * u, p.b + (q.b - p.b) * u};
  };
  return t < 0.5 ? mix(a, m, t * 2.0) : mix(m, b, (t - 0.5) * 2.0);
}

}  // namespace

Contingency contingency(const std::vector<std::int32_t>& row_labels, const std::vector<std::int32_t>& col_labels) {
  HMR_REQUIRE(!row_labels.empty() && row_labels.size() == col_labels.size(),
              "contingency: {} row labels and {} column labels (need the same number, > 0)", row_labels.size(),
              col_labels.size());
  std::map<std::int32_t, std::size_t> ri, ci;
  for (auto v : row_labels) ri.emplace(v, 0);
  for (auto v : col_labels) ci.emplace(v, 0);
  Contingency t;
  for (auto& [v, i] : ri) {
    i = t.rows.size();
    t.rows.push_back(v);
  }
  for (auto& [v, i] : ci) {
    i = t.cols.size();
    t.cols.push_back(v);
  }
  t.counts.assign(t.rows.size() * t.cols.size(), 0);
  for (std::size_t i = 0; i < row_labels.size(); ++i) ++t.counts[ri[row_labels[i]] * t.cols.size() + ci[col_labels[i]]];
  return t;
}

void heatmap_plot(const Contingency& t, const std::vector<std::string>& row_names,
                  const std::vector<std::string>& col_names, const HeatmapOptions& opt, const std::string& png_path,
                  const std::string& svg_path) {
  HMR_REQUIRE(!t.rows.empty() && !t.cols.empty() && t.counts.size() == t.rows.size() * t.cols.size(),
              "heatmap: empty or inconsistent table ({} x {}, {} counts)", t.rows.size(), t.cols.size(),
              t.counts.size());
  constexpr double kFont = 12.0, kCellFont = 11.0, kMargin = 20.0, kMaxName = 200.0;
  const std::int64_t max_count = *std::max_element(t.counts.begin(), t.counts.end());
  const double cell = std::max(30.0, text_width(std::to_string(max_count), kCellFont) + 10.0);
  std::vector<std::string> rn, cn;
  double rw = 0.0, cw = 0.0;
  for (auto v : t.rows) {
    rn.push_back(fit_text(name_of(v, row_names), kFont, kMaxName));
    rw = std::max(rw, text_width(rn.back(), kFont));
  }
  for (auto v : t.cols) {
    cn.push_back(fit_text(name_of(v, col_names), kFont, kMaxName));
    cw = std::max(cw, text_width(cn.back(), kFont));
  }
  const double top = opt.title.empty() ? kMargin : 48.0;
  const double left = kMargin + (opt.row_title.empty() ? 0.0 : 24.0) + rw + 8.0;
  const double table_w = cell * static_cast<double>(t.cols.size()), table_h = cell * static_cast<double>(t.rows.size());
  const double bottom = 8.0 + cw + (opt.col_title.empty() ? 0.0 : 26.0) + kMargin;
  const double title_w = opt.title.empty() ? 0.0 : text_width(opt.title, 16.0) + 2 * kMargin;
  const int width = static_cast<int>(std::ceil(std::max({left + table_w + kMargin, title_w, 100.0})));
  const int height = static_cast<int>(std::ceil(std::max(top + table_h + bottom, 100.0)));
  render(width, height, opt.dpi, png_path, svg_path, [&](Canvas& c) {
    if (!opt.title.empty()) c.text(width / 2.0, 30.0, opt.title, 16.0, ink(), Anchor::middle);
    for (std::size_t r = 0; r < t.rows.size(); ++r) {
      const double y = top + cell * static_cast<double>(r);
      c.text(left - 8.0, y + cell / 2 + 4.0, rn[r], kFont, ink(), Anchor::end);
      for (std::size_t k = 0; k < t.cols.size(); ++k) {
        const double x = left + cell * static_cast<double>(k);
        const std::int64_t n = t.at(r, k);
        const Rgb bg = shade(max_count > 0 ? static_cast<double>(n) / static_cast<double>(max_count) : 0.0);
        c.fill_rect(x, y, cell, cell, bg);
        const Rgb fg = n == 0 ? rgb_hex(0xB0B0B0) : relative_luminance(bg) < 0.3 ? Rgb{1, 1, 1} : ink();
        c.text(x + cell / 2, y + cell / 2 + 4.0, std::to_string(n), kCellFont, fg, Anchor::middle);
      }
    }
    c.stroke_rect(left, top, table_w, table_h, rgb_hex(0xBFBFBF), 1.0);
    for (std::size_t k = 0; k < t.cols.size(); ++k)  // vertical, reading downwards from the table
      c.text(left + cell * (static_cast<double>(k) + 0.5) - 4.5, top + table_h + 8.0, cn[k], kFont, ink(),
             Anchor::start, false, 90.0);
    if (!opt.col_title.empty())
      c.text(left + table_w / 2, top + table_h + 8.0 + cw + 22.0, opt.col_title, kFont, ink(), Anchor::middle, true);
    if (!opt.row_title.empty())
      c.text(kMargin + 12.0, top + table_h / 2, opt.row_title, kFont, ink(), Anchor::middle, true, -90.0);
  });
}

}  // namespace hmr::plot
