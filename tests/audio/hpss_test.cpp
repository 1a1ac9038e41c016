// HPSS stage: librosa 0.10 effects.hpss parity on synthesised signals (fixtures from
// tests/fixtures/gen_hpss.py) over every backend, the building blocks (scipy median filter, soft
// masks, stft, istft) against librosa/scipy, each cuda kernel against its cpu twin under the
// emulator, and three real GTZAN clips when ../shared/data is present.
// Tolerances (issue 19: HPSS columns within 1e-3): signals |a - b| <= 1e-3 max|b| (the clip's
// peak is the scale of every sample); stats: variances relative 1e-3, means |a - b| <= 1e-3 std(b)
// (a mean near zero has no relative scale of its own; the signal's deviation is its column scale).
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <complex>
#include <numbers>

#include "audio/decode.h"
#include "audio/hpss.cuh"
#include "audio/hpss.h"
#include "core/error.h"
#include "cuda/buffer.h"
#include "cuda/select.h"
#include "hpss_signals.h"
#include "io/npy.h"
#include "support/backends.h"
#include "support/compare.h"
#include "support/emu.h"

namespace {

namespace ha = hmr::audio;
namespace ts = hmr::test::audio;

hmr::Matrix load(const std::string& name) { return hmr::io::read_matrix(hmr::test::fixture("audio/" + name)); }

std::vector<double> as_double(const std::vector<float>& v) { return {v.begin(), v.end()}; }

// Signals: |a - b| <= 1e-3 max|b| (+ a float floor for silence).
void expect_signal_close(const std::vector<float>& got, int step, const std::vector<float>& want,
                         const std::string& what) {
  std::vector<float> sub;
  for (std::size_t i = 0; i < got.size(); i += static_cast<std::size_t>(step)) sub.push_back(got[i]);
  ASSERT_EQ(sub.size(), want.size()) << what;
  float peak = 0.0f;
  for (float v : want) peak = std::max(peak, std::abs(v));
  EXPECT_TRUE(hmr::test::all_close(sub, want, 1e-3 * peak + 1e-7, 0.0)) << what << " (peak " << peak << ")";
}

void expect_stats_close(const ha::HpssStats& s, const std::vector<float>& want, const std::string& what) {
  ASSERT_EQ(want.size(), 4u);
  const std::vector<double> got = {s.harmony_mean, s.harmony_var, s.perceptr_mean, s.perceptr_var};
  const double sh = std::sqrt(want[1]), sp = std::sqrt(want[3]);
  EXPECT_TRUE(hmr::test::all_close(std::span<const double>(got.data(), 1), as_double({want[0]}), 1e-3 * sh + 1e-9, 0))
      << what << " harmony_mean";
  EXPECT_TRUE(
      hmr::test::all_close(std::span<const double>(got.data() + 2, 1), as_double({want[2]}), 1e-3 * sp + 1e-9, 0))
      << what << " perceptr_mean";
  EXPECT_TRUE(hmr::test::all_close(std::span<const double>(got.data() + 1, 1), as_double({want[1]}), 1e-12, 1e-3))
      << what << " harmony_var";
  EXPECT_TRUE(hmr::test::all_close(std::span<const double>(got.data() + 3, 1), as_double({want[3]}), 1e-12, 1e-3))
      << what << " perceptr_var";
}

// ---- building blocks -------------------------------------------------------------------------

TEST(AudioHpss, MedianFilterMatchesScipy) {
  const hmr::Matrix x = load("hpss_median_in.npy");
  for (int k : {3, 4, 31}) {
    const hmr::Matrix h = ha::median_filter_cpu(x, k, 1), v = ha::median_filter_cpu(x, k, 0);
    EXPECT_TRUE(hmr::test::bitwise_equal(h.vec(), load(fmt::format("hpss_median_h{}.npy", k)).vec())) << "k=" << k;
    EXPECT_TRUE(hmr::test::bitwise_equal(v.vec(), load(fmt::format("hpss_median_v{}.npy", k)).vec())) << "k=" << k;
  }
  // Windows wider than the axis (the reflection covers the whole axis, up to scipy's limit of
  // k/2 <= n: past it scipy reads uninitialised memory, see hpss.h).
  const hmr::Matrix thin = load("hpss_median_thin.npy");
  EXPECT_TRUE(hmr::test::bitwise_equal(ha::median_filter_cpu(thin, 5, 1).vec(), load("hpss_median_thin_h5.npy").vec()));
  EXPECT_TRUE(hmr::test::bitwise_equal(ha::median_filter_cpu(thin, 5, 0).vec(), load("hpss_median_thin_v5.npy").vec()));
}

TEST(AudioHpss, SoftmaskFollowsLibrosa) {
  EXPECT_FLOAT_EQ(ha::softmask(3.0f, 4.0f, 2.0, true), 9.0f / 25.0f);
  EXPECT_FLOAT_EQ(ha::softmask(0.0f, 0.0f, 2.0, true), 0.5f);   // split_zeros (margin 1)
  EXPECT_FLOAT_EQ(ha::softmask(0.0f, 0.0f, 2.0, false), 0.0f);  // margin > 1
  EXPECT_FLOAT_EQ(ha::softmask(2.0f, 1.0f, INFINITY, true), 1.0f);
  EXPECT_FLOAT_EQ(ha::softmask(1.0f, 2.0f, INFINITY, true), 0.0f);
}

TEST(AudioHpss, StftIstftAndMasksMatchLibrosa) {
  const std::vector<float> y = ts::hpss_signal("short");
  const ha::ComplexSpec S = ha::stft_complex_cpu(y, {});
  ASSERT_EQ(S.n_bins, 1025);
  ASSERT_EQ(S.n_frames, 2);
  const hmr::Matrix ref = load("hpss_short_stft.npy");  // [2 * 1025, 2]: real rows, then imaginary
  ASSERT_EQ(ref.rows(), 2 * 1025);
  std::vector<float> re, im, rre(ref.vec().begin(), ref.vec().begin() + 2050),
      rim(ref.vec().begin() + 2050, ref.vec().end());
  float peak = 0.0f;
  for (const auto& z : S.v) re.push_back(z.real()), im.push_back(z.imag());
  for (float v : ref.vec()) peak = std::max(peak, std::abs(v));
  EXPECT_TRUE(hmr::test::all_close(re, rre, 1e-5 * peak, 0.0)) << "stft real";
  EXPECT_TRUE(hmr::test::all_close(im, rim, 1e-5 * peak, 0.0)) << "stft imag";
  expect_signal_close(ha::istft_cpu(S, {}, static_cast<std::int64_t>(y.size())), 1, load("hpss_short_istft.npy").vec(),
                      "istft");
  // The masks of a longer clip (the short one's harmonic median has no reference, see below).
  const ha::ComplexSpec N = ha::stft_complex_cpu(ts::hpss_signal("noise"), {});
  hmr::Matrix mag(N.n_bins, N.n_frames), mh, mp;
  for (std::size_t i = 0; i < N.v.size(); ++i) mag.vec()[i] = std::abs(N.v[i]);
  ha::hpss_masks_cpu(ha::median_filter_cpu(mag, 31, 1), ha::median_filter_cpu(mag, 31, 0), {}, mh, mp);
  std::vector<float> sh, sp;
  for (int q = 0; q < N.n_bins; ++q)
    for (int f = 30; f < 34; ++f) sh.push_back(mh(q, f)), sp.push_back(mp(q, f));
  EXPECT_TRUE(hmr::test::all_close(sh, load("hpss_noise_mask_h.npy").vec(), 1e-4, 0.0)) << "harmonic mask";
  EXPECT_TRUE(hmr::test::all_close(sp, load("hpss_noise_mask_p.npy").vec(), 1e-4, 0.0)) << "percussive mask";
}

TEST(AudioHpss, ReferencePathMatchesLibrosa) {
  for (const std::string name : {"toneclick", "noise"}) {
    const ha::HpssSignals s = ha::hpss_cpu(ts::hpss_signal(name), {});
    expect_signal_close(s.harmonic, 8, load("hpss_" + name + "_harm.npy").vec(), name + " harmonic");
    expect_signal_close(s.percussive, 8, load("hpss_" + name + "_perc.npy").vec(), name + " percussive");
  }
}

TEST(AudioHpss, NonDefaultParametersMatchLibrosa) {
  ha::HpssParams p;
  p.kernel_size = 16;  // even: scipy's window [i - 8, i + 7], the upper middle value
  p.power = 1.0;
  p.margin = 2.0;  // split_zeros off
  p.n_fft = 1024;
  p.hop_length = 384;
  auto cpu = hmr::make_cpu_backend();
  const std::vector<float> y = ts::hpss_signal("toneclick");
  const ha::HpssSignals s = ha::hpss(*cpu, {std::span<const float>(y)}, p)[0];
  expect_signal_close(s.harmonic, 8, load("hpss_toneclick_k16_harm.npy").vec(), "harmonic");
  expect_signal_close(s.percussive, 8, load("hpss_toneclick_k16_perc.npy").vec(), "percussive");
  const ha::HpssSignals r = ha::hpss_cpu(y, p);
  EXPECT_TRUE(hmr::test::bitwise_equal(s.harmonic, r.harmonic));
  EXPECT_TRUE(hmr::test::bitwise_equal(s.percussive, r.percussive));
}

// A clip alone is split over the threads; in a batch of at least as many clips as threads each
// clip runs on one thread: the same bits.
TEST(AudioHpss, ClipAloneAndInABatchGiveTheSameBits) {
  auto cpu = hmr::make_cpu_backend();
  const std::vector<float> y = ts::hpss_signal("toneclick");
  std::vector<std::vector<float>> batch(static_cast<std::size_t>(std::max(2, hmr::cpu_threads())), ts::noise(5000, 9));
  batch[1] = y;
  const std::vector<std::span<const float>> clips(batch.begin(), batch.end());
  const ha::HpssSignals alone = ha::hpss(*cpu, {std::span<const float>(y)})[0];
  const ha::HpssSignals in_batch = ha::hpss(*cpu, clips)[1];
  EXPECT_TRUE(hmr::test::bitwise_equal(alone.harmonic, in_batch.harmonic));
  EXPECT_TRUE(hmr::test::bitwise_equal(alone.percussive, in_batch.percussive));
}

// Clips under 16 frames: librosa's harmonic median reads scipy's uninitialised border (hpss.h),
// so there is no reference; the masks sum to 1 (margin 1), so the two signals add up to the clip.
TEST(AudioHpss, ShortClipSignalsAddUpToTheClip) {
  const std::vector<float> y = ts::hpss_signal("short");
  auto cpu = hmr::make_cpu_backend();
  const ha::HpssSignals s = ha::hpss(*cpu, {std::span<const float>(y)})[0];
  ASSERT_EQ(s.harmonic.size(), y.size());
  std::vector<float> sum(y.size());
  for (std::size_t i = 0; i < y.size(); ++i) sum[i] = s.harmonic[i] + s.percussive[i];
  EXPECT_TRUE(hmr::test::all_close(sum, y, 1e-5, 0.0));
  const ha::HpssSignals r = ha::hpss_cpu(y, {});
  EXPECT_TRUE(hmr::test::bitwise_equal(s.harmonic, r.harmonic));
}

TEST(AudioHpss, BadInputIsRefused) {
  auto cpu = hmr::make_cpu_backend();
  const std::vector<float> empty;
  EXPECT_THROW(ha::hpss(*cpu, {std::span<const float>(empty)}), hmr::Error);
  std::vector<float> y(3000, 0.1f);
  y[1234] = NAN;
  EXPECT_THROW(ha::hpss_stats(*cpu, {std::span<const float>(y)}), hmr::Error);
  ha::HpssParams p;
  p.margin = 0.5;
  EXPECT_THROW(ha::check_params(p), hmr::Error);
}

// ---- every backend ---------------------------------------------------------------------------

class ConfHpss : public hmr::test::BackendTest {};

TEST_P(ConfHpss, SignalsMatchLibrosa) {
  const bool emu = backend().kind() == hmr::BackendKind::cuda_emu;
  std::vector<std::string> names;
  std::vector<std::vector<float>> ys;
  for (const std::string& n : ts::hpss_signal_names()) {
    if (emu && n.rfind("click", 0) == 0) continue;  // 12 s clips: too slow for the emulator
    if (n == "short") continue;                     // no reference (ShortClipSignalsAddUpToTheClip)
    names.push_back(n);
    ys.push_back(ts::hpss_signal(n));
  }
  std::vector<std::span<const float>> clips(ys.begin(), ys.end());
  const std::vector<ha::HpssSignals> sig = ha::hpss(backend(), clips);
  const std::vector<ha::HpssStats> st = ha::hpss_stats(backend(), clips);
  ASSERT_EQ(sig.size(), names.size());
  for (std::size_t i = 0; i < names.size(); ++i) {
    ASSERT_EQ(sig[i].harmonic.size(), ys[i].size()) << names[i];
    ASSERT_EQ(sig[i].percussive.size(), ys[i].size()) << names[i];
    expect_stats_close(st[i], load("hpss_" + names[i] + "_stats.npy").vec(), names[i]);
    expect_stats_close(ha::signal_stats(sig[i]), load("hpss_" + names[i] + "_stats.npy").vec(), names[i] + " signals");
    if (names[i].rfind("click", 0) == 0) continue;
    const int step = 8;
    expect_signal_close(sig[i].harmonic, step, load("hpss_" + names[i] + "_harm.npy").vec(), names[i] + " harmonic");
    expect_signal_close(sig[i].percussive, step, load("hpss_" + names[i] + "_perc.npy").vec(),
                        names[i] + " percussive");
  }
}

HMR_INSTANTIATE_BACKENDS(ConfHpss);

class ConfHpssReal : public hmr::test::BackendTest {};

TEST_P(ConfHpssReal, GtzanClipsMatchLibrosa) {
  if (hmr::test::shared_data("gtzan").empty()) GTEST_SKIP() << "../shared/data/gtzan is absent";
  if (backend().kind() == hmr::BackendKind::cuda_emu) GTEST_SKIP() << "30 s clips are too slow for the emulator";
  for (const auto& [id, clip] : ts::gtzan_fixture_clips()) {
    const auto st = ha::hpss_stats(backend(), {std::span<const float>(clip.samples)});
    expect_stats_close(st[0], load("hpss_gtzan_" + id + "_stats.npy").vec(), id);
  }
}

HMR_INSTANTIATE_BACKENDS(ConfHpssReal);

// ---- kernels alone against their cpu twins (emulator, every thread order) --------------------

// Random magnitudes of three clips' frames ([F][nb], frame-major as the kernels take them) with
// ties and zeros, and the frame table.
struct SmallSpec {
  int nb = 33;
  std::vector<std::int64_t> frame_start{0, 20, 23, 40};
  std::vector<float> mag;
  std::vector<float2> spec;
  SmallSpec() {
    const auto u = ts::noise(static_cast<std::size_t>(2 * 40 * nb), hmr::test::test_seed(19));
    for (std::size_t i = 0; i < u.size() / 2; ++i) {
      float re = u[2 * i], im = u[2 * i + 1];
      if (i % 17 == 0) re = im = 0.0f;  // zero bins: phase 1, masks split
      if (i % 23 == 0) re = 0.25f, im = 0.0f;
      spec.push_back(make_float2(re, im));
      mag.push_back(std::hypot(re, im));
    }
  }
  std::int64_t rows() const { return frame_start.back(); }
  // clip c's magnitudes as librosa's [bins x frames]
  hmr::Matrix clip(int c) const {
    const std::int64_t f0 = frame_start[static_cast<std::size_t>(c)], f1 = frame_start[static_cast<std::size_t>(c) + 1];
    hmr::Matrix m(nb, f1 - f0);
    for (std::int64_t f = f0; f < f1; ++f)
      for (int q = 0; q < nb; ++q) m(q, f - f0) = mag[static_cast<std::size_t>(f * nb + q)];
    return m;
  }
};

TEST(EmuHpss, MagnitudeAndMediansMatchCpuTwins) {
  hmr::test::ExpectLaunches launched{"hpss_magnitude_kernel", "hpss_median_bins_kernel", "hpss_median_frames_kernel"};
  using namespace hmr::cuda_emu;
  const SmallSpec t;
  for (int k : {5, 8, 31}) {
    const auto got = hmr::test::in_all_orders([&] {
      auto sp = to_device(t.spec, nullptr);
      auto fs = to_device(t.frame_start, nullptr);
      DeviceBuffer<float> mag(t.mag.size()), h(t.mag.size()), p(t.mag.size());
      kern::launch_hpss_magnitude(sp.data(), t.nb, t.rows(), t.nb, mag.data(), nullptr);
      kern::launch_median_bins(mag.data(), t.rows(), t.nb, k, p.data(), nullptr);
      kern::launch_median_frames(mag.data(), fs.data(), 3, t.rows(), t.nb, k, h.data(), nullptr);
      std::vector<float> all = mag.to_host(nullptr), hv = h.to_host(nullptr), pv = p.to_host(nullptr);
      all.insert(all.end(), hv.begin(), hv.end());
      all.insert(all.end(), pv.begin(), pv.end());
      return all;
    });
    std::vector<float> want = t.mag, wh(t.mag.size()), wp(t.mag.size());
    for (int c = 0; c < 3; ++c) {
      const hmr::Matrix m = t.clip(c);
      const hmr::Matrix h = ha::median_filter_cpu(m, k, 1), p = ha::median_filter_cpu(m, k, 0);
      for (std::int64_t f = 0; f < m.cols(); ++f)
        for (int q = 0; q < t.nb; ++q) {
          const auto at = static_cast<std::size_t>((t.frame_start[static_cast<std::size_t>(c)] + f) * t.nb + q);
          wh[at] = h(q, f);
          wp[at] = p(q, f);
        }
    }
    want.insert(want.end(), wh.begin(), wh.end());
    want.insert(want.end(), wp.begin(), wp.end());
    EXPECT_TRUE(hmr::test::bitwise_equal(got, want)) << "k=" << k;
  }
}

TEST(EmuHpss, MaskMatchesCpuTwin) {
  hmr::test::ExpectLaunches launched{"hpss_mask_kernel"};
  using namespace hmr::cuda_emu;
  const SmallSpec t;
  const hmr::Matrix m = t.clip(0);
  const hmr::Matrix H = ha::median_filter_cpu(m, 5, 1), P = ha::median_filter_cpu(m, 5, 0);
  // frame-major copies for the kernel
  std::vector<float> hf, pf;
  for (std::int64_t f = 0; f < m.cols(); ++f)
    for (int q = 0; q < t.nb; ++q) hf.push_back(H(q, f)), pf.push_back(P(q, f));
  const std::int64_t rows = m.cols();
  for (const double margin : {1.0, 2.0}) {
    ha::HpssParams hp;
    hp.margin = margin;
    const auto got = hmr::test::in_all_orders([&] {
      auto sp = to_device(t.spec, nullptr);
      auto h = to_device(hf, nullptr), p = to_device(pf, nullptr);
      DeviceBuffer<float2> oh(static_cast<std::size_t>(rows * t.nb)), op(static_cast<std::size_t>(rows * t.nb));
      kern::launch_hpss_mask(sp.data(), t.nb, rows, t.nb, h.data(), p.data(), 2.0f, static_cast<float>(margin),
                             margin == 1.0 ? 1 : 0, oh.data(), op.data(), nullptr);
      std::vector<float> v;
      for (const float2 z : oh.to_host(nullptr)) v.push_back(z.x), v.push_back(z.y);
      for (const float2 z : op.to_host(nullptr)) v.push_back(z.x), v.push_back(z.y);
      return v;
    });
    hmr::Matrix mh, mp;
    ha::hpss_masks_cpu(H, P, hp, mh, mp);
    std::vector<float> want(got.size());
    const std::size_t half = got.size() / 2;
    for (std::int64_t f = 0; f < rows; ++f)
      for (int q = 0; q < t.nb; ++q) {
        const auto i = static_cast<std::size_t>(f * t.nb + q);
        const float2 x = t.spec[i];
        const float mag = std::hypot(x.x, x.y);
        const float re = mag == 0.0f ? 1.0f : x.x / mag, im = mag == 0.0f ? 0.0f : x.y / mag;
        const float ah = mag * mh(q, f), ap = mag * mp(q, f);
        want[2 * i] = ah * re, want[2 * i + 1] = ah * im;
        want[half + 2 * i] = ap * re, want[half + 2 * i + 1] = ap * im;
      }
    EXPECT_TRUE(hmr::test::bitwise_equal(got, want)) << "margin " << margin;
  }
}

TEST(EmuHpss, OverlapAddMatchesCpuTwin) {
  hmr::test::ExpectLaunches launched{"hpss_overlap_add_kernel"};
  using namespace hmr::cuda_emu;
  const int n_fft = 64, hop = 16;
  const std::vector<std::int64_t> lens = {100, 7, 64};  // a clip shorter than a hop, one of n_fft
  std::vector<std::int64_t> cs{0}, fs{0};
  for (auto l : lens) cs.push_back(cs.back() + l), fs.push_back(fs.back() + 1 + l / hop);
  const auto frames = ts::noise(static_cast<std::size_t>(fs.back() * n_fft), 5);
  std::vector<double> w(n_fft);
  for (int j = 0; j < n_fft; ++j)
    w[static_cast<std::size_t>(j)] = 0.5 - 0.5 * std::cos(2 * std::numbers::pi * j / n_fft);
  const auto got = hmr::test::in_all_orders([&] {
    auto fr = to_device(frames, nullptr);
    auto c = to_device(cs, nullptr), f = to_device(fs, nullptr);
    auto wd = to_device(w, nullptr);
    DeviceBuffer<float> out(static_cast<std::size_t>(cs.back()));
    kern::launch_overlap_add(fr.data(), c.data(), f.data(), 3, cs.back(), wd.data(), n_fft, hop, out.data(), nullptr);
    return out.to_host(nullptr);
  });
  // cpu twin: frames added in order into a padded float32 buffer (as hpss.cpp), then the division
  std::vector<float> want;
  for (std::size_t c = 0; c < lens.size(); ++c) {
    const std::int64_t T = fs[c + 1] - fs[c];
    std::vector<float> acc(static_cast<std::size_t>(T * hop + n_fft)), wss(acc.size());
    for (std::int64_t t = 0; t < T; ++t)
      for (int j = 0; j < n_fft; ++j) {
        const auto i = static_cast<std::size_t>(t * hop + j);
        const double wj = w[static_cast<std::size_t>(j)];
        const float v = frames[static_cast<std::size_t>((fs[c] + t) * n_fft + j)] * (1.0f / n_fft);
        acc[i] = static_cast<float>(static_cast<double>(acc[i]) + wj * static_cast<double>(v));
        wss[i] = static_cast<float>(static_cast<double>(wss[i]) + wj * wj);
      }
    for (std::int64_t i = 0; i < lens[c]; ++i) {
      const auto a = static_cast<std::size_t>(i + n_fft / 2);
      want.push_back(wss[a] > FLT_MIN ? acc[a] / wss[a] : acc[a]);
    }
  }
  EXPECT_TRUE(hmr::test::bitwise_equal(got, want));
}

// The whole cuda pipeline on several clips at once: each clip as the cpu backend computes it alone.
TEST(EmuHpss, BatchedPipelineMatchesCpuBackend) {
  auto emu = hmr::make_backend("cuda-emu");
  auto cpu = hmr::make_cpu_backend();
  const std::vector<std::vector<float>> ys = {ts::hpss_signal("short"), ts::noise(9000, 4),
                                              std::vector<float>(3000, 0.0f)};
  const std::vector<std::span<const float>> clips(ys.begin(), ys.end());
  const auto g = ha::hpss(*emu, clips), c = ha::hpss(*cpu, clips);
  for (std::size_t i = 0; i < ys.size(); ++i) {
    EXPECT_TRUE(hmr::test::all_close(g[i].harmonic, c[i].harmonic, 1e-5, 1e-4)) << "clip " << i;
    EXPECT_TRUE(hmr::test::all_close(g[i].percussive, c[i].percussive, 1e-5, 1e-4)) << "clip " << i;
  }
}

}  // namespace
