// hmr mfcc — audio (GTZAN folder, manifest CSV, files) or a Kaggle features CSV -> librosa-parity
// MFCC summaries (.npy [n, 2 * n_mfcc] + Kaggle-layout CSV), optionally the frames. Thin: parse,
// call audio::run_mfcc_job, print.
#include <cstdio>

#include <cmath>

#include "audio/mfcc.h"
#include "audio/mfcc_job.h"
#include "audio_cli.h"
#include "checks.h"
#include "cli.h"
#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "io/output.h"

namespace {

// What `hmr mfcc` writes (a folder of an older hmr with only these is replaced; output.h).
const hmr::io::DirectoryKind kMfccOutput{
    "mfcc",
    "mfcc_run.json",
    {"mfcc_summary.npy", "mfcc_features.csv", "labels.npy", "label_names.txt", "frames", "mfcc_frames.npy",
     "mfcc_frames_index.npy", "mfcc_run.json", ".*.tmp????????"}};

struct MfccArgs {
  std::vector<std::string> inputs;
  std::string frames = "none";
  hmr::audio::MfccJob job;
  std::string norm = "slaney";
  bool no_center = false;
};

void setup(CLI::App& sub, hmr::app::Common& common) {
  auto a = std::make_shared<MfccArgs>();
  auto& p = a->job.params;
  auto& o = a->job.options;
  hmr::app::add_audio_inputs(sub, a->inputs,
                             "a GTZAN folder (ROOT/<label>/*.wav|au|...), a manifest CSV (id,audio[,label,...]), "
                             "audio files, or a Kaggle features CSV",
                             a->job.label_column);
  sub.add_option("--columns", a->job.feature_regex, "features CSV input: regex selecting the columns")
      ->capture_default_str();
  hmr::app::add_choice(sub, "--frames", a->frames,
                       "also write the MFCC frames: none | npy (one file per clip) | ragged",
                       {"none", "npy", "ragged"});
  sub.add_flag("--strict", o.strict, "stop at the first unreadable file instead of skipping it");
  sub.add_option("--threads", o.decode_threads, "decoder threads (0 = all cores)")
      ->check(hmr::app::int_range(0, 4096))
      ->capture_default_str();
  hmr::app::add_librosa_flags(sub, o, p, {"mel bands (no empty filter)", "FFT length", "hop between frames"});
  sub.add_option("--win-length", p.win_length, "Hann window length (0 = n_fft)")
      ->check(hmr::app::int_range(0, 65536))
      ->capture_default_str();
  sub.add_flag("--no-center", a->no_center, "no n_fft/2 zero padding at the ends (librosa center=False)");
  sub.add_option("--power", p.power, "spectrogram exponent (2 = power, 1 = magnitude)")
      ->check(hmr::app::real_range(0, true))
      ->capture_default_str();
  sub.add_option("--fmin", p.fmin, "lowest mel frequency (Hz)")
      ->check(hmr::app::real_range(0, false))
      ->capture_default_str();
  sub.add_option("--fmax", p.fmax, "highest mel frequency (Hz; 0 = sr/2)")
      ->check(hmr::app::real_range(0, false))
      ->capture_default_str();
  sub.add_flag("--htk", p.htk, "HTK mel formula instead of Slaney's");
  hmr::app::add_choice(sub, "--norm", a->norm, "mel filter normalisation: slaney | none", {"slaney", "none"});
  sub.add_option("--top-db", p.top_db, "dB floor below each clip's peak (<= 0: none)")
      ->check(hmr::app::real_range(-1e6, false, 1e6))
      ->capture_default_str();
  sub.add_option("--lifter", p.lifter, "cepstral liftering (0: none)")
      ->check(hmr::app::real_range(0, false))
      ->capture_default_str();
  sub.footer(
      "Writes into --out DIR: mfcc_summary.npy (float32 [n, 2*n_mfcc], mfcc1_mean, mfcc1_var, ...),\n"
      "mfcc_features.csv (filename,length,mfcc1_mean,...,label), labels.npy + label_names.txt when labelled,\n"
      "frames (--frames) and mfcc_run.json. Unreadable files are reported and skipped (exit 2 only if none\n"
      "could be processed, or at the first one with --strict). Numbers follow librosa 0.10 defaults.");
  sub.callback([a, &common] {
    HMR_REQUIRE(!common.out.empty(), "mfcc: --out DIR is required");
    auto& job = a->job;
    job.inputs = a->inputs;
    hmr::io::OutputDirectory out(common.out, kMfccOutput,
                                 std::vector<std::filesystem::path>(a->inputs.begin(), a->inputs.end()));
    job.out = out.stage();
    job.frames = hmr::audio::parse_frames_output(a->frames);
    job.params.center = !a->no_center;
    job.params.slaney_norm = a->norm == "slaney";
    // Settings that depend on each other (n_mfcc <= n_mels, fmin < fmax, no empty mel filter)
    // before any file is opened.
    hmr::audio::check_params(job.params);
    hmr::app::check_duration(job.options.duration);
    auto backend = common.backend();
    hmr::app::FileProgress bar("mfcc");
    job.options.progress = bar.callback();
    const auto r = hmr::audio::run_mfcc_job(*backend, job);
    out.commit();
    bar.finish();
    if (r.source == "features-csv") {
      std::printf("mfcc: %zu rows read from the features CSV (no audio decoded); outputs in %s\n", r.processed,
                  common.out.c_str());
      return;
    }
    hmr::app::print_files_line("mfcc", r, backend->description());
    hmr::app::print_skipped(r);
    std::printf("outputs in %s\n", common.out.c_str());
  });
}

HMR_COMMAND("mfcc", "audio -> librosa-parity MFCC summaries (GTZAN folder, manifest, files or features CSV)", setup);

}  // namespace
