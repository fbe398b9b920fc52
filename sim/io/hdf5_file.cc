#include "sim/io/hdf5_file.h"

#include <hdf5.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "sim/core/error.h"
#include "sim/io/atomic_file.h"

namespace sim {

namespace {

// Silences HDF5's own error printing once; errors are reported through exceptions. Also keeps HDF5
// from closing files at exit: a file whose close failed (a full disk) stays registered, and HDF5
// 1.10's exit handler crashes closing it again (SIGSEGV in H5F__close_cb). Every file is closed
// explicitly, so nothing is lost. Must run before any other HDF5 call.
void Quiet() {
  static const bool done = [] {
    H5dont_atexit();
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)done;
}

// Closes an HDF5 handle at scope exit.
struct Handle {
  hid_t id;
  herr_t (*close)(hid_t);
  Handle(hid_t i, herr_t (*c)(hid_t)) : id(i), close(c) {}
  ~Handle() {
    if (id >= 0) close(id);
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
};

hid_t Utf8String() {
  hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, H5T_VARIABLE);
  H5Tset_cset(type, H5T_CSET_UTF8);
  return type;
}

}  // namespace

H5Writer::H5Writer(const std::string& path) : path_(path) {
  Quiet();
  Handle fcpl(H5Pcreate(H5P_FILE_CREATE), H5Pclose);
  H5Pset_link_creation_order(fcpl.id, 0);
  errno = 0;
  file_ = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, fcpl.id, H5P_DEFAULT);
  if (file_ < 0) ThrowWriteFailure(Concat(path, ": cannot create HDF5 file (is the directory writable?)"), errno);
}

H5Writer::H5Writer(const std::string& path, Edit) : path_(path) {
  Quiet();
  if (H5Fis_hdf5(path.c_str()) <= 0) throw InputError(Concat(path, ": not an HDF5 file"));
  errno = 0;
  file_ = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  if (file_ < 0) ThrowWriteFailure(Concat(path, ": cannot open HDF5 file for writing"), errno);
}

H5Writer::~H5Writer() {
  if (file_ >= 0) H5Fclose(file_);
}

void H5Writer::Close() {
  errno = 0;
  if (file_ >= 0 && H5Fclose(file_) < 0) {
    file_ = -1;
    ThrowWriteFailure(Concat(path_, ": failed to write the file out"), errno == 0 ? EIO : errno);
  }
  file_ = -1;
}

void H5Writer::Group(const std::string& path) {
  if (H5Lexists(file_, path.c_str(), H5P_DEFAULT) > 0) return;
  Handle lcpl(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
  H5Pset_create_intermediate_group(lcpl.id, 1);
  Handle gcpl(H5Pcreate(H5P_GROUP_CREATE), H5Pclose);
  H5Pset_obj_track_times(gcpl.id, 0);
  Handle group(H5Gcreate2(file_, path.c_str(), lcpl.id, gcpl.id, H5P_DEFAULT), H5Gclose);
  if (group.id < 0) throw InputError(Concat(path_, ": cannot create group ", path));
}

void H5Writer::Remove(const std::string& path) {
  size_t pos = 0;  // H5Lexists needs every prefix to exist
  while ((pos = path.find('/', pos + 1)) != std::string::npos)
    if (H5Lexists(file_, path.substr(0, pos).c_str(), H5P_DEFAULT) <= 0) return;
  if (H5Lexists(file_, path.c_str(), H5P_DEFAULT) <= 0) return;
  if (H5Ldelete(file_, path.c_str(), H5P_DEFAULT) < 0) throw InputError(Concat(path_, ": cannot remove ", path));
}

void H5Writer::Write(const std::string& path, int64_t mem_type, const void* data, const std::vector<uint64_t>& dims) {
  std::vector<hsize_t> hdims(dims.begin(), dims.end());
  Handle space(
      dims.empty() ? H5Screate(H5S_SCALAR) : H5Screate_simple(static_cast<int>(hdims.size()), hdims.data(), nullptr),
      H5Sclose);
  Handle lcpl(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
  H5Pset_create_intermediate_group(lcpl.id, 1);
  Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  H5Pset_obj_track_times(dcpl.id, 0);
  Handle dset(H5Dcreate2(file_, path.c_str(), mem_type, space.id, lcpl.id, dcpl.id, H5P_DEFAULT), H5Dclose);
  if (dset.id < 0) throw InputError(Concat(path_, ": cannot create dataset ", path));
  uint64_t count = 1;
  for (uint64_t d : dims) count *= d;
  errno = 0;
  if (count > 0 && H5Dwrite(dset.id, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
    ThrowWriteFailure(Concat(path_, ": cannot write dataset ", path), errno == 0 ? EIO : errno);
}

void H5Writer::Doubles(const std::string& path, const double* data, const std::vector<uint64_t>& dims) {
  Write(path, H5T_NATIVE_DOUBLE, data, dims);
}

void H5Writer::Floats(const std::string& path, const float* data, const std::vector<uint64_t>& dims) {
  Write(path, H5T_NATIVE_FLOAT, data, dims);
}

void H5Writer::Ints(const std::string& path, const int32_t* data, const std::vector<uint64_t>& dims) {
  Write(path, H5T_NATIVE_INT32, data, dims);
}

void H5Writer::Scalar(const std::string& path, double value) { Write(path, H5T_NATIVE_DOUBLE, &value, {}); }

void H5Writer::Strings(const std::string& path, const std::vector<std::string>& values) {
  std::vector<const char*> ptrs;
  for (const std::string& v : values) ptrs.push_back(v.c_str());
  Handle type(Utf8String(), H5Tclose);
  Write(path, type.id, ptrs.data(), {values.size()});
}

namespace {
void WriteAttr(hid_t file, const std::string& file_path, const std::string& object, const std::string& name, hid_t type,
               hid_t space, const void* data) {
  Handle obj(H5Oopen(file, object.c_str(), H5P_DEFAULT), H5Oclose);
  if (obj.id < 0) throw InputError(Concat(file_path, ": no object ", object, " for attribute ", name));
  if (H5Aexists(obj.id, name.c_str()) > 0) H5Adelete(obj.id, name.c_str());
  Handle attr(H5Acreate2(obj.id, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (attr.id < 0 || H5Awrite(attr.id, type, data) < 0)
    throw InputError(Concat(file_path, ": cannot write attribute ", object, "@", name));
}
}  // namespace

void H5Writer::AttrString(const std::string& object, const std::string& name, const std::string& value) {
  Handle type(Utf8String(), H5Tclose);
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  const char* text = value.c_str();
  WriteAttr(file_, path_, object, name, type.id, space.id, &text);
}

void H5Writer::AttrInt(const std::string& object, const std::string& name, int64_t value) {
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  WriteAttr(file_, path_, object, name, H5T_NATIVE_INT64, space.id, &value);
}

void H5Writer::AttrDouble(const std::string& object, const std::string& name, double value) {
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  WriteAttr(file_, path_, object, name, H5T_NATIVE_DOUBLE, space.id, &value);
}

void H5Writer::AttrInts(const std::string& object, const std::string& name, const std::vector<int64_t>& values) {
  const hsize_t n = values.size();
  Handle space(H5Screate_simple(1, &n, nullptr), H5Sclose);
  WriteAttr(file_, path_, object, name, H5T_NATIVE_INT64, space.id, values.data());
}

H5Reader::H5Reader(const std::string& path) : path_(path) {
  Quiet();
  if (::access(path.c_str(), F_OK) != 0) throw InputError(Concat(path, ": no such file"));
  if (::access(path.c_str(), R_OK) != 0) throw InputError(Concat(path, ": not readable (permissions)"));
  if (H5Fis_hdf5(path.c_str()) <= 0) throw InputError(Concat(path, ": not an HDF5 file"));
  file_ = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (file_ < 0)
    throw InputError(Concat(path, ": cannot open HDF5 file (truncated or corrupt, or locked by a process writing it)"));
}

H5Reader::~H5Reader() {
  if (file_ >= 0) H5Fclose(file_);
}

bool H5Reader::Exists(const std::string& object) const {
  if (object == "/") return true;
  // Every prefix must exist for H5Lexists to answer.
  size_t pos = 0;
  while ((pos = object.find('/', pos + 1)) != std::string::npos)
    if (H5Lexists(file_, object.substr(0, pos).c_str(), H5P_DEFAULT) <= 0) return false;
  return H5Lexists(file_, object.c_str(), H5P_DEFAULT) > 0;
}

bool H5Reader::HasAttr(const std::string& object, const std::string& name) const {
  if (!Exists(object)) return false;
  return H5Aexists_by_name(file_, object.c_str(), name.c_str(), H5P_DEFAULT) > 0;
}

std::string H5Reader::AttrString(const std::string& object, const std::string& name) const {
  Handle attr(H5Aopen_by_name(file_, object.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (attr.id < 0) throw InputError(Concat(path_, ": missing attribute ", object, "@", name));
  Handle file_type(H5Aget_type(attr.id), H5Tclose);
  if (H5Tget_class(file_type.id) != H5T_STRING)
    throw InputError(Concat(path_, ": attribute ", object, "@", name, " is not a string"));
  if (H5Tis_variable_str(file_type.id) > 0) {
    Handle type(Utf8String(), H5Tclose);
    char* text = nullptr;
    if (H5Aread(attr.id, type.id, &text) < 0)
      throw InputError(Concat(path_, ": cannot read attribute ", object, "@", name));
    std::string value = text ? text : "";
    Handle space(H5Aget_space(attr.id), H5Sclose);
    H5Dvlen_reclaim(type.id, space.id, H5P_DEFAULT, &text);
    return value;
  }
  const size_t size = H5Tget_size(file_type.id);
  std::string value(size, '\0');
  if (H5Aread(attr.id, file_type.id, value.data()) < 0)
    throw InputError(Concat(path_, ": cannot read attribute ", object, "@", name));
  return value.substr(0, value.find('\0'));
}

int64_t H5Reader::AttrInt(const std::string& object, const std::string& name) const {
  Handle attr(H5Aopen_by_name(file_, object.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  int64_t value = 0;
  if (attr.id < 0 || H5Aread(attr.id, H5T_NATIVE_INT64, &value) < 0)
    throw InputError(Concat(path_, ": missing or non-integer attribute ", object, "@", name));
  return value;
}

double H5Reader::AttrDouble(const std::string& object, const std::string& name) const {
  Handle attr(H5Aopen_by_name(file_, object.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  double value = 0;
  if (attr.id < 0 || H5Aread(attr.id, H5T_NATIVE_DOUBLE, &value) < 0)
    throw InputError(Concat(path_, ": missing or non-numeric attribute ", object, "@", name));
  return value;
}

std::vector<int64_t> H5Reader::AttrInts(const std::string& object, const std::string& name) const {
  Handle attr(H5Aopen_by_name(file_, object.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (attr.id < 0) throw InputError(Concat(path_, ": missing attribute ", object, "@", name));
  Handle space(H5Aget_space(attr.id), H5Sclose);
  const hssize_t n = H5Sget_simple_extent_npoints(space.id);
  std::vector<int64_t> values(n > 0 ? static_cast<size_t>(n) : 0);
  if (!values.empty() && H5Aread(attr.id, H5T_NATIVE_INT64, values.data()) < 0)
    throw InputError(Concat(path_, ": attribute ", object, "@", name, " is not an integer array"));
  return values;
}

std::vector<std::string> H5Reader::List(const std::string& group) const {
  Handle g(H5Gopen2(file_, group.c_str(), H5P_DEFAULT), H5Gclose);
  if (g.id < 0) throw InputError(Concat(path_, ": missing group ", group));
  H5G_info_t info;
  H5Gget_info(g.id, &info);
  std::vector<std::string> names;
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    const ssize_t len = H5Lget_name_by_idx(g.id, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    std::string name(static_cast<size_t>(len) + 1, '\0');
    H5Lget_name_by_idx(g.id, ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size(), H5P_DEFAULT);
    name.resize(static_cast<size_t>(len));
    names.push_back(name);
  }
  return names;
}

H5Reader::Kind H5Reader::KindOf(const std::string& object) const {
  if (!Exists(object)) return Kind::kMissing;
  if (Handle group(H5Gopen2(file_, object.c_str(), H5P_DEFAULT), H5Gclose); group.id >= 0) return Kind::kGroup;
  Handle dset(H5Dopen2(file_, object.c_str(), H5P_DEFAULT), H5Dclose);
  if (dset.id < 0) return Kind::kOther;  // a named datatype
  Handle type(H5Dget_type(dset.id), H5Tclose);
  const H5T_class_t type_class = H5Tget_class(type.id);
  return type_class == H5T_INTEGER || type_class == H5T_FLOAT ? Kind::kNumbers : Kind::kOther;
}

std::vector<uint64_t> H5Reader::Shape(const std::string& dataset) const {
  Handle dset(H5Dopen2(file_, dataset.c_str(), H5P_DEFAULT), H5Dclose);
  if (dset.id < 0) throw InputError(Concat(path_, ": missing dataset ", dataset));
  Handle space(H5Dget_space(dset.id), H5Sclose);
  const int rank = H5Sget_simple_extent_ndims(space.id);
  std::vector<hsize_t> dims(rank > 0 ? rank : 0);
  if (rank > 0) H5Sget_simple_extent_dims(space.id, dims.data(), nullptr);
  return std::vector<uint64_t>(dims.begin(), dims.end());
}

void H5Reader::Read(const std::string& dataset, int64_t mem_type, void* out, size_t count) const {
  Handle dset(H5Dopen2(file_, dataset.c_str(), H5P_DEFAULT), H5Dclose);
  if (dset.id < 0) throw InputError(Concat(path_, ": missing dataset ", dataset));
  Handle space(H5Dget_space(dset.id), H5Sclose);
  const hssize_t n = H5Sget_simple_extent_npoints(space.id);
  if (n != static_cast<hssize_t>(count)) throw InternalError(Concat(path_, ": size mismatch reading ", dataset));
  if (count > 0 && H5Dread(dset.id, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0)
    throw InputError(Concat(path_, ": cannot read dataset ", dataset, " as numbers"));
}

namespace {
size_t Count(const std::vector<uint64_t>& dims) {
  size_t n = 1;
  for (uint64_t d : dims) n *= d;
  return n;
}
}  // namespace

std::vector<double> H5Reader::Doubles(const std::string& dataset) const {
  std::vector<double> out(Count(Shape(dataset)));
  Read(dataset, H5T_NATIVE_DOUBLE, out.data(), out.size());
  return out;
}

std::vector<float> H5Reader::Floats(const std::string& dataset) const {
  std::vector<float> out(Count(Shape(dataset)));
  Read(dataset, H5T_NATIVE_FLOAT, out.data(), out.size());
  return out;
}

std::vector<std::string> H5Reader::Strings(const std::string& dataset) const {
  const size_t n = Count(Shape(dataset));
  std::vector<char*> ptrs(n, nullptr);
  Handle type(Utf8String(), H5Tclose);
  Read(dataset, type.id, ptrs.data(), n);
  std::vector<std::string> values;
  for (char* p : ptrs) values.emplace_back(p != nullptr ? p : "");
  Handle dset(H5Dopen2(file_, dataset.c_str(), H5P_DEFAULT), H5Dclose);
  Handle space(H5Dget_space(dset.id), H5Sclose);
  if (n > 0) H5Dvlen_reclaim(type.id, space.id, H5P_DEFAULT, ptrs.data());
  return values;
}

std::vector<int32_t> H5Reader::Ints(const std::string& dataset) const {
  std::vector<int32_t> out(Count(Shape(dataset)));
  Read(dataset, H5T_NATIVE_INT32, out.data(), out.size());
  return out;
}

}  // namespace sim
