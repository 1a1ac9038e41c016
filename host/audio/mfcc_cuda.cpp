// audio/mfcc_cuda.cpp — the cuda backend of the MFCC stage (host side).
//
// Clips are processed in batches (up to kBatchSamples samples / kBatchClips clips), laid out back
// to back on the device with clip_start / frame_start offset tables (kernels/audio/mfcc.cuh).
// Per batch, on the Context's stream: [framing + window -> cuFFT R2C (a cached plan with a fixed
// batch of rows) -> fused power + sparse mel + log] per chunk of frames, then the per-clip peak,
// the DCT with the top_db floor, and the summary; summaries (and frames on request) are copied
// back into pinned memory asynchronously.
// mfcc_files overlaps three things: decoder threads (DecodePool) read the next files while the
// host copies a finished batch into one of two pinned slots, a copy stream uploads it, and the
// compute stream works on the previous batch; events order the slot reuse.
#include <algorithm>
#include <cmath>

#include "audio/decode.h"
#include "audio/mfcc.cuh"
#include "audio/mfcc.h"
#include "audio/mfcc_cuda.h"
#include "audio/stft_batches.h"
#include "core/error.h"
#include "core/nvtx.h"
#include "core/timer.h"
#include "cuda/context.h"
#include "cuda/fft.h"

namespace hmr::HMR_CUDA_NS {

namespace {

using audio::MfccParams;

using audio::stft_batches::chunk_rows;
using audio::stft_batches::kBatchClips;
using audio::stft_batches::kBatchSamples;

// Results of one batch, filled asynchronously into pinned memory.
struct BatchHost {
  std::vector<std::size_t> index;         // input positions of the clips
  std::vector<std::int64_t> length;       // samples per clip
  std::vector<std::int64_t> frame_start;  // [n + 1]
  PinnedBuffer<float> summaries;          // [n][2 n_mfcc]
  PinnedBuffer<float> frames;             // keep_frames: [F][n_mfcc]
  Event done;
  bool pending = false;
};

class Engine {
 public:
  Engine(Context& ctx, const MfccParams& p) : ctx_(ctx), p_(p) {
    audio::check_params(p);
    cudaStream_t s = ctx.stream();
    nb_ = audio::n_bins(p);
    window_ = to_device(audio::stft_window(p), s);
    const audio::MelFilters mel = audio::mel_filters(p);
    mel_start_ = to_device(mel.start, s);
    mel_count_ = to_device(mel.count, s);
    mel_offset_ = to_device(mel.offset, s);
    std::vector<float> w = mel.weights;
    if (w.empty()) w.push_back(0.0f);
    mel_w_ = to_device(w, s);
    dct_ = to_device(audio::dct_matrix(p).vec(), s);
    log_ref_ = static_cast<float>(10.0 * std::log10(std::max(p.amin, std::abs(p.ref))));
  }

  // Enqueues the MFCC of clips stored back to back at d_audio (offsets clip_start, host) on the
  // compute stream; summaries (and frames) land in `out` when out.done has fired.
  void run(const float* d_audio, const std::vector<std::int64_t>& clip_start, bool keep_frames, BatchHost& out) {
    NvtxRange range("audio/mfcc_batch");
    cudaStream_t s = ctx_.stream();
    const int n = static_cast<int>(clip_start.size() - 1);
    out.frame_start.assign(1, 0);
    for (int c = 0; c < n; ++c)
      out.frame_start.push_back(out.frame_start.back() + audio::frame_count(clip_start[c + 1] - clip_start[c], p_));
    const std::int64_t F = out.frame_start.back();
    clip_start_.upload(clip_start, s);
    frame_start_.upload(out.frame_start, s);
    grow(logmel_, F * p_.n_mels);
    grow(row_max_, F);
    grow(mfcc_, F * p_.n_mfcc);
    grow(peak_, n);
    grow(summary_, static_cast<std::int64_t>(n) * 2 * p_.n_mfcc);
    const int rows = chunk_rows(F);
    grow(frames_, static_cast<std::int64_t>(rows) * p_.n_fft);
    grow(spec_, static_cast<std::int64_t>(rows) * nb_);
    FftR2C& fft = ctx_.fft_r2c(p_.n_fft, rows, p_.n_fft, nb_);
    const int pad = p_.center ? p_.n_fft / 2 : 0;
    for (std::int64_t f0 = 0; f0 < F; f0 += rows) {
      const int valid = static_cast<int>(std::min<std::int64_t>(rows, F - f0));
      kern::launch_frame_window(d_audio, clip_start_.data(), frame_start_.data(), n, f0, F, rows, window_.data(),
                                p_.n_fft, p_.hop_length, pad, frames_.data(), s);
      fft.exec(frames_.data(), spec_.data());
      kern::launch_power_mel_log(spec_.data(), nb_, valid, nb_, p_.power, mel_start_.data(), mel_count_.data(),
                                 mel_offset_.data(), mel_w_.data(), p_.n_mels, static_cast<float>(p_.amin), log_ref_,
                                 logmel_.data() + f0 * p_.n_mels, row_max_.data() + f0, nullptr, s);
    }
    kern::launch_clip_peak(row_max_.data(), frame_start_.data(), n, peak_.data(), s);
    kern::launch_dct(logmel_.data(), frame_start_.data(), n, F, peak_.data(), static_cast<float>(p_.top_db),
                     dct_.data(), p_.n_mfcc, p_.n_mels, mfcc_.data(), s);
    kern::launch_summary(mfcc_.data(), frame_start_.data(), n, p_.n_mfcc, summary_.data(), s);
    const std::size_t ns = static_cast<std::size_t>(n) * 2 * p_.n_mfcc;
    if (out.summaries.size() < ns) out.summaries = PinnedBuffer<float>(ns);
    summary_.download(out.summaries.data(), ns, s);
    if (keep_frames) {
      const std::size_t nf = static_cast<std::size_t>(F) * p_.n_mfcc;
      if (out.frames.size() < nf) out.frames = PinnedBuffer<float>(nf);
      mfcc_.download(out.frames.data(), nf, s);
    }
    out.done.record(s);
    out.pending = true;
  }

 private:
  template <class T>
  void grow(DeviceBuffer<T>& b, std::int64_t n) {
    const auto want = static_cast<std::size_t>(std::max<std::int64_t>(n, 1));
    if (b.size() < want) {
      ctx_.sync();  // the stream may still read the old buffer
      b = DeviceBuffer<T>(want + want / 4);
    }
  }

  Context& ctx_;
  MfccParams p_;
  int nb_ = 0;
  float log_ref_ = 0.0f;
  DeviceBuffer<float> window_, mel_w_, dct_;
  DeviceBuffer<int> mel_start_, mel_count_, mel_offset_;
  DeviceBuffer<std::int64_t> clip_start_, frame_start_;
  DeviceBuffer<float> frames_, logmel_, row_max_, mfcc_, peak_, summary_;
  DeviceBuffer<float2> spec_;
};

// Moves a finished batch's results into the MfccResult (rows in input order, since batches are
// formed and finished in order).
void collect(BatchHost& b, const MfccParams& p, bool keep_frames, audio::MfccResult& r, std::vector<float>& rows) {
  if (!b.pending) return;
  b.done.sync();
  b.pending = false;
  const std::size_t w = static_cast<std::size_t>(2 * p.n_mfcc);
  for (std::size_t c = 0; c < b.index.size(); ++c) {
    rows.insert(rows.end(), b.summaries.data() + c * w, b.summaries.data() + (c + 1) * w);
    r.index.push_back(b.index[c]);
    r.length.push_back(b.length[c]);
    if (keep_frames) {
      const std::int64_t f0 = b.frame_start[c], nf = b.frame_start[c + 1] - f0;
      Matrix m(p.n_mfcc, nf);
      for (std::int64_t f = 0; f < nf; ++f)
        for (int k = 0; k < p.n_mfcc; ++k) m(k, f) = b.frames[static_cast<std::size_t>((f0 + f) * p.n_mfcc + k)];
      r.frames.push_back(std::move(m));
    }
  }
}

// One of two staging slots: pinned host audio, its device copy and the events that order reuse.
struct Slot {
  PinnedBuffer<float> host;
  DeviceBuffer<float> dev;
  Event uploaded, consumed;
  bool used = false;
  BatchHost out;
};

// Drives batches through two slots. next_batch(clips, index) fills the next batch (false at the end).
template <class NextBatch>
audio::MfccResult run_pipeline(Context& ctx, const MfccParams& p, bool keep_frames, NextBatch&& next_batch,
                               double* wait_s) {
  Engine eng(ctx, p);
  Stream copy;
  Slot slots[2];
  audio::MfccResult r;
  std::vector<float> rows;
  std::vector<std::span<const float>> clips;
  std::vector<std::size_t> index;
  int cur = 0;
  for (;;) {
    clips.clear();
    index.clear();
    Stopwatch wait;
    const bool more = next_batch(clips, index);
    if (wait_s) *wait_s += wait.seconds();
    if (clips.empty()) {
      if (!more) break;
      continue;
    }
    Slot& sl = slots[cur];
    std::vector<std::int64_t> clip_start{0};
    for (const auto& c : clips) clip_start.push_back(clip_start.back() + static_cast<std::int64_t>(c.size()));
    const auto total = static_cast<std::size_t>(clip_start.back());
    // Reusing this slot: its previous upload must have left the pinned buffer, and its previous
    // batch's results must be collected (that also means its kernels finished with `dev`).
    if (sl.used) sl.uploaded.sync();
    collect(sl.out, p, keep_frames, r, rows);
    if (sl.host.size() < total) sl.host = PinnedBuffer<float>(total + total / 4);
    if (sl.dev.size() < total) sl.dev = DeviceBuffer<float>(total + total / 4);
    std::size_t at = 0;
    for (const auto& c : clips) {
      std::copy(c.begin(), c.end(), sl.host.data() + at);
      at += c.size();
    }
    sl.dev.upload(sl.host.data(), total, copy.get());
    sl.uploaded.record(copy.get());
    HMR_CUDA_CHECK(cudaStreamWaitEvent(ctx.stream(), sl.uploaded.get(), 0));
    sl.out.index = index;
    sl.out.length.clear();
    for (const auto& c : clips) sl.out.length.push_back(static_cast<std::int64_t>(c.size()));
    eng.run(sl.dev.data(), clip_start, keep_frames, sl.out);
    sl.used = true;
    cur ^= 1;
    if (!more) break;
  }
  // Finish in batch order: the older slot first.
  collect(slots[cur].out, p, keep_frames, r, rows);
  collect(slots[cur ^ 1].out, p, keep_frames, r, rows);
  ctx.sync();
  const std::int64_t n = static_cast<std::int64_t>(r.index.size());
  r.summaries = Matrix(n, 2 * p.n_mfcc, std::move(rows));
  return r;
}

}  // namespace

audio::MfccResult mfcc_clips_cuda(hmr::Backend& b, const std::vector<std::span<const float>>& clips,
                                  const MfccParams& p, bool keep_frames) {
  Context& ctx = context(b);
  Stopwatch total;
  std::size_t next = 0;
  auto next_batch = [&](std::vector<std::span<const float>>& out, std::vector<std::size_t>& index) {
    std::int64_t samples = 0;
    while (next < clips.size() && out.size() < kBatchClips &&
           (out.empty() || samples + static_cast<std::int64_t>(clips[next].size()) <= kBatchSamples)) {
      samples += static_cast<std::int64_t>(clips[next].size());
      out.push_back(clips[next]);
      index.push_back(next++);
    }
    return next < clips.size();
  };
  audio::MfccResult r = run_pipeline(ctx, p, keep_frames, next_batch, nullptr);
  r.compute_s = r.total_s = total.seconds();
  return r;
}

audio::MfccResult mfcc_files_cuda(hmr::Backend& b, const std::vector<std::filesystem::path>& paths, const MfccParams& p,
                                  const audio::MfccOptions& o) {
  Context& ctx = context(b);
  Stopwatch total;
  const audio::LoadOptions lo{p.sample_rate, o.offset, o.duration};
  audio::DecodePool pool(paths, lo, o.decode_threads, 0);
  std::vector<audio::SkippedFile> skipped;
  // Clips of the batch being formed stay alive until the batch is copied to pinned memory,
  // which happens before the next call of next_batch.
  std::vector<audio::AudioClip> held;
  std::size_t done = 0;
  bool exhausted = false;
  auto next_batch = [&](std::vector<std::span<const float>>& out, std::vector<std::size_t>& index) {
    held.clear();
    std::int64_t samples = 0;
    while (!exhausted && held.size() < kBatchClips && samples < kBatchSamples) {
      audio::DecodedItem item;
      if (!pool.next(item)) {
        exhausted = true;
        break;
      }
      ++done;
      std::string err = item.error;
      if (err.empty() && audio::frame_count(item.clip.size(), p) <= 0)
        err = fmt::format("mfcc: {} has {} samples, fewer than n_fft={} (center=false)", paths[item.index].string(),
                          item.clip.size(), p.n_fft);
      if (!err.empty()) {
        if (o.strict) input_error("{}", err);
        skipped.push_back({paths[item.index].string(), err});
      } else {
        samples += item.clip.size();
        index.push_back(item.index);
        held.push_back(std::move(item.clip));
      }
      if (o.progress) o.progress(done, paths.size());
    }
    for (const auto& c : held) out.emplace_back(c.samples);
    return !exhausted;
  };
  double wait_s = 0.0;
  Stopwatch compute;
  audio::MfccResult r = run_pipeline(ctx, p, o.keep_frames, next_batch, &wait_s);
  r.skipped = std::move(skipped);
  r.decode_s = wait_s;
  r.total_s = total.seconds();
  r.compute_s = std::max(0.0, r.total_s - wait_s);
  return r;
}

}  // namespace hmr::HMR_CUDA_NS
