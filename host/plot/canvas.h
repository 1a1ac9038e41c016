// plot/canvas.h — the drawing surface every hmr figure is drawn on, once per output format:
// PNG through cairo (an image surface scaled by dpi / 96) and SVG written by hand, so that text
// stays text (<text> elements: searchable, selectable, translatable; cairo 1.16's SVG surface
// would turn every glyph into an outline). Coordinates are CSS pixels (1/96 inch), y down.
// Colours: a categorical palette chosen for contrast on white (every colour >= 3:1, the WCAG 2.1
// non-text contrast level, SC 1.4.11) and for colour-blind readers: Okabe & Ito (2008) "Color
// Universal Design" without its pale orange, sky blue and yellow, then Paul Tol's (2021,
// https://personal.sron.nl/~pault/) dark muted colours and his medium-contrast ochre. Beyond its
// colours, classes cycle marker shapes (circle, square, triangle, diamond): 40 distinct styles.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace hmr::plot {

struct Rgb {
  double r = 0, g = 0, b = 0;  // each in [0, 1]
};
Rgb rgb_hex(unsigned hex);  // 0xRRGGBB

enum class Marker { circle, square, triangle, diamond };
enum class Anchor { start, middle, end };  // horizontal alignment of text at its point

constexpr int kPaletteSize = 10;
constexpr int kMarkerShapes = 4;
constexpr int kDistinctStyles = kPaletteSize * kMarkerShapes;
Rgb palette(int index);       // colour of class slot `index` (cycles every kPaletteSize)
Marker marker_of(int index);  // shape of class slot `index` (changes every kPaletteSize)
Rgb other_grey();             // the "+N more" group and neutral lines (also >= 3:1 on white)
Rgb ink();                    // text

// WCAG 2.1 relative luminance and contrast ratio (L1 + 0.05) / (L2 + 0.05), L1 the lighter.
double relative_luminance(Rgb c);
double contrast_ratio(Rgb a, Rgb b);

class Canvas {
 public:
  virtual ~Canvas() = default;
  virtual void fill_rect(double x, double y, double w, double h, Rgb fill, double alpha = 1.0) = 0;
  virtual void stroke_rect(double x, double y, double w, double h, Rgb stroke, double line_width) = 0;
  virtual void marker(double x, double y, double radius, Marker m, Rgb fill, double alpha) = 0;
  virtual void polyline(const std::vector<std::pair<double, double>>& pts, Rgb stroke, double line_width,
                        bool dashed = false) = 0;
  // Text with its baseline at y; angle in degrees, clockwise (-90 reads bottom to top).
  virtual void text(double x, double y, const std::string& s, double size, Rgb colour, Anchor anchor = Anchor::start,
                    bool bold = false, double angle = 0.0) = 0;
};

// Advance width of `s` in the sans-serif face at `size` px (cairo's measure; both outputs lay
// out with it, a viewer's font may differ by a few per cent).
double text_width(const std::string& s, double size, bool bold = false);
// `s` cut at a UTF-8 character boundary with "…" appended so it fits in max_width (unchanged if
// it fits).
std::string fit_text(const std::string& s, double size, double max_width, bool bold = false);

// Draws `draw` into a PNG (width x height CSS px at `dpi`: round(width * dpi / 96) pixels wide)
// and an SVG (width x height px); either path may be empty. Each file is written atomically.
// Input error for a size outside [100, 20000] px, dpi outside [24, 1200] or a PNG over
// 20000 px a side.
void render(int width, int height, int dpi, const std::string& png_path, const std::string& svg_path,
            const std::function<void(Canvas&)>& draw);
void check_size(int width, int height, int dpi);

// Axis tick values: "nice" steps (1, 2, 5 x 10^k) covering [lo, hi], about `target` of them.
std::vector<double> nice_ticks(double lo, double hi, int target = 5);
// Short tick text: 0.5, 12, 1500, 2.5e+06.
std::string tick_label(double v);

}  // namespace hmr::plot
