// core/matrix.h — the host-side dense matrix every stage exchanges: float32, row-major
// [rows x cols], contiguous (row r starts at data() + r * cols). Views carry a leading dimension.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace hmr {

struct ConstMatrixView {
  const float* data = nullptr;
  std::int64_t rows = 0, cols = 0, ld = 0;  // ld: floats between consecutive rows
  const float* row(std::int64_t r) const { return data + r * ld; }
  float operator()(std::int64_t r, std::int64_t c) const { return data[r * ld + c]; }
};

class Matrix {
 public:
  Matrix() = default;
  Matrix(std::int64_t rows, std::int64_t cols, float fill = 0.0f)
      : rows_(rows), cols_(cols), data_(static_cast<std::size_t>(rows * cols), fill) {}
  Matrix(std::int64_t rows, std::int64_t cols, std::vector<float> data)
      : rows_(rows), cols_(cols), data_(std::move(data)) {}

  std::int64_t rows() const { return rows_; }
  std::int64_t cols() const { return cols_; }
  std::size_t size() const { return data_.size(); }
  bool empty() const { return data_.empty(); }
  float* data() { return data_.data(); }
  const float* data() const { return data_.data(); }
  float* row(std::int64_t r) { return data_.data() + r * cols_; }
  const float* row(std::int64_t r) const { return data_.data() + r * cols_; }
  float& operator()(std::int64_t r, std::int64_t c) { return data_[static_cast<std::size_t>(r * cols_ + c)]; }
  float operator()(std::int64_t r, std::int64_t c) const { return data_[static_cast<std::size_t>(r * cols_ + c)]; }
  std::vector<float>& vec() { return data_; }
  const std::vector<float>& vec() const { return data_; }
  ConstMatrixView view() const { return {data_.data(), rows_, cols_, cols_}; }
  operator ConstMatrixView() const { return view(); }

 private:
  std::int64_t rows_ = 0, cols_ = 0;
  std::vector<float> data_;
};

// True if every element is finite; otherwise reports the first bad (row, col).
bool all_finite(ConstMatrixView m, std::int64_t* bad_row = nullptr, std::int64_t* bad_col = nullptr);

}  // namespace hmr
