// plot/scatter.cpp — cairo scatter plots (PNG via an image surface, SVG via the SVG surface) of
// 2-D embeddings: a title, a square-aspect data area with a thin frame, points coloured by
// label in a colour-blind-safe palette, and a legend to the right. Each file is drawn into a
// temporary sibling and renamed (io::write_atomically_to).
// Palette: Okabe & Ito (2008) "Color Universal Design" for the first 8 classes, then Paul Tol's
// muted qualitative scheme (2021, https://personal.sron.nl/~pault/), then cycling with a
// different marker shape per cycle.
#include "plot/scatter.h"

#include <cairo-svg.h>
#include <cairo.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>

#include "core/error.h"
#include "io/atomic_file.h"

namespace hmr::plot {

namespace {

constexpr unsigned kPalette[] = {
    // Okabe-Ito (black moved last: it reads as "missing" on a scatter)
    0xE69F00, 0x56B4E9, 0x009E73, 0xF0E442, 0x0072B2, 0xD55E00, 0xCC79A7, 0x000000,
    // Tol muted
    0xCC6677, 0x332288, 0xDDCC77, 0x117733, 0x88CCEE, 0x882255, 0x44AA99, 0x999933, 0xAA4499, 0xDDDDDD};
constexpr int kPaletteSize = static_cast<int>(sizeof(kPalette) / sizeof(kPalette[0]));

void marker(cairo_t* cr, double x, double y, double r, int shape) {
  switch (shape % 3) {
    case 0:
      cairo_new_sub_path(cr);
      cairo_arc(cr, x, y, r, 0.0, 2.0 * M_PI);
      break;
    case 1:
      cairo_rectangle(cr, x - r, y - r, 2.0 * r, 2.0 * r);
      break;
    default:
      cairo_move_to(cr, x, y - 1.2 * r);
      cairo_line_to(cr, x + 1.1 * r, y + 0.8 * r);
      cairo_line_to(cr, x - 1.1 * r, y + 0.8 * r);
      cairo_close_path(cr);
      break;
  }
}

struct Layout {
  double plot_x, plot_y, plot_w, plot_h;  // data area in device units
  double lo_x, lo_y, span;                // data range (square aspect)
};

void draw(cairo_t* cr, ConstMatrixView y, const std::vector<std::int32_t>& labels,
          const std::vector<std::string>& names, const ScatterOptions& opt) {
  const double W = opt.width, H = opt.height;
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_paint(cr);
  // classes present, in increasing label order
  std::map<std::int32_t, std::int64_t> classes;
  for (auto l : labels) ++classes[l];
  const bool legend = !classes.empty();
  cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  auto name_of = [&](std::int32_t l) {
    return l >= 0 && static_cast<std::size_t>(l) < names.size() && !names[static_cast<std::size_t>(l)].empty()
               ? names[static_cast<std::size_t>(l)]
               : std::to_string(l);
  };
  double legend_w = 0.0;
  cairo_set_font_size(cr, 13.0);
  if (legend)
    for (const auto& [l, c] : classes) {
      cairo_text_extents_t te;
      cairo_text_extents(cr, name_of(l).c_str(), &te);
      legend_w = std::max(legend_w, te.x_advance + 34.0);
    }
  legend_w = std::min(legend_w, W * 0.35);
  const double top = opt.title.empty() ? 20.0 : 48.0, margin = 20.0;
  Layout lay{margin, top, W - 2 * margin - legend_w, H - top - margin, 0, 0, 1};
  // data range with 3% padding, square aspect so distances read true
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
  const double side = std::min(lay.plot_w, lay.plot_h);
  lay.plot_x += (lay.plot_w - side) / 2;
  lay.plot_y += (lay.plot_h - side) / 2;
  lay.plot_w = lay.plot_h = side;
  lay.lo_x = 0.5 * (x0 + x1) - span / 2;
  lay.lo_y = 0.5 * (y0 + y1) - span / 2;
  lay.span = span;
  if (!opt.title.empty()) {
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    cairo_set_font_size(cr, 18.0);
    cairo_text_extents_t te;
    cairo_text_extents(cr, opt.title.c_str(), &te);
    cairo_move_to(cr, std::max(margin, (W - legend_w - te.x_advance) / 2), 30.0);
    cairo_show_text(cr, opt.title.c_str());
  }
  cairo_set_line_width(cr, 1.0);
  cairo_set_source_rgb(cr, 0.75, 0.75, 0.75);
  cairo_rectangle(cr, lay.plot_x, lay.plot_y, lay.plot_w, lay.plot_h);
  cairo_stroke(cr);
  const double r = opt.point_radius > 0 ? opt.point_radius
                                        : std::clamp(6.0 / std::sqrt(std::max<double>(1.0, y.rows / 400.0)), 0.8, 4.0);
  // class index (palette slot) per label value
  std::map<std::int32_t, int> slot;
  int next = 0;
  for (const auto& [l, c] : classes) slot[l] = next++;
  for (std::int64_t i = 0; i < y.rows; ++i) {
    const int s = labels.empty() ? 0 : slot[labels[static_cast<std::size_t>(i)]];
    double cr_, cg, cb;
    palette_color(s, cr_, cg, cb);
    cairo_set_source_rgba(cr, cr_, cg, cb, opt.alpha);
    const double px = lay.plot_x + (y(i, 0) - lay.lo_x) / lay.span * lay.plot_w;
    const double py = lay.plot_y + lay.plot_h - (y(i, 1) - lay.lo_y) / lay.span * lay.plot_h;  // y up
    marker(cr, px, py, r, s / kPaletteSize);
    cairo_fill(cr);
  }
  if (legend) {
    cairo_set_font_size(cr, 13.0);
    double ly = top + 8.0;
    const double lx = W - legend_w - margin / 2 + 6.0;
    for (const auto& [l, c] : classes) {
      if (ly > H - margin) break;
      const int s = slot[l];
      double cr_, cg, cb;
      palette_color(s, cr_, cg, cb);
      cairo_set_source_rgb(cr, cr_, cg, cb);
      marker(cr, lx + 6.0, ly, 5.0, s / kPaletteSize);
      cairo_fill(cr);
      cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
      cairo_move_to(cr, lx + 18.0, ly + 4.5);
      cairo_show_text(cr, name_of(l).c_str());
      ly += 20.0;
    }
  }
}

void check_status(cairo_status_t st, const std::string& what) {
  if (st != CAIRO_STATUS_SUCCESS) runtime_error("plot: cairo failed writing {}: {}", what, cairo_status_to_string(st));
}

}  // namespace

void palette_color(int index, double& r, double& g, double& b) {
  const unsigned c = kPalette[((index % kPaletteSize) + kPaletteSize) % kPaletteSize];
  r = ((c >> 16) & 255) / 255.0;
  g = ((c >> 8) & 255) / 255.0;
  b = (c & 255) / 255.0;
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
  HMR_REQUIRE(opt.width >= 100 && opt.height >= 100, "plot: size {} x {} is too small", opt.width, opt.height);
  std::int64_t br = 0, bc = 0;
  HMR_REQUIRE(all_finite(y, &br, &bc), "plot: non-finite coordinate at row {}, column {}", br, bc);
  if (!png_path.empty())
    io::write_atomically_to(png_path, [&](const std::filesystem::path& tmp) {
      cairo_surface_t* s = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, opt.width, opt.height);
      cairo_t* cr = cairo_create(s);
      draw(cr, y, labels, label_names, opt);
      const cairo_status_t st = cairo_status(cr);
      cairo_destroy(cr);
      const cairo_status_t wr = st == CAIRO_STATUS_SUCCESS ? cairo_surface_write_to_png(s, tmp.c_str()) : st;
      cairo_surface_destroy(s);
      check_status(wr, png_path);
    });
  if (!svg_path.empty())
    io::write_atomically_to(svg_path, [&](const std::filesystem::path& tmp) {
      cairo_surface_t* s = cairo_svg_surface_create(tmp.c_str(), opt.width, opt.height);
      cairo_t* cr = cairo_create(s);
      draw(cr, y, labels, label_names, opt);
      const cairo_status_t st = cairo_status(cr);
      cairo_destroy(cr);
      cairo_surface_finish(s);
      const cairo_status_t fin = cairo_surface_status(s);
      cairo_surface_destroy(s);
      check_status(st != CAIRO_STATUS_SUCCESS ? st : fin, svg_path);
    });
}

}  // namespace hmr::plot
