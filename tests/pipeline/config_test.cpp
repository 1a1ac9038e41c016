// Unit tests of the experiments' building blocks: the layered TOML configuration (defaults compiled
// from data/configs, --config, --set, --seed), --lyrics parsing, id matching, label encoding, block
// fusion, section-tag stripping and the metrics.json writer.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "core/error.h"
#include "pipeline/config.h"
#include "pipeline/experiments.h"
#include "pipeline/runner.h"
#include "support/backends.h"
#include "support/compare.h"
#include "support/files.h"
#include "text/lyrics.h"

using hmr::test::slurp;
namespace {

namespace fs = std::filesystem;
using hmr::pipeline::Config;
using hmr::pipeline::Task;

fs::path temp_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / fmt::format("hmr_pipeline_{}_{}", name, ::getpid());
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

TEST(PipelineConfig, CompiledDefaultsAreTheDataConfigsByteForByte) {
  for (Task t : {Task::easy, Task::medium, Task::hard}) {
    const fs::path file =
        fs::path(::hmr::test::repo_dir()) / "data" / "configs" / (std::string(to_string(t)) + ".toml");
    ASSERT_TRUE(fs::exists(file)) << file;
    EXPECT_EQ(std::string(Config::default_text(t)), slurp(file))
        << file << " changed: run data/configs/update-defaults.sh";
  }
}

TEST(PipelineConfig, DefaultsCarryTheIssueSettings) {
  const Config e = Config::defaults(Task::easy);
  EXPECT_EQ(e.get_int("tfidf.max_features"), 5000);
  EXPECT_EQ(e.get_int_array("vae.hidden"), std::vector<std::int64_t>{512});
  EXPECT_EQ(e.get_int("vae.latent"), 32);
  EXPECT_EQ(e.get_string("vae.output"), "sigmoid");
  EXPECT_EQ(e.get_string("vae.loss"), "bce");
  EXPECT_EQ(e.get_int("pca.components"), 32);
  EXPECT_EQ(e.get_int("experiment.k"), 2);
  const Config h = Config::defaults(Task::hard);
  EXPECT_EQ(h.get_int_array("vae.hidden"), (std::vector<std::int64_t>{128, 64}));
  EXPECT_EQ(h.get_int("vae.latent"), 16);
  EXPECT_DOUBLE_EQ(h.get_double("vae.beta"), 4.0);
  EXPECT_EQ(h.get_int("experiment.k"), 0);
  const Config m = Config::defaults(Task::medium);
  EXPECT_EQ(m.get_int("text_vae.latent"), 32);
  EXPECT_EQ(m.get_int("audio_vae.latent"), 16);
  // Every VAE section is accepted by the VAE engine's own reader.
  EXPECT_NO_THROW(hmr::pipeline::detail::vae_settings(e, "vae", 1));
  EXPECT_NO_THROW(hmr::pipeline::detail::vae_settings(h, "vae", 1));
  EXPECT_NO_THROW(hmr::pipeline::detail::vae_settings(m, "text_vae", 1));
  EXPECT_NO_THROW(hmr::pipeline::detail::vae_settings(m, "audio_vae", 1));
}

TEST(PipelineConfig, SetCoercesToTheDefaultsType) {
  Config c = Config::defaults(Task::easy);
  c.set("vae.latent=16");
  c.set("vae.lr = 3e-4");
  c.set("vae.beta=2");                // an integer where a float is expected widens
  c.set("tfidf.token_mode=sklearn");  // bare string
  c.set("vae.hidden=256,128");        // bare array
  c.set("tsne.enabled=false");
  c.set("tfidf.stop_words=english,bangla");
  c.set("experiment.genre_column=");  // empty string
  EXPECT_EQ(c.get_int("vae.latent"), 16);
  EXPECT_DOUBLE_EQ(c.get_double("vae.lr"), 3e-4);
  EXPECT_DOUBLE_EQ(c.get_double("vae.beta"), 2.0);
  EXPECT_TRUE(c.root().at_path("vae.beta").is_floating_point());
  EXPECT_EQ(c.get_string("tfidf.token_mode"), "sklearn");
  EXPECT_EQ(c.get_int_array("vae.hidden"), (std::vector<std::int64_t>{256, 128}));
  EXPECT_FALSE(c.get_bool("tsne.enabled"));
  EXPECT_EQ(c.get_string("experiment.genre_column"), "");
  const auto opt = hmr::pipeline::detail::tfidf_settings(c);
  EXPECT_EQ(opt.tokens.stop_lists, (std::vector<std::string>{"english", "bangla"}));
  // min_df keeps int-or-float: an integer counts documents, a float is a share.
  c.set("tfidf.min_df=0.01");
  EXPECT_TRUE(hmr::pipeline::detail::tfidf_settings(c).min_df.fraction);
  c.set("tfidf.min_df=2");
  EXPECT_FALSE(hmr::pipeline::detail::tfidf_settings(c).min_df.fraction);
}

TEST(PipelineConfig, RejectsUnknownKeysAndWrongTypes) {
  Config c = Config::defaults(Task::hard);
  try {
    c.set("vae.latnt=3");
    FAIL() << "a typo was accepted";
  } catch (const hmr::Error& e) {
    EXPECT_EQ(e.exit_code(), 2);
    EXPECT_NE(std::string(e.what()).find("latnt"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("latent"), std::string::npos) << "should list the known keys: " << e.what();
  }
  EXPECT_THROW(c.set("vae.latent=1.5"), hmr::Error);
  EXPECT_THROW(c.set("vae.latent=abc"), hmr::Error);
  EXPECT_THROW(c.set("tsne.enabled=yes"), hmr::Error);
  EXPECT_THROW(c.set("vae=3"), hmr::Error);
  EXPECT_THROW(c.set("novalue"), hmr::Error);
  EXPECT_THROW(c.set("=3"), hmr::Error);
  EXPECT_EQ(c.get_int("vae.latent"), 16);  // failed sets left it alone
}

TEST(PipelineConfig, PlotSizeAndDpiAreCheckedBeforeAnyWork) {
  for (Task t : {Task::easy, Task::medium, Task::hard}) {
    const auto p = hmr::pipeline::detail::plot_settings(Config::defaults(t));
    EXPECT_EQ(p.width, 900);
    EXPECT_EQ(p.height, 720);
    EXPECT_EQ(p.dpi, 96);
  }
  const Config ok = Config::resolve(Task::easy, {}, {"plot.width=1200", "plot.dpi=192"}, 1);
  EXPECT_EQ(hmr::pipeline::detail::plot_settings(ok).width, 1200);
  // Each bad value is an input error naming its key (Config::resolve validates).
  for (auto [set, key] : std::vector<std::pair<std::string, std::string>>{{"plot.width=99", "plot.width"},
                                                                          {"plot.height=20001", "plot.height"},
                                                                          {"plot.dpi=23", "plot.dpi"},
                                                                          {"plot.dpi=1201", "plot.dpi"},
                                                                          {"plot.width=5000000000", "plot.width"}}) {
    try {
      (void)Config::resolve(Task::hard, {}, {set}, 1);
      ADD_FAILURE() << set << " was accepted";
    } catch (const hmr::Error& e) {
      EXPECT_EQ(e.exit_code(), 2);
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
  }
  // In range each, but a PNG of 20000 x 1200 / 96 pixels a side is refused as a whole.
  EXPECT_THROW((void)Config::resolve(Task::hard, {}, {"plot.width=20000", "plot.dpi=1200"}, 1), hmr::Error);
}

TEST(PipelineConfig, LayersApplyInOrderAndTheResolvedFileRepeatsTheRun) {
  const fs::path dir = temp_dir("cfg");
  {
    std::ofstream f(dir / "mine.toml");
    f << "[vae]\nlatent = 8\nepochs = 7\n[experiment]\nseed = 5\n";
  }
  const Config c = Config::resolve(Task::hard, dir / "mine.toml", {"vae.epochs=9"}, 77);
  EXPECT_EQ(c.get_int("vae.latent"), 8);  // file
  EXPECT_EQ(c.get_int("vae.epochs"), 9);  // --set after the file
  EXPECT_EQ(c.seed(), 77u);               // --seed last
  const Config no_seed = Config::resolve(Task::hard, dir / "mine.toml", {}, std::nullopt);
  EXPECT_EQ(no_seed.seed(), 5u);
  // config.toml written by a run, read back as --config, resolves to the same document.
  c.write(dir / "config.toml");
  const Config again = Config::resolve(Task::hard, dir / "config.toml", {}, std::nullopt);
  EXPECT_EQ(again.to_toml(), c.to_toml());
  {
    std::ofstream f(dir / "bad.toml");
    f << "[vae]\nlatent = \n";
  }
  EXPECT_THROW(Config::resolve(Task::hard, dir / "bad.toml", {}, std::nullopt), hmr::Error);
  {
    std::ofstream f(dir / "unknown.toml");
    f << "[vae]\nlayers = 3\n";
  }
  EXPECT_THROW(Config::resolve(Task::hard, dir / "unknown.toml", {}, std::nullopt), hmr::Error);
  EXPECT_THROW(Config::resolve(Task::hard, dir / "absent.toml", {}, std::nullopt), hmr::Error);
  fs::remove_all(dir);
}

// The reference tools' and the flags' spellings of a key set the canonical key, in --set and in
// --config alike; the resolved document keeps the canonical names only.
TEST(PipelineConfig, KeyAliasesSetTheCanonicalKey) {
  const Config c =
      Config::resolve(Task::hard, {},
                      {"tsne.early_exaggeration=8", "tsne.learning_rate=auto", "tsne.max_iter=600", "tsne.angle=0.3",
                       "mfcc.sr=16000", "experiment.random_state=3", "experiment.n_clusters=5", "vae.batch_size=32",
                       "vae.learning_rate=0.01", "vae.warmup=4", "pca.n_components=8", "pca.svd_solver=full"},
                      std::nullopt);
  EXPECT_EQ(c.get_double("tsne.early_exag"), 8.0);
  EXPECT_EQ(c.get_double("tsne.learning_rate"), 0.0);  // auto
  EXPECT_EQ(c.get_int("tsne.iters"), 600);
  EXPECT_EQ(c.get_double("tsne.theta"), 0.3);
  EXPECT_EQ(c.get_int("mfcc.sample_rate"), 16000);
  EXPECT_EQ(c.seed(), 3u);
  EXPECT_EQ(c.get_int("experiment.k"), 5);
  EXPECT_EQ(c.get_int("vae.batch"), 32);
  EXPECT_EQ(c.get_double("vae.lr"), 0.01);
  EXPECT_EQ(c.get_int("vae.warmup_epochs"), 4);
  EXPECT_EQ(c.get_int("pca.components"), 8);
  EXPECT_EQ(c.get_string("pca.solver"), "full");
  EXPECT_FALSE(c.has("tsne.early_exaggeration"));
  EXPECT_EQ(c.to_toml().find("early_exaggeration"), std::string::npos) << "an alias in the resolved file";
  // [kmeans] has its own max_iter: the t-SNE alias does not reach it.
  const Config k = Config::resolve(Task::hard, {}, {"kmeans.max_iter=7"}, std::nullopt);
  EXPECT_EQ(k.get_int("kmeans.max_iter"), 7);
  EXPECT_EQ(k.get_int("tsne.iters"), Config::defaults(Task::hard).get_int("tsne.iters"));

  const fs::path dir = temp_dir("aliases");
  std::ofstream(dir / "a.toml") << "[tsne]\nearly_exaggeration = 6.0\nlearning_rate = \"auto\"\n[mfcc]\nsr = 11025\n";
  const Config f = Config::resolve(Task::hard, dir / "a.toml", {}, std::nullopt);
  EXPECT_EQ(f.get_double("tsne.early_exag"), 6.0);
  EXPECT_EQ(f.get_double("tsne.learning_rate"), 0.0);
  EXPECT_EQ(f.get_int("mfcc.sample_rate"), 11025);
  fs::remove_all(dir);
  // "auto" is a learning rate's word only.
  EXPECT_THROW(Config::resolve(Task::hard, {}, {"tsne.perplexity=auto"}, std::nullopt), hmr::Error);
}

TEST(PipelineInputs, LyricsArgumentSplitsAPlausibleLanguageTag) {
  auto a = hmr::pipeline::parse_lyrics_arg("data/bangla.csv:bn");
  EXPECT_EQ(a.path, fs::path("data/bangla.csv"));
  EXPECT_EQ(a.language, "bn");
  a = hmr::pipeline::parse_lyrics_arg("english.csv");
  EXPECT_EQ(a.path, fs::path("english.csv"));
  EXPECT_EQ(a.language, "");
  a = hmr::pipeline::parse_lyrics_arg("odd:dir/file.csv");  // the suffix is a path, not a tag
  EXPECT_EQ(a.path, fs::path("odd:dir/file.csv"));
  EXPECT_EQ(a.language, "");
  a = hmr::pipeline::parse_lyrics_arg("dir:lyrics.csv");  // '.' is no tag character
  EXPECT_EQ(a.path, fs::path("dir:lyrics.csv"));
  EXPECT_EQ(a.language, "");
  a = hmr::pipeline::parse_lyrics_arg("x.csv:");  // nothing after the ':'
  EXPECT_EQ(a.path, fs::path("x.csv:"));
  a = hmr::pipeline::parse_lyrics_arg("x.csv:abcdefghijklmnopq");  // 17 characters: not a tag
  EXPECT_EQ(a.path, fs::path("x.csv:abcdefghijklmnopq"));
  a = hmr::pipeline::parse_lyrics_arg("x.csv:en-GB_2");
  EXPECT_EQ(a.path, fs::path("x.csv"));
  EXPECT_EQ(a.language, "en-GB_2");
  EXPECT_EQ(hmr::pipeline::parse_lyrics_arg(":bn").path, fs::path(":bn"));  // no file before the ':'
  EXPECT_THROW(hmr::pipeline::parse_lyrics_arg(""), hmr::Error);
}

TEST(PipelineFusion, MatchIdsPairsByIdNeverByPosition) {
  const std::vector<std::string> text{"a", "b", "c", "d"}, audio{"d", "x", "b", "a"};
  const auto m = hmr::pipeline::match_ids(text, audio);
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[0], (std::pair<std::size_t, std::size_t>{0, 3}));
  EXPECT_EQ(m[1], (std::pair<std::size_t, std::size_t>{1, 2}));
  EXPECT_EQ(m[2], (std::pair<std::size_t, std::size_t>{3, 0}));
  EXPECT_THROW(hmr::pipeline::match_ids({"a", "a"}, {"a"}), hmr::Error);
  EXPECT_THROW(hmr::pipeline::match_ids({"a"}, {"b", "b"}), hmr::Error);
}

TEST(PipelineFusion, EncodeLabelsUsesSortedNames) {
  std::vector<std::string> names;
  const auto codes = hmr::pipeline::encode_labels({"en", "bn", "en", "fr"}, names);
  EXPECT_EQ(names, (std::vector<std::string>{"bn", "en", "fr"}));
  EXPECT_EQ(codes, (std::vector<std::int32_t>{1, 0, 1, 2}));
}

class ConfPipelineFusion : public hmr::test::BackendTest {};

TEST_P(ConfPipelineFusion, BlocksAreStandardisedThenWeighted) {
  const auto seed = hmr::test::test_seed(7);
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  hmr::Matrix a(200, 6), b(200, 3);
  for (auto& v : a.vec()) v = 5.0f + 0.01f * g(rng);  // tiny scale: must still count fully
  for (auto& v : b.vec()) v = -3.0f + 40.0f * g(rng);
  const hmr::Matrix f = hmr::pipeline::fuse_blocks(backend(), {&a, &b}, {1.0, 2.0});
  ASSERT_EQ(f.rows(), 200);
  ASSERT_EQ(f.cols(), 9);
  for (std::int64_t c = 0; c < 9; ++c) {
    double m = 0, v = 0;
    for (std::int64_t r = 0; r < 200; ++r) m += f(r, c);
    m /= 200;
    for (std::int64_t r = 0; r < 200; ++r) v += (f(r, c) - m) * (f(r, c) - m);
    const double want = c < 6 ? 1.0 : 4.0;
    EXPECT_NEAR(m, 0.0, 1e-4) << "column " << c;
    EXPECT_NEAR(v / 200, want, 1e-3 * want) << "column " << c;
  }
  // Row r of the fusion comes from row r of each block.
  double mu = 0, var = 0;
  for (std::int64_t r = 0; r < 200; ++r) mu += a(r, 2);
  mu /= 200;
  for (std::int64_t r = 0; r < 200; ++r) var += (a(r, 2) - mu) * (a(r, 2) - mu);
  const double z17 = (a(17, 2) - mu) / std::sqrt(var / 200);
  EXPECT_NEAR(f(17, 2), z17, 2e-3 * (1 + std::abs(z17)));
  double b_mu = 0, b_var = 0;
  for (std::int64_t r = 0; r < 200; ++r) b_mu += b(r, 1);
  b_mu /= 200;
  for (std::int64_t r = 0; r < 200; ++r) b_var += (b(r, 1) - b_mu) * (b(r, 1) - b_mu);
  EXPECT_NEAR(f(33, 7), 2.0 * (b(33, 1) - b_mu) / std::sqrt(b_var / 200), 1e-3);
  EXPECT_THROW(hmr::pipeline::fuse_blocks(backend(), {&a, &b}, {1.0}), hmr::Error);
  hmr::Matrix short_b(10, 3);
  EXPECT_THROW(hmr::pipeline::fuse_blocks(backend(), {&a, &short_b}, {1.0, 1.0}), hmr::Error);
}
HMR_INSTANTIATE_BACKENDS(ConfPipelineFusion);

TEST(PipelineText, StripSectionTagsDropsTagOnlyLines) {
  EXPECT_EQ(hmr::text::strip_section_tags("[Chorus]\nla la\n  [Verse 1: A]  \nword [x] word\n"),
            "la la\nword [x] word\n");
}

TEST(PipelineMetrics, JsonHasTheSchemaKeysAndNullForNonFinite) {
  hmr::pipeline::ExperimentResult r;
  r.task = Task::medium;
  r.device = "cpu";
  r.seed = 9;
  r.n_samples = 10;
  r.k = 2;
  r.primary_label = "language";
  r.second_label = "genre";
  r.timings.add("tfidf", 0.5);
  hmr::pipeline::MethodScores m;
  m.method = "fused";
  m.silhouette = 0.4;
  m.calinski_harabasz = NAN;
  m.davies_bouldin = 0.7;
  m.ari = 1.0;
  m.nmi = 0.9;
  m.purity = 1.0;
  m.nmi_second = 0.3;
  m.more.ami = 0.8;
  m.more.accuracy = 0.95;
  m.more_second.v_measure = 0.2;
  m.n_noise = 4;
  r.results.push_back(m);
  const auto j = nlohmann::json::parse(hmr::pipeline::metrics_json(r));
  for (const char* k : {"task", "device", "seed", "n_samples", "k", "timings_s", "results"})
    EXPECT_TRUE(j.contains(k)) << k;
  EXPECT_EQ(j["task"], "medium");
  EXPECT_EQ(j["seed"], 9);
  EXPECT_DOUBLE_EQ(j["timings_s"]["tfidf"].get<double>(), 0.5);
  const auto& f = j["results"]["fused"];
  EXPECT_TRUE(f["calinski_harabasz"].is_null());
  EXPECT_DOUBLE_EQ(f["ari"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(f["nmi_genre"].get<double>(), 0.3);
  EXPECT_FALSE(f.contains("ari_genre"));
  EXPECT_DOUBLE_EQ(f["ami"].get<double>(), 0.8);
  EXPECT_DOUBLE_EQ(f["accuracy"].get<double>(), 0.95);
  EXPECT_DOUBLE_EQ(f["v_measure_genre"].get<double>(), 0.2);
  EXPECT_FALSE(f.contains("fowlkes_mallows"));
  EXPECT_EQ(f["n_noise"].get<std::int64_t>(), 4);
}

TEST(PipelineConfig, FloatsAreWrittenShortestAndReadBackExactly) {
  // toml++ alone writes 0.8 as 0.80000000000000004; hmr's writer gives the shortest text that
  // parses back to the same double, for ordinary, tiny, subnormal, huge and infinite values.
  const std::vector<double> values{0.8,  0.1,  1e-10, 1.0 / 3.0, 5e-324,   1.7976931348623157e308, -2.5e-7, 1.0, 100.0,
                                   1e21, -0.0, 0.001, HUGE_VAL,  -HUGE_VAL};
  toml::table t;
  toml::table section;
  toml::array arr;
  for (std::size_t i = 0; i < values.size(); ++i) {
    section.insert(fmt::format("v{:02}", i), values[i]);
    arr.push_back(values[i]);
  }
  section.insert("list", std::move(arr));
  section.insert("name", "a \"quoted\" string");
  section.insert("count", 3);
  t.insert("s", std::move(section));
  t.insert("top", 0.8);
  const std::string text = hmr::pipeline::toml_text(t);
  EXPECT_NE(text.find("top = 0.8\n"), std::string::npos) << text;
  EXPECT_NE(text.find("v00 = 0.8\n"), std::string::npos) << text;
  EXPECT_NE(text.find("v01 = 0.1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("v07 = 1.0\n"), std::string::npos) << "a whole float stays a float: " << text;
  EXPECT_NE(text.find("count = 3\n"), std::string::npos) << "integers stay integers: " << text;
  EXPECT_EQ(text.find("0000000"), std::string::npos) << text;
  const toml::table back = toml::parse(text);
  const auto same = [](double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; };
  for (std::size_t i = 0; i < values.size(); ++i) {
    const auto* f = back.at_path(fmt::format("s.v{:02}", i)).as_floating_point();
    ASSERT_NE(f, nullptr) << i << " is not a float in\n" << text;
    EXPECT_TRUE(same(f->get(), values[i])) << fmt::format("{} read back as {}", values[i], f->get());
    const auto* e = back.at_path("s.list").as_array()->get(i)->as_floating_point();
    ASSERT_NE(e, nullptr);
    EXPECT_TRUE(same(e->get(), values[i])) << "list element " << i;
  }
  EXPECT_EQ(back.at_path("s.name").value<std::string>(), "a \"quoted\" string");
  EXPECT_EQ(back.at_path("s.count").value<std::int64_t>(), 3);
  EXPECT_TRUE(
      std::isnan(toml::parse("x = " + hmr::pipeline::toml_float(std::nan(""))).at_path("x").value<double>().value()));

  // The experiments' config.toml: the defaults' 0.8 is written as 0.8, and every float of the
  // document reads back to the double the run used.
  const Config c = Config::resolve(Task::easy, {}, {"tsne.final_momentum=0.8", "kmeans.tol=1e-10"}, std::nullopt);
  const std::string doc = c.to_toml();
  EXPECT_NE(doc.find("final_momentum = 0.8\n"), std::string::npos) << doc;
  EXPECT_NE(doc.find("tol = 1e-10\n"), std::string::npos) << doc;
  const toml::table parsed = toml::parse(doc);
  int floats = 0;
  c.root().for_each([&](const toml::key& sec, const auto& node) {
    if constexpr (toml::is_table<decltype(node)>) {
      for (const auto& [k, v] : node)
        if (const auto* f = v.as_floating_point()) {
          ++floats;
          const std::string key = std::string(sec.str()) + "." + std::string(k.str());
          EXPECT_TRUE(same(parsed.at_path(key).value<double>().value(), f->get())) << key;
        }
    }
  });
  EXPECT_GT(floats, 5);
}

}  // namespace

// The one line an input error must be: exit code 2, no line break, naming `key`.
void expect_one_line_naming(const std::function<void()>& f, const std::string& key) {
  try {
    f();
    FAIL() << "accepted; expected an error naming " << key;
  } catch (const hmr::Error& e) {
    const std::string m = e.what();
    EXPECT_EQ(e.exit_code(), 2) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    EXPECT_NE(m.find(key), std::string::npos) << m;
  }
}

TEST(PipelineConfig, TomlTypeErrorsAreOneLineNamingTheKey) {
  Config c = Config::defaults(Task::hard);
  expect_one_line_naming([&] { c.merge_text("[vae]\nlatent = \"sixteen\"\n", "x.toml"); }, "vae.latent");
  expect_one_line_naming([&] { c.merge_text("[vae]\nhidden = [\"a\"]\n", "x.toml"); }, "vae.hidden");
  expect_one_line_naming([&] { c.merge_text("[experiment]\nseed = 1.5\n", "x.toml"); }, "experiment.seed");
  expect_one_line_naming([&] { c.merge_text("vae = 3\n", "x.toml"); }, "vae");
  // Hostile text quoted in the message is escaped, never a second line (found by fuzz_config).
  expect_one_line_naming([&] { c.merge_text("[vae]\n\"lat\\nent\" = 3\n", "x.toml"); }, "lat\\nent");
  expect_one_line_naming([&] { c.set("[vae\nx=3"); }, "[vae\\nx");
  // A bare --set string that is not UTF-8 would make the written config.toml unreadable.
  expect_one_line_naming([&] { c.set("vae.activation=rel\xae"); }, "UTF-8");
  // The same for a bare list of words (the fallback when the list is not TOML).
  Config easy = Config::defaults(Task::easy);
  expect_one_line_naming([&] { easy.set("tfidf.stop_words=\xed=mm"); }, "UTF-8");
  expect_one_line_naming([&] { c.merge_text("[vae\nlatent = 3\n", "x.toml"); }, "x.toml:1");
}

TEST(PipelineConfig, StringsWithLineBreaksAreRefusedSoConfigTomlRepeatsTheRun) {
  // Found by fuzz_config: "\nsmo" was accepted, written to config.toml as a multi-line string
  // and read back as "smo".
  Config c = Config::defaults(Task::easy);
  expect_one_line_naming([&] { c.set("tfidf.token_mode=\nsklearn"); }, "tfidf.token_mode");
  expect_one_line_naming([&] { c.merge_text("[tfidf]\ntoken_mode = \"\\nsklearn\"\n", "x.toml"); }, "tfidf.token_mode");
  expect_one_line_naming([&] { c.merge_text("[tfidf]\nstop_words = [\"a\\rb\"]\n", "x.toml"); }, "tfidf.stop_words");
  c.set("tfidf.token_mode=sklearn");
  Config back = Config::defaults(Task::easy);
  back.merge_text(c.to_toml(), "config.toml");
  EXPECT_EQ(back.to_toml(), c.to_toml());
}
