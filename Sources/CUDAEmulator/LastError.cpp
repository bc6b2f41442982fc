// Per-thread record of the last failure's detail (see LastError.h).

#include "LastError.h"

namespace cuemu {
namespace {
thread_local int lastCode = 0;
thread_local std::string lastDetail;
thread_local std::string described;
}  // namespace

int fail(int code, const std::string& detail) {
    lastCode = code;
    lastDetail = detail;
    return code;
}

const char* describe_failure(int code, const char* standard) {
    if (code != lastCode || lastDetail.empty()) return standard;
    described = std::string(standard) + " (CUDA emulator: " + lastDetail + ")";
    return described.c_str();
}

}  // namespace cuemu
