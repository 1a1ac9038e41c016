// plot/lines.cpp — line plots on the Canvas: data range, linear or log-10 y mapping, ticks with
// light grid lines, one palette colour per series (dashed series keep their colour), legend box.
#include "plot/lines.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "plot/canvas.h"

namespace hmr::plot {

bool use_log_y(const std::vector<Series>& series, double log_ratio) {
  if (!(log_ratio > 0)) return false;
  double lo = INFINITY, hi = -INFINITY;
  for (const auto& s : series)
    for (double v : s.y) {
      if (!std::isfinite(v)) continue;
      if (v <= 0) return false;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  return lo <= hi && hi > lo * log_ratio;
}

void line_plot(const std::vector<Series>& series, const LineOptions& opt, const std::string& png_path,
               const std::string& svg_path) {
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  const bool log_y = use_log_y(series, opt.log_ratio);
  auto ty = [&](double v) { return log_y ? std::log10(v) : v; };
  for (const auto& s : series) {
    HMR_REQUIRE(s.x.size() == s.y.size(), "line plot: series '{}' has {} x and {} y values", s.name, s.x.size(),
                s.y.size());
    for (std::size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      x0 = std::min(x0, s.x[i]);
      x1 = std::max(x1, s.x[i]);
      y0 = std::min(y0, ty(s.y[i]));
      y1 = std::max(y1, ty(s.y[i]));
    }
  }
  HMR_REQUIRE(x0 <= x1, "line plot: no finite point to draw");
  check_size(opt.width, opt.height, opt.dpi);
  if (x1 == x0) x1 = x0 + 1.0;
  if (y1 == y0) {
    y0 -= 0.5;
    y1 += 0.5;
  }
  const double pad = 0.04 * (y1 - y0);
  y0 -= pad;
  y1 += pad;
  // y ticks: decades on a log axis, with 2x and 5x when fewer than 3 decades are in range
  std::vector<double> yt;  // in transformed units
  if (log_y) {
    const bool fine = std::floor(y1) - std::ceil(y0) + 1.0 < 3.0;
    for (double d = std::floor(y0); d <= y1; d += 1.0)
      for (double m : {1.0, 2.0, 5.0}) {
        const double v = d + std::log10(m);
        if (v >= y0 && v <= y1 && (m == 1.0 || fine)) yt.push_back(v);
      }
    if (yt.size() < 2) {  // a short range: round values, placed on the log axis
      yt.clear();
      for (double v : nice_ticks(std::pow(10.0, y0), std::pow(10.0, y1)))
        if (v > 0) yt.push_back(std::log10(v));
    }
  } else {
    yt = nice_ticks(y0, y1);
  }
  const std::vector<double> xt = nice_ticks(x0, x1, 8);
  constexpr double kFont = 12.0, kMargin = 20.0;
  double tick_w = 0.0;
  for (double v : yt) tick_w = std::max(tick_w, text_width(tick_label(log_y ? std::pow(10.0, v) : v), kFont));
  const double W = opt.width, H = opt.height;
  const double top = opt.title.empty() ? kMargin : 48.0;
  const double left = kMargin + (opt.y_label.empty() ? 0.0 : 22.0) + tick_w + 8.0;
  const double bottom = kMargin + 20.0 + (opt.x_label.empty() ? 0.0 : 22.0);
  const double pw = std::max(10.0, W - left - kMargin), ph = std::max(10.0, H - top - bottom);
  auto X = [&](double v) { return left + (v - x0) / (x1 - x0) * pw; };
  auto Y = [&](double v) { return top + ph - (v - y0) / (y1 - y0) * ph; };
  const std::string y_label = opt.y_label.empty() || !log_y ? opt.y_label : opt.y_label + " (log scale)";

  render(opt.width, opt.height, opt.dpi, png_path, svg_path, [&](Canvas& c) {
    if (!opt.title.empty())
      c.text(W / 2, 30.0, fit_text(opt.title, 16.0, W - 2 * kMargin), 16.0, ink(), Anchor::middle);
    const Rgb grid = rgb_hex(0xE6E6E6);
    for (double v : yt) {
      c.polyline({{left, Y(v)}, {left + pw, Y(v)}}, grid, 1.0);
      c.text(left - 6.0, Y(v) + 4.0, tick_label(log_y ? std::pow(10.0, v) : v), kFont, ink(), Anchor::end);
    }
    for (double v : xt) {
      c.polyline({{X(v), top}, {X(v), top + ph}}, grid, 1.0);
      c.text(X(v), top + ph + 16.0, tick_label(v), kFont, ink(), Anchor::middle);
    }
    c.stroke_rect(left, top, pw, ph, rgb_hex(0x999999), 1.0);
    if (!opt.x_label.empty()) c.text(left + pw / 2, H - kMargin + 4.0, opt.x_label, kFont, ink(), Anchor::middle);
    if (!y_label.empty()) c.text(kMargin + 10.0, top + ph / 2, y_label, kFont, ink(), Anchor::middle, false, -90.0);
    double legend_w = 0.0;
    for (const auto& s : series) legend_w = std::max(legend_w, text_width(s.name, kFont) + 40.0);
    const double lx = left + pw - legend_w - 8.0;
    double ly = top + 10.0;
    c.fill_rect(lx - 6.0, ly - 6.0, legend_w + 8.0, 18.0 * static_cast<double>(series.size()) + 6.0, {1, 1, 1}, 0.85);
    for (std::size_t k = 0; k < series.size(); ++k) {
      const auto& s = series[k];
      const Rgb col = palette(static_cast<int>(k));
      std::vector<std::pair<double, double>> pts;
      for (std::size_t i = 0; i < s.x.size(); ++i)
        if (std::isfinite(s.x[i]) && std::isfinite(s.y[i])) pts.emplace_back(X(s.x[i]), Y(ty(s.y[i])));
      if (pts.size() == 1) c.marker(pts[0].first, pts[0].second, 3.0, Marker::circle, col, 1.0);
      c.polyline(pts, col, 2.0, s.dashed);
      c.polyline({{lx, ly + 3.0}, {lx + 26.0, ly + 3.0}}, col, 2.0, s.dashed);
      c.text(lx + 32.0, ly + 7.5, s.name, kFont, ink());
      ly += 18.0;
    }
  });
}

}  // namespace hmr::plot
