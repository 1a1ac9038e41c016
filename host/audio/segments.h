// audio/segments.h — fixed-length segments of a clip's MFCC frames and pooling back to clips.
//   segments  every whole segment of `frames` consecutive frames of each clip, summarised like a
//             whole clip (summarize_frames: per-coefficient mean + variance); a clip shorter than
//             one segment is one segment of all its frames; a trailing partial segment is dropped
//   pooling   a clip's row = the mean (double accumulation) of its segments' rows
// Segments give more, and more local, training rows than one per clip (GTZAN 3 s segments are the
// usual choice in the genre-classification literature).
#pragma once

#include <cstdint>
#include <vector>

#include "core/matrix.h"

namespace hmr::audio {

// Frames per segment of `seconds` at hop `hop_length`: round(seconds * sample_rate / hop), >= 1.
std::int64_t segment_frames(double seconds, int sample_rate, int hop_length);

struct Segments {
  Matrix rows;                   // [m x 2 * n_mfcc] summaries, clip by clip, segment by segment
  std::vector<std::int64_t> of;  // [m] index of the clip (into `frames`) each row belongs to
};
// frames: [n_mfcc x n_frames] per clip (MfccResult::frames); seg: frames per segment (>= 1).
Segments segment_summaries(const std::vector<Matrix>& frames, std::int64_t seg);

// [n x d] mean of the rows of x ([m x d]) with of[s] == t for each t < n. Every t must own a row.
Matrix pool_segments(const Matrix& x, const std::vector<std::int64_t>& of, std::int64_t n);

}  // namespace hmr::audio
