// plot/scatter.cpp — scatter plots on the Canvas (canvas.h): a title, a square-aspect data area
// (t-SNE distances read the same along both axes) with a thin frame and axis labels, points
// coloured and shaped by class, and a legend to the right ordered by class size with a stated
// "+N more" group when not every class fits (legend_entries).
#include "plot/scatter.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>

#include "core/error.h"
#include "plot/canvas.h"

namespace hmr::plot {

namespace {

constexpr double kFont = 13.0, kRow = 20.0, kMargin = 20.0;

std::string name_of(std::int32_t l, const std::vector<std::string>& names) {
  return l >= 0 && static_cast<std::size_t>(l) < names.size() && !names[static_cast<std::size_t>(l)].empty()
             ? names[static_cast<std::size_t>(l)]
             : std::to_string(l);
}

}  // namespace

std::vector<LegendEntry> legend_entries(const std::vector<std::int32_t>& labels, int max_rows) {
  std::map<std::int32_t, std::int64_t> counts;
  for (auto l : labels) ++counts[l];
  std::vector<LegendEntry> all;
  for (const auto& [l, c] : counts) all.push_back({l, c, 0, false, 1});
  std::stable_sort(all.begin(), all.end(),
                   [](const LegendEntry& a, const LegendEntry& b) { return a.count > b.count; });
  for (std::size_t i = 0; i < all.size(); ++i) all[i].style = static_cast<int>(i);
  const std::size_t rows = static_cast<std::size_t>(std::max(max_rows, 2));
  if (all.size() <= rows && all.size() <= static_cast<std::size_t>(kDistinctStyles)) return all;
  // The largest classes named, one row stating the rest (never a silent cut).
  const std::size_t named = std::min(rows - 1, static_cast<std::size_t>(kDistinctStyles));
  LegendEntry more;
  more.more = true;
  more.classes = static_cast<int>(all.size() - named);
  more.style = -1;
  for (std::size_t i = named; i < all.size(); ++i) more.count += all[i].count;
  all.resize(named);
  all.push_back(more);
  return all;
}

std::string legend_text(const LegendEntry& e, const std::vector<std::string>& label_names) {
  if (e.more) return fmt::format("+{} more ({} points)", e.classes, e.count);
  return fmt::format("{} ({})", name_of(e.label, label_names), e.count);
}

std::vector<std::string> read_label_names(const std::string& path) {
  std::ifstream in(path);
  HMR_REQUIRE(in.good(), "plot: cannot read label names from {}", path);
  std::vector<std::string> names;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    names.push_back(line);
  }
  return names;
}

void scatter_plot(ConstMatrixView y, const std::vector<std::int32_t>& labels,
                  const std::vector<std::string>& label_names, const ScatterOptions& opt, const std::string& png_path,
                  const std::string& svg_path) {
  HMR_REQUIRE(!png_path.empty() || !svg_path.empty(), "plot: no output file named");
  HMR_REQUIRE(y.rows >= 1 && y.cols >= 2, "plot: need an [N x 2] embedding, got {} x {}", y.rows, y.cols);
  HMR_REQUIRE(labels.empty() || static_cast<std::int64_t>(labels.size()) == y.rows, "plot: {} labels for {} points",
              labels.size(), y.rows);
  check_size(opt.width, opt.height, opt.dpi);
  std::int64_t br = 0, bc = 0;
  HMR_REQUIRE(all_finite(y, &br, &bc), "plot: non-finite coordinate at row {}, column {}", br, bc);

  const double W = opt.width, H = opt.height;
  const double top = opt.title.empty() ? kMargin : 48.0;
  const double bottom = opt.x_label.empty() ? kMargin : 44.0;
  const double left = opt.y_label.empty() ? kMargin : 40.0;
  const double title_rows = opt.legend_title.empty() ? 0.0 : 1.2;
  const int max_rows = static_cast<int>(std::floor((H - top - kMargin) / kRow - title_rows));
  const std::vector<LegendEntry> entries = legend_entries(labels, max_rows);

  // Legend width from its longest row (names cut with "…" beyond a third of the figure).
  const double max_legend = W * 0.35;
  std::vector<std::string> texts;
  double legend_w = 0.0;
  for (const auto& e : entries) {
    texts.push_back(fit_text(legend_text(e, label_names), kFont, max_legend - 34.0));
    legend_w = std::max(legend_w, text_width(texts.back(), kFont) + 34.0);
  }
  std::string legend_title;
  if (!entries.empty() && !opt.legend_title.empty()) {
    legend_title = fit_text(opt.legend_title, kFont, max_legend - 10.0, true);
    legend_w = std::max(legend_w, text_width(legend_title, kFont, true) + 16.0);
  }
  legend_w = std::min(legend_w, max_legend);

  // Data area: square, centred in what the title, labels and legend leave; 3% padding.
  const double avail_w = W - left - kMargin - legend_w, avail_h = H - top - bottom;
  const double side = std::max(10.0, std::min(avail_w, avail_h));
  const double px0 = left + (avail_w - side) / 2, py0 = top + (avail_h - side) / 2;
  float x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  for (std::int64_t i = 0; i < y.rows; ++i) {
    x0 = std::min(x0, y(i, 0));
    x1 = std::max(x1, y(i, 0));
    y0 = std::min(y0, y(i, 1));
    y1 = std::max(y1, y(i, 1));
  }
  double span = std::max<double>(x1 - x0, y1 - y0);
  if (!(span > 0)) span = 1.0;
  span *= 1.06;
  const double lo_x = 0.5 * (x0 + x1) - span / 2, lo_y = 0.5 * (y0 + y1) - span / 2;
  const double r = opt.point_radius > 0 ? opt.point_radius
                                        : std::clamp(6.0 / std::sqrt(std::max<double>(1.0, y.rows / 400.0)), 0.8, 4.0);
  // Style per label value; -1 = in the grey "+N more" group.
  std::map<std::int32_t, int> style;
  for (const auto& e : entries)
    if (!e.more) style[e.label] = e.style;
  auto style_of = [&](std::int64_t i) {
    if (labels.empty()) return 0;
    auto it = style.find(labels[static_cast<std::size_t>(i)]);
    return it == style.end() ? -1 : it->second;
  };

  render(opt.width, opt.height, opt.dpi, png_path, svg_path, [&](Canvas& c) {
    if (!opt.title.empty())
      c.text(std::max(kMargin + text_width(opt.title, 18.0) / 2, (W - legend_w) / 2), 30.0,
             fit_text(opt.title, 18.0, W - 2 * kMargin), 18.0, ink(), Anchor::middle);
    c.stroke_rect(px0, py0, side, side, rgb_hex(0xBFBFBF), 1.0);
    if (!opt.x_label.empty()) c.text(px0 + side / 2, py0 + side + 26.0, opt.x_label, kFont, ink(), Anchor::middle);
    if (!opt.y_label.empty())
      c.text(px0 - 12.0, py0 + side / 2, opt.y_label, kFont, ink(), Anchor::middle, false, -90.0);
    // Grouped classes first, underneath the named ones.
    for (int pass = 0; pass < 2; ++pass)
      for (std::int64_t i = 0; i < y.rows; ++i) {
        const int s = style_of(i);
        if ((s < 0) != (pass == 0)) continue;
        const double px = px0 + (y(i, 0) - lo_x) / span * side;
        const double py = py0 + side - (y(i, 1) - lo_y) / span * side;  // y up
        if (s < 0)
          c.marker(px, py, r * 0.8, Marker::circle, other_grey(), opt.alpha);
        else
          c.marker(px, py, r, marker_of(s), palette(s), opt.alpha);
      }
    if (entries.empty()) return;
    const double lx = W - legend_w - kMargin / 2 + 6.0;
    double ly = top + 8.0;
    if (!legend_title.empty()) {
      c.text(lx, ly + 4.5, legend_title, kFont, ink(), Anchor::start, true);
      ly += title_rows * kRow;
    }
    for (std::size_t i = 0; i < entries.size(); ++i) {
      const auto& e = entries[i];
      if (e.more)
        c.marker(lx + 6.0, ly, 4.0, Marker::circle, other_grey(), 1.0);
      else
        c.marker(lx + 6.0, ly, 5.0, marker_of(e.style), palette(e.style), 1.0);
      c.text(lx + 18.0, ly + 4.5, texts[i], kFont, ink());
      ly += kRow;
    }
  });
}

}  // namespace hmr::plot
