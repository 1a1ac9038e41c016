// io/array.h — the one way hmr commands read an input array, so every command takes what numpy
// and pandas write:
//   X.npy          any numeric .npy (io/npy.h: float16/32/64, int8-64, uint8-64, bool, either byte
//                  order, C or Fortran order)
//   X.npz:name     array `name` of an .npz (numpy.savez / savez_compressed; positional arrays are
//                  arr_0, arr_1, ...); X.npz alone when it holds exactly one array
//   X.csv          numeric CSV, as df.to_csv / np.savetxt(delimiter=",") write it: a header line
//                  is detected (a non-numeric field, or pandas' default column names 0..m-1), and
//                  pandas' unnamed index column (empty header field, or "Unnamed: 0") is dropped
// A path that exists is always a file, even when it holds ':'; the file type is taken from its
// first bytes (.npy / zip magic), else from a .csv extension. What reading converts (dtype, byte
// order, Fortran order, reshape, header, index) is done once, in memory, and said in one info
// line (a note, not an error; -q hides it).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/matrix.h"
#include "io/npy.h"

namespace hmr::io {

// The file an array spec names ("X.npz:name" -> X.npz), e.g. for OutputFiles' input list; the
// spec itself when no such file exists (never throws: reading the array reports that).
std::filesystem::path array_file(const std::string& spec);

// The array a spec names, brought to little-endian C order (NpyArray::converted says what that
// changed); `notes` receives what the CSV reader did (header, index column).
// CSV cells become int64 (all integers) or float64; non-finite and empty CSV cells are refused
// with their line and column unless allow_nonfinite.
NpyArray load_array(const std::string& spec, std::vector<std::string>* notes, bool allow_nonfinite = false);

// A float32 [N x d] matrix (io::as_matrix's rules: 1-D -> one column, >2-D -> trailing dims
// flattened). `what` names the input in the note and errors ("--input").
Matrix read_array(const std::string& spec, const std::string& what, bool allow_nonfinite = false);
// Integer class codes (io::as_labels' rules: integer or bool dtypes; floats only when whole).
std::vector<std::int32_t> read_label_array(const std::string& spec, const std::string& what);

// Numeric CSV text to an array of shape (rows, cols); `where` names it in messages.
NpyArray parse_numeric_csv(std::string_view text, const std::string& where, bool allow_nonfinite,
                           std::vector<std::string>* notes);

}  // namespace hmr::io
