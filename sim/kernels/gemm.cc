#include "sim/kernels/gemm.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <Eigen/Core>

#include "sim/core/check.h"
#include "sim/kernels/sgemm_avx512.h"
#include "sim/kernels/small_gemm.h"

namespace sim {

namespace {

// Products smaller than this many multiply-adds run as one piece.
constexpr double kMinTileWork = 1 << 18;
// A tile of C spans at least this many rows or columns, so packing the shared operand once per tile
// stays cheap; at most kMaxTiles tiles (enough to balance 8 threads).
constexpr Index kMinOutputTile = 256;
constexpr int kMaxTiles = 8;
// At most this many column tiles when they share a packed op(A) (see TiledGemm), their widths
// multiples of 48: whole 12-column panels of the packed kernel (a 256-wide tile ends in a 4-column
// panel, run at a third of the kernel's speed), and of 16.
constexpr int kMaxSharedATiles = 16;
constexpr Index kSharedATileQuantum = 48;
// The unpacked kernel (sim/kernels/small_gemm.h) serves products whose A has at most kSmallA entries
// (it stays in cache), and with a transposed B at most kSmallNtWork multiply-adds; beyond that the
// packed kernel is faster (measured on the engine's shapes, docs/benchmarks.md).
constexpr Index kSmallA = 16384;
constexpr double kSmallNtWork = 1 << 25;
// Depth chunk for products with a small output and a long depth.
constexpr Index kDepthChunk = 1024;
// Tile widths are multiples of this, to keep Eigen's kernels on full panels.
constexpr Index kTileQuantum = 16;

// Per-thread packing buffers for the GEMM kernel: they grow to the largest product seen and are then
// reused, so products allocate nothing after warm-up (Eigen's own path would heap-allocate packing
// blocks above EIGEN_STACK_ALLOCATION_LIMIT on every call). Which thread runs a tile varies from run
// to run, so the calling thread reserves every thread's buffers before work is spread out
// (ReservePacking); otherwise a thread could first need a larger buffer after warm-up.
struct PackingBuffers {
  Scalar* a = nullptr;
  Scalar* b = nullptr;
  Scalar* t = nullptr;  // a transposed A for the unpacked kernel
  size_t t_size = 0;
  Scalar* shared_t = nullptr;  // a transposed A shared by all tiles of one Gemm (of the thread that called it)
  size_t shared_t_size = 0;
  Scalar* shared_packed_a = nullptr;  // op(A) packed whole, shared by all tiles of one Gemm (ditto)
  size_t shared_packed_a_size = 0;
  Scalar* partials = nullptr;  // depth-split partial products (of the thread that called Gemm)
  size_t a_size = 0;
  size_t b_size = 0;
  size_t partials_size = 0;
  static Scalar* Grow(Scalar*& p, size_t& have, size_t need) {
    if (need > have) {
      Eigen::internal::aligned_free(p);
      p = static_cast<Scalar*>(Eigen::internal::aligned_malloc(need * sizeof(Scalar)));
      have = need;
    }
    return p;
  }
  ~PackingBuffers() {
    Eigen::internal::aligned_free(a);
    Eigen::internal::aligned_free(b);
    Eigen::internal::aligned_free(partials);
    Eigen::internal::aligned_free(t);
    Eigen::internal::aligned_free(shared_t);
    Eigen::internal::aligned_free(shared_packed_a);
  }
};
PackingBuffers g_packing[kMaxThreads];  // indexed by ThreadIndex()

// kc, mc, nc of Eigen's blocking for an (m, n, k) product on one thread.
void BlockingSizes(Index m, Index n, Index k, Index& kc, Index& mc, Index& nc) {
  kc = k;
  mc = m;
  nc = n;
  Eigen::internal::computeProductBlockingSizes<Scalar, Scalar, 1>(kc, mc, nc, Index(1));
}

// Eigen's blocking descriptor, pointed at our buffers.
class PreallocatedBlocking : public Eigen::internal::level3_blocking<Scalar, Scalar> {
 public:
  PreallocatedBlocking(Index kc, Index mc, Index nc, Scalar* block_a, Scalar* block_b) {
    this->m_kc = kc;
    this->m_mc = mc;
    this->m_nc = nc;
    this->m_blockA = block_a;
    this->m_blockB = block_b;
  }
};

// C (m, n, column stride ldc) += A B with A (m, k) and B (k, n) in the given storage orders:
// Eigen's cache-blocked GEMM kernel (gebp), single-threaded, blocking sizes from the shape only.
template <int kLhsOrder, int kRhsOrder>
void KernelGemm(Index m, Index n, Index k, const Scalar* a, Index lda, const Scalar* b, Index ldb, Scalar* c,
                Index ldc) {
  Index kc, mc, nc;
  BlockingSizes(m, n, k, kc, mc, nc);
  PackingBuffers& buf = g_packing[ThreadIndex()];
  Scalar* block_a = PackingBuffers::Grow(buf.a, buf.a_size, static_cast<size_t>(kc * mc));
  Scalar* block_b = PackingBuffers::Grow(buf.b, buf.b_size, static_cast<size_t>(kc * nc));
  PreallocatedBlocking blocking(kc, mc, nc, block_a, block_b);
  Eigen::internal::general_matrix_matrix_product<Index, Scalar, kLhsOrder, false, Scalar, kRhsOrder, false,
                                                 Eigen::ColMajor, 1>::run(m, n, k, a, lda, b, ldb, c, 1, ldc, Scalar(1),
                                                                          blocking, nullptr);
}

// True when products run on the AVX-512 SGEMM (float builds on AVX-512 machines).
bool UseSgemm() {
  if constexpr (std::is_same_v<Scalar, float>) return HasAvx512Sgemm();
  return false;
}

// True when ProductOps gives an (m, n, k) product with op(B) to the unpacked small-matrix kernel: an A
// that fits in cache, and with a transposed B not too much work (else the packed kernel is faster).
bool UsesSmallKernel(Index m, Index n, Index k, Op op_b) {
  return m * k <= kSmallA && (op_b == Op::kN || static_cast<double>(m) * n * k <= kSmallNtWork);
}

// C (+)= op(A) op(B) on this thread; with a bias (C's rows, accumulate=false): C = bias 1ᵀ + op(A) op(B).
// packed_a: op(A) already packed by SgemmPackA (a product on the packed kernel only), or null.
void ProductOps(const ConstMatRef& a, Op op_a, const ConstMatRef& b, Op op_b, MatRef c, bool accumulate,
                const Scalar* bias = nullptr, const float* packed_a = nullptr) {
  const Index m = c.rows(), n = c.cols();
  const Index k = op_a == Op::kN ? a.cols() : a.rows();
  if constexpr (std::is_same_v<Scalar, float>) {
    if (UseSgemm()) {
      // (Scalar is float here; the casts only let the double build compile this branch.)
      PackingBuffers& buf = g_packing[ThreadIndex()];
      if (packed_a != nullptr) {
        float* pack_b = reinterpret_cast<float*>(PackingBuffers::Grow(buf.b, buf.b_size, kSgemmPackB));
        SgemmAvx512Packed(m, n, k, packed_a, reinterpret_cast<const float*>(b.data()), b.outerStride(), op_b == Op::kT,
                          reinterpret_cast<float*>(c.data()), c.outerStride(), accumulate, pack_b,
                          reinterpret_cast<const float*>(bias));
        return;
      }
      // A that fits in cache: the unpacked kernel (A transposed first if need be); else the packed one.
      if (UsesSmallKernel(m, n, k, op_b)) {
        const float* a_ptr = reinterpret_cast<const float*>(a.data());
        Index lda = a.outerStride();
        if (op_a == Op::kT) {  // A = aᵀ: copy it column-major (m x k)
          float* t = reinterpret_cast<float*>(PackingBuffers::Grow(buf.t, buf.t_size, kSmallA));
          TransposeAvx512(k, m, a_ptr, lda, t, m);  // a is (k x m)
          a_ptr = t;
          lda = m;
        }
        SmallGemm(op_b == Op::kT, m, n, k, a_ptr, lda, reinterpret_cast<const float*>(b.data()), b.outerStride(),
                  reinterpret_cast<float*>(c.data()), c.outerStride(), accumulate,
                  reinterpret_cast<const float*>(bias));
        return;
      }
      float* pack_a = reinterpret_cast<float*>(PackingBuffers::Grow(buf.a, buf.a_size, kSgemmPackA));
      float* pack_b = reinterpret_cast<float*>(PackingBuffers::Grow(buf.b, buf.b_size, kSgemmPackB));
      SgemmAvx512(m, n, k, reinterpret_cast<const float*>(a.data()), a.outerStride(), op_a == Op::kT,
                  reinterpret_cast<const float*>(b.data()), b.outerStride(), op_b == Op::kT,
                  reinterpret_cast<float*>(c.data()), c.outerStride(), accumulate, pack_a, pack_b,
                  reinterpret_cast<const float*>(bias));
      return;
    }
  }
  if (bias != nullptr && !accumulate)
    c.colwise() = Eigen::Map<const Vec>(bias, m);
  else if (!accumulate)
    c.setZero();
  if (m == 0 || n == 0 || k == 0) return;
  // A column-major matrix read transposed is a row-major matrix with the same stride.
  const Index lda = a.outerStride(), ldb = b.outerStride(), ldc = c.outerStride();
  constexpr int kCol = Eigen::ColMajor, kRow = Eigen::RowMajor;
  if (op_a == Op::kN && op_b == Op::kN)
    KernelGemm<kCol, kCol>(m, n, k, a.data(), lda, b.data(), ldb, c.data(), ldc);
  else if (op_a == Op::kT && op_b == Op::kN)
    KernelGemm<kRow, kCol>(m, n, k, a.data(), lda, b.data(), ldb, c.data(), ldc);
  else if (op_a == Op::kN && op_b == Op::kT)
    KernelGemm<kCol, kRow>(m, n, k, a.data(), lda, b.data(), ldb, c.data(), ldc);
  else
    KernelGemm<kRow, kRow>(m, n, k, a.data(), lda, b.data(), ldb, c.data(), ldc);
}

void CheckGemmShapes(const char* where, const ConstMatRef& a, Op op_a, const ConstMatRef& b, Op op_b, const MatRef& c) {
  const Index m = op_a == Op::kN ? a.rows() : a.cols();
  const Index k = op_a == Op::kN ? a.cols() : a.rows();
  const Index kb = op_b == Op::kN ? b.rows() : b.cols();
  const Index n = op_b == Op::kN ? b.cols() : b.rows();
  if (k != kb || c.rows() != m || c.cols() != n)
    throw ShapeError(Concat(where, ": op(A) is (", m, ", ", k, "), op(B) is (", kb, ", ", n, "), C is (", c.rows(),
                            ", ", c.cols(), ")"));
}

}  // namespace

void ReservePacking(Index m, Index n, Index k) {
  // Inside a parallel item (a chunk of a batch, sim/train/batch_gradients.h) the products' items run on
  // this thread alone, and the other threads may be using their buffers: grow only this thread's.
  const bool nested = ThreadPool::Global().running();
  const int first = nested ? ThreadIndex() : 0, end = nested ? ThreadIndex() + 1 : NumThreads();
  Index kc, mc, nc;
  if (UseSgemm()) {  // fixed block sizes
    kc = 1;
    mc = static_cast<Index>(kSgemmPackA);
    nc = static_cast<Index>(kSgemmPackB);
    for (int t = first; t < end; ++t) PackingBuffers::Grow(g_packing[t].t, g_packing[t].t_size, kSmallA);
  } else {
    BlockingSizes(m, n, k, kc, mc, nc);
  }
  for (int t = first; t < end; ++t) {
    PackingBuffers& buf = g_packing[t];
    PackingBuffers::Grow(buf.a, buf.a_size, static_cast<size_t>(kc * mc));
    PackingBuffers::Grow(buf.b, buf.b_size, static_cast<size_t>(kc * nc));
  }
}

void GemmSerial(const ConstMatRef& a, Op op_a, const ConstMatRef& b, Op op_b, MatRef c, bool accumulate) {
  CheckGemmShapes("GemmSerial", a, op_a, b, op_b, c);
  ProductOps(a, op_a, b, op_b, c, accumulate);
}

namespace {

// Gemm and GemmBias: C = after(before(C) + op(A) op(B)), after(op(A) op(B)) or, with a bias (C's rows,
// accumulate=false), after(bias 1ᵀ + op(A) op(B)).
void TiledGemm(const ConstMatRef& a, Op op_a, const ConstMatRef& b, Op op_b, MatRef c, bool accumulate,
               const Scalar* bias, const TilePass& before, const TilePass& after) {
  const Index m = c.rows(), n = c.cols();
  const Index k = op_a == Op::kN ? a.cols() : a.rows();
  // One tile: the passes and the product on this thread.
  const float* packed_a = nullptr;  // op(A) packed whole for the column tiles, when they share it
  const auto product = [&](const ConstMatRef& a_part, Op op_a_part, const ConstMatRef& b_part, MatRef c_part,
                           Index row0, Index col0) {
    if (before) before(c_part, row0, col0);
    ProductOps(a_part, op_a_part, b_part, op_b, c_part, accumulate, bias == nullptr ? nullptr : bias + row0, packed_a);
    if (after) after(c_part, row0, col0);
  };
  if (static_cast<double>(m) * n * k < kMinTileWork) {
    product(a, op_a, b, c, 0, 0);
    return;
  }
  // Large output: independent tiles of C along its longer side.
  const Index extent = std::max(m, n);
  if (extent >= 2 * kMinOutputTile) {
    const bool split_cols = n >= m;
    // Column tiles on the packed kernel share one packing of op(A), made here: without it every tile
    // packed all of op(A) again (docs/benchmarks.md#shared-packing-of-a). Packing no longer grows
    // with the tile count, so these products take more, narrower tiles: less waiting at the end of
    // the loop for the thread with the last tile. Tiles depend on the shape only, never on the
    // thread count.
    const bool share_packed_a = split_cols && UseSgemm() && m * k > kSmallA;  // every tile on the packed kernel
    const int n_tiles =
        static_cast<int>(std::min<Index>(share_packed_a ? kMaxSharedATiles : kMaxTiles, extent / kMinOutputTile));
    Index tile = (extent + n_tiles - 1) / n_tiles;
    const Index quantum = share_packed_a ? kSharedATileQuantum : kTileQuantum;
    tile = (tile + quantum - 1) / quantum * quantum;
    ReservePacking(split_cols ? m : tile, split_cols ? tile : n, k);
    if constexpr (std::is_same_v<Scalar, float>) {
      if (share_packed_a) {  // op(A) packed panel by panel, in parallel
        PackingBuffers& own = g_packing[ThreadIndex()];
        float* buffer = reinterpret_cast<float*>(
            PackingBuffers::Grow(own.shared_packed_a, own.shared_packed_a_size, SgemmPackedASize(m, k)));
        const float* a_ptr = reinterpret_cast<const float*>(a.data());
        ParallelFor(static_cast<int>((m + kSgemmPanelRows - 1) / kSgemmPanelRows), [&](int panel) {
          SgemmPackA(m, k, a_ptr, a.outerStride(), op_a == Op::kT, panel, panel + 1, buffer);
        });
        packed_a = buffer;
      }
    }
    // Every column tile reads all of op(A): the unpacked kernel would transpose a transposed A once
    // per tile, so transpose it once here (the kernels see the same values either way: same bits).
    std::optional<ConstMatRef> a_transposed;  // op(A) (m, k), when made
    if (split_cols && op_a == Op::kT && UseSgemm() && m * k <= kSmallA) {
      PackingBuffers& own = g_packing[ThreadIndex()];
      MatMap a_t(PackingBuffers::Grow(own.shared_t, own.shared_t_size, static_cast<size_t>(kSmallA)), m, k);
      if constexpr (std::is_same_v<Scalar, float>)  // a is (k x m)
        TransposeAvx512(k, m, reinterpret_cast<const float*>(a.data()), a.outerStride(),
                        reinterpret_cast<float*>(a_t.data()), m);
      else
        a_t = a.transpose();
      a_transposed.emplace(a_t);
    }
    const ConstMatRef& a_shared = a_transposed ? *a_transposed : a;
    const Op op_a_shared = a_transposed ? Op::kN : op_a;
    ParallelFor(static_cast<int>((extent + tile - 1) / tile), [&](int i) {
      const Index start = i * tile, len = std::min(tile, extent - start);
      if (split_cols) {  // columns of C come from columns of op(B)
        if (op_b == Op::kN)
          product(a_shared, op_a_shared, b.middleCols(start, len), c.middleCols(start, len), 0, start);
        else
          product(a_shared, op_a_shared, b.middleRows(start, len), c.middleCols(start, len), 0, start);
      } else {  // rows of C come from rows of op(A)
        if (op_a == Op::kN)
          product(a.middleRows(start, len), op_a, b, c.middleRows(start, len), start, 0);
        else
          product(a.middleCols(start, len), op_a, b, c.middleRows(start, len), start, 0);
      }
    });
    return;
  }
  // Small output, long depth (weight gradients, dW = dY Xᵀ over all tokens): fixed-length chunks of
  // the depth give partial products, summed in chunk order.
  if (k >= 2 * kDepthChunk) {
    if (before) before(c, 0, 0);
    const int n_chunks = static_cast<int>((k + kDepthChunk - 1) / kDepthChunk);
    const Index block = m * n;
    ReservePacking(m, n, kDepthChunk);
    PackingBuffers& own = g_packing[ThreadIndex()];
    Scalar* partials = PackingBuffers::Grow(own.partials, own.partials_size, static_cast<size_t>(block) * n_chunks);
    ParallelFor(n_chunks, [&](int i) {
      const Index start = i * kDepthChunk, len = std::min(kDepthChunk, k - start);
      MatMap part(partials + i * block, m, n);
      const ConstMatRef a_part =
          op_a == Op::kN ? ConstMatRef(a.middleCols(start, len)) : ConstMatRef(a.middleRows(start, len));
      const ConstMatRef b_part =
          op_b == Op::kN ? ConstMatRef(b.middleRows(start, len)) : ConstMatRef(b.middleCols(start, len));
      ProductOps(a_part, op_a, b_part, op_b, part, false);
    });
    const int col_blocks = static_cast<int>((n + kTileQuantum - 1) / kTileQuantum);
    ParallelFor(col_blocks, [&](int j) {
      const Index start = j * kTileQuantum, len = std::min(kTileQuantum, n - start);
      auto dst = c.middleCols(start, len);
      if (bias != nullptr)
        dst.colwise() = Eigen::Map<const Vec>(bias, m);
      else if (!accumulate)
        dst.setZero();
      for (int i = 0; i < n_chunks; ++i) dst += MatMap(partials + i * block, m, n).middleCols(start, len);
      if (after) after(dst, 0, start);
    });
    return;
  }
  product(a, op_a, b, c, 0, 0);
}

// The --gemm-profile entries, by (m, n, k, op(A), op(B), form).
struct GemmProfile {
  std::atomic<bool> on{false};
  std::mutex mutex;
  std::map<std::tuple<Index, Index, Index, int, int, std::string>, GemmProfileEntry> entries;
};
GemmProfile& Profile() {
  static GemmProfile profile;
  return profile;
}

// Times one Gemm or GemmBias call into its entry, when profiling is on.
class GemmTimer {
 public:
  GemmTimer(const ConstMatRef& a, Op op_a, Op op_b, const MatRef& c, const char* form)
      : on_(Profile().on.load(std::memory_order_relaxed)) {
    if (!on_) return;
    entry_ = {c.rows(), c.cols(), op_a == Op::kN ? a.cols() : a.rows(), op_a, op_b, form, 1, 0.0};
    start_ = std::chrono::steady_clock::now();
  }
  ~GemmTimer() {
    if (!on_) return;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    GemmProfile& p = Profile();
    const std::lock_guard<std::mutex> lock(p.mutex);
    GemmProfileEntry& e = p.entries[{entry_.m, entry_.n, entry_.k, static_cast<int>(entry_.op_a),
                                     static_cast<int>(entry_.op_b), entry_.form}];
    if (e.calls == 0) {  // new entry
      e = entry_;
      e.calls = 0;
    }
    ++e.calls;
    e.seconds += seconds;
  }
  GemmTimer(const GemmTimer&) = delete;
  GemmTimer& operator=(const GemmTimer&) = delete;

 private:
  bool on_;
  GemmProfileEntry entry_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace

void SetGemmProfiling(bool on) { Profile().on.store(on); }

std::vector<GemmProfileEntry> TakeGemmProfile() {
  GemmProfile& p = Profile();
  const std::lock_guard<std::mutex> lock(p.mutex);
  std::vector<GemmProfileEntry> out;
  for (const auto& [key, entry] : p.entries) out.push_back(entry);
  p.entries.clear();
  std::stable_sort(out.begin(), out.end(),
                   [](const GemmProfileEntry& x, const GemmProfileEntry& y) { return x.seconds > y.seconds; });
  return out;
}

void Gemm(const ConstMatRef& a, Op op_a, const ConstMatRef& b, Op op_b, MatRef c, bool accumulate,
          const TilePass& before, const TilePass& after) {
  const GemmTimer timer(a, op_a, op_b, c, accumulate ? "C += AB" : "C = AB");
  CheckGemmShapes("Gemm", a, op_a, b, op_b, c);
  SIM_CHECK(accumulate || !before, "Gemm: a `before` pass needs accumulate=true (the product is added to it)");
  TiledGemm(a, op_a, b, op_b, c, accumulate, nullptr, before, after);
}

void GemmBias(const ConstMatRef& a, Op op_a, const ConstMatRef& b, Op op_b, const ConstVecRef& bias, MatRef c,
              const TilePass& after) {
  const GemmTimer timer(a, op_a, op_b, c, "C = b + AB");
  CheckGemmShapes("GemmBias", a, op_a, b, op_b, c);
  if (bias.size() != c.rows())
    throw ShapeError(Concat("GemmBias: bias has ", bias.size(), " entries, C has ", c.rows(), " rows"));
  TiledGemm(a, op_a, b, op_b, c, false, bias.data(), TilePass(), after);
}

}  // namespace sim
