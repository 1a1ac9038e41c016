// audio/sources.h — where audio (or precomputed MFCC summaries) comes from:
//   * a folder in GTZAN layout, ROOT/<label>/*.{wav,au,aiff,flac,ogg,opus,mp3}: label = folder
//     name, folders and files in sorted (byte) order; wrapper folders with a single sub-folder
//     (gtzan/genres/<label>/..., Data/genres_original/<label>/...) are descended into;
//   * a manifest CSV `id,audio[,label,...]` (paths relative to the manifest's folder);
//   * files named on the command line (no labels);
//   * a Kaggle-layout features CSV (filename,length,...,mfcc1_mean,mfcc1_var,...,mfcc20_var,label),
//     whose feature columns are chosen by a regular expression (default "mfcc"), accepted wherever
//     MFCC summaries are.
// Labels are int32 codes into label_names, which are sorted, so runs are reproducible.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/matrix.h"

namespace hmr::audio {

struct AudioSet {
  std::vector<std::filesystem::path> paths;
  std::vector<std::string> ids;          // file name (folder, files) or the manifest's id
  std::vector<std::int32_t> labels;      // [size()] codes into label_names; empty when unlabelled
  std::vector<std::string> label_names;  // sorted
  std::string kind;                      // "gtzan", "manifest" or "files"
  std::size_t size() const { return paths.size(); }
  bool labelled() const { return !labels.empty(); }
};

AudioSet list_gtzan(const std::filesystem::path& root);
// label_column: a column name or 0-based index; "" picks "label" when the manifest has one,
// otherwise the set is unlabelled. The audio column is "audio" (or the second column).
AudioSet read_manifest(const std::filesystem::path& csv, const std::string& label_column = "");
// The same for manifest text in memory; relative paths resolve against csv's folder.
AudioSet parse_manifest(std::string_view text, const std::filesystem::path& csv, const std::string& label_column = "");
AudioSet audio_files(const std::vector<std::filesystem::path>& files);
// One folder -> list_gtzan; one .csv file -> read_manifest; otherwise the files themselves.
AudioSet open_audio_inputs(const std::vector<std::string>& inputs, const std::string& label_column = "");

struct FeatureTable {
  Matrix features;                       // [rows x selected columns]
  std::vector<std::string> columns;      // selected column names, in file order
  std::vector<std::string> ids;          // the id column (Kaggle "filename"), or row numbers
  std::vector<std::int32_t> labels;      // codes into label_names; empty when there is no label column
  std::vector<std::string> label_names;  // sorted
};
// column_regex selects feature columns by ECMAScript regex search over the header names (default
// "mfcc"), leaving out the id and label columns. label_column must exist unless it is "" (then
// the table is unlabelled); the id column falls back to row numbers when absent. A non-numeric or
// non-finite feature value is an input error naming the file, line and column.
FeatureTable read_features_csv(const std::filesystem::path& csv, const std::string& column_regex = "mfcc",
                               const std::string& label_column = "label", const std::string& id_column = "filename");
// True when `csv` looks like a Kaggle features CSV (has columns matching mfcc\d+_mean).
bool is_features_csv(const std::filesystem::path& csv);

}  // namespace hmr::audio
