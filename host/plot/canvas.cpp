// plot/canvas.cpp — the two Canvas implementations (cairo image surface for PNG, an SVG text
// writer for SVG), the palette and its contrast arithmetic (WCAG 2.1 definitions), text measure
// and axis ticks. See canvas.h for why SVG is written by hand.
#include "plot/canvas.h"

#include <cairo.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <sstream>

#include "core/error.h"
#include "io/atomic_file.h"

namespace hmr::plot {

namespace {

// Okabe-Ito blue, vermillion, bluish green, reddish purple; Tol indigo, ochre (medium-contrast
// scheme's dark yellow), wine, green, rose, purple. Contrast on white 3.06 .. 12.2 (tested).
constexpr unsigned kPalette[kPaletteSize] = {0x0072B2, 0xD55E00, 0x009E73, 0xCC79A7, 0x332288,
                                             0x997700, 0x882255, 0x117733, 0xCC6677, 0xAA4499};

std::string hex(Rgb c) {
  auto b = [](double v) { return static_cast<int>(std::lround(std::clamp(v, 0.0, 1.0) * 255.0)); };
  return fmt::format("#{:02x}{:02x}{:02x}", b(c.r), b(c.g), b(c.b));
}

std::string xml_escape(const std::string& s) {
  std::string o;
  o.reserve(s.size());
  for (char ch : s) switch (ch) {
      case '&':
        o += "&amp;";
        break;
      case '<':
        o += "&lt;";
        break;
      case '>':
        o += "&gt;";
        break;
      case '"':
        o += "&quot;";
        break;
      default:
        // control characters are not allowed in XML 1.0
        if (static_cast<unsigned char>(ch) < 0x20 && ch != '\t' && ch != '\n')
          o += ' ';
        else
          o += ch;
    }
  return o;
}

// Marker outlines shared by both canvases: (x, y) vertices of the polygon shapes.
std::vector<std::pair<double, double>> polygon(double x, double y, double r, Marker m) {
  if (m == Marker::triangle) return {{x, y - 1.2 * r}, {x + 1.1 * r, y + 0.8 * r}, {x - 1.1 * r, y + 0.8 * r}};
  if (m == Marker::diamond) return {{x, y - 1.3 * r}, {x + 1.3 * r, y}, {x, y + 1.3 * r}, {x - 1.3 * r, y}};
  return {{x - r, y - r}, {x + r, y - r}, {x + r, y + r}, {x - r, y + r}};  // square
}

class CairoCanvas final : public Canvas {
 public:
  explicit CairoCanvas(cairo_t* cr) : cr_(cr) {
    cairo_select_font_face(cr_, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  }
  void fill_rect(double x, double y, double w, double h, Rgb f, double alpha) override {
    cairo_set_source_rgba(cr_, f.r, f.g, f.b, alpha);
    cairo_rectangle(cr_, x, y, w, h);
    cairo_fill(cr_);
  }
  void stroke_rect(double x, double y, double w, double h, Rgb s, double lw) override {
    cairo_set_source_rgb(cr_, s.r, s.g, s.b);
    cairo_set_line_width(cr_, lw);
    cairo_rectangle(cr_, x, y, w, h);
    cairo_stroke(cr_);
  }
  void marker(double x, double y, double r, Marker m, Rgb f, double alpha) override {
    cairo_set_source_rgba(cr_, f.r, f.g, f.b, alpha);
    if (m == Marker::circle) {
      cairo_new_sub_path(cr_);
      cairo_arc(cr_, x, y, r, 0.0, 2.0 * M_PI);
    } else {
      const auto p = polygon(x, y, r, m);
      cairo_move_to(cr_, p[0].first, p[0].second);
      for (std::size_t i = 1; i < p.size(); ++i) cairo_line_to(cr_, p[i].first, p[i].second);
      cairo_close_path(cr_);
    }
    cairo_fill(cr_);
  }
  void polyline(const std::vector<std::pair<double, double>>& pts, Rgb s, double lw, bool dashed) override {
    if (pts.size() < 2) return;
    cairo_set_source_rgb(cr_, s.r, s.g, s.b);
    cairo_set_line_width(cr_, lw);
    cairo_set_line_join(cr_, CAIRO_LINE_JOIN_ROUND);
    const double dash[] = {6.0, 4.0};
    cairo_set_dash(cr_, dash, dashed ? 2 : 0, 0.0);
    cairo_move_to(cr_, pts[0].first, pts[0].second);
    for (std::size_t i = 1; i < pts.size(); ++i) cairo_line_to(cr_, pts[i].first, pts[i].second);
    cairo_stroke(cr_);
    cairo_set_dash(cr_, dash, 0, 0.0);
  }
  void text(double x, double y, const std::string& s, double size, Rgb c, Anchor a, bool bold, double angle) override {
    cairo_save(cr_);
    cairo_select_font_face(cr_, "sans-serif", CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr_, size);
    cairo_text_extents_t te;
    cairo_text_extents(cr_, s.c_str(), &te);
    const double dx = a == Anchor::start ? 0.0 : a == Anchor::middle ? -te.x_advance / 2 : -te.x_advance;
    cairo_translate(cr_, x, y);
    cairo_rotate(cr_, angle * M_PI / 180.0);
    cairo_move_to(cr_, dx, 0.0);
    cairo_set_source_rgb(cr_, c.r, c.g, c.b);
    cairo_show_text(cr_, s.c_str());
    cairo_restore(cr_);
  }

 private:
  cairo_t* cr_;
};

class SvgCanvas final : public Canvas {
 public:
  SvgCanvas(std::ostream& os, int w, int h) : os_(os) {
    os_ << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        << fmt::format(
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}px\" height=\"{1}px\" viewBox=\"0 0 {0} {1}\" "
               "font-family=\"sans-serif\">\n",
               w, h);
  }
  void finish() { os_ << "</svg>\n"; }
  void fill_rect(double x, double y, double w, double h, Rgb f, double alpha) override {
    os_ << fmt::format("<rect x=\"{:.2f}\" y=\"{:.2f}\" width=\"{:.2f}\" height=\"{:.2f}\" fill=\"{}\"{}/>\n", x, y, w,
                       h, hex(f), opacity(alpha));
  }
  void stroke_rect(double x, double y, double w, double h, Rgb s, double lw) override {
    os_ << fmt::format(
        "<rect x=\"{:.2f}\" y=\"{:.2f}\" width=\"{:.2f}\" height=\"{:.2f}\" fill=\"none\" stroke=\"{}\" "
        "stroke-width=\"{:g}\"/>\n",
        x, y, w, h, hex(s), lw);
  }
  void marker(double x, double y, double r, Marker m, Rgb f, double alpha) override {
    if (m == Marker::circle) {
      os_ << fmt::format("<circle cx=\"{:.2f}\" cy=\"{:.2f}\" r=\"{:.2f}\" fill=\"{}\"{}/>\n", x, y, r, hex(f),
                         opacity(alpha));
      return;
    }
    os_ << "<polygon points=\"" << points(polygon(x, y, r, m)) << "\" fill=\"" << hex(f) << "\"" << opacity(alpha)
        << "/>\n";
  }
  void polyline(const std::vector<std::pair<double, double>>& pts, Rgb s, double lw, bool dashed) override {
    if (pts.size() < 2) return;
    os_ << "<polyline points=\"" << points(pts)
        << fmt::format("\" fill=\"none\" stroke=\"{}\" stroke-width=\"{:g}\" stroke-linejoin=\"round\"{}/>\n", hex(s),
                       lw, dashed ? " stroke-dasharray=\"6 4\"" : "");
  }
  void text(double x, double y, const std::string& s, double size, Rgb c, Anchor a, bool bold, double angle) override {
    os_ << fmt::format("<text x=\"{:.2f}\" y=\"{:.2f}\" font-size=\"{:g}\" fill=\"{}\"", x, y, size, hex(c));
    if (a != Anchor::start) os_ << " text-anchor=\"" << (a == Anchor::middle ? "middle" : "end") << "\"";
    if (bold) os_ << " font-weight=\"bold\"";
    if (angle != 0.0) os_ << fmt::format(" transform=\"rotate({:g} {:.2f} {:.2f})\"", angle, x, y);
    os_ << ">" << xml_escape(s) << "</text>\n";
  }

 private:
  static std::string opacity(double alpha) {
    return alpha < 1.0 ? fmt::format(" fill-opacity=\"{:.2f}\"", alpha) : std::string();
  }
  static std::string points(const std::vector<std::pair<double, double>>& p) {
    std::string s;
    for (std::size_t i = 0; i < p.size(); ++i)
      s += fmt::format("{}{:.2f},{:.2f}", i ? " " : "", p[i].first, p[i].second);
    return s;
  }
  std::ostream& os_;
};

void check_status(cairo_status_t st, const std::string& what) {
  if (st != CAIRO_STATUS_SUCCESS) runtime_error("plot: cairo failed writing {}: {}", what, cairo_status_to_string(st));
}

}  // namespace

Rgb rgb_hex(unsigned c) { return {((c >> 16) & 255) / 255.0, ((c >> 8) & 255) / 255.0, (c & 255) / 255.0}; }
Rgb palette(int index) { return rgb_hex(kPalette[((index % kPaletteSize) + kPaletteSize) % kPaletteSize]); }
Marker marker_of(int index) { return static_cast<Marker>((std::max(index, 0) / kPaletteSize) % kMarkerShapes); }
Rgb other_grey() { return rgb_hex(0x8C8C8C); }  // contrast 3.36 on white
Rgb ink() { return rgb_hex(0x1A1A1A); }

double relative_luminance(Rgb c) {
  auto lin = [](double v) { return v <= 0.04045 ? v / 12.92 : std::pow((v + 0.055) / 1.055, 2.4); };
  return 0.2126 * lin(c.r) + 0.7152 * lin(c.g) + 0.0722 * lin(c.b);
}

double contrast_ratio(Rgb a, Rgb b) {
  const double la = relative_luminance(a), lb = relative_luminance(b);
  return (std::max(la, lb) + 0.05) / (std::min(la, lb) + 0.05);
}

double text_width(const std::string& s, double size, bool bold) {
  // One small scratch surface for measuring; cairo contexts are not thread-safe, hence the lock.
  static std::mutex m;
  static cairo_surface_t* surf = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 8, 8);
  static cairo_t* cr = cairo_create(surf);
  std::lock_guard<std::mutex> lock(m);
  cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL,
                         bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, size);
  cairo_text_extents_t te;
  cairo_text_extents(cr, s.c_str(), &te);
  return te.x_advance;
}

std::string fit_text(const std::string& s, double size, double max_width, bool bold) {
  if (text_width(s, size, bold) <= max_width) return s;
  std::string t = s;
  while (!t.empty()) {
    // drop one UTF-8 character: its continuation bytes (10xxxxxx), then its lead byte
    while (!t.empty() && (static_cast<unsigned char>(t.back()) & 0xC0) == 0x80) t.pop_back();
    if (!t.empty()) t.pop_back();
    if (text_width(t + "…", size, bold) <= max_width) break;
  }
  return t + "…";
}

void check_size(int width, int height, int dpi) {
  HMR_REQUIRE(width >= 100 && width <= 20000 && height >= 100 && height <= 20000,
              "plot: size {} x {} px must lie in [100, 20000] each", width, height);
  HMR_REQUIRE(dpi >= 24 && dpi <= 1200, "plot: dpi {} must lie in [24, 1200]", dpi);
  HMR_REQUIRE(std::max(width, height) * static_cast<double>(dpi) / 96.0 <= 20000.0,
              "plot: {} x {} px at {} dpi is over 20000 pixels a side", width, height, dpi);
}

void render(int width, int height, int dpi, const std::string& png_path, const std::string& svg_path,
            const std::function<void(Canvas&)>& draw) {
  HMR_REQUIRE(!png_path.empty() || !svg_path.empty(), "plot: no output file named");
  check_size(width, height, dpi);
  if (!png_path.empty())
    io::write_atomically_to(png_path, [&](const std::filesystem::path& tmp) {
      const double scale = dpi / 96.0;
      cairo_surface_t* s = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, static_cast<int>(std::lround(width * scale)),
                                                      static_cast<int>(std::lround(height * scale)));
      cairo_t* cr = cairo_create(s);
      cairo_scale(cr, scale, scale);
      {
        CairoCanvas c(cr);
        c.fill_rect(0, 0, width, height, {1, 1, 1}, 1.0);
        draw(c);
      }
      const cairo_status_t st = cairo_status(cr);
      cairo_destroy(cr);
      const cairo_status_t wr = st == CAIRO_STATUS_SUCCESS ? cairo_surface_write_to_png(s, tmp.c_str()) : st;
      cairo_surface_destroy(s);
      check_status(wr, png_path);
    });
  if (!svg_path.empty()) {
    std::ostringstream os;
    SvgCanvas c(os, width, height);
    c.fill_rect(0, 0, width, height, {1, 1, 1}, 1.0);
    draw(c);
    c.finish();
    const std::string text = os.str();
    io::write_atomically(svg_path, [&](std::ostream& o) { o << text; });
  }
}

std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!(hi > lo)) return {lo};
  const double raw = (hi - lo) / std::max(1, target);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / mag;
  const double step = (f < 1.5 ? 1.0 : f < 3.5 ? 2.0 : f < 7.5 ? 5.0 : 10.0) * mag;
  std::vector<double> t;
  for (double v = std::ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step)
    t.push_back(std::fabs(v) < step * 1e-9 ? 0.0 : v);
  return t;
}

std::string tick_label(double v) {
  if (v != 0.0 && (std::fabs(v) >= 1e5 || std::fabs(v) < 1e-3)) return fmt::format("{:.1e}", v);
  return fmt::format("{:g}", v);
}

}  // namespace hmr::plot
