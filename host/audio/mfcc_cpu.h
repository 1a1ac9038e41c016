// audio/mfcc_cpu.h — internal to the cpu MFCC backend (spectrum_cpu.cpp, mfcc_cpu.cpp,
// mfcc_batch_cpu.cpp): the read-only plan of one parameter set, the per-thread scratch, and the
// steps that pass data between those files.
//
// Layout: each clip is cut into blocks of kBlock frames; a block is framed and windowed into an
// FFTW-aligned [kBlock][n_fft] buffer (or, for the default Hann window, transformed in place from
// the signal), transformed by one batched plan (made once per n_fft and kept for the process),
// reduced to power (bin-major power_t [n_bins][kBlock]) and then to mel power with the sparse
// filter rows, and stored as tiles [n_blocks][n_mels][kBlock]. The dB conversion needs the whole
// clip's peak, so log, clamp, DCT and summary run after the last block.
#pragma once

#include <fftw3.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <numbers>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "audio/mfcc.h"
#include "core/error.h"

namespace hmr::audio::mfcc_detail {

constexpr int kBlock = 16;    // frames per FFTW batch
constexpr int kDctGroup = 4;  // DCT coefficients summed together (weighted_rows_n)

// Batched r2c plans, one per n_fft, made once (FFTW_MEASURE, via the wisdom cache) and kept for
// the process; FFTW's planner is not thread-safe, execution with the new-array interface is.
// idist: distance between the frames' inputs (floats): n_fft for the framed buffer (r2c), or
// the hop when the frames are read in place from the signal (overlapping, so the input is
// preserved). With the hop, the plan is a complex FFT of n_fft/2 points over the frame read as
// interleaved pairs (x[2n], x[2n+1]); split_real_spectrum turns it into the real spectrum. FFTW's
// own r2c does the same split, but here its codelets are SSE2/scalar and its c2c ones AVX: the
// complex plan plus the AVX2 split takes about half the time.
fftwf_plan block_plan(int n_fft, int idist);

struct FftwDeleter {
  void operator()(void* p) const { fftwf_free(p); }
};

// Read-only state shared by all threads for one parameter set.
struct CpuPlan {
  MfccParams p;
  int nb = 0, odist = 0;
  std::vector<float> window;
  MelFilters mel;
  std::vector<float> dct;  // [n_mfcc][n_mels]
  fftwf_plan plan = nullptr;
  // The default full-length periodic Hann is applied in the frequency domain (3 taps: X_w[k] =
  // X[k]/2 - (X[k-1] + X[k+1])/4), so interior blocks are transformed straight from the signal
  // (dplan, inputs a hop apart) without copying frames; other windows use the framed path.
  bool direct = false;
  fftwf_plan dplan = nullptr;  // complex FFT of n_fft/2 points (block_plan)
  std::vector<float> tw;       // direct: W^k = exp(-i pi k / (n_fft/2)), k <= n_fft/4, interleaved
  float log_ref = 0.0f;
  // The spectrum code path, chosen once, at run time: the AVX2 passes where the cpu has AVX2, the
  // direct path's split and power fused. HMR_MFCC_SIMD=avx2 (separate passes) or generic (portable
  // loops) selects another one, for tests (all give the same bits) and comparisons.
  bool avx2 = false;
  bool unfused = false;

  explicit CpuPlan(const MfccParams& params) : p(params) {
    check_params(p);
    nb = n_bins(p);
    odist = (p.n_fft / 2 + 2) & ~1;
    window = stft_window(p);
    mel = mel_filters(p);
    dct = dct_matrix(p).vec();
    direct = (p.win_length == 0 || p.win_length == p.n_fft) && p.n_fft % 4 == 0 && p.n_fft >= 16 &&
             p.hop_length % 2 == 0 && p.hop_length < p.n_fft;
    if (direct) {
      dplan = block_plan(p.n_fft, p.hop_length);
      const int m = p.n_fft / 2;
      tw.resize(static_cast<std::size_t>(2 * (m / 2 + 8)));
      for (int k = 0; k <= m / 2; ++k) {
        tw[static_cast<std::size_t>(2 * k)] = static_cast<float>(std::cos(std::numbers::pi * k / m));
        tw[static_cast<std::size_t>(2 * k + 1)] = static_cast<float>(-std::sin(std::numbers::pi * k / m));
      }
    } else
      plan = block_plan(p.n_fft, p.n_fft);
    log_ref = static_cast<float>(10.0 * std::log10(std::max(p.amin, std::abs(p.ref))));
    avx2 = __builtin_cpu_supports("avx2");
    if (const char* simd = std::getenv("HMR_MFCC_SIMD")) {
      const std::string_view v(simd);
      HMR_REQUIRE(v == "fused" || v == "avx2" || v == "generic", "HMR_MFCC_SIMD={}: expected fused, avx2 or generic",
                  v);
      unfused = v != "fused";
      avx2 = avx2 && v != "generic";
    }
  }
};

// Per-thread scratch: one block of frames and its spectra.
// The spectra start kSpecPad complex values into their allocation (zeros), so the vector loads of
// bin k - 1 at k = 0 stay inside it; 4 complex keep the FFTW alignment.
constexpr int kSpecPad = 4;
struct Scratch {
  std::unique_ptr<float, FftwDeleter> frames;  // framed: [kBlock][n_fft]; direct: the padded edge span
  std::unique_ptr<fftwf_complex, FftwDeleter> spec_alloc;
  fftwf_complex* spec = nullptr;
  std::unique_ptr<fftwf_complex, FftwDeleter> z;  // direct: the complex FFTs, [kBlock][odist]
  std::vector<float> power_t;  // [n_bins][kBlock]: bin-major, so sums over bins vectorise across frames
  explicit Scratch(const CpuPlan& c)
      : frames(fftwf_alloc_real(static_cast<std::size_t>(kBlock) * std::max(c.p.n_fft, c.p.hop_length) + c.p.n_fft)),
        spec_alloc(fftwf_alloc_complex(static_cast<std::size_t>(kBlock) * c.odist + kSpecPad)),
        power_t(static_cast<std::size_t>(c.nb) * kBlock) {
    spec = spec_alloc.get() + kSpecPad;
    if (c.direct) z.reset(fftwf_alloc_complex(static_cast<std::size_t>(kBlock) * c.odist));
    std::memset(spec_alloc.get(), 0, sizeof(fftwf_complex) * (static_cast<std::size_t>(kBlock) * c.odist + kSpecPad));
  }
};

// Power spectra (|X|^power) of the frames [f0, f0 + kBlock) of y into s.power_t, bin-major:
// power_t[k * kBlock + r] = bin k of frame f0 + r. Lanes past f1 hold garbage (the direct path
// transforms whatever the span holds there). spectrum_cpu.cpp.
void power_block(const CpuPlan& c, Scratch& s, std::span<const float> y, std::int64_t f0, std::int64_t f1);

// The mel power of one whole clip in tiles of kBlock frames, [n_blocks][n_mels][kBlock]; blocks
// split over threads when `inner`. `mel` is resized (every element is written), so a buffer kept
// by the caller is reused as is.
void clip_mel(const CpuPlan& c, std::span<const float> y, std::int64_t n_frames, bool inner, std::vector<float>& mel);

struct ClipOut {
  std::vector<float> summary;  // [2 * n_mfcc]
  Matrix frames;               // [n_mfcc x n_frames] when requested
};

// Input checks of one clip. `scan`: also look for non-finite samples (the cpu backend skips
// that pass and calls check_nonfinite only when a clip's mel power is not finite).
void check_clip(std::span<const float> y, const MfccParams& p, const std::string& what, bool scan = true);
// One clip's summary (and frames when keep_frames) on the calling thread, or its blocks over the
// threads when `inner`; `what` names the clip in errors.
ClipOut compute_clip(const CpuPlan& c, std::span<const float> y, bool keep_frames, bool inner, const std::string& what);

// The batch drivers (mfcc_batch_cpu.cpp): threads take whole clips (OpenMP dynamic schedule); a
// batch with fewer clips than threads splits each clip's blocks over the threads instead.
MfccResult mfcc_clips_cpu(const std::vector<std::span<const float>>& clips, const MfccParams& p, bool keep_frames);
MfccResult mfcc_files_cpu(const std::vector<std::filesystem::path>& paths, const MfccParams& p, const MfccOptions& o);

}  // namespace hmr::audio::mfcc_detail
