/// Multi-tensor AdamW: one launch updates every parameter tensor of the flat buffers, on fp32 master
/// weights, writing the bf16 copy back; gradients are scaled down first when the global norm exceeds the clip.
#include "common.cuh"

// One parameter tensor: where it lies in the flat buffers and its weight decay (0 for biases and norms).
// Laid out as the host writes it: 8-byte offset, 8-byte count, 4-byte weight decay, 4 bytes padding.
struct AdamWTensor {
    unsigned long long offset;
    unsigned long long count;
    float weight_decay;
    float padding;
};

// For every tensor in tensors (tensor_count) and every i in it, with g = grads[i] · clip · grad_scale:
//   m = β1·m + (1−β1)·g;  v = β2·v + (1−β2)·g²;
//   master −= lr · ((m / correction1) / (√(v / correction2) + ε) + weight_decay · master);  params = bf16(master)
// master, grads, m, v (P) fp32 and params (P) bf16 are the flat buffers (P parameters in all).
// clip = max_norm / √norm_squared when that is below 1, else 1; norm_squared (1) fp32 is on the device
// (from norm_squared_final), so clipping needs no host round trip. Pass max_norm ≤ 0 to disable it.
// grad_scale is a clip factor computed on the host: the multi-tensor optimizer step passes max_norm and
// grad_scale 1 (it clips on the device); the per-tensor update passes max_norm 0 and the host's factor.
// correction1 = 1 − β1^step and correction2 = 1 − β2^step come from the host (step counts from 1).
// grid (blocks per tensor, tensor_count), block 256.
extern "C" __global__ void adamw_update(float* master, bf16* params, const float* grads, float* m, float* v,
                                        const AdamWTensor* tensors, int tensor_count, const float* norm_squared,
                                        float max_norm, float grad_scale, float learning_rate, float beta1, float beta2,
                                        float epsilon, float correction1, float correction2) {
    if (blockIdx.y >= tensor_count) return;
    const AdamWTensor tensor = tensors[blockIdx.y];
    float clip = 1.0f;
    if (max_norm > 0.0f) {
        const float norm = sqrtf(*norm_squared);
        if (norm > max_norm) clip = max_norm / norm;
    }
    for (unsigned long long k = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x; k < tensor.count;
         k += (unsigned long long)gridDim.x * blockDim.x) {
        const size_t i = tensor.offset + k;
        const float g = grads[i] * clip * grad_scale;
        const float first = beta1 * m[i] + (1.0f - beta1) * g;
        const float second = beta2 * v[i] + (1.0f - beta2) * g * g;
        m[i] = first;
        v[i] = second;
        const float direction = (first / correction1) / (sqrtf(second / correction2) + epsilon);
        const float updated = master[i] - learning_rate * (direction + tensor.weight_decay * master[i]);
        master[i] = updated;
        params[i] = to_bf16(updated);
    }
}
