// text/tfidf.h — TF-IDF with scikit-learn TfidfVectorizer semantics, and the CSR matrix it makes.
//
// fit: count terms per document (tokenize.h), keep terms whose document frequency df lies in
// [min_df, max_df] (an integer is a document count, a fraction is a share of documents), then, if
// max_features is set, the max_features terms with the highest corpus frequency (ties as sklearn:
// see tfidf.cpp); the vocabulary is sorted by code point (Python's string order) and term j is
// column j. idf_j = ln((n + s) / (df_j + s)) + 1 with s = 1 when smooth_idf, else 0.
// transform: tf = raw count (1 + ln(count) when sublinear_tf; 1 when binary), x = tf * idf (or tf
// when use_idf is false), each row scaled to unit l2 or l1 norm (norm none: unscaled; all-zero
// rows stay zero). Arithmetic in float64, output float32 (sklearn computes float64; parity 1e-6).
// Source: scikit-learn 1.x sklearn/feature_extraction/text.py (CountVectorizer._count_vocab,
// _limit_features, TfidfTransformer).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/backend.h"
#include "core/matrix.h"
#include "text/tokenize.h"

namespace hmr::text {

// Compressed sparse rows, the layout of scipy.sparse.csr_matrix; column indices sorted per row.
struct Csr {
  std::int64_t rows = 0, cols = 0;
  std::vector<std::int64_t> indptr;   // [rows + 1]
  std::vector<std::int32_t> indices;  // [nnz] column of each stored value
  std::vector<float> data;            // [nnz]
  std::int64_t nnz() const { return static_cast<std::int64_t>(data.size()); }
};

Matrix to_dense(const Csr& m);  // [rows x cols] float32
// Writes what scipy.sparse.save_npz writes for a csr_matrix (uncompressed zip of data, indices,
// indptr, shape, format), so scipy.sparse.load_npz and numpy.load read it. Atomic.
void write_npz(const std::filesystem::path& path, const Csr& m);
Csr read_npz(const std::filesystem::path& path);  // reads hmr's (stored, uncompressed) npz files
// The same from the bytes of an .npz in memory; `where` names it in messages. Input error on a
// truncated or lying zip, a bad member or arrays that break the CSR invariants (text/npz.cpp).
Csr parse_npz(std::string_view bytes, const std::string& where);

// sklearn's int-or-float min_df / max_df: a count of documents or a fraction of them.
struct DfBound {
  double value = 1.0;
  bool fraction = false;
  static DfBound count(std::int64_t n) { return {static_cast<double>(n), false}; }
  static DfBound share(double f) { return {f, true}; }
  static DfBound parse(std::string_view s);  // "5" -> count, "0.5" / "1.0" / "1e-3" -> fraction
  double limit(std::int64_t n_docs) const { return fraction ? value * static_cast<double>(n_docs) : value; }
};

enum class Norm { l2, l1, none };
Norm parse_norm(std::string_view name);  // "l2" | "l1" | "none"
const char* to_string(Norm n);

struct TfidfOptions {
  TokenizerOptions tokens;
  DfBound min_df = DfBound::count(1);
  DfBound max_df = DfBound::share(1.0);
  std::int64_t max_features = 0;  // 0 = no limit
  bool binary = false;
  bool use_idf = true;
  bool smooth_idf = true;
  bool sublinear_tf = false;
  Norm norm = Norm::l2;
};

// What fit learns; enough to transform new documents the same way.
struct TfidfModel {
  TfidfOptions options;
  std::vector<std::string> vocabulary;             // sorted; column j = vocabulary[j]
  std::vector<double> idf;                         // [vocabulary] (all 1 when use_idf is false)
  std::vector<std::int64_t> df;                    // [vocabulary] document frequency in the fitted corpus
  std::int64_t n_documents = 0;                    // documents fitted on
  std::int64_t find(std::string_view term) const;  // column of `term`, -1 when absent
};

// Per-document counts gathered on the way (for reports).
struct TfidfStats {
  std::vector<std::int64_t> tokens;  // [docs] tokens after stop words (before vocabulary pruning)
  std::int64_t empty_rows = 0;       // documents whose row is all zero
  std::int64_t pruned_terms = 0;     // fit: terms removed by min_df / max_df / max_features
};

// fit + transform of the same documents (sklearn fit_transform). Input error when nothing is
// left to build a vocabulary from (sklearn's "empty vocabulary" / "no terms remain").
Csr fit_transform(const std::vector<std::string>& docs, const TfidfOptions& options, TfidfModel& model,
                  TfidfStats* stats = nullptr);
TfidfModel fit(const std::vector<std::string>& docs, const TfidfOptions& options);
// Documents -> rows with the fitted vocabulary and idf; unknown terms are ignored.
Csr transform(const TfidfModel& model, const std::vector<std::string>& docs, TfidfStats* stats = nullptr);

// The same on a backend: counting and vocabulary are host work; the weighting (tf transform, idf
// scaling and row normalisation of the CSR values) runs on `backend` (cpu or a cuda kernel).
Csr fit_transform(Backend& backend, const std::vector<std::string>& docs, const TfidfOptions& options,
                  TfidfModel& model, TfidfStats* stats = nullptr);
Csr transform(Backend& backend, const TfidfModel& model, const std::vector<std::string>& docs,
              TfidfStats* stats = nullptr);

// Raw term counts as CSR (float32 counts) with the model's vocabulary; the first half of transform.
Csr count_matrix(const TfidfModel& model, const std::vector<std::string>& docs, TfidfStats* stats = nullptr);
// The second half: tf transform, idf scaling and normalisation of a count matrix, in place.
void weight_rows(Backend& backend, const TfidfModel& model, Csr& counts);
void weight_rows_cpu(const TfidfModel& model, Csr& counts);

// A model on disk: vocabulary.txt (one term per line), idf.npy (float32), tfidf_model.json
// (options, df, n_documents). load_model reads what save_model wrote.
void save_model(const std::filesystem::path& dir, const TfidfModel& model);
// The options as the JSON object tfidf_model.json holds (for reports).
std::string options_to_json(const TfidfOptions& options);
TfidfModel load_model(const std::filesystem::path& dir);
// The same from the two files' text in memory (text/tfidf_model.cpp): every field's type, range
// and size is checked (df against n_documents, one df and idf per vocabulary term, the
// vocabulary sorted and unique); anything else is one input-error line naming `where` (the model
// folder) and the field.
TfidfModel parse_model(std::string_view model_json, std::string_view vocabulary, const std::string& where);

}  // namespace hmr::text
