// The detail behind the emulator's last failing call, which cuGetErrorString and cublasLtGetStatusString
// append to the standard message, so a test failure says what was wrong and not just the code.
#pragma once

#include <string>

namespace cuemu {

/// Records `detail` for `code` (per thread) and returns `code`.
int fail(int code, const std::string& detail);
/// "standard text: detail" when `code` was the calling thread's last failure, else the standard text.
const char* describe_failure(int code, const char* standard);

}  // namespace cuemu
