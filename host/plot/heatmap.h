// plot/heatmap.h — the contingency table of two labelings of the same samples (rows: e.g.
// K-Means clusters; columns: e.g. the genre) and its heatmap (PNG + SVG, canvas.h): one cell per
// (row, column) pair holding the count as text, shaded white -> dark blue by count / max count.
// It shows what ARI/NMI/purity summarise: which classes a cluster mixes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hmr::plot {

struct Contingency {
  std::vector<std::int32_t> rows, cols;  // the distinct values of each labeling, ascending
  std::vector<std::int64_t> counts;      // [rows.size() x cols.size()], row-major
  std::int64_t at(std::size_t r, std::size_t c) const { return counts[r * cols.size() + c]; }
};

// counts(r, c) = #{i : row_labels[i] = rows[r] and col_labels[i] = cols[c]}. Input error when the
// lengths differ or are 0.
Contingency contingency(const std::vector<std::int32_t>& row_labels, const std::vector<std::int32_t>& col_labels);

struct HeatmapOptions {
  std::string title;
  std::string row_title, col_title;  // axis titles, e.g. "cluster (vae_kmeans)", "genre"
  int dpi = 96;                      // the figure's size follows from the table (cells of >= 30 px)
};

// row_names / col_names: indexed by label value like scatter_plot's names (a missing name prints
// the number). Either path may be empty; at least one must be set.
void heatmap_plot(const Contingency& t, const std::vector<std::string>& row_names,
                  const std::vector<std::string>& col_names, const HeatmapOptions& opt, const std::string& png_path,
                  const std::string& svg_path);

}  // namespace hmr::plot
