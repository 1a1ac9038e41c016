// audio/job_output.cpp — the plumbing shared by the mfcc and features jobs (job_output.h).
#include "audio/job_output.h"

#include <cctype>
#include <filesystem>

#include <ostream>

#include "core/error.h"
#include "core/log.h"
#include "io/atomic_file.h"

namespace hmr::audio {

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

std::string safe_stem(const std::string& id) {
  std::string s = std::filesystem::path(id).stem().string();
  for (char& c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_')) c = '_';
  return s.substr(0, 80);
}

void write_rows_csv(const std::filesystem::path& file, const std::vector<std::string>& columns, const Matrix& x,
                    const std::vector<std::string>& ids, const std::vector<std::int64_t>& length,
                    const std::vector<std::string>& labels) {
  io::write_atomically(file, [&](std::ostream& os) {
    os << "filename,length";
    for (const auto& c : columns) os << ',' << csv_field(c);
    if (!labels.empty()) os << ",label";
    os << '\n';
    for (std::int64_t r = 0; r < x.rows(); ++r) {
      const auto u = static_cast<std::size_t>(r);
      os << csv_field(ids[u]) << ',' << length[u];
      for (std::int64_t c = 0; c < x.cols(); ++c) os << ',' << fmt::format("{}", x(r, c));
      if (!labels.empty()) os << ',' << csv_field(labels[u]);
      os << '\n';
    }
  });
}

void require_some_processed(const char* command, std::size_t processed, std::size_t inputs,
                            const std::vector<SkippedFile>& skipped) {
  for (const auto& s : skipped) spdlog::warn("skipped {}", s.reason);
  HMR_REQUIRE(processed > 0, "{}: none of the {} input file(s) could be processed (first: {})", command, inputs,
              skipped.empty() ? std::string("?") : skipped.front().reason);
}

double audio_seconds(const std::vector<std::int64_t>& length, int sample_rate) {
  double s = 0.0;
  for (std::int64_t len : length) s += static_cast<double>(len) / sample_rate;
  return s;
}

}  // namespace hmr::audio
