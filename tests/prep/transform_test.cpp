// Feature transforms (prep/transform.h): ln(v + 1e-6) of exactly the "*_var" columns, other
// columns untouched, a negative variance an input error (naming the row's id) or clamped to 0.
#include "prep/transform.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"

namespace {

const std::vector<std::string> kColumns{"mfcc1_mean", "mfcc1_var", "tempo", "var", "chroma_stft_var"};

hmr::Matrix features() {
  return hmr::Matrix(2, 5,
                     {1.5f, 4.0f, 120.0f, 9.0f, 0.0f,  //
                      -2.0f, 0.25f, 90.0f, 16.0f, 1e-3f});
}

}  // namespace

TEST(PrepTransform, VarianceColumnsAreNamedStarUnderscoreVar) {
  EXPECT_TRUE(hmr::prep::is_variance_column("mfcc1_var"));
  EXPECT_TRUE(hmr::prep::is_variance_column("_var"));
  EXPECT_FALSE(hmr::prep::is_variance_column("var"));
  EXPECT_FALSE(hmr::prep::is_variance_column("mfcc1_variance"));
  EXPECT_FALSE(hmr::prep::is_variance_column("mfcc1_mean"));
}

TEST(PrepTransform, LogOfVarianceColumnsOnly) {
  hmr::Matrix x = features();
  const hmr::Matrix before = x;
  EXPECT_EQ(hmr::prep::log_variance_columns(x, kColumns, hmr::prep::NegativeVariance::error, {"a", "b"}), 2);
  for (std::int64_t i = 0; i < 2; ++i)
    for (std::int64_t j = 0; j < 5; ++j) {
      const bool var = j == 1 || j == 4;
      EXPECT_EQ(x(i, j), var ? std::log(before(i, j) + 1e-6f) : before(i, j)) << i << "," << j;
    }
  EXPECT_NEAR(x(0, 4), std::log(1e-6), 1e-4);  // a zero variance stays finite
}

TEST(PrepTransform, NegativeVarianceIsAnErrorOrClamped) {
  hmr::Matrix x = features();
  x(1, 1) = -0.5f;
  hmr::Matrix y = x;
  try {
    hmr::prep::log_variance_columns(x, kColumns, hmr::prep::NegativeVariance::error, {"a", "track_b"});
    FAIL() << "no error for a negative variance";
  } catch (const hmr::Error& e) {
    EXPECT_NE(std::string(e.what()).find("track_b"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("mfcc1_var"), std::string::npos) << e.what();
  }
  EXPECT_EQ(hmr::prep::log_variance_columns(y, kColumns, hmr::prep::NegativeVariance::clamp), 2);
  EXPECT_EQ(y(1, 1), std::log(1e-6f));
  EXPECT_EQ(y(0, 1), std::log(4.0f + 1e-6f));
  hmr::Matrix z = features();
  EXPECT_THROW(hmr::prep::log_variance_columns(z, {"a_var"}, hmr::prep::NegativeVariance::clamp), hmr::Error);
}
