// text/tfidf.cpp — TfidfVectorizer semantics (see tfidf.h): counting, vocabulary pruning and
// sorting, idf, the cpu weighting and dispatch to the cuda weighting kernel, model files.
//
// Pipeline of fit: documents are normalised and tokenised in parallel (OpenMP, one ICU iterator
// per thread); term ids are handed out in one sequential pass in order of first occurrence (a
// fixed order whatever the thread count); each row's ids are then sorted and run-length coded in
// parallel into (id, count); df, corpus frequency and pruning follow
// sklearn CountVectorizer._limit_features; surviving terms are sorted by code point (UTF-8 byte
// order = code point order = Python's str order) and the columns renumbered.
//
// max_features ties: sklearn keeps `(-tfs[mask]).argsort()[:limit]` over the alphabetically
// sorted vocabulary, with numpy's default (unstable) argsort. numpy >= 1.25 dispatches that to
// SIMD sorts (x86-simd-sort on AVX-512/AVX2 machines) whose order among equal frequencies depends
// on the CPU, so sklearn itself keeps different terms on different machines when the cut falls
// inside a run of equal frequencies. hmr uses the one machine-independent rule numpy also gives
// with kind="stable": higher corpus frequency first, ties by vocabulary order (code point order).
#include "text/tfidf.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <numeric>
#include <unordered_map>

#include "core/error.h"
#include "core/log.h"
#include "core/nvtx.h"
#include "io/atomic_file.h"
#include "io/npy.h"
#include "text/tfidf_cuda.h"

namespace hmr::text {

namespace {

struct SvHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
using TermMap = std::unordered_map<std::string_view, std::int32_t, SvHash, std::equal_to<>>;

// Normalised text and the token views into it, per document.
struct Tokenized {
  std::vector<std::string> text;
  std::vector<std::vector<std::string_view>> tokens;
};

Tokenized tokenize_all(const Tokenizer& tok, const std::vector<std::string>& docs) {
  const std::int64_t n = static_cast<std::int64_t>(docs.size());
  Tokenized t;
  t.text.resize(docs.size());
  t.tokens.resize(docs.size());
  // Errors cannot leave an OpenMP region: remember the first and rethrow after it.
  std::string first_error;
  std::int64_t first_doc = -1;
#pragma omp parallel for schedule(dynamic, 16)
  for (std::int64_t d = 0; d < n; ++d) {
    const auto i = static_cast<std::size_t>(d);
    try {
      t.text[i] = tok.normalize(docs[i]);
      t.tokens[i].reserve(t.text[i].size() / 6 + 4);
      tok.token_views(t.text[i], t.tokens[i]);
    } catch (const std::exception& e) {
#pragma omp critical(hmr_text_tokenize_error)
      if (first_doc < 0 || d < first_doc) {
        first_doc = d;
        first_error = e.what();
      }
    }
  }
  if (first_doc >= 0) input_error("document {}: {}", first_doc, first_error);
  return t;
}

// Sorts a row's column ids and run-length codes them into (column, count).
void encode_row(std::vector<std::int32_t>& ids, std::vector<std::int32_t>& cols, std::vector<float>& counts) {
  std::sort(ids.begin(), ids.end());
  for (std::size_t k = 0; k < ids.size();) {
    std::size_t e = k + 1;
    while (e < ids.size() && ids[e] == ids[k]) ++e;
    cols.push_back(ids[k]);
    counts.push_back(static_cast<float>(e - k));  // exact: a document has < 2^24 tokens
    k = e;
  }
}

// Rows of (column, count) -> CSR.
Csr assemble(std::int64_t cols, std::vector<std::vector<std::int32_t>>& row_cols,
             std::vector<std::vector<float>>& row_counts) {
  Csr m;
  m.rows = static_cast<std::int64_t>(row_cols.size());
  m.cols = cols;
  m.indptr.assign(static_cast<std::size_t>(m.rows + 1), 0);
  for (std::size_t r = 0; r < row_cols.size(); ++r)
    m.indptr[r + 1] = m.indptr[r] + static_cast<std::int64_t>(row_cols[r].size());
  m.indices.resize(static_cast<std::size_t>(m.indptr.back()));
  m.data.resize(static_cast<std::size_t>(m.indptr.back()));
#pragma omp parallel for schedule(static)
  for (std::int64_t r = 0; r < m.rows; ++r) {
    const auto i = static_cast<std::size_t>(r);
    std::copy(row_cols[i].begin(), row_cols[i].end(), m.indices.begin() + m.indptr[i]);
    std::copy(row_counts[i].begin(), row_counts[i].end(), m.data.begin() + m.indptr[i]);
  }
  return m;
}

void check_options(const TfidfOptions& o) {
  const auto check_bound = [](const DfBound& b, const char* name) {
    if (b.fraction)
      HMR_REQUIRE(b.value >= 0.0 && b.value <= 1.0, "tfidf: {} as a fraction must lie in [0, 1], got {}", name,
                  b.value);
    else
      HMR_REQUIRE(b.value >= 1.0 && b.value == std::floor(b.value),
                  "tfidf: {} as a document count must be an integer >= 1, got {}", name, b.value);
  };
  check_bound(o.min_df, "min_df");
  check_bound(o.max_df, "max_df");
  HMR_REQUIRE(o.max_features >= 0, "tfidf: max_features must be >= 1 (or 0 for no limit), got {}", o.max_features);
}

std::vector<double> compute_idf(const TfidfOptions& o, const std::vector<std::int64_t>& df, std::int64_t n) {
  std::vector<double> idf(df.size(), 1.0);
  if (!o.use_idf) return idf;
  const double s = o.smooth_idf ? 1.0 : 0.0;
  // Same operation order as sklearn: (n + s) / (df + s), log, + 1. Without smoothing a term
  // with df 0 cannot occur (every vocabulary term was seen in some document).
  for (std::size_t j = 0; j < df.size(); ++j)
    idf[j] = std::log((static_cast<double>(n) + s) / (static_cast<double>(df[j]) + s)) + 1.0;
  return idf;
}

// Fit: counts with the final (pruned, sorted) vocabulary, filling `model`.
Csr fit_counts(const std::vector<std::string>& docs, const TfidfOptions& opt, TfidfModel& model, TfidfStats* stats) {
  check_options(opt);
  const std::int64_t n = static_cast<std::int64_t>(docs.size());
  HMR_REQUIRE(n > 0, "tfidf: no documents to fit on");
  const Tokenizer tok(opt.tokens);
  Tokenized t;
  {
    NvtxRange r("tfidf/tokenize");
    t = tokenize_all(tok, docs);
  }
  NvtxRange r("tfidf/count");
  // 1. term ids in order of first occurrence
  TermMap ids;
  std::vector<std::string_view> terms;
  std::size_t total = 0;
  for (const auto& v : t.tokens) total += v.size();
  ids.reserve(total / 8 + 1024);  // vocabularies grow far slower than token counts
  std::vector<std::vector<std::int32_t>> row_ids(docs.size());
  for (std::size_t d = 0; d < docs.size(); ++d) {
    auto& out = row_ids[d];
    out.reserve(t.tokens[d].size());
    for (const auto tokv : t.tokens[d]) {
      auto [it, fresh] = ids.try_emplace(tokv, static_cast<std::int32_t>(terms.size()));
      if (fresh) terms.push_back(tokv);
      out.push_back(it->second);
    }
  }
  HMR_REQUIRE(!terms.empty(), "tfidf: empty vocabulary; perhaps the documents only contain stop words");
  HMR_REQUIRE(terms.size() < static_cast<std::size_t>(INT32_MAX), "tfidf: vocabulary too large ({} terms)",
              terms.size());
  if (stats) {
    stats->tokens.resize(docs.size());
    for (std::size_t d = 0; d < docs.size(); ++d) stats->tokens[d] = static_cast<std::int64_t>(t.tokens[d].size());
  }
  // 2. rows as (id, count)
  std::vector<std::vector<std::int32_t>> row_cols(docs.size());
  std::vector<std::vector<float>> row_counts(docs.size());
#pragma omp parallel for schedule(dynamic, 16)
  for (std::int64_t d = 0; d < n; ++d) {
    const auto i = static_cast<std::size_t>(d);
    encode_row(row_ids[i], row_cols[i], row_counts[i]);
    std::vector<std::int32_t>().swap(row_ids[i]);
  }
  // 3. df and corpus frequency (binary counts when binary, as sklearn fills X.data with 1 first)
  const std::size_t v = terms.size();
  std::vector<std::int64_t> df(v, 0), tf(v, 0);
  for (std::size_t d = 0; d < docs.size(); ++d)
    for (std::size_t k = 0; k < row_cols[d].size(); ++k) {
      const auto j = static_cast<std::size_t>(row_cols[d][k]);
      ++df[j];
      tf[j] += opt.binary ? 1 : static_cast<std::int64_t>(row_counts[d][k]);
    }
  // 4. pruning (sklearn: max_doc_count < min_doc_count is an error)
  const double high = opt.max_df.limit(n), low = opt.min_df.limit(n);
  HMR_REQUIRE(high >= low, "tfidf: max_df corresponds to < documents than min_df ({} < {} of {} documents)", high, low,
              n);
  std::vector<std::int32_t> keep;
  keep.reserve(v);
  for (std::size_t j = 0; j < v; ++j) {
    const auto f = static_cast<double>(df[j]);
    if (f <= high && f >= low) keep.push_back(static_cast<std::int32_t>(j));
  }
  const auto by_term = [&](std::int32_t a, std::int32_t b) {
    return terms[static_cast<std::size_t>(a)] < terms[static_cast<std::size_t>(b)];
  };
  if (opt.max_features > 0 && static_cast<std::int64_t>(keep.size()) > opt.max_features) {
    const auto mf = static_cast<std::ptrdiff_t>(opt.max_features);
    std::partial_sort(keep.begin(), keep.begin() + mf, keep.end(), [&](std::int32_t a, std::int32_t b) {
      const auto ta = tf[static_cast<std::size_t>(a)], tb = tf[static_cast<std::size_t>(b)];
      return ta != tb ? ta > tb : by_term(a, b);
    });
    keep.resize(static_cast<std::size_t>(mf));
  }
  HMR_REQUIRE(!keep.empty(), "tfidf: after pruning, no terms remain; try a lower min_df or a higher max_df");
  std::sort(keep.begin(), keep.end(), by_term);
  // 5. renumber columns
  std::vector<std::int32_t> new_col(v, -1);
  for (std::size_t c = 0; c < keep.size(); ++c)
    new_col[static_cast<std::size_t>(keep[c])] = static_cast<std::int32_t>(c);
  model = TfidfModel{};
  model.options = opt;
  model.n_documents = n;
  model.vocabulary.reserve(keep.size());
  model.df.reserve(keep.size());
  for (const auto j : keep) {
    model.vocabulary.emplace_back(terms[static_cast<std::size_t>(j)]);
    model.df.push_back(df[static_cast<std::size_t>(j)]);
  }
  model.idf = compute_idf(opt, model.df, n);
  if (stats) stats->pruned_terms = static_cast<std::int64_t>(v - keep.size());
#pragma omp parallel for schedule(dynamic, 16)
  for (std::int64_t d = 0; d < n; ++d) {
    const auto i = static_cast<std::size_t>(d);
    auto& cols = row_cols[i];
    auto& cnt = row_counts[i];
    std::vector<std::pair<std::int32_t, float>> kept;
    kept.reserve(cols.size());
    for (std::size_t k = 0; k < cols.size(); ++k) {
      const std::int32_t c = new_col[static_cast<std::size_t>(cols[k])];
      if (c >= 0) kept.emplace_back(c, cnt[k]);
    }
    std::sort(kept.begin(), kept.end());
    cols.resize(kept.size());
    cnt.resize(kept.size());
    for (std::size_t k = 0; k < kept.size(); ++k) {
      cols[k] = kept[k].first;
      cnt[k] = kept[k].second;
    }
  }
  return assemble(static_cast<std::int64_t>(keep.size()), row_cols, row_counts);
}

void count_empty_rows(const Csr& m, TfidfStats* stats) {
  if (!stats) return;
  stats->empty_rows = 0;
  for (std::int64_t r = 0; r < m.rows; ++r) {
    bool any = false;
    for (std::int64_t k = m.indptr[static_cast<std::size_t>(r)]; k < m.indptr[static_cast<std::size_t>(r) + 1]; ++k)
      any = any || m.data[static_cast<std::size_t>(k)] != 0.0f;
    stats->empty_rows += any ? 0 : 1;
  }
}

void check_model(const TfidfModel& m) {
  HMR_REQUIRE(!m.vocabulary.empty(), "tfidf: the model has an empty vocabulary");
  HMR_REQUIRE(m.idf.size() == m.vocabulary.size(), "tfidf: the model has {} idf values for {} terms", m.idf.size(),
              m.vocabulary.size());
}

}  // namespace

// ---- small pieces ------------------------------------------------------------------------------

DfBound DfBound::parse(std::string_view s) {
  const std::string str(s);
  HMR_REQUIRE(!str.empty(), "tfidf: empty document-frequency bound");
  const bool is_float = str.find_first_of(".eE") != std::string::npos;
  if (is_float) {
    double v = 0.0;
    const auto [p, ec] = std::from_chars(str.data(), str.data() + str.size(), v);
    HMR_REQUIRE(ec == std::errc() && p == str.data() + str.size(), "tfidf: '{}' is not a number", str);
    return share(v);
  }
  std::int64_t v = 0;
  const auto [p, ec] = std::from_chars(str.data(), str.data() + str.size(), v);
  HMR_REQUIRE(ec == std::errc() && p == str.data() + str.size(), "tfidf: '{}' is not an integer or a fraction", str);
  return count(v);
}

std::int64_t TfidfModel::find(std::string_view term) const {
  const auto it = std::lower_bound(vocabulary.begin(), vocabulary.end(), term,
                                   [](const std::string& a, std::string_view b) { return std::string_view(a) < b; });
  return it != vocabulary.end() && *it == term ? it - vocabulary.begin() : -1;
}

Matrix to_dense(const Csr& m) {
  Matrix out(m.rows, m.cols, 0.0f);
#pragma omp parallel for schedule(static)
  for (std::int64_t r = 0; r < m.rows; ++r)
    for (std::int64_t k = m.indptr[static_cast<std::size_t>(r)]; k < m.indptr[static_cast<std::size_t>(r) + 1]; ++k)
      out(r, m.indices[static_cast<std::size_t>(k)]) = m.data[static_cast<std::size_t>(k)];
  return out;
}

// ---- weighting -------------------------------------------------------------------------------

void weight_rows_cpu(const TfidfModel& model, Csr& m) {
  check_model(model);
  HMR_REQUIRE(m.cols == static_cast<std::int64_t>(model.vocabulary.size()),
              "tfidf: the count matrix has {} columns, the model {} terms", m.cols, model.vocabulary.size());
  const TfidfOptions& o = model.options;
#pragma omp parallel for schedule(static)
  for (std::int64_t r = 0; r < m.rows; ++r) {
    const auto a = static_cast<std::size_t>(m.indptr[static_cast<std::size_t>(r)]);
    const auto b = static_cast<std::size_t>(m.indptr[static_cast<std::size_t>(r) + 1]);
    // float64 throughout, as sklearn; one cast at the end.
    double w[64];
    std::vector<double> big;
    double* val = w;
    if (b - a > 64) {
      big.resize(b - a);
      val = big.data();
    }
    double s = 0.0;
    for (std::size_t k = a; k < b; ++k) {
      double tf = o.binary ? 1.0 : static_cast<double>(m.data[k]);
      if (o.sublinear_tf) tf = std::log(tf) + 1.0;
      const double x = o.use_idf ? tf * model.idf[static_cast<std::size_t>(m.indices[k])] : tf;
      val[k - a] = x;
      s += o.norm == Norm::l2 ? x * x : std::fabs(x);
    }
    double scale = 1.0;
    if (o.norm != Norm::none && s > 0.0) scale = o.norm == Norm::l2 ? std::sqrt(s) : s;
    for (std::size_t k = a; k < b; ++k) m.data[k] = static_cast<float>(val[k - a] / scale);
  }
}

void weight_rows(Backend& backend, const TfidfModel& model, Csr& counts) {
  NvtxRange range("tfidf/weight");
  if (!backend.is_cuda()) return weight_rows_cpu(model, counts);
  check_model(model);
  HMR_REQUIRE(counts.cols == static_cast<std::int64_t>(model.vocabulary.size()),
              "tfidf: the count matrix has {} columns, the model {} terms", counts.cols, model.vocabulary.size());
  HMR_CUDA_CALL(backend, weight_rows(backend, model, counts));
}

// ---- fit / transform -------------------------------------------------------------------------

Csr count_matrix(const TfidfModel& model, const std::vector<std::string>& docs, TfidfStats* stats) {
  check_model(model);
  const Tokenizer tok(model.options.tokens);
  Tokenized t;
  {
    NvtxRange r("tfidf/tokenize");
    t = tokenize_all(tok, docs);
  }
  NvtxRange r("tfidf/count");
  TermMap lookup;
  lookup.reserve(model.vocabulary.size());
  for (std::size_t j = 0; j < model.vocabulary.size(); ++j)
    lookup.emplace(std::string_view(model.vocabulary[j]), static_cast<std::int32_t>(j));
  const std::int64_t n = static_cast<std::int64_t>(docs.size());
  std::vector<std::vector<std::int32_t>> row_cols(docs.size());
  std::vector<std::vector<float>> row_counts(docs.size());
#pragma omp parallel for schedule(dynamic, 16)
  for (std::int64_t d = 0; d < n; ++d) {
    const auto i = static_cast<std::size_t>(d);
    std::vector<std::int32_t> ids;
    ids.reserve(t.tokens[i].size());
    for (const auto tokv : t.tokens[i]) {
      const auto it = lookup.find(tokv);
      if (it != lookup.end()) ids.push_back(it->second);
    }
    encode_row(ids, row_cols[i], row_counts[i]);
  }
  if (stats) {
    stats->tokens.resize(docs.size());
    for (std::size_t d = 0; d < docs.size(); ++d) stats->tokens[d] = static_cast<std::int64_t>(t.tokens[d].size());
  }
  return assemble(static_cast<std::int64_t>(model.vocabulary.size()), row_cols, row_counts);
}

Csr fit_transform(Backend& backend, const std::vector<std::string>& docs, const TfidfOptions& options,
                  TfidfModel& model, TfidfStats* stats) {
  NvtxRange range("tfidf/fit_transform");
  Csr m = fit_counts(docs, options, model, stats);
  weight_rows(backend, model, m);
  count_empty_rows(m, stats);
  return m;
}

Csr transform(Backend& backend, const TfidfModel& model, const std::vector<std::string>& docs, TfidfStats* stats) {
  NvtxRange range("tfidf/transform");
  Csr m = count_matrix(model, docs, stats);
  weight_rows(backend, model, m);
  count_empty_rows(m, stats);
  return m;
}

Csr fit_transform(const std::vector<std::string>& docs, const TfidfOptions& options, TfidfModel& model,
                  TfidfStats* stats) {
  NvtxRange range("tfidf/fit_transform");
  Csr m = fit_counts(docs, options, model, stats);
  weight_rows_cpu(model, m);
  count_empty_rows(m, stats);
  return m;
}

TfidfModel fit(const std::vector<std::string>& docs, const TfidfOptions& options) {
  TfidfModel model;
  fit_counts(docs, options, model, nullptr);
  return model;
}

Csr transform(const TfidfModel& model, const std::vector<std::string>& docs, TfidfStats* stats) {
  NvtxRange range("tfidf/transform");
  Csr m = count_matrix(model, docs, stats);
  weight_rows_cpu(model, m);
  count_empty_rows(m, stats);
  return m;
}

}  // namespace hmr::text
