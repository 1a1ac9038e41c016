// text/tfidf_job.h — what `hmr tfidf` does, as a library call (the CLI only parses flags): read
// lyrics CSVs, fit TF-IDF (or transform with a saved model), write the outputs into a directory:
//   tfidf.npz         scipy.sparse CSR (load with scipy.sparse.load_npz)   [format npz | both]
//   tfidf.npy         dense float32 [documents x vocabulary]               [format npy | both]
//   vocabulary.txt    one term per line, column order
//   idf.npy           float32 [vocabulary]
//   tfidf_model.json  options, df and float64 idf (apply with --model DIR to new documents)
//   labels.npy        int32 [documents] language index; label_names.txt the names in index order
//   documents.tsv     row, label, source file, line (where each row came from)
//   summary.json      documents, vocabulary size, empty rows, skipped rows, tokens per language
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "core/backend.h"
#include "text/lyrics.h"
#include "text/tfidf.h"

namespace hmr::text {

enum class MatrixFormat { npz, npy, both };
MatrixFormat parse_matrix_format(std::string_view name);  // "npz" | "npy" | "both"

struct TfidfJob {
  std::vector<LyricsSource> sources;
  LyricsOptions read;
  TfidfOptions tfidf;
  std::filesystem::path out;  // output directory (created)
  MatrixFormat format = MatrixFormat::npz;
  std::filesystem::path model_dir;  // non-empty: transform with this saved model instead of fitting
};

struct TfidfJobResult {
  Corpus corpus;
  TfidfModel model;
  TfidfStats stats;
  Csr matrix;
  nlohmann::json summary;  // what summary.json holds
};

TfidfJobResult run_tfidf_job(Backend& backend, const TfidfJob& job);

}  // namespace hmr::text
