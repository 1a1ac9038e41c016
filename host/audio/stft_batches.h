// audio/stft_batches.h — the batch sizes that the cuda MFCC and spectral host sides
// (mfcc_cuda.cpp, spectral_cuda.cpp) share: clips per batch, samples per batch, and the frames
// of one cuFFT plan (a power of two between kMinChunk and kMaxChunk, so a handful of plans serve
// every clip length).
#pragma once

#include <cstddef>
#include <cstdint>

namespace hmr::audio::stft_batches {

inline constexpr std::int64_t kBatchSamples = std::int64_t{1} << 24;  // ~12.7 min of audio at 22050 Hz
inline constexpr std::size_t kBatchClips = 256;
inline constexpr int kMaxChunk = 4096;  // frames per cuFFT batch
inline constexpr int kMinChunk = 16;

// Frames per cuFFT batch for a clip of `frames` frames: the least power of two >= frames, in
// [kMinChunk, kMaxChunk].
inline int chunk_rows(std::int64_t frames) {
  int c = kMinChunk;
  while (c < kMaxChunk && c < frames) c *= 2;
  return c;
}

}  // namespace hmr::audio::stft_batches
