// pipeline/validate.cpp — Config::validate: every key of a resolved experiment configuration
// checked before any work (resolve() and each run_* call it), so `tsne.perplexity = 0` or
// `vae.epochs = 0` is refused at once instead of after minutes of MFCC and training. Types are
// already fixed by resolve (a value takes its default's type); this checks ranges, names and
// the settings that depend on each other, with one line naming the key:
//   "tsne.perplexity = 0: must be > 0".
// A rule is skipped when the task has no such key (the three tasks share most sections).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <regex>
#include <string>

#include "audio/mfcc.h"
#include "core/error.h"
#include "nn/vae.h"
#include "pipeline/config.h"
#include "pipeline/runner.h"

namespace hmr::pipeline {

namespace {

constexpr std::int64_t kMaxInt = std::numeric_limits<std::int32_t>::max();

struct IntRule {
  const char* key;
  std::int64_t lo, hi;
};
// Integer keys; `hi` keeps each value inside the int its stage takes.
constexpr IntRule kIntRules[] = {
    {"experiment.seed", 0, std::numeric_limits<std::int64_t>::max()},
    {"experiment.min_tokens", 0, kMaxInt},
    {"mfcc.sample_rate", 1000, 768000},
    {"mfcc.n_fft", 2, 65536},
    {"mfcc.hop_length", 1, 65536},  // audio::check_params: larger hops need GBs of scratch
    {"mfcc.n_mels", 1, 4096},
    {"mfcc.n_mfcc", 1, 4096},
    {"tfidf.max_features", 0, kMaxInt},
    {"pca.components", 1, kMaxInt},
    {"kmeans.n_init", 1, kMaxInt},
    {"kmeans.max_iter", 1, kMaxInt},
    {"metrics.silhouette_sample_size", 0, std::numeric_limits<std::int64_t>::max()},
    {"tsne.iters", 1, kMaxInt},
    {"tsne.exag_iters", 0, kMaxInt},
    {"plot.width", 100, 20000},
    {"plot.height", 100, 20000},
    {"plot.dpi", 24, 1200},
};

struct RealRule {
  const char* key;
  double lo;
  bool lo_open;
  double hi;
  bool hi_open;
};
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr RealRule kRealRules[] = {
    {"features.segment_seconds", 0, false, kInf, false},
    {"mfcc.offset", 0, false, kInf, false},
    {"fusion.text_weight", 0, false, kInf, false},
    {"fusion.audio_weight", 0, false, kInf, false},
    {"kmeans.tol", 0, false, kInf, false},
    {"tsne.perplexity", 0, true, kInf, false},
    {"tsne.theta", 0, false, kInf, false},
    {"tsne.early_exag", 0, true, kInf, false},
    {"tsne.learning_rate", 0, false, kInf, false},  // 0: auto
    {"tsne.momentum", 0, false, 1, true},
    {"tsne.final_momentum", 0, false, 1, true},
};

// The integer keys of a VAE section that VaeConfig holds in an int: checked on the TOML value
// (int64) so 5000000000 epochs is refused instead of wrapping.
constexpr IntRule kVaeIntRules[] = {
    {"epochs", 1, 1000000},        {"batch", 1, kMaxInt},    {"latent", 1, 65536},
    {"warmup_epochs", 0, 1000000}, {"patience", 0, 1000000}, {"input_dim", 0, kMaxInt},
};

std::string range_text(std::int64_t lo, std::int64_t hi) {
  if (hi >= kMaxInt) return fmt::format(">= {}", lo);
  return fmt::format("in [{}, {}]", lo, hi);
}

std::string range_text(const RealRule& r) {
  if (std::isinf(r.hi)) return fmt::format("{} {:g}", r.lo_open ? ">" : ">=", r.lo);
  return fmt::format("in {}{:g}, {:g}{}", r.lo_open ? "(" : "[", r.lo, r.hi, r.hi_open ? ")" : "]");
}

void check_int(const Config& c, const std::string& key, std::int64_t lo, std::int64_t hi) {
  if (!c.has(key)) return;
  const std::int64_t v = c.get_int(key);
  HMR_REQUIRE(v >= lo && v <= hi, "{} = {}: must be an integer {}", key, v, range_text(lo, hi));
}

void check_real(const Config& c, const RealRule& r) {
  if (!c.has(r.key)) return;
  const double v = c.get_double(r.key);
  const bool ok = std::isfinite(v) && (r.lo_open ? v > r.lo : v >= r.lo) && (r.hi_open ? v < r.hi : v <= r.hi);
  HMR_REQUIRE(ok, "{} = {}: must be a finite number {}", r.key, v, range_text(r));
}

void check_choice(const Config& c, const std::string& key, std::initializer_list<const char*> names) {
  if (!c.has(key)) return;
  const std::string v = c.get_string(key);
  std::string list;
  for (const char* n : names) {
    if (v == n) return;
    list += (list.empty() ? "" : ", ") + std::string(n);
  }
  input_error("{} = \"{}\": must be one of {}", key, v, list);
}

// An integer document count >= 1 or a float share in [0, 1] (scikit-learn's min_df / max_df).
void check_df(const Config& c, const std::string& key) {
  if (!c.has(key)) return;
  const toml::node* n = c.root().at_path(key).node();
  if (n->is_integer()) {
    const std::int64_t v = n->as_integer()->get();
    HMR_REQUIRE(v >= 1, "{} = {}: a document count must be >= 1 (or a share such as 0.5)", key, v);
    return;
  }
  const double v = c.get_double(key);
  HMR_REQUIRE(std::isfinite(v) && v >= 0.0 && v <= 1.0, "{} = {}: a share of the documents must lie in [0, 1]", key, v);
}

// A stage's message in the config's words: "vae: lr must be > 0" -> "text_vae.lr must be > 0"
// when "lr" is a key of the section, else "text_vae: <rest>".
std::string keyed(const Config& c, const std::string& section, const std::string& stage, const std::string& what) {
  const std::string prefix = stage + ": ";
  if (what.rfind(prefix, 0) != 0) return what;
  const std::string rest = what.substr(prefix.size());
  const std::string word = rest.substr(0, rest.find(' '));
  return c.has(section + "." + word) ? section + "." + rest : section + ": " + rest;
}

// A VAE section ([vae], [text_vae], [audio_vae]): the ranges of its integer keys, then
// VaeConfig::validate with the section named instead of "vae".
void check_vae(const Config& c, const std::string& section) {
  if (!c.has(section)) return;
  for (const IntRule& r : kVaeIntRules) check_int(c, section + "." + r.key, r.lo, r.hi);
  if (c.has(section + ".hidden"))
    for (std::int64_t h : c.get_int_array(section + ".hidden"))
      HMR_REQUIRE(h >= 1 && h <= (1 << 20), "{}.hidden = [{}]: each width must be in [1, 1048576]", section,
                  fmt::join(c.get_int_array(section + ".hidden"), ", "));
  try {
    nn::vae_config_from_toml(c.table(section)).validate();
  } catch (const Error& e) {
    throw Error(e.kind(), keyed(c, section, "vae", e.what()));
  }
}

}  // namespace

void Config::validate() const {
  for (const IntRule& r : kIntRules) check_int(*this, r.key, r.lo, r.hi);
  for (const RealRule& r : kRealRules) check_real(*this, r);

  // experiment.k: Hard takes 0 for "the number of genres".
  if (has("experiment.k")) {
    const std::int64_t k = get_int("experiment.k");
    if (task_ == Task::hard)
      HMR_REQUIRE(k == 0 || (k >= 2 && k <= kMaxInt), "experiment.k = {}: must be 0 (the number of genres) or >= 2", k);
    else
      check_int(*this, "experiment.k", 2, kMaxInt);
  }
  if (has("mfcc.duration")) {
    const double d = get_double("mfcc.duration");
    HMR_REQUIRE(std::isfinite(d) && d != 0.0, "mfcc.duration = {}: must be > 0 seconds, or < 0 for whole clips", d);
  }
  if (has("features.columns")) {
    const std::string re = get_string("features.columns");
    try {
      std::regex(re, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      input_error("features.columns = \"{}\": not a valid regular expression ({})", re, e.what());
    }
  }

  // Sections read by a stage's own settings function: its checks (n_mfcc <= n_mels, no empty mel
  // filter, token modes, n-gram range) run here, before any input is read.
  if (has("mfcc.sample_rate")) {
    try {
      (void)detail::mfcc_params(*this);
    } catch (const Error& e) {
      throw Error(e.kind(), keyed(*this, "mfcc", "mfcc", e.what()));
    }
  }
  if (has("tfidf")) {
    check_df(*this, "tfidf.min_df");
    check_df(*this, "tfidf.max_df");
    (void)detail::tfidf_settings(*this);
    const auto range = get_int_array("tfidf.ngram_range");
    HMR_REQUIRE(range.size() == 2 && range[0] >= 1 && range[0] <= range[1] && range[1] <= 64,
                "tfidf.ngram_range = [{}]: must be [min, max] with 1 <= min <= max <= 64", fmt::join(range, ", "));
    if (has("tfidf.stop_words"))
      if (const toml::array* a = root_.at_path("tfidf.stop_words").as_array())
        for (const auto& e : *a) {
          const auto* s = e.as_string();
          HMR_REQUIRE(s && (s->get() == "english" || s->get() == "bangla"),
                      "tfidf.stop_words: each entry must be \"english\" or \"bangla\"");
        }
  }
  if (has("plot.width") && has("plot.height") && has("plot.dpi")) {
    // the PNG's pixel size (plot::check_size) once each key is in range
    try {
      (void)detail::plot_settings(*this);
    } catch (const Error& e) {
      throw Error(e.kind(), "plot.width/plot.height/plot.dpi: " + std::string(e.what()).substr(6));
    }
  }
  check_choice(*this, "features.set", {"mfcc", "kaggle57"});
  check_choice(*this, "pca.solver", {"auto", "full", "exact", "covariance_eigh", "randomized"});
  check_choice(*this, "tsne.init", {"pca", "random"});
  for (const char* section : {"vae", "text_vae", "audio_vae"}) check_vae(*this, section);
}

}  // namespace hmr::pipeline
