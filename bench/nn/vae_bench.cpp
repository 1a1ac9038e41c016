// VAE training throughput (samples/s) per backend: one epoch of minibatch Adam training over
// resident data, for the text VAE (5000 -> 512 -> latent 32, sigmoid output, BCE) and the audio
// VAE (40 -> 128 -> 64 -> latent 16, MSE), at batch 64, 256 and 1024. bench/nn/torch_vae_bench.py
// trains the same models with PyTorch on the CPU and prints the ratio to these numbers.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <string>

#include "core/backend.h"
#include "nn/vae.h"
#include "nn/vae_net.h"
#include "support/backends.h"

namespace {

hmr::nn::VaeConfig model_config(bool text, int batch) {
  hmr::nn::VaeConfig c;
  if (text) {
    c.input_dim = 5000;
    c.hidden = {512};
    c.latent = 32;
    c.output = hmr::nn::Output::sigmoid;
    c.loss = hmr::nn::Loss::bce;
  } else {
    c.input_dim = 40;
    c.hidden = {128, 64};
    c.latent = 16;
  }
  c.batch = batch;
  return c;
}

// sparse_input: the text VAE's first layer from CSR rows (the default; false = dense GEMMs).
// fuse = false: the cpu engine without fused updates (CpuEngineOptions::fuse_updates), for an A/B.
void BM_VaeTrainEpoch(benchmark::State& state, const char* device, bool text, bool sparse_input = true,
                      bool fuse = true, bool fuse_output = true) {
  auto b = hmr::bench::backend_or_skip(state, device);
  if (!b) return;
  const int batch = static_cast<int>(state.range(0));
  auto c = model_config(text, batch);
  c.sparse_input = sparse_input;
  const std::int64_t n = text ? 4096 : 16384;
  hmr::Matrix x(n, c.input_dim);
  std::mt19937 rng(1);
  if (text) {  // TF-IDF-like: sparse non-negative rows
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    for (auto& v : x.vec()) v = u(rng) < 0.01f ? u(rng) : 0.0f;
  } else {
    std::normal_distribution<float> g;
    for (auto& v : x.vec()) v = g(rng);
  }
  hmr::nn::CpuEngineOptions o;
  o.fuse_updates = fuse;
  o.fuse_output = fuse_output;
  auto engine = std::string(device) == "cpu" ? hmr::nn::make_cpu_engine(c, o) : hmr::nn::make_engine(*b, c);
  engine->set_params(hmr::nn::init_vae(c, 1).params);
  engine->set_data(x);
  std::vector<std::int32_t> perm(static_cast<std::size_t>(n));
  std::iota(perm.begin(), perm.end(), 0);
  // Warm-up over two batches, as bench/nn/torch_vae_bench.py does for PyTorch: the first touch of
  // the step buffers, Adam's moments and OpenBLAS's packing buffers is set-up, not throughput
  // (an epoch of the text VAE takes ~1 s, so Google Benchmark times a single one).
  engine->epoch(std::vector<std::int32_t>(perm.begin(), perm.begin() + std::min<std::int64_t>(n, 2 * batch)), 1.0f, 1);
  std::uint64_t epoch = 1;
  for (auto _ : state) {
    const auto l = engine->epoch(perm, 1.0f, ++epoch);  // returns after the device finished
    benchmark::DoNotOptimize(l.recon);
  }
  state.SetItemsProcessed(state.iterations() * n);
  state.counters["graph"] = engine->graph_used() ? 1 : 0;
}

#define HMR_VAE_BENCH(name, device, ...)                         \
  BENCHMARK_CAPTURE(BM_VaeTrainEpoch, name, device, __VA_ARGS__) \
      ->Arg(64)                                                  \
      ->Arg(256)                                                 \
      ->Arg(1024)                                                \
      ->UseRealTime()                                            \
      ->MeasureProcessCPUTime()                                  \
      ->Unit(benchmark::kMillisecond)
HMR_VAE_BENCH(audio_40_128_64_16_cpu, "cpu", false);
HMR_VAE_BENCH(audio_40_128_64_16_cuda, "cuda", false);
HMR_VAE_BENCH(text_5000_512_32_cpu, "cpu", true);
HMR_VAE_BENCH(text_5000_512_32_cuda, "cuda", true);
HMR_VAE_BENCH(text_5000_512_32_dense_cpu, "cpu", true, false);  // the dense first layer, for comparison
HMR_VAE_BENCH(text_5000_512_32_dense_cuda, "cuda", true, false);
HMR_VAE_BENCH(text_5000_512_32_unfused_cpu, "cpu", true, true, false);               // no fused updates, for an A/B
HMR_VAE_BENCH(text_5000_512_32_unfused_output_cpu, "cpu", true, true, true, false);  // the first layer's only

}  // namespace
