// text/weight_kernel_test.cpp — the cuda TF-IDF weighting kernel against its cpu twin
// (text::weight_rows_cpu) under the emulator in every thread order, and the stage API on every
// backend against scikit-learn's fixture values.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "cuda/buffer.h"
#include "support/backends.h"
#include "support/compare.h"
#include "support/emu.h"
#include "text/lyrics.h"
#include "text/tfidf.cuh"
#include "text/tfidf.h"

namespace {

using hmr::text::Csr;
using hmr::text::TfidfModel;

// Random count matrix: rows of 0 to `max_len` distinct sorted columns with counts 1..9, some
// rows empty, some longer than one block of threads.
Csr random_counts(std::int64_t rows, std::int64_t cols, int max_len, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  Csr m;
  m.rows = rows;
  m.cols = cols;
  m.indptr.push_back(0);
  for (std::int64_t r = 0; r < rows; ++r) {
    const int len = r % 7 == 3 ? 0 : static_cast<int>(rng() % static_cast<std::uint64_t>(max_len + 1));
    std::vector<std::int32_t> c;
    for (int k = 0; k < len; ++k) c.push_back(static_cast<std::int32_t>(rng() % static_cast<std::uint64_t>(cols)));
    std::sort(c.begin(), c.end());
    c.erase(std::unique(c.begin(), c.end()), c.end());
    for (const auto j : c) {
      m.indices.push_back(j);
      m.data.push_back(static_cast<float>(1 + rng() % 9));
    }
    m.indptr.push_back(static_cast<std::int64_t>(m.indices.size()));
  }
  return m;
}

TfidfModel random_model(std::int64_t cols, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(1.0, 6.0);
  TfidfModel m;
  for (std::int64_t j = 0; j < cols; ++j) {
    m.vocabulary.push_back(fmt::format("t{:06d}", j));
    m.idf.push_back(u(rng));
    m.df.push_back(1);
  }
  return m;
}

std::vector<float> run_kernel(const Csr& counts, const TfidfModel& model) {
  using namespace hmr::cuda_emu;
  const auto& o = model.options;
  DeviceBuffer<std::int64_t> indptr = to_device(counts.indptr, nullptr);
  DeviceBuffer<std::int32_t> indices = to_device(counts.indices, nullptr);
  DeviceBuffer<float> values = to_device(counts.data, nullptr);
  DeviceBuffer<double> idf = to_device(model.idf, nullptr);
  const auto norm = o.norm == hmr::text::Norm::l2   ? kern::TfidfNorm::l2
                    : o.norm == hmr::text::Norm::l1 ? kern::TfidfNorm::l1
                                                    : kern::TfidfNorm::none;
  kern::launch_tfidf_weight_rows(indptr.data(), indices.data(), values.data(), o.use_idf ? idf.data() : nullptr,
                                 counts.rows, o.binary, o.sublinear_tf, norm, nullptr);
  return values.to_host(nullptr);
}

TEST(EmuTfidfWeight, MatchesCpuTwinForEveryOptionInEveryThreadOrder) {
  hmr::test::ExpectLaunches launched{"tfidf_weight_rows_kernel"};
  const auto seed = hmr::test::test_seed();
  const Csr counts = random_counts(96, 400, 300, seed);
  TfidfModel model = random_model(400, seed + 1);
  struct Case {
    hmr::text::Norm norm;
    bool binary, sublinear, use_idf;
  };
  const Case cases[] = {{hmr::text::Norm::l2, false, false, true},
                        {hmr::text::Norm::l1, false, true, true},
                        {hmr::text::Norm::none, true, false, true},
                        {hmr::text::Norm::l2, false, true, false}};
  for (const auto& c : cases) {
    model.options.norm = c.norm;
    model.options.binary = c.binary;
    model.options.sublinear_tf = c.sublinear;
    model.options.use_idf = c.use_idf;
    const auto got = hmr::test::in_all_orders([&] { return run_kernel(counts, model); });
    Csr want = counts;
    hmr::text::weight_rows_cpu(model, want);
    EXPECT_ALLCLOSE(got, want.data, 1e-7, 1e-6) << "norm " << hmr::text::to_string(c.norm) << " binary " << c.binary
                                                << " sublinear " << c.sublinear << " idf " << c.use_idf;
  }
}

// rows = 0 must return before launching: no kernel runs and the values buffer is left as it was.
TEST(EmuTfidfWeight, EmptyInputLaunchesNothing) {
  using namespace hmr::cuda_emu;
  const std::vector<float> before = {3.0f, 1.0f, 2.0f};
  DeviceBuffer<std::int64_t> indptr = to_device(std::vector<std::int64_t>{0}, nullptr);
  DeviceBuffer<std::int32_t> indices = to_device(std::vector<std::int32_t>{0, 1, 2}, nullptr);
  DeviceBuffer<float> values = to_device(before, nullptr);
  const auto launches = cuemu::launch_count("tfidf_weight_rows_kernel");
  kern::launch_tfidf_weight_rows(indptr.data(), indices.data(), values.data(), nullptr, 0, false, false,
                                 kern::TfidfNorm::l2, nullptr);
  EXPECT_EQ(cuemu::launch_count("tfidf_weight_rows_kernel"), launches) << "an empty matrix launched the kernel";
  EXPECT_TRUE(hmr::test::bitwise_equal(values.to_host(nullptr), before));
}

class ConfTfidf : public hmr::test::BackendTest {};

TEST_P(ConfTfidf, FitTransformMatchesSklearnFixture) {
  hmr::test::ExpectLaunches launched(GetParam() == "cuda-emu", {"tfidf_weight_rows_kernel"});
  std::ifstream in(hmr::test::fixture("text/sklearn_mixed.json"));
  nlohmann::json j;
  in >> j;
  const auto& want = j["configs"]["default"];
  const auto docs = hmr::text::read_lyrics({{hmr::test::fixture("text/mixed.csv"), ""}}).docs;
  hmr::text::TfidfOptions o;
  o.tokens.mode = hmr::text::TokenMode::sklearn;
  TfidfModel model;
  const Csr x = hmr::text::fit_transform(backend(), docs, o, model);
  EXPECT_EQ(model.vocabulary, want["vocabulary"].get<std::vector<std::string>>());
  EXPECT_EQ(x.indices, want["indices"].get<std::vector<std::int32_t>>());
  EXPECT_ALLCLOSE(x.data, want["data"].get<std::vector<double>>(), 1e-6, 0.0);
  const Csr y = hmr::text::transform(backend(), model, docs);
  EXPECT_ALLCLOSE(y.data, x.data, 1e-7, 0.0);
}

HMR_INSTANTIATE_BACKENDS(ConfTfidf);

}  // namespace
