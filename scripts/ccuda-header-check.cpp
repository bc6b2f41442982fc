// Compiled (never run) by scripts/check-ccuda-header.sh: holds Sources/CCUDA/include/ccuda.h, which gpt2 and the
// CUDA emulator share, against NVIDIA's own headers (cuda.h, nvrtc.h, cublasLt.h). The emulator reads ccuda.h too,
// so a wrong value or signature there would pass every emulated test and fail only on a GPU.
// The script generates the four lists included below from ccuda.h and the Swift sources:
//   ccuda-renames.inc    `#define NAME ours_NAME` for each type and struct tag ccuda.h declares (undone on a 2nd read);
//   ccuda-structs.inc    SAME_STRUCT(NAME) for each struct tag or struct type among them;
//   ccuda-constants.inc  CHECK_CONSTANT(ours, real) for each value in ccuda.h's enums;
//   ccuda-functions.inc  CHECK_FUNCTION(PFN_type, symbol) for each library.function("symbol", as: PFN_type.self),
//                        or CHECK_KEPT_FUNCTION for a symbol the script lists as looked up unversioned on purpose.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

// ccuda.h's declarations under other names, so that they stand beside the real ones.
#include "ccuda-renames.inc"
#include "ccuda.h"
#define CCUDA_HEADER_CHECK_UNDO
#include "ccuda-renames.inc"

#include <cuda.h>
#include <nvrtc.h>
#include <cublasLt.h>

/// A type as the calling convention sees it: an enum becomes the signed integer of its size (ccuda.h declares the
/// status and attribute enums as int), pointers and const go through, each struct ccuda.h names stands for the real
/// one of that name (handles point to them; the two cuBLASLt structs passed by pointer have their layouts asserted
/// below), and a function type maps its result and parameters.
template <class T, class = void> struct Abi { using type = T; };
template <class T> struct Abi<T, std::enable_if_t<std::is_enum_v<T> && !std::is_const_v<T>>> {
    using type = std::make_signed_t<std::underlying_type_t<T>>;
};
template <class T> struct Abi<const T, std::enable_if_t<!std::is_function_v<T>>> {
    using type = const typename Abi<T>::type;
};
template <class T> struct Abi<T *, void> { using type = typename Abi<T>::type *; };
template <class R, class... Parameters> struct Abi<R(Parameters...), void> {
    using type = typename Abi<R>::type(typename Abi<Parameters>::type...);
};
#define SAME_STRUCT(name) \
    template <> struct Abi<ours_##name, void> { using type = name; };
#include "ccuda-structs.inc"

#define SAME_LAYOUT(ours, real, field) \
    static_assert(offsetof(ours, field) == offsetof(real, field), #real "." #field " is elsewhere in ccuda.h's copy");
static_assert(sizeof(ours_cublasLtMatmulAlgo_t) == sizeof(cublasLtMatmulAlgo_t), "cublasLtMatmulAlgo_t's size differs");
static_assert(sizeof(ours_cublasLtMatmulHeuristicResult_t) == sizeof(cublasLtMatmulHeuristicResult_t),
              "cublasLtMatmulHeuristicResult_t's size differs");
SAME_LAYOUT(ours_cublasLtMatmulHeuristicResult_t, cublasLtMatmulHeuristicResult_t, algo)
SAME_LAYOUT(ours_cublasLtMatmulHeuristicResult_t, cublasLtMatmulHeuristicResult_t, workspaceSize)
SAME_LAYOUT(ours_cublasLtMatmulHeuristicResult_t, cublasLtMatmulHeuristicResult_t, state)
SAME_LAYOUT(ours_cublasLtMatmulHeuristicResult_t, cublasLtMatmulHeuristicResult_t, wavesCount)
static_assert(sizeof(ours_CUdeviceptr) == sizeof(CUdeviceptr), "CUdeviceptr's size differs");

#define CHECK_CONSTANT(ours, real) \
    static_assert(static_cast<long long>(ours) == static_cast<long long>(real), #ours " differs from " #real);
#include "ccuda-constants.inc"

// The symbol gpt2 looks up must be the function's own exported name: where cuda.h maps a name to a versioned one
// (cuMemAlloc to cuMemAlloc_v2), the unversioned export is an older ABI. Spelled after macro expansion, the name
// must be unchanged, and its type must match the PFN_ type gpt2 casts it to.
#define SPELLED(name) #name
#define EXPANDED(name) SPELLED(name)
#define SAME_FUNCTION_TYPE(pfn, symbol) \
    static_assert(std::is_same_v<Abi<pfn>::type, Abi<decltype(&symbol)>::type>, #pfn " does not match " #symbol "'s declaration");
#define CHECK_FUNCTION(pfn, symbol)                                                                 \
    static_assert(std::string_view(EXPANDED(symbol)) == #symbol,                                    \
                  #symbol " is " EXPANDED(symbol) " in the real header: look that name up instead"); \
    SAME_FUNCTION_TYPE(pfn, symbol)
// A versioned function whose older export (with the same type, which every driver keeps) gpt2 looks up on purpose.
#define CHECK_KEPT_FUNCTION(pfn, symbol) \
    static_assert(std::string_view(EXPANDED(symbol)) != #symbol, #symbol " is not versioned: drop its exception"); \
    SAME_FUNCTION_TYPE(pfn, symbol)
#include "ccuda-functions.inc"
