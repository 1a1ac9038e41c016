// audio/job_output.h — plumbing that the `hmr mfcc` and `hmr features` jobs (mfcc_job.cpp,
// features_job.cpp) share: RFC 4180 CSV quoting, file-name-safe stems of clip ids, the skipped
// files' handling and the audio duration of a run. Internal to host/audio.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "audio/mfcc.h"
#include "core/matrix.h"

namespace hmr::audio {

// RFC 4180 quoting where needed (pandas and hmr's reader unquote it).
std::string csv_field(const std::string& s);

// The stem of an id with anything but [A-Za-z0-9._-] replaced by '_', at most 80 characters.
std::string safe_stem(const std::string& id);

// A feature table as CSV (written atomically): filename,length,<columns>[,label], one row of x per
// id, each float as its shortest round-trip decimal (what numpy and pandas print); labels empty:
// no label column.
void write_rows_csv(const std::filesystem::path& file, const std::vector<std::string>& columns, const Matrix& x,
                    const std::vector<std::string>& ids, const std::vector<std::int64_t>& length,
                    const std::vector<std::string>& labels);

// Logs each skipped file; an input error naming the first when none of the inputs gave a row.
void require_some_processed(const char* command, std::size_t processed, std::size_t inputs,
                            const std::vector<SkippedFile>& skipped);

// Seconds of audio in clips of these sample counts at sample_rate.
double audio_seconds(const std::vector<std::int64_t>& length, int sample_rate);

}  // namespace hmr::audio
