// launch.cpp — a kernel launch: validation as CUDA does it (block/grid limits, dynamic shared
// memory against cudaFuncSetAttribute, host pointers among the arguments), then the blocks in
// increasing linear blockIdx order on a persistent pool of worker threads (CUEMU_WORKERS, default
// min(hardware threads, 8); the launching thread is worker 0). Launches are serialised: the
// emulated device runs one stream in order. Also the emulator's configuration and controls, and
// the per-kernel launch counts and log the tests read.
#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "engine.h"

namespace cuemu::engine {
namespace {

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}
double env_double(const char* name, double fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atof(v) : fallback;
}

}  // namespace

Config::Config() {
  const char* o = std::getenv("CUEMU_ORDER");
  if (o && std::string(o) == "reverse") order = static_cast<int>(Order::reverse);
  if (o && std::string(o) == "random") order = static_cast<int>(Order::random);
  seed = static_cast<std::uint64_t>(env_int("CUEMU_SEED", 0));
  spin_limit = env_int("CUEMU_SPIN", 16);
  timeout_s = env_double("CUEMU_TIMEOUT", 60.0);
#if defined(CUEMU_ASAN)
  stack_bytes = 256 * 1024;
#endif
  stack_bytes = static_cast<std::size_t>(env_int("CUEMU_STACK_KB", static_cast<int>(stack_bytes / 1024))) * 1024;
}

Config& config() {
  static Config c;
  return c;
}

namespace {

std::mutex g_failure_mutex;
std::string g_last_failure;

// ---- the worker pool ---------------------------------------------------------------------------------
struct Job {
  const LaunchSpec* spec = nullptr;
  std::atomic<unsigned> next{0};
  unsigned nblocks = 0;
  Failure failure;
  std::mutex failure_mutex;
};

void work_on(Job& job) {
  install_segv_handler();  // every worker: its fibers overflow on its own thread
  Worker& w = this_worker();
  w.launch = job.spec;
  Failure local;
  w.failure = &local;
  if (w.dyn_smem_bytes < job.spec->smem) {
    std::free(w.dyn_smem);
    w.dyn_smem = std::malloc(job.spec->smem);
    w.dyn_smem_bytes = job.spec->smem;
  }
  for (;;) {
    if (job.failure.failed) break;
    const unsigned b = job.next.fetch_add(1);
    if (b >= job.nblocks) break;
    run_block(w, *job.spec, b);
    if (local.failed) {
      std::lock_guard<std::mutex> lock(job.failure_mutex);
      if (!job.failure.failed) job.failure = local;
      break;
    }
  }
  w.failure = nullptr;
  w.launch = nullptr;
}

class Pool {
 public:
  explicit Pool(int n) {
    for (int i = 1; i < n; ++i) threads_.emplace_back([this] { loop(); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(m_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  int size() const { return static_cast<int>(threads_.size()) + 1; }

  void run(Job& job) {
    {
      std::lock_guard<std::mutex> lock(m_);
      job_ = &job;
      ++generation_;
      busy_ = static_cast<int>(threads_.size());
    }
    cv_.notify_all();
    work_on(job);  // the launching thread is worker 0
    std::unique_lock<std::mutex> lock(m_);
    done_cv_.wait(lock, [this] { return busy_ == 0; });
    job_ = nullptr;
  }

 private:
  void loop() {
    std::uint64_t seen = 0;
    for (;;) {
      Job* job = nullptr;
      {
        std::unique_lock<std::mutex> lock(m_);
        cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        job = job_;
      }
      work_on(*job);
      {
        std::lock_guard<std::mutex> lock(m_);
        --busy_;
      }
      done_cv_.notify_all();
    }
  }

  std::vector<std::thread> threads_;
  std::mutex m_;
  std::condition_variable cv_, done_cv_;
  Job* job_ = nullptr;
  std::uint64_t generation_ = 0;
  int busy_ = 0;
  bool stop_ = false;
};

std::mutex g_launch_mutex;  // one launch at a time: the device runs one stream in order
std::unique_ptr<Pool> g_pool;
int g_requested_workers = 0;

int default_workers() {
  const int hw = static_cast<int>(std::thread::hardware_concurrency());
  return env_int("CUEMU_WORKERS", std::clamp(hw, 1, 8));
}

Pool& pool() {
  if (!g_pool) g_pool = std::make_unique<Pool>(g_requested_workers > 0 ? g_requested_workers : default_workers());
  return *g_pool;
}

std::mutex g_attr_mutex;
std::unordered_map<const void*, int> g_max_dyn_smem;

// ---- launch log: which kernels the suite executed (tests/check_kernel_coverage.sh) -------------
// With CUEMU_LAUNCH_LOG=path, the first launch of each kernel in a process appends its name (the
// identifier GPU_LAUNCH was given, without template arguments or qualifiers) as one line.
std::string kernel_identifier(const char* spelled) {
  std::string s(spelled);
  s.erase(std::remove(s.begin(), s.end(), '('), s.end());
  s.erase(std::remove(s.begin(), s.end(), ')'), s.end());
  if (auto lt = s.find('<'); lt != std::string::npos) s.resize(lt);
  if (auto colon = s.rfind("::"); colon != std::string::npos) s = s.substr(colon + 2);
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

// Launches per kernel identifier since the process started, for cuemu::launch_count: tests name the
// kernels their workload must have run, so a cuda-emu path that silently fell back to host code, or
// a launcher that stopped calling one of its kernels, fails the test instead of passing trivially.
std::mutex g_count_mutex;
std::map<std::string, std::uint64_t, std::less<>> g_launch_counts;

void log_launch(const char* name) {
  const std::string id = kernel_identifier(name);
  {
    std::lock_guard<std::mutex> lock(g_count_mutex);
    ++g_launch_counts[id];
  }
  static const char* path = std::getenv("CUEMU_LAUNCH_LOG");
  if (!path || !*path) return;
  static std::mutex m;
  static std::set<std::string> seen;
  std::lock_guard<std::mutex> lock(m);
  if (!seen.insert(id).second) return;
  if (FILE* f = std::fopen(path, "a")) {
    std::fprintf(f, "%s\n", id.c_str());
    std::fclose(f);
  }
}

}  // namespace
}  // namespace cuemu::engine

namespace cuemu {
using namespace engine;

// ---- public: launch --------------------------------------------------------------------------------
cudaError_t launch_spec(const LaunchSpec& L) {
  const unsigned long long threads = 1ull * L.block.x * L.block.y * L.block.z;
  if (threads == 0 || threads > 1024 || L.block.x > 1024 || L.block.y > 1024 || L.block.z > 64 || L.grid.x == 0 ||
      L.grid.y == 0 || L.grid.z == 0 || L.grid.x > 2147483647u || L.grid.y > 65535 || L.grid.z > 65535)
    return record(cudaErrorInvalidConfiguration);
  int limit = 48 * 1024;
  {
    std::lock_guard<std::mutex> lock(g_attr_mutex);
    auto it = g_max_dyn_smem.find(L.func);
    if (it != g_max_dyn_smem.end()) limit = std::max(limit, it->second);
  }
  if (L.smem > static_cast<std::size_t>(limit)) return record(cudaErrorInvalidValue);
  if (L.bad_pointer_arg >= 0) {
    std::fprintf(stderr, "cuemu: kernel %s: argument #%d is a host pointer, not device memory\n", L.name,
                 L.bad_pointer_arg);
    return record(cudaErrorInvalidValue);
  }
  std::lock_guard<std::mutex> lock(g_launch_mutex);
  install_segv_handler();
  log_launch(L.name);
  Job job;
  job.spec = &L;
  job.nblocks = L.grid.x * L.grid.y * L.grid.z;
  pool().run(job);
  if (job.failure.failed) {
    {
      std::lock_guard<std::mutex> fl(g_failure_mutex);
      g_last_failure = job.failure.message;
    }
    std::fprintf(stderr, "cuemu: %s\n", job.failure.message.c_str());
    return record(job.failure.code);
  }
  return cudaSuccess;
}

cudaError_t detail::set_func_attribute(const void* func, cudaFuncAttribute attr, int value) {
  if (attr == cudaFuncAttributeMaxDynamicSharedMemorySize) {
    if (value < 0 || value > 227 * 1024) return record(cudaErrorInvalidValue);
    std::lock_guard<std::mutex> lock(g_attr_mutex);
    g_max_dyn_smem[func] = value;
  }
  return cudaSuccess;
}

// ---- public: controls --------------------------------------------------------------------------------
void set_order(Order o, std::uint64_t seed) {
  config().order = static_cast<int>(o);
  config().seed = seed;
}
Order order() { return static_cast<Order>(config().order.load()); }
std::uint64_t order_seed() { return config().seed.load(); }
const char* order_name(Order o) {
  static constexpr const char* names[] = {"forward", "reverse", "random"};  // in Order's order
  return names[static_cast<int>(o)];
}
void set_workers(int n) {
  std::lock_guard<std::mutex> lock(g_launch_mutex);
  g_pool.reset();
  g_requested_workers = n;
}
int workers() {
  std::lock_guard<std::mutex> lock(g_launch_mutex);
  return pool().size();
}
void set_timeout(double seconds) { config().timeout_s = seconds; }
std::uint64_t launch_count(std::string_view kernel) {
  std::lock_guard<std::mutex> lock(g_count_mutex);
  auto it = g_launch_counts.find(kernel);
  return it == g_launch_counts.end() ? 0 : it->second;
}

const char* last_failure() {
  static thread_local std::string copy;
  std::lock_guard<std::mutex> lock(g_failure_mutex);
  copy = g_last_failure;
  return copy.c_str();
}

}  // namespace cuemu
