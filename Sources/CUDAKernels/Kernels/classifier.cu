/// The fused classifier: per row of logits, softmax, cross-entropy loss and the logits' gradient in two
/// passes over the bf16 row, never materialising fp32 probabilities over the (padded) vocabulary.
#include "common.cuh"

// losses (N) fp32 = −log softmax(logits (N,Vp) bf16 [:, :V])[targets (N) int32], N = B*T rows.
// With write_dlogits ≠ 0, logits are overwritten (=) by dloss/dlogits · dloss_scale in bf16:
// (softmax − onehot(target)) · dloss_scale for the first V columns, 0 for the padding columns V..<Vp.
// Pass 1 keeps, per thread, an online (max, sum of exp) over its columns; the block merges them into the
// row's log-sum-exp. Pass 2 recomputes each probability from the logit and writes the gradient.
// The row is read and written 16 bytes (8 columns) at a time, so Vp must be a multiple of 8 (rows then
// start 16-byte aligned); the kernel traps otherwise.
// grid N, block 1024 (any multiple of 32): one block per row.
extern "C" __global__ void classifier_forward_backward(bf16* logits, float* losses, const int* targets,
                                                       float dloss_scale, int write_dlogits, int N, int V, int Vp) {
    if (Vp % 8 != 0) __trap();
    const int row = blockIdx.x;
    if (row >= N) return;   // whole block
    bf16* x = logits + (size_t)row * Vp;
    const int target = targets[row];
    const float target_logit = to_float(x[target]);   // read before pass 2 overwrites it
    const int chunks = Vp / 8;

    float thread_max = -CUDART_INF_F, thread_sum = 0.0f;
    for (int c = threadIdx.x; c < chunks; c += blockDim.x) {
        const Pack8 chunk = load8(x + 8 * c);
        const int valid = min(8, V - 8 * c);   // columns of this chunk inside the vocabulary (≤ 0: padding only)
        float chunk_max = -CUDART_INF_F;
        for (int k = 0; k < valid; k++) chunk_max = fmaxf(chunk_max, to_float(chunk.values[k]));
        if (valid <= 0) continue;
        if (chunk_max > thread_max) {   // rescale what is summed so far to the new max
            thread_sum *= __expf(thread_max - chunk_max);
            thread_max = chunk_max;
        }
        for (int k = 0; k < valid; k++) thread_sum += __expf(to_float(chunk.values[k]) - thread_max);
    }
    const float row_max = block_max(thread_max);
    // Threads that saw no column (V < 8·blockDim.x) have sum 0 and max −inf: contribute 0, not NaN.
    const float scaled = thread_sum > 0.0f ? thread_sum * __expf(thread_max - row_max) : 0.0f;
    const float log_sum_exp = row_max + logf(block_sum(scaled));
    if (threadIdx.x == 0) losses[row] = log_sum_exp - target_logit;

    if (!write_dlogits) return;
    for (int c = threadIdx.x; c < chunks; c += blockDim.x) {
        Pack8 chunk = load8(x + 8 * c);
        for (int k = 0; k < 8; k++) {
            const int v = 8 * c + k;
            float grad = 0.0f;
            if (v < V) {
                const float probability = __expf(to_float(chunk.values[k]) - log_sum_exp);
                grad = (probability - (v == target ? 1.0f : 0.0f)) * dloss_scale;
            }
            chunk.values[k] = to_bf16(grad);
        }
        store8(x + 8 * c, chunk);
    }
}
