// audio/mfcc_batch_cpu.cpp — the cpu MFCC of a batch: clips in memory or files decoded and computed
// by the same thread (fused per file, so cores mix I/O, decoding and FFTs), threads over whole clips
// (dynamic schedule) or, with fewer clips than threads, over each clip's blocks; failed files are
// skipped (or stop the batch when strict) and the summaries assembled in input order.
#include <algorithm>
#include <atomic>
#include <mutex>

#include "audio/decode.h"
#include "audio/mfcc_cpu.h"
#include "core/backend.h"
#include "core/error.h"
#include "core/timer.h"

namespace hmr::audio::mfcc_detail {

namespace {
MfccResult assemble(std::vector<ClipOut>& outs, const std::vector<std::int64_t>& lengths, const std::vector<char>& ok,
                    int n_mfcc, bool keep_frames) {
  MfccResult r;
  std::int64_t n_ok = 0;
  for (char o : ok) n_ok += o ? 1 : 0;
  r.summaries = Matrix(n_ok, 2 * n_mfcc);
  std::int64_t row = 0;
  for (std::size_t i = 0; i < outs.size(); ++i) {
    if (!ok[i]) continue;
    std::copy(outs[i].summary.begin(), outs[i].summary.end(), r.summaries.row(row));
    r.index.push_back(i);
    r.length.push_back(lengths[i]);
    if (keep_frames) r.frames.push_back(std::move(outs[i].frames));
    ++row;
  }
  return r;
}
}  // namespace

MfccResult mfcc_clips_cpu(const std::vector<std::span<const float>>& clips, const MfccParams& p, bool keep_frames) {
  const CpuPlan c(p);
  const std::int64_t n = static_cast<std::int64_t>(clips.size());
  std::vector<ClipOut> outs(clips.size());
  std::vector<std::int64_t> lengths(clips.size());
  std::vector<char> ok(clips.size(), 1);
  Stopwatch sw;
  if (n < cpu_threads()) {
    for (std::int64_t i = 0; i < n; ++i) {
      outs[static_cast<std::size_t>(i)] =
          compute_clip(c, clips[static_cast<std::size_t>(i)], keep_frames, true, fmt::format("clip {}", i));
      lengths[static_cast<std::size_t>(i)] = static_cast<std::int64_t>(clips[static_cast<std::size_t>(i)].size());
    }
  } else {
#pragma omp parallel for schedule(dynamic, 1)
    for (std::int64_t i = 0; i < n; ++i) {
      outs[static_cast<std::size_t>(i)] =
          compute_clip(c, clips[static_cast<std::size_t>(i)], keep_frames, false, fmt::format("clip {}", i));
      lengths[static_cast<std::size_t>(i)] = static_cast<std::int64_t>(clips[static_cast<std::size_t>(i)].size());
    }
  }
  MfccResult r = assemble(outs, lengths, ok, p.n_mfcc, keep_frames);
  r.compute_s = r.total_s = sw.seconds();
  return r;
}

MfccResult mfcc_files_cpu(const std::vector<std::filesystem::path>& paths, const MfccParams& p, const MfccOptions& o) {
  const CpuPlan c(p);
  const std::int64_t n = static_cast<std::int64_t>(paths.size());
  std::vector<ClipOut> outs(paths.size());
  std::vector<std::int64_t> lengths(paths.size(), 0);
  std::vector<char> ok(paths.size(), 0);
  std::vector<std::string> errors(paths.size());
  std::atomic<bool> abort{false};
  std::atomic<std::size_t> done{0};
  std::mutex progress_mu;
  double decode_s = 0.0, compute_s = 0.0;
  Stopwatch total;
  const LoadOptions lo{p.sample_rate, o.offset, o.duration};
  int threads = o.decode_threads > 0 ? o.decode_threads : cpu_threads();
  // Decode and compute are fused per file: each thread reads a file, then computes it, so all
  // cores stay busy on a mix of I/O, decoding and FFTs without a hand-off between pools.
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads) reduction(+ : decode_s, compute_s)
  for (std::int64_t i = 0; i < n; ++i) {
    const auto u = static_cast<std::size_t>(i);
    if (abort.load(std::memory_order_relaxed)) continue;
    try {
      Stopwatch sw;
      thread_local std::vector<float> recycled;  // the previous clip's samples: memory reused
      AudioClip clip = load_audio(paths[u], lo, std::move(recycled));
      decode_s += sw.seconds();
      sw.reset();
      // load_audio has rejected non-finite samples already.
      check_clip(clip.samples, p, paths[u].string(), false);
      outs[u] = compute_clip(c, clip.samples, o.keep_frames, false, paths[u].string());
      compute_s += sw.seconds();
      lengths[u] = clip.size();
      recycled = std::move(clip.samples);
      ok[u] = 1;
    } catch (const std::exception& e) {
      errors[u] = e.what();
      if (o.strict) abort = true;
    }
    const std::size_t d = ++done;
    if (o.progress) {
      std::lock_guard<std::mutex> lock(progress_mu);
      o.progress(d, paths.size());
    }
  }
  for (std::size_t i = 0; i < paths.size(); ++i)
    if (!errors[i].empty() && o.strict) input_error("{}", errors[i]);
  MfccResult r = assemble(outs, lengths, ok, p.n_mfcc, o.keep_frames);
  for (std::size_t i = 0; i < paths.size(); ++i)
    if (!ok[i]) r.skipped.push_back({paths[i].string(), errors[i]});
  r.decode_s = decode_s / threads;
  r.compute_s = compute_s / threads;
  r.total_s = total.seconds();
  return r;
}

}  // namespace hmr::audio::mfcc_detail
