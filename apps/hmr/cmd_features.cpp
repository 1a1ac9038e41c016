// hmr features — audio (GTZAN folder, manifest CSV, files) -> the Kaggle GTZAN feature table
// (features_30_sec.csv, and features_3_sec.csv with --segment-seconds 3) with librosa 0.10
// parity, optional extras (delta MFCCs, spectral contrast, log-mel arrays). Thin: parse, call
// audio::run_features_job, print.
#include <omp.h>

#include <cmath>
#include <cstdio>

#include "audio/features.h"
#include "audio/features_job.h"
#include "audio_cli.h"
#include "checks.h"
#include "cli.h"
#include "core/error.h"
#include "core/progress.h"
#include "io/output.h"

namespace {

// What `hmr features` writes (output.h: a folder holding only these may be replaced).
const hmr::io::DirectoryKind kFeaturesOutput{
    "features", "features_run.json", {"features_*_sec.csv", "logmel", "features_run.json", ".*.tmp????????"}};

struct FeaturesArgs {
  std::vector<std::string> inputs;
  hmr::audio::FeaturesJob job;
  int threads = 0;
};

void setup(CLI::App& sub, hmr::app::Common& common) {
  auto a = std::make_shared<FeaturesArgs>();
  auto& p = a->job.params;
  auto& o = a->job.options;
  hmr::app::add_audio_inputs(
      sub, a->inputs,
      "a GTZAN folder (ROOT/<label>/*.wav|au|...), a manifest CSV (id,audio[,label,...]) or audio files",
      a->job.label_column);
  sub.add_option("--segment-seconds", o.segment_seconds,
                 "also write features_<S>_sec.csv: one row per whole S-second segment (Kaggle: 3)")
      ->check(hmr::app::real_range(0, false, 3600))
      ->capture_default_str();
  sub.add_flag("--deltas", p.deltas, "append delta and delta-delta MFCC mean/var columns (librosa feature.delta)");
  sub.add_flag("--contrast", p.contrast, "append spectral contrast mean/var columns (librosa spectral_contrast)");
  sub.add_option("--n-bands", p.n_bands, "spectral contrast bands (--contrast)")
      ->check(hmr::app::int_range(1, 32))
      ->capture_default_str();
  sub.add_flag("--logmel-npy", a->job.logmel, "also write logmel/<row>_<id>.npy log-mel arrays (and segment patches)");
  sub.add_flag("--strict", o.strict, "stop at the first unreadable file instead of skipping it");
  sub.add_option("--threads", a->threads, "cpu threads (0 = all cores)")
      ->check(hmr::app::int_range(0, 4096))
      ->capture_default_str();
  hmr::app::add_librosa_flags(
      sub, o, p,
      {"mel bands of the MFCC and log-mel", "FFT length (every feature)", "hop between frames (every feature)"});
  sub.footer(
      "Writes into --out DIR: features_30_sec.csv (filename,length,chroma_stft_mean,...,mfcc20_var[,extras],label:\n"
      "the Kaggle GTZAN layout), features_<S>_sec.csv with --segment-seconds S (rows <stem>.<k><ext>), logmel/\n"
      "with --logmel-npy, and features_run.json. Unreadable files are reported and skipped (exit 2 only if none\n"
      "could be processed, or at the first one with --strict). Numbers follow librosa 0.10 defaults.");
  sub.callback([a, &common] {
    HMR_REQUIRE(!common.out.empty(), "features: --out DIR is required");
    auto& job = a->job;
    job.inputs = a->inputs;
    hmr::audio::check_params(job.params);
    hmr::app::check_duration(job.options.duration);
    hmr::io::OutputDirectory out(common.out, kFeaturesOutput,
                                 std::vector<std::filesystem::path>(a->inputs.begin(), a->inputs.end()));
    job.out = out.stage();
    if (a->threads > 0) omp_set_num_threads(a->threads);
    auto backend = common.backend();
    hmr::app::FileProgress bar("features");
    job.options.progress = bar.callback();
    const auto r = hmr::audio::run_features_job(*backend, job);
    out.commit();
    bar.finish();
    hmr::app::print_files_line("features", r, backend->description());
    if (r.segments > 0) std::printf("%zu segment rows\n", r.segments);
    hmr::app::print_skipped(r);
    std::printf("outputs in %s:", common.out.c_str());
    for (const auto& w : r.written) std::printf(" %s", w.c_str());
    std::printf("%s\n", a->job.logmel ? " logmel/ features_run.json" : " features_run.json");
  });
}

HMR_COMMAND("features", "audio -> the Kaggle GTZAN feature table (57 librosa features, features_30_sec.csv)", setup);

}  // namespace
