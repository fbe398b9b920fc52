// A small wrapper over the HDF5 C API: the only code that includes HDF5 headers (with run_file.cc).
//
// Writers create files with object time tracking off, so the same content gives the same bytes.
// Strings are variable-length UTF-8 (h5py reads them as str). Every failure throws InputError
// naming the file and the object.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sim {

class H5Writer {
 public:
  // Creates (or truncates) `path`.
  explicit H5Writer(const std::string& path);
  // Opens the existing HDF5 file `path` for editing (kEdit), e.g. a copy that will replace a file.
  enum class Edit { kEdit };
  H5Writer(const std::string& path, Edit);
  ~H5Writer();
  H5Writer(const H5Writer&) = delete;
  H5Writer& operator=(const H5Writer&) = delete;

  void Close();

  // Attributes on an existing object ("/" is the root).
  void AttrString(const std::string& object, const std::string& name, const std::string& value);
  void AttrInt(const std::string& object, const std::string& name, int64_t value);
  void AttrDouble(const std::string& object, const std::string& name, double value);
  void AttrInts(const std::string& object, const std::string& name, const std::vector<int64_t>& values);

  // Datasets; intermediate groups are created as needed. dims are C-order.
  void Doubles(const std::string& path, const double* data, const std::vector<uint64_t>& dims);
  void Floats(const std::string& path, const float* data, const std::vector<uint64_t>& dims);
  void Ints(const std::string& path, const int32_t* data, const std::vector<uint64_t>& dims);
  void Scalar(const std::string& path, double value);
  // 1-D variable-length UTF-8 strings.
  void Strings(const std::string& path, const std::vector<std::string>& values);
  void Group(const std::string& path);
  // Unlinks `path` (a dataset, or a group with everything below it) when it exists.
  void Remove(const std::string& path);

 private:
  void Write(const std::string& path, int64_t mem_type, const void* data, const std::vector<uint64_t>& dims);
  std::string path_;
  int64_t file_ = -1;
};

class H5Reader {
 public:
  // Opens `path` read-only; throws InputError when it is missing or not HDF5.
  explicit H5Reader(const std::string& path);
  ~H5Reader();
  H5Reader(const H5Reader&) = delete;
  H5Reader& operator=(const H5Reader&) = delete;

  bool Exists(const std::string& object) const;
  bool HasAttr(const std::string& object, const std::string& name) const;
  std::string AttrString(const std::string& object, const std::string& name) const;
  int64_t AttrInt(const std::string& object, const std::string& name) const;
  double AttrDouble(const std::string& object, const std::string& name) const;
  std::vector<int64_t> AttrInts(const std::string& object, const std::string& name) const;
  // Members of a group, in name order.
  std::vector<std::string> List(const std::string& group) const;
  // What `object` is: a group, a dataset of numbers (integer or float), another dataset (strings),
  // or nothing (kMissing).
  enum class Kind { kMissing, kGroup, kNumbers, kOther };
  Kind KindOf(const std::string& object) const;
  std::vector<uint64_t> Shape(const std::string& dataset) const;
  // Any numeric dataset, converted.
  std::vector<double> Doubles(const std::string& dataset) const;
  std::vector<float> Floats(const std::string& dataset) const;
  std::vector<int32_t> Ints(const std::string& dataset) const;
  std::vector<std::string> Strings(const std::string& dataset) const;

  const std::string& path() const { return path_; }

 private:
  void Read(const std::string& dataset, int64_t mem_type, void* out, size_t count) const;
  std::string path_;
  int64_t file_ = -1;
};

}  // namespace sim
