// Scatter plots: PNG and SVG files appear (atomically, nothing else left behind), the PNG has the
// requested size and draws each class in its palette colour, bad arguments are input errors.
#include <cairo.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include "core/error.h"
#include "plot/scatter.h"

namespace {

namespace fs = std::filesystem;

fs::path temp_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("hmr_plot_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// Two well separated classes, left (label 0) and right (label 1).
hmr::Matrix two_blobs(std::vector<std::int32_t>& labels) {
  std::mt19937 rng(3);
  std::normal_distribution<float> g(0.0f, 0.3f);
  hmr::Matrix y(400, 2);
  labels.resize(400);
  for (std::int64_t i = 0; i < 400; ++i) {
    const int c = static_cast<int>(i % 2);
    y(i, 0) = (c ? 5.0f : -5.0f) + g(rng);
    y(i, 1) = g(rng);
    labels[static_cast<std::size_t>(i)] = c;
  }
  return y;
}

bool near_color(unsigned px, double r, double g, double b) {
  const double pr = ((px >> 16) & 255) / 255.0, pg = ((px >> 8) & 255) / 255.0, pb = (px & 255) / 255.0;
  return std::fabs(pr - r) < 0.12 && std::fabs(pg - g) < 0.12 && std::fabs(pb - b) < 0.12;
}

TEST(PlotScatter, WritesPngAndSvgWithPaletteColours) {
  const fs::path dir = temp_dir("ok");
  std::vector<std::int32_t> labels;
  const hmr::Matrix y = two_blobs(labels);
  hmr::plot::ScatterOptions o;
  o.title = "two blobs";
  o.width = 600;
  o.height = 400;
  hmr::plot::scatter_plot(y.view(), labels, {"left", "right"}, o, (dir / "p.png").string(), (dir / "p.svg").string());
  ASSERT_TRUE(fs::exists(dir / "p.png"));
  ASSERT_TRUE(fs::exists(dir / "p.svg"));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 2);  // no temporaries left
  std::ifstream svg(dir / "p.svg");
  std::string head(200, '\0');
  svg.read(head.data(), 200);
  EXPECT_NE(head.find("<svg"), std::string::npos);

  cairo_surface_t* s = cairo_image_surface_create_from_png((dir / "p.png").c_str());
  ASSERT_EQ(cairo_surface_status(s), CAIRO_STATUS_SUCCESS);
  EXPECT_EQ(cairo_image_surface_get_width(s), 600);
  EXPECT_EQ(cairo_image_surface_get_height(s), 400);
  const int w = cairo_image_surface_get_width(s), h = cairo_image_surface_get_height(s);
  const int stride = cairo_image_surface_get_stride(s);
  const unsigned char* data = cairo_image_surface_get_data(s);
  double r0, g0, b0, r1, g1, b1;
  hmr::plot::palette_color(0, r0, g0, b0);
  hmr::plot::palette_color(1, r1, g1, b1);
  // class 0 appears only in the left half of the image, class 1 only right of it
  int left0 = 0, right0 = 0, left1 = 0, right1 = 0;
  for (int row = 0; row < h; ++row)
    for (int col = 0; col < w; ++col) {
      const unsigned px = reinterpret_cast<const unsigned*>(data + row * stride)[col];
      const bool left = col < w / 3;
      if (near_color(px, r0, g0, b0)) (left ? left0 : right0)++;
      if (near_color(px, r1, g1, b1) && col < w * 3 / 4) (left ? left1 : right1)++;
    }
  cairo_surface_destroy(s);
  EXPECT_GT(left0, 50);
  EXPECT_GT(right1, 50);
  EXPECT_EQ(left1, 0);
  fs::remove_all(dir);
}

TEST(PlotScatter, PaletteIsDistinctForTheFirstClasses) {
  for (int a = 0; a < 8; ++a)
    for (int b = a + 1; b < 8; ++b) {
      double r0, g0, b0, r1, g1, b1;
      hmr::plot::palette_color(a, r0, g0, b0);
      hmr::plot::palette_color(b, r1, g1, b1);
      EXPECT_GT(std::fabs(r0 - r1) + std::fabs(g0 - g1) + std::fabs(b0 - b1), 0.2) << a << " vs " << b;
    }
}

TEST(PlotScatter, RejectsBadArguments) {
  const fs::path dir = temp_dir("bad");
  std::vector<std::int32_t> labels;
  const hmr::Matrix y = two_blobs(labels);
  hmr::plot::ScatterOptions o;
  const std::string png = (dir / "x.png").string();
  EXPECT_THROW(hmr::plot::scatter_plot(y.view(), {1, 2, 3}, {}, o, png, ""), hmr::Error);
  EXPECT_THROW(hmr::plot::scatter_plot(y.view(), labels, {}, o, "", ""), hmr::Error);
  hmr::Matrix one_col(10, 1);
  EXPECT_THROW(hmr::plot::scatter_plot(one_col.view(), {}, {}, o, png, ""), hmr::Error);
  hmr::Matrix nan = y;
  nan(3, 1) = NAN;
  EXPECT_THROW(hmr::plot::scatter_plot(nan.view(), labels, {}, o, png, ""), hmr::Error);
  EXPECT_FALSE(fs::exists(png));
  EXPECT_THROW(hmr::plot::read_label_names((dir / "missing.txt").string()), hmr::Error);
  fs::remove_all(dir);
}

}  // namespace
