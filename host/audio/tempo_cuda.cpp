// audio/tempo_cuda.cpp — the cuda backend of onset strength and tempo (host side). Placeholder.
#include "audio/tempo_cuda.h"

#include "core/error.h"

namespace hmr::HMR_CUDA_NS {

std::vector<std::vector<float>> onset_strength_cuda(Backend&, const std::vector<std::span<const float>>&,
                                                    const audio::TempoParams&, audio::OnsetAggregate) {
  input_error("onset_strength: the cuda backend is not implemented yet");
}
std::vector<double> beat_tempo_cuda(Backend&, const std::vector<std::span<const float>>&, const audio::TempoParams&) {
  input_error("tempo: the cuda backend is not implemented yet");
}

}  // namespace hmr::HMR_CUDA_NS
