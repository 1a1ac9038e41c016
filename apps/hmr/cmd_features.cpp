// hmr features — audio (GTZAN folder, manifest CSV, files) -> the Kaggle GTZAN feature table
// (features_30_sec.csv, and features_3_sec.csv with --segment-seconds 3) with librosa 0.10
// parity, optional extras (delta MFCCs, spectral contrast, log-mel arrays). Thin: parse, call
// audio::run_features_job, print.
#include <omp.h>

#include <cmath>
#include <cstdio>

#include "audio/features.h"
#include "audio/features_job.h"
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
  sub.add_option("inputs", a->inputs,
                 "a GTZAN folder (ROOT/<label>/*.wav|au|...), a manifest CSV (id,audio[,label,...]) or audio files")
      ->required();
  sub.add_option("--label-column", a->job.label_column, "manifest column holding the label (default: 'label' if any)");
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
  sub.add_option("--offset", o.offset, "seconds skipped at the start of each file (librosa offset)")
      ->check(hmr::app::real_range(0, false))
      ->capture_default_str();
  sub.add_option("--duration", o.duration, "seconds read from each file (librosa duration; < 0 = all)")
      ->capture_default_str();
  sub.add_option("--sr,--sample-rate", p.sample_rate, "target sample rate (soxr HQ resampling)")
      ->check(hmr::app::int_range(1000, 768000))
      ->capture_default_str();
  sub.add_option("--n-mfcc", p.n_mfcc, "MFCC coefficients (<= n_mels)")
      ->check(hmr::app::int_range(1, 4096))
      ->capture_default_str();
  sub.add_option("--n-mels", p.n_mels, "mel bands of the MFCC and log-mel")
      ->check(hmr::app::int_range(1, 4096))
      ->capture_default_str();
  sub.add_option("--n-fft", p.n_fft, "FFT length (every feature)")
      ->check(hmr::app::int_range(2, 65536))
      ->capture_default_str();
  sub.add_option("--hop-length", p.hop_length, "hop between frames (every feature)")
      ->check(hmr::app::int_range(1, 65536))
      ->capture_default_str();
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
    HMR_REQUIRE(job.options.duration != 0.0 && std::isfinite(job.options.duration),
                "--duration: must be > 0 seconds, or < 0 for whole files (got {})", job.options.duration);
    hmr::io::OutputDirectory out(common.out, kFeaturesOutput,
                                 std::vector<std::filesystem::path>(a->inputs.begin(), a->inputs.end()));
    job.out = out.stage();
    if (a->threads > 0) omp_set_num_threads(a->threads);
    auto backend = common.backend();
    std::unique_ptr<hmr::Progress> bar;
    job.options.progress = [&bar](std::size_t done, std::size_t total) {
      if (!bar) bar = std::make_unique<hmr::Progress>("features", static_cast<std::int64_t>(total), "file");
      bar->update(static_cast<std::int64_t>(done));
    };
    const auto r = hmr::audio::run_features_job(*backend, job);
    out.commit();
    if (bar) bar->finish();
    std::printf("features: %zu of %zu files (%s source), %.1f s of audio in %.2f s: %.1f files/s on %s\n", r.processed,
                r.inputs, r.source.c_str(), r.audio_seconds, r.seconds, r.files_per_s, backend->description().c_str());
    if (r.segments > 0) std::printf("%zu segment rows\n", r.segments);
    if (!r.skipped.empty()) {
      std::printf("skipped %zu file(s):\n", r.skipped.size());
      for (const auto& s : r.skipped) std::printf("  %s\n", s.reason.c_str());
    }
    std::printf("outputs in %s:", common.out.c_str());
    for (const auto& w : r.written) std::printf(" %s", w.c_str());
    std::printf("%s\n", a->job.logmel ? " logmel/ features_run.json" : " features_run.json");
  });
}

HMR_COMMAND("features", "audio -> the Kaggle GTZAN feature table (57 librosa features, features_30_sec.csv)", setup);

}  // namespace
