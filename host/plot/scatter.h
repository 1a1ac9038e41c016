// plot/scatter.h — scatter plots of 2-D embeddings with cairo (PNG and SVG): points coloured by
// an integer label array with a legend of label names and a title. Colours come from a
// colour-blind-safe palette (Okabe & Ito 2008 for <= 8 classes, Paul Tol's "muted"/extended
// qualitative set beyond that, cycling with distinct marker shapes past 20 classes).
// Files are written atomically (temporary file + rename).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/matrix.h"

namespace hmr::plot {

struct ScatterOptions {
  std::string title;
  int width = 900;  // pixels (PNG) / points (SVG)
  int height = 720;
  double point_radius = 0.0;  // <= 0: chosen from N (smaller for larger N)
  double alpha = 0.8;
};

// y: [N x >= 2] (the first two columns are drawn). labels: empty (one colour) or N values;
// label_names: optional names indexed by label value (label l -> label_names[l]); missing names
// print the number. Either path may be empty (that format is skipped); at least one must be set.
void scatter_plot(ConstMatrixView y, const std::vector<std::int32_t>& labels,
                  const std::vector<std::string>& label_names, const ScatterOptions& opt, const std::string& png_path,
                  const std::string& svg_path);

// The palette colour (r, g, b in [0, 1]) of class `index`.
void palette_color(int index, double& r, double& g, double& b);

// Reads label names, one per line (blank lines kept as empty names).
std::vector<std::string> read_label_names(const std::string& path);

}  // namespace hmr::plot
