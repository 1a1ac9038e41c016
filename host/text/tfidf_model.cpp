// text/tfidf_model.cpp — the TF-IDF model files `hmr tfidf` writes and `hmr tfidf --model` reads:
// tfidf_model.json (format hmr-tfidf-model-1: the TfidfVectorizer options, n_documents, df and
// the float64 idf of every term) beside vocabulary.txt (one term per line, code-point order) and
// idf.npy (float32, for numpy users). The reader takes the file as hostile input (issue 17): each
// field is checked for its JSON type before conversion (nlohmann's get<int>() of 1e123 is
// undefined behaviour, of 3.5 silently 3), for the range the writer can produce, and the arrays
// for their sizes against each other and the vocabulary, so a transform never indexes past them.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/printable.h"
#include "io/atomic_file.h"
#include "io/npy.h"
#include "text/tfidf.h"

namespace hmr::text {

Norm parse_norm(std::string_view name) {
  if (name == "l2") return Norm::l2;
  if (name == "l1") return Norm::l1;
  if (name == "none") return Norm::none;
  input_error("unknown norm '{}' (expected l2, l1 or none)", printable(name));
}

const char* to_string(Norm n) { return n == Norm::l2 ? "l2" : (n == Norm::l1 ? "l1" : "none"); }

namespace {

constexpr const char* kFormat = "hmr-tfidf-model-1";
// Counts hmr writes are exact in a double (the JSON number type other tools use).
constexpr std::int64_t kMaxCount = std::int64_t{1} << 53;

nlohmann::json options_json(const TfidfOptions& o) {
  const auto bound = [](const DfBound& b) {
    return b.fraction ? nlohmann::json(b.value) : nlohmann::json(static_cast<std::int64_t>(b.value));
  };
  return {{"token_mode", to_string(o.tokens.mode)},
          {"analyzer", to_string(o.tokens.analyzer)},
          {"ngram_range", {o.tokens.ngram_min, o.tokens.ngram_max}},
          {"lowercase", o.tokens.lowercase},
          {"normalize", to_string(o.tokens.normalization)},
          {"stop_lists", o.tokens.stop_lists},
          {"stop_words", o.tokens.stop_words},
          {"min_graphemes", o.tokens.min_graphemes},
          {"min_df", bound(o.min_df)},
          {"max_df", bound(o.max_df)},
          {"max_features", o.max_features},
          {"binary", o.binary},
          {"use_idf", o.use_idf},
          {"smooth_idf", o.smooth_idf},
          {"sublinear_tf", o.sublinear_tf},
          {"norm", to_string(o.norm)}};
}

// Typed, range-checked access to the model JSON; every failure is one line naming the file and
// the field ("options.min_df").
class Fields {
 public:
  explicit Fields(std::string where) : where_(std::move(where)) {}

  [[noreturn]] void fail(const std::string& key, const std::string& why) const {
    input_error("{}: '{}' {}", where_, key, why);
  }
  const nlohmann::json& at(const nlohmann::json& o, const std::string& prefix, const char* key) const {
    const auto it = o.find(key);
    if (it == o.end()) fail(prefix + key, "is missing");
    return *it;
  }
  std::string text(const nlohmann::json& v, const std::string& key) const {
    if (!v.is_string()) fail(key, fmt::format("must be a string (got {})", v.type_name()));
    return v.get<std::string>();
  }
  bool flag(const nlohmann::json& v, const std::string& key) const {
    if (!v.is_boolean()) fail(key, fmt::format("must be true or false (got {})", v.type_name()));
    return v.get<bool>();
  }
  std::int64_t integer(const nlohmann::json& v, const std::string& key, std::int64_t lo, std::int64_t hi) const {
    bool in = false;
    std::int64_t x = 0;
    if (v.is_number_unsigned()) {
      const auto u = v.get<std::uint64_t>();
      in = u <= static_cast<std::uint64_t>(hi);
      x = in ? static_cast<std::int64_t>(u) : 0;
    } else if (v.is_number_integer()) {
      x = v.get<std::int64_t>();
      in = true;
    } else {
      fail(key, fmt::format("must be an integer (got {})", v.is_number() ? "a fraction" : v.type_name()));
    }
    if (!in || x < lo || x > hi) fail(key, fmt::format("must lie in [{}, {}] (got {})", lo, hi, v.dump()));
    return x;
  }
  double number(const nlohmann::json& v, const std::string& key) const {
    if (!v.is_number()) fail(key, fmt::format("must be a number (got {})", v.type_name()));
    const double x = v.get<double>();
    if (!std::isfinite(x)) fail(key, "must be finite");
    return x;
  }
  // One of the names `parse` accepts (its own message quotes the value; ours names the field).
  template <class F>
  auto choice(const nlohmann::json& v, const std::string& key, F parse, const char* allowed) const {
    const std::string s = text(v, key);
    try {
      return parse(s);
    } catch (const Error&) {
      fail(key, fmt::format("is '{}', not one of {}", printable(s), allowed));
    }
  }
  const nlohmann::json& list(const nlohmann::json& v, const std::string& key) const {
    if (!v.is_array()) fail(key, fmt::format("must be a list (got {})", v.type_name()));
    return v;
  }

 private:
  std::string where_;
};

DfBound df_bound(const Fields& f, const nlohmann::json& v, const std::string& key) {
  if (v.is_number_integer()) return DfBound::count(f.integer(v, key, 1, kMaxCount));  // a document count
  const double x = f.number(v, key);
  if (x < 0.0 || x > 1.0) f.fail(key, fmt::format("as a fraction of the documents must lie in [0, 1] (got {})", x));
  return DfBound::share(x);
}

TfidfOptions options_from_json(const Fields& f, const nlohmann::json& j) {
  if (!j.is_object()) f.fail("options", fmt::format("must be an object (got {})", j.type_name()));
  const std::string p = "options.";
  const auto at = [&](const char* key) -> const nlohmann::json& { return f.at(j, p, key); };
  TfidfOptions o;
  o.tokens.mode = f.choice(at("token_mode"), p + "token_mode", parse_token_mode, "unicode, sklearn");
  if (j.contains("analyzer")) {  // absent in models written before character n-grams
    o.tokens.analyzer = f.choice(at("analyzer"), p + "analyzer", parse_analyzer, "word, char_wb, char");
    const auto& r = f.list(at("ngram_range"), p + "ngram_range");
    if (r.size() != 2) f.fail(p + "ngram_range", fmt::format("must hold two lengths (got {})", r.size()));
    o.tokens.ngram_min = static_cast<std::int32_t>(f.integer(r[0], p + "ngram_range[0]", 1, 64));
    o.tokens.ngram_max = static_cast<std::int32_t>(f.integer(r[1], p + "ngram_range[1]", o.tokens.ngram_min, 64));
  }
  o.tokens.lowercase = f.flag(at("lowercase"), p + "lowercase");
  o.tokens.normalization = f.choice(at("normalize"), p + "normalize", parse_normalization, "auto, nfc, none");
  for (const auto& v : f.list(at("stop_lists"), p + "stop_lists")) {
    const std::string s = f.text(v, p + "stop_lists");
    if (s != "english" && s != "bangla")
      f.fail(p + "stop_lists", fmt::format("holds '{}', not english or bangla", printable(s)));
    o.tokens.stop_lists.push_back(s);
  }
  for (const auto& v : f.list(at("stop_words"), p + "stop_words"))
    o.tokens.stop_words.push_back(f.text(v, p + "stop_words"));
  o.tokens.min_graphemes = static_cast<std::int32_t>(f.integer(at("min_graphemes"), p + "min_graphemes", 1, 1000));
  o.min_df = df_bound(f, at("min_df"), p + "min_df");
  o.max_df = df_bound(f, at("max_df"), p + "max_df");
  o.max_features = f.integer(at("max_features"), p + "max_features", 0, std::numeric_limits<std::int32_t>::max());
  o.binary = f.flag(at("binary"), p + "binary");
  o.use_idf = f.flag(at("use_idf"), p + "use_idf");
  o.smooth_idf = f.flag(at("smooth_idf"), p + "smooth_idf");
  o.sublinear_tf = f.flag(at("sublinear_tf"), p + "sublinear_tf");
  o.norm = f.choice(at("norm"), p + "norm", parse_norm, "l2, l1, none");
  return o;
}

std::string slurp(const std::filesystem::path& p, const char* what) {
  std::ifstream in(p, std::ios::binary);
  HMR_REQUIRE(in.good(), "{}: cannot open {} (run hmr tfidf --out to make a model)", p.string(), what);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace

std::string options_to_json(const TfidfOptions& options) { return options_json(options).dump(); }

void save_model(const std::filesystem::path& dir, const TfidfModel& model) {
  HMR_REQUIRE(!model.vocabulary.empty(), "tfidf: the model has an empty vocabulary");
  HMR_REQUIRE(model.idf.size() == model.vocabulary.size() && model.df.size() == model.vocabulary.size(),
              "tfidf: the model has {} idf and {} df values for {} terms", model.idf.size(), model.df.size(),
              model.vocabulary.size());
  io::ensure_output_dir(dir);
  io::write_atomically(dir / "vocabulary.txt", [&](std::ostream& os) {
    for (const auto& t : model.vocabulary) os << t << '\n';
  });
  std::vector<float> idf(model.idf.begin(), model.idf.end());
  io::write_npy(dir / "idf.npy", idf);
  nlohmann::json j = {{"format", kFormat},
                      {"options", options_json(model.options)},
                      {"n_documents", model.n_documents},
                      {"vocabulary_size", model.vocabulary.size()},
                      {"df", model.df},
                      {"idf", model.idf}};  // float64, exact: transform with a loaded model = in memory
  io::write_atomically(dir / "tfidf_model.json", [&](std::ostream& os) { os << j.dump(1) << '\n'; });
}

TfidfModel parse_model(std::string_view model_json, std::string_view vocabulary, const std::string& where) {
  const std::string json_name = (std::filesystem::path(where) / "tfidf_model.json").string();
  const std::string voc = (std::filesystem::path(where) / "vocabulary.txt").string();
  const Fields f(json_name);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(model_json.begin(), model_json.end());
  } catch (const nlohmann::json::exception& e) {
    input_error("{}: not valid JSON: {}", json_name, printable(e.what()));
  }
  if (!j.is_object()) f.fail("(top level)", fmt::format("must be an object (got {})", j.type_name()));
  const auto at = [&](const char* key) -> const nlohmann::json& { return f.at(j, "", key); };
  const std::string format = f.text(at("format"), "format");
  if (format != kFormat) f.fail("format", fmt::format("is '{}', not {}", printable(format), kFormat));
  TfidfModel m;
  m.options = options_from_json(f, at("options"));
  m.n_documents = f.integer(at("n_documents"), "n_documents", 1, kMaxCount);
  const auto& df = f.list(at("df"), "df");
  const auto& idf = f.list(at("idf"), "idf");
  m.df.reserve(df.size());
  for (std::size_t t = 0; t < df.size(); ++t)  // every kept term occurs in some document
    m.df.push_back(f.integer(df[t], fmt::format("df[{}]", t), 1, m.n_documents));
  m.idf.reserve(idf.size());
  for (std::size_t t = 0; t < idf.size(); ++t) {
    const double x = f.number(idf[t], fmt::format("idf[{}]", t));
    if (x <= 0.0) f.fail(fmt::format("idf[{}]", t), fmt::format("must be positive (got {})", x));
    m.idf.push_back(x);
  }
  // vocabulary.txt: one term per line, the last line's newline optional.
  for (std::size_t at_byte = 0; at_byte < vocabulary.size();) {
    const auto eol = vocabulary.find('\n', at_byte);
    const auto end = eol == std::string_view::npos ? vocabulary.size() : eol;
    m.vocabulary.emplace_back(vocabulary.substr(at_byte, end - at_byte));
    at_byte = end + 1;
  }
  HMR_REQUIRE(!m.vocabulary.empty(), "{}: empty vocabulary", voc);
  HMR_REQUIRE(m.vocabulary.size() < static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()),
              "{}: {} terms, more than a column index holds", voc, m.vocabulary.size());
  for (std::size_t t = 0; t < m.vocabulary.size(); ++t) {
    HMR_REQUIRE(!m.vocabulary[t].empty(), "{}: line {} is empty; every line is a term", voc, t + 1);
    HMR_REQUIRE(t == 0 || m.vocabulary[t - 1] < m.vocabulary[t],
                "{}: line {} is {} line {}; terms are sorted and unique", voc, t + 1,
                m.vocabulary[t - 1] == m.vocabulary[t] ? "the same as" : "sorted before", t);
  }
  if (j.contains("vocabulary_size") && f.integer(j["vocabulary_size"], "vocabulary_size", 0, kMaxCount) !=
                                           static_cast<std::int64_t>(m.vocabulary.size()))
    f.fail("vocabulary_size",
           fmt::format("is {}, but {} holds {} terms", j["vocabulary_size"].dump(), voc, m.vocabulary.size()));
  if (m.df.size() != m.vocabulary.size() || m.idf.size() != m.vocabulary.size())
    input_error("{}: {} terms, but {} holds {} df and {} idf values", voc, m.vocabulary.size(), json_name, m.df.size(),
                m.idf.size());
  return m;
}

TfidfModel load_model(const std::filesystem::path& dir) {
  return parse_model(slurp(dir / "tfidf_model.json", "the TF-IDF model"),
                     slurp(dir / "vocabulary.txt", "the model's vocabulary"), dir.string());
}

}  // namespace hmr::text
