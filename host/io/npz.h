// io/npz.h — the members of a NumPy .npz archive (numpy.savez / savez_compressed, scipy's
// save_npz): a zip file (PKWARE APPNOTE 6.3) of .npy images. Stored members are used in place;
// deflated ones (savez_compressed) are inflated with zlib. Every offset and size comes from the
// file and is checked against the bytes present before use; a member's CRC-32 must match.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "io/npy.h"

namespace hmr::io {

struct NpzMember {
  std::string name;         // as stored, e.g. "arr_0.npy" (printable: escaped if odd bytes)
  std::string_view stored;  // the member's bytes inside the archive image (stored members)
  std::string inflated;     // the member's bytes when it was deflated
  bool deflated = false;
  std::string_view bytes() const { return deflated ? std::string_view(inflated) : stored; }
};

// The members of the archive image `z` in file order; `where` names it in messages. Input error
// on a truncated or lying zip, an unsupported compression method, a CRC mismatch or a repeated name.
std::vector<NpzMember> npz_members(std::string_view z, const std::string& where);
// The whole file, read for npz_members (input error when missing or unreadable).
std::string read_file_bytes(const std::filesystem::path& path);

// The array name numpy.load gives a member: its file name without ".npy" (np.savez(f, a=x) -> "a",
// positional arguments -> "arr_0", "arr_1", ...).
std::string npz_array_name(const std::string& member);
// The member named `name` ("a" or "a.npy") parsed as .npy, or, with an empty name, the only member;
// input errors list the names the archive holds.
NpyArray npz_array(std::string_view z, const std::string& where, const std::string& name);

}  // namespace hmr::io
