// plot/lines.h — line plots (PNG + SVG, canvas.h) of a few series over a shared x axis, such as
// a VAE's per-epoch losses: axes with "nice" ticks, axis labels, a legend inside the top right.
// The y axis turns logarithmic (decade ticks) when every value is > 0 and they span more than
// `log_ratio` (reconstruction and KL terms often differ by orders of magnitude); the axis label
// then says "(log scale)".
#pragma once

#include <string>
#include <vector>

namespace hmr::plot {

struct Series {
  std::string name;
  std::vector<double> x, y;  // same length; non-finite points are skipped
  bool dashed = false;
};

struct LineOptions {
  std::string title, x_label, y_label;
  int width = 900, height = 540, dpi = 96;  // CSS px as ScatterOptions
  double log_ratio = 30.0;                  // <= 0: always linear
};

// True when the y axis of `series` is drawn logarithmic under `log_ratio` (see above).
bool use_log_y(const std::vector<Series>& series, double log_ratio);

// Input error when no series has a finite point or a series' x and y lengths differ.
void line_plot(const std::vector<Series>& series, const LineOptions& opt, const std::string& png_path,
               const std::string& svg_path);

}  // namespace hmr::plot
