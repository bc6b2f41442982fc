/// The fused classifier: per row of logits, softmax, cross-entropy loss and the logits' gradient in two
/// passes over the bf16 row, never materialising fp32 probabilities over the (padded) vocabulary.
#include "common.cuh"

// The 8 logits of columns [8c, 8c + 8) from p (16-byte aligned) as fp32; columns at or past the vocabulary's
// end (k ≥ valid) as −inf, which the softmax turns into 0. Called with valid = 8 for the chunks inside the
// vocabulary, where the masking compiles away.
__device__ __forceinline__ void load_logits(float (&values)[8], const bf16* p, int valid) {
    const Pack8 chunk = load8(p);
    for (int k = 0; k < 8; k++) values[k] = to_float(chunk.values[k]);
    if (valid < 8)
        for (int k = 0; k < 8; k++)
            if (k >= valid) values[k] = -CUDART_INF_F;
}

// Pass 1 over one chunk (valid ≥ 1 columns of it below V): folds its logits into this thread's online
// (max, sum of exp(logit − max)).
__device__ __forceinline__ void softmax_statistics(float& thread_max, float& thread_sum, const bf16* p, int valid) {
    float values[8];
    load_logits(values, p, valid);
    float chunk_max = values[0];   // finite: the chunk's first column is below V
    for (int k = 1; k < 8; k++) chunk_max = fmaxf(chunk_max, values[k]);
    if (chunk_max > thread_max) {   // rescale what is summed so far to the new max (0 · 0 on the first chunk)
        thread_sum *= exp2_approx((thread_max - chunk_max) * LOG2_E);
        thread_max = chunk_max;
    }
    const float max_log2 = thread_max * LOG2_E;
    for (int k = 0; k < 8; k++) thread_sum += exp2_approx(fmaf(values[k], LOG2_E, -max_log2));
}

// Pass 2 over chunk c (valid columns of it below V, none if valid ≤ 0): overwrites its logits with
// (softmax − onehot(target)) · dloss_scale, 0 past V.
__device__ __forceinline__ void write_gradients(bf16* x, int c, int valid, int target, float lse_log2, float dloss_scale) {
    float values[8];
    load_logits(values, x + 8 * c, valid);
    float probabilities[8];
    Pack8 gradients;
    for (int k = 0; k < 8; k++) {
        probabilities[k] = exp2_approx(fmaf(values[k], LOG2_E, -lse_log2));   // 0 past V
        gradients.values[k] = to_bf16(probabilities[k] * dloss_scale);
    }
    if (c == target / 8)   // the one chunk holding the target: its column gets (p − 1) · dloss_scale
        for (int k = 0; k < 8; k++)
            if (8 * c + k == target) gradients.values[k] = to_bf16((probabilities[k] - 1.0f) * dloss_scale);
    store8(x + 8 * c, gradients);
}

// losses (N) fp32 = −log softmax(logits (N,Vp) bf16 [:, :V])[targets (N) int32], N = B*T rows.
// With write_dlogits ≠ 0, logits are overwritten (=) by dloss/dlogits · dloss_scale in bf16:
// (softmax − onehot(target)) · dloss_scale for the first V columns, 0 for the padding columns V..<Vp.
// Pass 1 keeps, per thread, an online (max, sum of exp) over its columns; the block merges them into the
// row's log-sum-exp. Pass 2 recomputes each probability from the logit and writes the gradient.
// Exponentials are taken in base 2, exp(x − m) = 2^(x·log2(e) − m·log2(e)): one FFMA and one ex2 per logit.
// Both passes run over the chunks of 8 columns wholly inside the vocabulary first, with no per-column
// checks; the few chunks holding the vocabulary's end and the padding come after.
// The row is read and written 16 bytes (8 columns) at a time, so Vp must be a multiple of 8 (rows then
// start 16-byte aligned); the kernel traps otherwise.
// grid N, block 512 (any multiple of 32): one block per row.
extern "C" __global__ void classifier_forward_backward(bf16* logits, float* losses, const int* targets,
                                                       float dloss_scale, int write_dlogits, int N, int V, int Vp) {
    if (Vp % 8 != 0) __trap();
    const int row = blockIdx.x;
    if (row >= N) return;   // whole block
    bf16* x = logits + (size_t)row * Vp;
    const int target = targets[row];
    const float target_logit = to_float(x[target]);   // read before pass 2 overwrites it
    const int chunks = Vp / 8, full_chunks = V / 8;   // full: all 8 columns below V

    float thread_max = -CUDART_INF_F, thread_sum = 0.0f;
    for (int c = threadIdx.x; c < full_chunks; c += blockDim.x) softmax_statistics(thread_max, thread_sum, x + 8 * c, 8);
    if (V % 8 != 0 && threadIdx.x == 0) softmax_statistics(thread_max, thread_sum, x + 8 * full_chunks, V % 8);
    const float row_max = block_max(thread_max);
    // Threads that saw no column (V < 8·blockDim.x) have sum 0 and max −inf: contribute 0, not NaN.
    const float scaled = thread_sum > 0.0f ? thread_sum * exp2_approx((thread_max - row_max) * LOG2_E) : 0.0f;
    const float log_sum_exp = row_max + logf(block_sum(scaled));
    if (threadIdx.x == 0) losses[row] = log_sum_exp - target_logit;

    if (!write_dlogits) return;
    const float lse_log2 = log_sum_exp * LOG2_E;
    for (int c = threadIdx.x; c < full_chunks; c += blockDim.x) write_gradients(x, c, 8, target, lse_log2, dloss_scale);
    for (int c = full_chunks + threadIdx.x; c < chunks; c += blockDim.x)
        write_gradients(x, c, V - 8 * c, target, lse_log2, dloss_scale);
}
