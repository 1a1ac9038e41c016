// audio/sources.cpp — GTZAN folders, manifests, file lists and Kaggle features CSVs (sources.h).
#include "audio/sources.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <map>
#include <regex>
#include <set>

#include "audio/decode.h"
#include "core/error.h"
#include "core/printable.h"
#include "io/csv.h"

namespace hmr::audio {

namespace fs = std::filesystem;

namespace {

// Sorted sub-folders (by the bytes of their names; hidden ones skipped).
std::vector<fs::path> subdirs(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_directory(ec) && e.path().filename().string().rfind('.', 0) != 0) out.push_back(e.path());
  std::sort(out.begin(), out.end(),
            [](const fs::path& a, const fs::path& b) { return a.filename().string() < b.filename().string(); });
  return out;
}

std::vector<fs::path> audio_in(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file(ec) && has_audio_extension(e.path()) && e.path().filename().string().rfind('.', 0) != 0)
      out.push_back(e.path());
  std::sort(out.begin(), out.end(),
            [](const fs::path& a, const fs::path& b) { return a.filename().string() < b.filename().string(); });
  return out;
}

// Codes into the sorted set of names.
void encode_labels(const std::vector<std::string>& names, std::vector<std::int32_t>& codes,
                   std::vector<std::string>& label_names) {
  std::set<std::string> uniq(names.begin(), names.end());
  label_names.assign(uniq.begin(), uniq.end());
  codes.clear();
  for (const auto& n : names)
    codes.push_back(
        static_cast<std::int32_t>(std::lower_bound(label_names.begin(), label_names.end(), n) - label_names.begin()));
}

// ids are file names while they name one file each. Once two files share a name (rock/01.wav and
// folk/01.wav) every id becomes the longer, unique form (`longer`: <label>/<file> or the path as
// given) so that ids.txt, the features CSV and anything joined on ids stay one row per file; sets
// without a collision keep the short ids they always had.
bool names_repeat(const std::vector<std::string>& ids) {
  std::set<std::string> seen;
  for (const auto& id : ids)
    if (!seen.insert(id).second) return true;
  return false;
}

std::string trim(std::string s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return {};
  const auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

}  // namespace

AudioSet list_gtzan(const fs::path& root_in) {
  std::error_code ec;
  HMR_REQUIRE(fs::is_directory(root_in, ec), "{}: not a folder", root_in.string());
  fs::path root = root_in;
  // Descend through wrapper folders (gtzan/genres, Data/genres_original) until the label
  // folders, i.e. until some sub-folder holds audio files.
  for (int depth = 0; depth < 4; ++depth) {
    const auto subs = subdirs(root);
    bool labelled = false;
    for (const auto& s : subs)
      if (!audio_in(s).empty()) labelled = true;
    if (labelled || subs.size() != 1) break;
    root = subs.front();
  }
  AudioSet set;
  set.kind = "gtzan";
  std::vector<std::string> names;
  for (const auto& s : subdirs(root)) {
    for (const auto& f : audio_in(s)) {
      set.paths.push_back(f);
      set.ids.push_back(f.filename().string());
      names.push_back(s.filename().string());
    }
  }
  HMR_REQUIRE(!set.paths.empty(), "{}: no audio files in GTZAN layout (ROOT/<label>/*.wav|au|aiff|flac|ogg|opus|mp3)",
              root_in.string());
  // Within one folder names are unique, so <label>/<file> always is.
  if (names_repeat(set.ids))
    for (std::size_t i = 0; i < set.ids.size(); ++i) set.ids[i] = names[i] + "/" + set.ids[i];
  encode_labels(names, set.labels, set.label_names);
  return set;
}

namespace {

AudioSet manifest_from_table(const io::CsvTable& t, const fs::path& csv, const std::string& label_column) {
  HMR_REQUIRE(t.columns() >= 2, "{}: a manifest needs the columns id,audio[,label,...] (found {} column(s)){}",
              csv.string(), t.columns(), t.delimiter_hint());
  const std::size_t id_col = t.find_column("id").value_or(0);
  const std::size_t audio_col = t.find_column("audio").value_or(1);
  std::optional<std::size_t> label_col;
  if (!label_column.empty())
    label_col = t.column(label_column);
  else
    label_col = t.find_column("label");
  AudioSet set;
  set.kind = "manifest";
  const fs::path base = csv.parent_path();
  std::vector<std::string> names;
  std::map<std::string, std::int64_t> line_of_id;
  for (std::size_t r = 0; r < t.size(); ++r) {
    const std::string audio = trim(t.need(r, audio_col));
    HMR_REQUIRE(!audio.empty(), "{}:{}: empty audio path", csv.string(), t.lines[r]);
    const fs::path p(audio);
    set.paths.push_back(p.is_absolute() ? p : base / p);
    const std::string given = trim(t.need(r, id_col));
    const std::string id = given.empty() ? p.filename().string() : given;
    // The manifest names its ids, so a repeated one is the user's to fix, not ours to rename.
    const auto [seen, fresh] = line_of_id.emplace(id, t.lines[r]);
    HMR_REQUIRE(fresh, "{}: lines {} and {} both have the id '{}'{}; ids must be unique (one row per track)",
                csv.string(), seen->second, t.lines[r], printable(id),
                given.empty() ? " (the audio file name: no id given)" : "");
    set.ids.push_back(id);
    if (label_col) {
      std::string l = trim(t.need(r, *label_col));
      HMR_REQUIRE(!l.empty(), "{}:{}: empty label in column '{}'", csv.string(), t.lines[r],
                  printable(t.header[*label_col]));
      names.push_back(std::move(l));
    }
  }
  HMR_REQUIRE(!set.paths.empty(), "{}: the manifest lists no files", csv.string());
  if (label_col) encode_labels(names, set.labels, set.label_names);
  return set;
}

}  // namespace

AudioSet read_manifest(const fs::path& csv, const std::string& label_column) {
  return manifest_from_table(io::read_csv(csv), csv, label_column);
}

AudioSet parse_manifest(std::string_view text, const fs::path& csv, const std::string& label_column) {
  return manifest_from_table(io::parse_csv(text, {}, csv.string()), csv, label_column);
}

AudioSet audio_files(const std::vector<fs::path>& files) {
  AudioSet set;
  set.kind = "files";
  for (const auto& f : files) {
    set.paths.push_back(f);
    set.ids.push_back(f.filename().string());
  }
  if (names_repeat(set.ids)) {
    std::map<std::string, std::size_t> first;
    for (std::size_t i = 0; i < files.size(); ++i) {
      set.ids[i] = files[i].lexically_normal().generic_string();
      const auto [seen, fresh] = first.emplace(set.ids[i], i);
      HMR_REQUIRE(fresh, "{}: given twice (inputs {} and {}); each file is one row", files[i].string(),
                  seen->second + 1, i + 1);
    }
  }
  return set;
}

AudioSet open_audio_inputs(const std::vector<std::string>& inputs, const std::string& label_column) {
  HMR_REQUIRE(!inputs.empty(), "no audio input given (a GTZAN folder, a manifest .csv or audio files)");
  std::error_code ec;
  if (inputs.size() == 1 && fs::is_directory(inputs[0], ec)) return list_gtzan(inputs[0]);
  if (inputs.size() == 1) {
    std::string ext = fs::path(inputs[0]).extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (ext == ".csv") return read_manifest(inputs[0], label_column);
  }
  std::vector<fs::path> files;
  for (const auto& s : inputs) {
    HMR_REQUIRE(!fs::is_directory(s, ec), "{}: a folder among several inputs (give one GTZAN folder alone)", s);
    files.emplace_back(s);
  }
  return audio_files(files);
}

FeatureTable read_features_csv(const fs::path& csv, const std::string& column_regex, const std::string& label_column,
                               const std::string& id_column) {
  const io::CsvTable t = io::read_csv(csv);
  std::regex re;
  try {
    re = std::regex(column_regex, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    input_error("--columns '{}': not a valid regular expression: {}", column_regex, e.what());
  }
  const auto id_col = id_column.empty() ? std::nullopt : t.find_column(id_column);
  std::optional<std::size_t> label_col;
  if (!label_column.empty()) label_col = t.column(label_column);
  FeatureTable ft;
  std::vector<std::size_t> cols;
  // Sentinels instead of optionals in the loop (g++ 12 warns, wrongly, that *id_col may be unset).
  constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  const std::size_t skip_id = id_col.value_or(kNone), skip_label = label_col.value_or(kNone);
  for (std::size_t c = 0; c < t.header.size(); ++c) {
    if (c == skip_id || c == skip_label) continue;
    if (std::regex_search(t.header[c], re)) {
      cols.push_back(c);
      ft.columns.push_back(trim(t.header[c]));
    }
  }
  HMR_REQUIRE(!cols.empty(), "{}: no column matches the regex '{}'{}", csv.string(), column_regex, t.delimiter_hint());
  HMR_REQUIRE(t.size() > 0, "{}: no data rows", csv.string());
  ft.features = Matrix(static_cast<std::int64_t>(t.size()), static_cast<std::int64_t>(cols.size()));
  std::vector<std::string> names;
  std::map<std::string, std::int64_t> line_of_id;
  for (std::size_t r = 0; r < t.size(); ++r) {
    for (std::size_t j = 0; j < cols.size(); ++j) {
      const std::string v = trim(t.need(r, cols[j]));
      float x = 0.0f;
      const auto [end, err] = std::from_chars(v.data(), v.data() + v.size(), x);
      HMR_REQUIRE(!v.empty() && err == std::errc() && end == v.data() + v.size() && std::isfinite(x),
                  "{}:{}: column '{}' holds '{}', not a finite number", csv.string(), t.lines[r],
                  printable(ft.columns[j]), printable(v));
      ft.features(static_cast<std::int64_t>(r), static_cast<std::int64_t>(j)) = x;
    }
    ft.ids.push_back(skip_id != kNone ? trim(t.need(r, skip_id)) : std::to_string(r));
    // One row per track: a repeated file name would give two rows of ids.txt and results.csv
    // the same id (an empty cell is left as it is: it names no track to confuse).
    if (!ft.ids.back().empty()) {
      const auto [seen, fresh] = line_of_id.emplace(ft.ids.back(), t.lines[r]);
      HMR_REQUIRE(fresh, "{}: lines {} and {} both have the id '{}' in column '{}'; ids must be unique", csv.string(),
                  seen->second, t.lines[r], printable(ft.ids.back()), printable(t.header[skip_id]));
    }
    if (skip_label != kNone) {
      std::string l = trim(t.need(r, skip_label));
      HMR_REQUIRE(!l.empty(), "{}:{}: empty label", csv.string(), t.lines[r]);
      names.push_back(std::move(l));
    }
  }
  if (label_col) encode_labels(names, ft.labels, ft.label_names);
  return ft;
}

bool is_features_csv(const fs::path& csv) {
  std::ifstream in(csv, std::ios::binary);
  std::string header;
  if (!in || !std::getline(in, header)) return false;
  static const std::regex mean_col("mfcc[0-9]+_mean");
  return std::regex_search(header, mean_col);
}

}  // namespace hmr::audio
