// hmr tsne — Barnes-Hut t-SNE of an [N x d] .npy array into an [N x 2|3] .npy embedding, with an
// optional scatter plot (PNG + SVG) coloured by a label array. Thin: parse, call embed::tsne and
// plot::scatter_plot, print.
#include <cstdio>
#include <filesystem>
#include <limits>

#include "checks.h"
#include "cli.h"
#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "embed/tsne.h"
#include "io/array.h"
#include "io/npy.h"
#include "io/output.h"
#include "plot/canvas.h"
#include "plot/scatter.h"

namespace {

struct TsneArgs {
  std::string input, plot, labels, label_names, title, legend_title = "label", init = "pca";
  int n_iter = 0;  // --n-iter (openTSNE): iterations after early exaggeration; 0 = not given
  hmr::embed::TsneOptions opt;
  hmr::plot::ScatterOptions po;
};

void setup(CLI::App& sub, hmr::app::Common& common) {
  auto a = std::make_shared<TsneArgs>();
  sub.add_option("--input,-i", a->input, "input array [N x d]: X.npy | X.npz:name | numeric X.csv (any numeric dtype)")
      ->required();
  sub.add_option("--perplexity", a->opt.perplexity, "perplexity (neighbours k = min(N-1, 3 x perplexity))")
      ->check(hmr::app::real_range(0, true))
      ->capture_default_str();
  sub.add_option("--theta,--angle", a->opt.theta, "Barnes-Hut opening angle (0 = exact; sklearn angle)")
      ->check(hmr::app::real_range(0, false))
      ->capture_default_str();
  // Two ecosystem names for the length of the run: sklearn's max_iter counts every iteration, as
  // --iters does; openTSNE's n_iter counts only those after early exaggeration (its default 500
  // after 250 is 750 in all), so --n-iter N runs exag_iters + N.
  CLI::Option* iters = sub.add_option("--iters,--max-iter", a->opt.iters, "iterations in total (sklearn max_iter)")
                           ->check(hmr::app::int_range(1))
                           ->capture_default_str();
  sub.add_option("--n-iter", a->n_iter, "iterations after early exaggeration (openTSNE n_iter): iters = exag-iters + N")
      ->check(hmr::app::int_range(1))
      ->excludes(iters);
  sub.add_option("--early-exag,--early-exaggeration", a->opt.early_exag, "early exaggeration factor")
      ->check(hmr::app::real_range(0, true))
      ->capture_default_str();
  sub.add_option("--exag-iters,--early-exaggeration-iter", a->opt.exag_iters, "iterations with early exaggeration")
      ->check(hmr::app::int_range(0))
      ->capture_default_str();
  sub.add_option("--learning-rate", a->opt.learning_rate, "learning rate: auto (or 0) = max(N / early_exag, 200)")
      // openTSNE and sklearn spell the automatic rate 'auto'; hmr's older 0 stays an alias.
      ->transform([](std::string v) { return v == "auto" ? std::string("0") : v; }, "", "")
      ->check(hmr::app::real_range(0, false))
      ->capture_default_str();
  sub.add_option("--dims,--n-components", a->opt.dims, "output dimensions (2 or 3; sklearn n_components)")
      ->check(hmr::app::int_range(2, 3))
      ->capture_default_str();
  hmr::app::add_choice(sub, "--init", a->init, "initialisation: pca | random", {"pca", "random"});
  sub.add_option("--plot", a->plot, "write a scatter plot to this .png (and the same name with .svg)")
      ->check(hmr::app::png_path());
  sub.add_option("--labels", a->labels, "labels colouring the plot: N integer codes (.npy | .npz:name | .csv)");
  sub.add_option("--label-names", a->label_names, "text file with one name per label value");
  sub.add_option("--title", a->title, "plot title");
  sub.add_option("--legend-title", a->legend_title, "legend title, e.g. genre")->capture_default_str();
  sub.add_option("--plot-width", a->po.width, "plot width in px (1/96 inch)")
      ->check(hmr::app::int_range(100, 20000))
      ->capture_default_str();
  sub.add_option("--plot-height", a->po.height, "plot height in px")
      ->check(hmr::app::int_range(100, 20000))
      ->capture_default_str();
  sub.add_option("--dpi", a->po.dpi, "PNG resolution (the PNG is width * dpi / 96 pixels wide)")
      ->check(hmr::app::int_range(24, 1200))
      ->capture_default_str();
  sub.footer("Output: --out Y.npy (required). Progress shows the iteration and KL every 50 iterations.");
  sub.callback([a, &common] {
    HMR_REQUIRE(!common.out.empty(), "tsne: --out Y.npy is required");
    HMR_REQUIRE(a->plot.empty() || a->opt.dims == 2 || a->opt.dims == 3, "tsne: --plot needs dims 2 or 3");
    if (!a->plot.empty()) hmr::plot::check_size(a->po.width, a->po.height, a->po.dpi);  // before the work
    const std::string svg =
        a->plot.empty() ? std::string() : std::filesystem::path(a->plot).replace_extension(".svg").string();
    std::vector<hmr::io::OutputFiles::Target> targets{{common.out, "--out"}};
    if (!a->plot.empty()) {
      targets.push_back({a->plot, "--plot"});
      targets.push_back({svg, "--plot (SVG)"});
    }
    hmr::io::OutputFiles outs(std::move(targets),
                              {hmr::io::array_file(a->input), hmr::io::array_file(a->labels), a->label_names});
    const hmr::Matrix x = hmr::io::read_array(a->input, "--input");
    std::vector<std::int32_t> labels;
    if (!a->labels.empty()) {
      labels = hmr::io::read_label_array(a->labels, "--labels");
      HMR_REQUIRE(static_cast<std::int64_t>(labels.size()) == x.rows(), "tsne: {} has {} labels for {} rows of {}",
                  a->labels, labels.size(), x.rows(), a->input);
    }
    std::vector<std::string> names;
    if (!a->label_names.empty()) names = hmr::plot::read_label_names(a->label_names);
    if (a->n_iter > 0) {
      HMR_REQUIRE(a->n_iter <= std::numeric_limits<int>::max() - a->opt.exag_iters,
                  "tsne: --n-iter {} plus --exag-iters {} is too many iterations", a->n_iter, a->opt.exag_iters);
      a->opt.iters = a->opt.exag_iters + a->n_iter;
    }
    a->opt.seed = common.seed;
    a->opt.init = a->init == "random" ? hmr::embed::TsneInit::random : hmr::embed::TsneInit::pca;
    auto backend = common.backend();
    auto sink = hmr::ProgressSink::standard();
    sink.start_at_once = false;  // tsne checks the input first: a bad one stays one error line
    hmr::Progress bar("t-SNE", a->opt.iters, "iteration", sink);
    const auto progress = [&](int it, double kl) { bar.update(it, fmt::format("KL {:.4f}", kl)); };
    const auto res = hmr::embed::tsne(*backend, x, a->opt, progress);
    bar.finish(fmt::format("KL {:.4f}", res.kl));
    hmr::io::write_npy(outs.path(common.out), res.y);
    if (!a->plot.empty()) {
      hmr::plot::ScatterOptions po = a->po;
      po.x_label = "t-SNE 1";
      po.y_label = "t-SNE 2";
      po.legend_title = a->legend_title;
      po.title = a->title.empty() ? fmt::format("t-SNE of {} (perplexity {:g})",
                                                std::filesystem::path(a->input).filename().string(), a->opt.perplexity)
                                  : a->title;
      hmr::plot::scatter_plot(res.y.view(), labels, names, po, outs.path(a->plot).string(), outs.path(svg).string());
      spdlog::info("plot: {} and {}", a->plot, svg);
    }
    outs.commit();
    std::printf("t-SNE: %lld points x %lld -> %d dims on %s, k = %d, learning rate %.1f, %d iterations\n",
                static_cast<long long>(x.rows()), static_cast<long long>(x.cols()), a->opt.dims,
                backend->name().c_str(), res.neighbours, res.learning_rate, a->opt.iters);
    std::printf("KL divergence %.6f (%s Z), %.2f s (", res.kl, res.kl_exact ? "exact" : "Barnes-Hut estimate of",
                res.seconds);
    bool first = true;
    for (const auto& [name, secs] : res.timings.items()) {
      std::printf("%s%s %.2f s", first ? "" : ", ", name.c_str(), secs);
      first = false;
    }
    std::printf(")\nwrote %s\n", common.out.c_str());
  });
}

HMR_COMMAND("tsne", "Barnes-Hut t-SNE of an .npy array (cpu or cuda), optional scatter plot", setup);

}  // namespace
