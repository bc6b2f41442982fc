// See Versions.h.

#include "Versions.h"

#include <cstdlib>

namespace cuemu {
namespace {

/// The whole number `variable` holds, within [lowest, limit); `fallback` when it is unset or empty, 0 when it holds
/// anything else.
int setting(const char* variable, int fallback, long lowest, long limit) {
    const char* text = std::getenv(variable);
    if (!text || !*text) return fallback;
    char* end = nullptr;
    const long value = std::strtol(text, &end, 10);
    return *end == '\0' && value >= lowest && value < limit ? int(value) : 0;
}

}  // namespace

int driver_version() {
    static const int version = setting("GPT2_CUDA_EMULATOR_DRIVER_VERSION", 13000, 1000, 100000);
    return version;
}

int cublaslt_version() {
    static const int version = setting("GPT2_CUDA_EMULATOR_CUBLASLT_VERSION", 130000, 10000, 1000000);
    return version;
}

}  // namespace cuemu
