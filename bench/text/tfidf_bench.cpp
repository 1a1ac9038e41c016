// TF-IDF throughput in documents/s for 5,000 lyrics: tokenising + fit_transform (both token modes)
// and transform with a fitted model, on the cpu backend and (where a device answers) cuda, which
// runs the row weighting on the GPU. Corpus: the real lyrics in ../shared/data/lyrics cycled to
// 5,000 documents when present ("real"), and always a deterministic synthetic corpus of the same
// size, half Bangla, half English, Zipf-distributed words ("synthetic").
// HMR_TEXT_BENCH_DUMP=DIR writes both corpora as CSV for bench/text/sklearn_tfidf.py.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include "core/backend.h"
#include "support/backends.h"
#include "text/lyrics.h"
#include "text/tfidf.h"

namespace {

constexpr std::size_t kDocs = 5000;

// Pseudo-words: English from consonant/vowel syllables, Bangla from a consonant, a vowel sign or
// none, sometimes a virama conjunct — so the unicode tokenizer sees real grapheme structure.
std::vector<std::string> make_words(std::size_t n, bool bangla, std::mt19937_64& rng) {
  static const char* en_c[] = {"b", "c", "d", "f", "g", "h", "l", "m", "n", "p", "r", "s", "t", "v", "w", "st", "tr"};
  static const char* en_v[] = {"a", "e", "i", "o", "u", "ea", "ou", "y"};
  static const char* bn_c[] = {"ক", "খ", "গ", "চ", "জ", "ত", "দ", "ন", "প", "ব", "ম", "র", "ল", "স", "হ", "শ"};
  static const char* bn_v[] = {"", "া", "ি", "ী", "ু", "ে", "ো", "ৈ"};
  std::vector<std::string> words;
  for (std::size_t i = 0; i < n; ++i) {
    const int syl = 1 + static_cast<int>(rng() % 3);
    std::string w;
    for (int s = 0; s < syl; ++s) {
      if (bangla) {
        w += bn_c[rng() % 16];
        if (rng() % 8 == 0) w += std::string("্") + bn_c[rng() % 16];
        w += bn_v[rng() % 8];
      } else {
        w += en_c[rng() % 17];
        w += en_v[rng() % 8];
      }
    }
    if (!bangla && rng() % 3 == 0) w += en_c[rng() % 17];
    words.push_back(w);
  }
  return words;
}

std::vector<std::string> synthetic_corpus() {
  std::mt19937_64 rng(7);
  const auto en = make_words(12000, false, rng), bn = make_words(15000, true, rng);
  std::vector<std::string> docs;
  for (std::size_t d = 0; d < kDocs; ++d) {
    const bool bangla = d % 2 == 0;
    const auto& words = bangla ? bn : en;
    const int lines = 8 + static_cast<int>(rng() % 24);
    std::string doc;
    for (int l = 0; l < lines; ++l) {
      const int len = 4 + static_cast<int>(rng() % 6);
      for (int k = 0; k < len; ++k) {
        // Zipf-like: index = floor(n^u) - 1 for uniform u
        const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
        const auto idx = static_cast<std::size_t>(std::pow(static_cast<double>(words.size()), u)) - 1;
        std::string w = words[idx];
        if (!bangla && k == 0) w[0] = static_cast<char>(w[0] - 'a' + 'A');
        doc += w;
        doc += k + 1 < len ? " " : (rng() % 3 == 0 ? ",\n" : "\n");
      }
    }
    docs.push_back(doc);
  }
  return docs;
}

std::vector<std::string> real_corpus() {
  const std::string root = std::string(HMR_SOURCE_DIR) + "/../shared/data/lyrics/";
  if (!std::filesystem::exists(root + "bangla_lyrics.csv")) return {};
  const auto c =
      hmr::text::read_lyrics({{root + "bangla_lyrics.csv", "bangla"}, {root + "english_lyrics.csv", "english"}});
  std::vector<std::string> docs;
  for (std::size_t d = 0; d < kDocs; ++d) docs.push_back(c.docs[d % c.docs.size()]);
  return docs;
}

const std::vector<std::string>& corpus(const std::string& which) {
  static const auto synth = synthetic_corpus();
  static const auto real = real_corpus();
  return which == "real" ? real : synth;
}

void dump_corpora() {
  const char* dir = std::getenv("HMR_TEXT_BENCH_DUMP");
  if (!dir) return;
  std::filesystem::create_directories(dir);
  for (const char* which : {"synthetic", "real"}) {
    const auto& docs = corpus(which);
    if (docs.empty()) continue;
    std::ofstream out(std::filesystem::path(dir) / (std::string(which) + ".csv"), std::ios::binary);
    out << "lyrics\n";
    for (const auto& d : docs) {
      std::string q = "\"";
      for (const char ch : d) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
      out << q << "\"\n";
    }
  }
}

void BM_TfidfFitTransform(benchmark::State& state, const char* device, const char* which, const char* mode) {
  const auto& docs = corpus(which);
  if (docs.empty()) {
    state.SkipWithError("../shared/data/lyrics absent");
    return;
  }
  auto b = hmr::bench::backend_or_skip(state, device);
  if (!b) return;
  hmr::text::TfidfOptions o;
  o.tokens.mode = hmr::text::parse_token_mode(mode);
  hmr::text::TfidfModel model;
  for (auto _ : state) {
    auto x = hmr::text::fit_transform(*b, docs, o, model);
    benchmark::DoNotOptimize(x.data.data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(docs.size()));
  state.counters["terms"] = static_cast<double>(model.vocabulary.size());
}

void BM_TfidfTransform(benchmark::State& state, const char* device, const char* which, const char* mode) {
  const auto& docs = corpus(which);
  if (docs.empty()) {
    state.SkipWithError("../shared/data/lyrics absent");
    return;
  }
  auto b = hmr::bench::backend_or_skip(state, device);
  if (!b) return;
  hmr::text::TfidfOptions o;
  o.tokens.mode = hmr::text::parse_token_mode(mode);
  const auto model = hmr::text::fit(docs, o);
  for (auto _ : state) {
    auto x = hmr::text::transform(*b, model, docs);
    benchmark::DoNotOptimize(x.data.data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(docs.size()));
}

// The weighting step alone (what the cuda backend moves to the device), on a fitted count matrix.
void BM_TfidfWeight(benchmark::State& state, const char* device) {
  auto b = hmr::bench::backend_or_skip(state, device);
  if (!b) return;
  const auto& docs = corpus("synthetic");
  const auto model = hmr::text::fit(docs, hmr::text::TfidfOptions{});
  const auto counts = hmr::text::count_matrix(model, docs);
  for (auto _ : state) {
    auto x = counts;
    hmr::text::weight_rows(*b, model, x);
    benchmark::DoNotOptimize(x.data.data());
  }
  state.SetItemsProcessed(state.iterations() * counts.rows);
}

const bool dumped = (dump_corpora(), true);

BENCHMARK_CAPTURE(BM_TfidfFitTransform, cpu_real_unicode, "cpu", "real", "unicode")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_TfidfFitTransform, cpu_real_sklearn, "cpu", "real", "sklearn")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_TfidfFitTransform, cpu_synthetic_unicode, "cpu", "synthetic", "unicode")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_TfidfFitTransform, cpu_synthetic_sklearn, "cpu", "synthetic", "sklearn")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_TfidfFitTransform, cuda_real_unicode, "cuda", "real", "unicode")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_TfidfTransform, cpu_real_unicode, "cpu", "real", "unicode")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_TfidfTransform, cpu_synthetic_unicode, "cpu", "synthetic", "unicode")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_TfidfWeight, cpu, "cpu")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_TfidfWeight, cuda, "cuda")->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
