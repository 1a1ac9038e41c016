// Contingency counts against a direct count over every (row, column) pair, and the heatmap and
// line-plot files: valid PNGs of the expected size, SVGs holding the counts and names as text.
#include <cairo.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include <fmt/format.h>

#include "core/error.h"
#include "plot/heatmap.h"
#include "plot/lines.h"
#include "support/files.h"

using hmr::test::slurp;
namespace {

namespace fs = std::filesystem;

fs::path temp_dir(const std::string& name) { return hmr::test::fresh_temp_dir("heatmap_" + name); }

// Reads a PNG back with cairo; returns {width, height} or {-1, -1} when it is not a valid PNG.
std::pair<int, int> png_size(const fs::path& p) {
  cairo_surface_t* s = cairo_image_surface_create_from_png(p.c_str());
  std::pair<int, int> wh{-1, -1};
  if (cairo_surface_status(s) == CAIRO_STATUS_SUCCESS)
    wh = {cairo_image_surface_get_width(s), cairo_image_surface_get_height(s)};
  cairo_surface_destroy(s);
  return wh;
}

TEST(PlotHeatmap, ContingencyCountsEveryPair) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> cl(0, 6), gl(-1, 53);  // 7 clusters, 54 genres + unknown
  std::vector<std::int32_t> rows(3000), cols(3000);
  for (std::size_t i = 0; i < rows.size(); ++i) rows[i] = cl(rng), cols[i] = gl(rng);
  const hmr::plot::Contingency t = hmr::plot::contingency(rows, cols);
  ASSERT_EQ(t.rows.size(), 7u);
  ASSERT_EQ(t.cols.size(), 55u);
  EXPECT_EQ(t.cols.front(), -1);
  std::int64_t worst = 0, sum = 0;
  std::size_t wr = 0, wc = 0;
  for (std::size_t r = 0; r < t.rows.size(); ++r)
    for (std::size_t c = 0; c < t.cols.size(); ++c) {
      std::int64_t ref = 0;
      for (std::size_t i = 0; i < rows.size(); ++i) ref += rows[i] == t.rows[r] && cols[i] == t.cols[c];
      const std::int64_t d = std::llabs(ref - t.at(r, c));
      if (d > worst) worst = d, wr = r, wc = c;
      sum += t.at(r, c);
    }
  EXPECT_EQ(worst, 0) << "worst cell (" << t.rows[wr] << ", " << t.cols[wc] << ")";
  EXPECT_EQ(sum, 3000);
  // A small case by hand: clusters {0, 0, 1, 1, 1}, labels {a, b, b, b, a}.
  const auto s = hmr::plot::contingency({0, 0, 1, 1, 1}, {0, 1, 1, 1, 0});
  EXPECT_EQ(s.counts, (std::vector<std::int64_t>{1, 1, 1, 2}));
  EXPECT_THROW(hmr::plot::contingency({0, 1}, {0}), hmr::Error);
  EXPECT_THROW(hmr::plot::contingency({}, {}), hmr::Error);
}

TEST(PlotHeatmap, WritesValidPngAndSvgWithCountsAndNames) {
  const fs::path dir = temp_dir("files");
  // 3 clusters x 2 labels with distinct counts 1..6 (cluster c, label l: 2c + l + 1 samples).
  std::vector<std::int32_t> rows, cols;
  for (int c = 0; c < 3; ++c)
    for (int l = 0; l < 2; ++l)
      for (int i = 0; i < 2 * c + l + 1; ++i) rows.push_back(c), cols.push_back(l);
  hmr::plot::HeatmapOptions o;
  o.title = "vae_kmeans clusters vs genre (counts)";
  o.row_title = "cluster";
  o.col_title = "genre";
  o.dpi = 192;
  hmr::plot::heatmap_plot(hmr::plot::contingency(rows, cols), {"cluster 0", "cluster 1", "cluster 2"},
                          {"rock & roll", "folk"}, o, (dir / "h.png").string(), (dir / "h.svg").string());
  const auto [w, h] = png_size(dir / "h.png");
  EXPECT_GT(w, 0) << "not a valid PNG";
  EXPECT_EQ(w % 2, 0);  // 2x the SVG's px size at 192 dpi
  const std::string svg = slurp(dir / "h.svg");
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_NE(svg.find(fmt::format("width=\"{}px\"", w / 2)), std::string::npos);
  for (int n = 1; n <= 6; ++n) EXPECT_NE(svg.find(fmt::format(">{}</text>", n)), std::string::npos) << n;
  for (const char* t : {">rock &amp; roll</text>", ">folk</text>", ">cluster 2</text>", ">genre</text>"})
    EXPECT_NE(svg.find(t), std::string::npos) << t;
  fs::remove_all(dir);
}

TEST(PlotLines, LogAxisOnlyForPositiveValuesSpanningOrders) {
  hmr::plot::Series a{"a", {1, 2, 3}, {100, 50, 40}}, b{"b", {1, 2, 3}, {2, 1.5, 1.2}};
  EXPECT_TRUE(hmr::plot::use_log_y({a, b}, 30.0));
  EXPECT_FALSE(hmr::plot::use_log_y({a}, 30.0));
  EXPECT_FALSE(hmr::plot::use_log_y({a, b}, 0.0));
  hmr::plot::Series z{"z", {1}, {0.0}};
  EXPECT_FALSE(hmr::plot::use_log_y({a, b, z}, 30.0));

  const fs::path dir = temp_dir("lines");
  hmr::plot::LineOptions o;
  o.title = "text VAE: training loss";
  o.x_label = "epoch";
  o.y_label = "loss";
  hmr::plot::line_plot({a, b, {"val", {1, 2, 3}, {120, 60, 45}, true}}, o, (dir / "l.png").string(),
                       (dir / "l.svg").string());
  EXPECT_EQ(png_size(dir / "l.png"), (std::pair<int, int>{900, 540}));
  const std::string svg = slurp(dir / "l.svg");
  for (const char* t : {">epoch</text>", ">loss (log scale)</text>", ">val</text>", "stroke-dasharray"})
    EXPECT_NE(svg.find(t), std::string::npos) << t;
  EXPECT_THROW(hmr::plot::line_plot({{"x", {1, 2}, {1}}}, o, (dir / "m.png").string(), ""), hmr::Error);
  EXPECT_THROW(hmr::plot::line_plot({{"x", {1}, {NAN}}}, o, (dir / "m.png").string(), ""), hmr::Error);
  fs::remove_all(dir);
}

}  // namespace
