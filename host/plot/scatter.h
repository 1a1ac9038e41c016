// plot/scatter.h — scatter plots of 2-D embeddings (PNG and SVG, see canvas.h): points coloured
// and shaped by an integer label, axis labels, a title and a legend titled by the label's name.
// The legend never drops a class silently: classes are ordered by size (largest first, ties by
// label) and all are named when they fit (rows in the figure's height, and kDistinctStyles so
// that every named class has a style of its own); otherwise the largest are named and the rest
// are drawn in grey under one stated entry "+N more (M points)".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/matrix.h"

namespace hmr::plot {

struct ScatterOptions {
  std::string title;
  std::string x_label, y_label;  // e.g. "t-SNE 1", "t-SNE 2"; empty: none
  std::string legend_title;      // e.g. "genre"; empty: none
  int width = 900;               // CSS px (1/96 inch); the PNG is width * dpi / 96 pixels wide
  int height = 720;
  int dpi = 96;
  double point_radius = 0.0;  // <= 0: chosen from N (smaller for larger N)
  double alpha = 0.8;
};

// One row of the legend.
struct LegendEntry {
  std::int32_t label = 0;  // the label value (unused for the "+N more" row)
  std::int64_t count = 0;  // points of the class (of all grouped classes for "+N more")
  int style = 0;           // palette slot: colour palette(style), shape marker_of(style)
  bool more = false;       // the "+N more" row
  int classes = 1;         // classes in the row (N for "+N more")
};

// The legend of `labels` when at most `max_rows` rows fit: every class by size (descending,
// ties by label value) with style = its rank, or the largest max_rows - 1 (at most
// kDistinctStyles) named and one "+N more" row for the rest. Empty labels: no rows.
std::vector<LegendEntry> legend_entries(const std::vector<std::int32_t>& labels, int max_rows);

// The text of a legend row: "rock (100)", "+21 more (412 points)".
std::string legend_text(const LegendEntry& e, const std::vector<std::string>& label_names);

// y: [N x >= 2] (the first two columns are drawn). labels: empty (one colour) or N values;
// label_names: optional names indexed by label value (label l -> label_names[l]); missing names
// print the number. Either path may be empty (that format is skipped); at least one must be set.
void scatter_plot(ConstMatrixView y, const std::vector<std::int32_t>& labels,
                  const std::vector<std::string>& label_names, const ScatterOptions& opt, const std::string& png_path,
                  const std::string& svg_path);

// Reads label names, one per line (blank lines kept as empty names).
std::vector<std::string> read_label_names(const std::string& path);

}  // namespace hmr::plot
