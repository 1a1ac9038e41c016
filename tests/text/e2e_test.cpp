// text/e2e_test.cpp — `hmr tfidf` end to end: the library job behind the command (outputs,
// summary, transform with a saved model) and, where the hmr binary has been built, the command
// itself (files written, exit code 2 with file/line/offset on invalid UTF-8 and on a file without
// a lyrics column when none is named).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/backend.h"
#include "io/npy.h"
#include "support/compare.h"
#include "support/run.h"
#include "text/tfidf_job.h"

namespace fs = std::filesystem;

namespace {

fs::path tmp_dir(const std::string& tag) {
  auto d = fs::temp_directory_path() / ("hmr_text_e2e_" + tag + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

nlohmann::json read_json(const fs::path& p) {
  std::ifstream in(p);
  nlohmann::json j;
  in >> j;
  return j;
}

TEST(E2eTfidf, JobWritesEveryOutputAndTransformsWithTheSavedModel) {
  const auto out = tmp_dir("job");
  auto cpu = hmr::make_cpu_backend();
  hmr::text::TfidfJob job;
  job.sources = {{hmr::test::fixture("text/english.csv"), "english"}, {hmr::test::fixture("text/mixed.csv"), ""}};
  job.out = out / "fit";
  job.format = hmr::text::MatrixFormat::both;
  const auto r = hmr::text::run_tfidf_job(*cpu, job);
  for (const char* f : {"tfidf.npz", "tfidf.npy", "vocabulary.txt", "idf.npy", "tfidf_model.json", "labels.npy",
                        "label_names.txt", "documents.tsv", "summary.json"})
    EXPECT_TRUE(fs::exists(job.out / f)) << f;
  const auto s = read_json(job.out / "summary.json");
  EXPECT_EQ(s["documents"].get<std::int64_t>(), 28 + 23);
  EXPECT_EQ(s["vocabulary_size"].get<std::size_t>(), r.model.vocabulary.size());
  EXPECT_EQ(s["labels"].get<std::vector<std::string>>(), (std::vector<std::string>{"english", "bangla"}));
  EXPECT_GT(s["tokens_per_language"]["bangla"].get<std::int64_t>(), 100);
  const auto mixed = hmr::text::read_lyrics({{hmr::test::fixture("text/mixed.csv"), ""}});
  const auto mixed_en = std::count(mixed.labels.begin(), mixed.labels.end(), 1);  // labels: bangla 0, english 1
  EXPECT_EQ(mixed.label_names[1], "english");
  EXPECT_EQ(s["documents_per_language"]["english"].get<std::int64_t>(), 28 + mixed_en);
  EXPECT_EQ(s["skipped_rows"].get<std::int64_t>(), 0);
  const auto dense = hmr::io::read_matrix(job.out / "tfidf.npy");
  const auto back = hmr::text::read_npz(job.out / "tfidf.npz");
  EXPECT_EQ(dense.vec(), hmr::text::to_dense(back).vec());
  EXPECT_EQ(hmr::io::read_labels(job.out / "labels.npy"), r.corpus.labels);
  // the saved model applied to the same files reproduces the matrix
  hmr::text::TfidfJob again = job;
  again.out = out / "transform";
  again.model_dir = job.out;
  again.format = hmr::text::MatrixFormat::npz;
  const auto t = hmr::text::run_tfidf_job(*cpu, again);
  EXPECT_EQ(t.matrix.indices, r.matrix.indices);
  EXPECT_TRUE(hmr::test::bitwise_equal(t.matrix.data, r.matrix.data));
  EXPECT_EQ(read_json(again.out / "summary.json")["mode"], "transform");
  fs::remove_all(out);
}

// Runs the hmr binary; returns its exit status and stderr+stdout.
int run(const std::string& args, std::string* output) {
  auto r = hmr::test::run_hmr(args);
  *output = std::move(r.output);
  return r.code;
}

TEST(E2eTfidf, CommandLine) {
  if (!fs::exists(::hmr::test::binary_dir() + "/apps/hmr")) GTEST_SKIP() << "hmr binary not built";
  const auto out = tmp_dir("cli");
  std::string log;
  const std::string en = hmr::test::fixture("text/english.csv"), mixed = hmr::test::fixture("text/mixed.csv");
  ASSERT_EQ(run(fmt::format("tfidf --device cpu --lyrics {}:english --lyrics {} --token-mode sklearn --dense "
                            "--min-df 2 --out {}",
                            en, mixed, (out / "a").string()),
                &log),
            0)
      << log;
  EXPECT_NE(log.find("sklearn mode"), std::string::npos) << log;
  EXPECT_TRUE(fs::exists(out / "a" / "tfidf.npz"));
  EXPECT_TRUE(fs::exists(out / "a" / "tfidf.npy"));
  EXPECT_EQ(read_json(out / "a" / "tfidf_model.json")["options"]["min_df"].get<int>(), 2);
  // invalid UTF-8: exit 2, one line naming file, line and byte offset
  std::ofstream(out / "bad.csv", std::ios::binary) << "lyrics\nfine\nbroken \xC3\x28 here\n";
  EXPECT_EQ(run(fmt::format("tfidf --lyrics {}:x --out {}", (out / "bad.csv").string(), (out / "b").string()), &log),
            2);
  EXPECT_NE(log.find("invalid UTF-8 at line 3, byte offset 19"), std::string::npos) << log;
  EXPECT_EQ(
      run(fmt::format("tfidf --lyrics {}:x --lossy --out {}", (out / "bad.csv").string(), (out / "c").string()), &log),
      0)
      << log;
  EXPECT_EQ(read_json(out / "c" / "summary.json")["replaced_invalid_utf8"].get<int>(), 1);
  EXPECT_EQ(run(fmt::format("tfidf --lyrics {}/missing.csv:x --out {}", out.string(), (out / "d").string()), &log), 2);
  // no --column and no lyrics column: exit 2, one line naming the file and its columns (issue 17:
  // it used to read column 0, here the ids)
  std::ofstream(out / "ids.csv", std::ios::binary) << "song_id,text\n101,hello world\n102,good night\n";
  EXPECT_EQ(run(fmt::format("tfidf --lyrics {}:en --out {}", (out / "ids.csv").string(), (out / "e").string()), &log),
            2);
  EXPECT_NE(log.find("ids.csv: no 'lyrics' column"), std::string::npos) << log;
  EXPECT_NE(log.find("columns: song_id, text"), std::string::npos) << log;
  EXPECT_FALSE(fs::exists(out / "e" / "tfidf.npz"));
  EXPECT_EQ(
      run(fmt::format("tfidf --lyrics {}:en --column text --out {}", (out / "ids.csv").string(), (out / "f").string()),
          &log),
      0)
      << log;
  fs::remove_all(out);
}

}  // namespace
