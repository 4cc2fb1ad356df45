"""Calibrated inference-server profiles: published measurements turned into the twin's model.

Each (model, GPU) pair is built from numbers its sources published, kept here as they were
published (milliseconds, tokens) and fitted at import, so that the fit can be re-checked:

* ``llama-2-70b`` on 4 x ``h100`` and 4 x ``a100`` (tensor parallel 4, FP16, vLLM): the
  Splitwise authors' own profiling of vLLM (Patel et al., ISCA 2024; the performance model of
  their simulator, ``Mutinifni/splitwise-sim``, ``data/perf_model.csv``, median of 5 runs):
  prompt (prefill) time by prompt length at batch 1, and per-token time by batch size for
  512-token prompts generating 128 tokens.
* ``llama-2-7b`` on one ``a100`` (FP16, TensorRT-LLM): NVIDIA's NeMo Framework user guide
  ("Llama-2 results, inference performance", A100 80GB SXM4, 128 input and 20 output tokens:
  mean latency 234.0 / 249.6 / 272.6 / 329.5 ms at batch 1 / 2 / 4 / 8) for decode, and
  TensorRT-LLM's performance page (v0.6.1, ``docs/source/performance.md``, A100 FP16 LLaMA 7B,
  batch 1: first token in 16 ms for 128 input tokens, 133 ms for 2048) for prefill.

What the measurements do not give is derived from datasheets and model configurations, and
marked so: the KV cache per token (layers x KV heads x head size x 2 x 2 bytes), the cache
capacity (vLLM's default ``gpu_memory_utilization`` 0.9 of GPU memory, less weights and a
1.5 GiB reserve per GPU for activations and CUDA graphs), the per-context-token decode cost
(the KV bytes read at the memory-bandwidth efficiency the measured batch-1 step implies), and
vLLM's batch defaults (``EngineArgs.get_batch_defaults``: 8192 batched tokens and 1024
sequences on 80 GB GPUs other than the A100, else 2048 and 256).

Cold start (``ColdStart``): node boot 120 s (GPU instances take 80-120 s to provision and
boot: Tensorfuse, "Reducing GPU cold start", 2025), image pull 240 s (a standard pull of a
10 GB ML image on a fresh node takes 4-5 minutes: Union.ai, "We cut container cold boot from
minutes to seconds"), model load 265 s for Llama-2-70B (download and initialisation from S3
before Anyscale's loader: 4 min 25 s; Anyscale, "Loading Llama-2 70b 20x faster", 2023) and
the same bandwidth for smaller weights (26 s for 7B; derived). Every part can be overridden.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from tidewise.model.inference import ColdStart, InferenceProfile

GIB = 2**30
GPU_MEMORY_UTILIZATION = 0.9  # vLLM's default --gpu-memory-utilization
RESERVE_PER_GPU_B = 1.5 * GIB  # activations, CUDA graphs, NCCL buffers: an estimate
MIN_KV_TOKENS = 4096  # a share must hold at least this much cache to be worth running
NODE_BOOT_S = 120.0
IMAGE_PULL_S = 240.0
LOAD_BYTES_PER_S = 138e9 / 265.0  # Llama-2-70B's FP16 weights in 4 min 25 s (Anyscale)


@dataclass(frozen=True)
class Gpu:
    name: str
    memory_b: float
    bandwidth_b_per_s: float  # HBM, datasheet
    large_batch_defaults: bool  # vLLM's larger max_num_batched_tokens / max_num_seqs


@dataclass(frozen=True)
class Model:
    name: str
    weights_b: float
    kv_b_per_token: float  # layers x KV heads x head dim x (K, V) x 2 bytes


GPUS = {
    # NVIDIA H100 SXM datasheet: 80 GB HBM3, 3.35 TB/s
    "h100": Gpu("h100", 80 * GIB, 3.35e12, True),
    # NVIDIA A100 80GB SXM datasheet: 2,039 GB/s
    "a100": Gpu("a100", 80 * GIB, 2.039e12, False),
}
MODELS = {
    # meta-llama/Llama-2-70b-hf config: 80 layers, 8 KV heads of 128; 69.0 B parameters
    "llama-2-70b": Model("llama-2-70b", 138e9, 80 * 8 * 128 * 2 * 2),
    # meta-llama/Llama-2-7b-hf config: 32 layers, 32 KV heads of 128; 6.74 B parameters
    "llama-2-7b": Model("llama-2-7b", 13.48e9, 32 * 32 * 128 * 2 * 2),
}


@dataclass(frozen=True)
class Measurements:
    """Published points for one pair: prefill ms by prompt tokens (batch 1), and decode ms per
    iteration by batch size with ``decode_context`` tokens per sequence."""

    gpus: int
    prefill_ms: dict[int, float]
    decode_ms: dict[int, float]
    decode_context: float
    source: str


MEASURED = {
    ("llama-2-70b", "h100"): Measurements(
        4,
        {512: 59.62, 1024: 105.61, 2048: 200.68, 4096: 463.46},
        {1: 29.72, 2: 29.98, 4: 29.92, 8: 31.44, 16: 32.84, 32: 36.88, 64: 52.36},
        512 + 64,
        "Splitwise (ISCA 2024) vLLM profile, splitwise-sim data/perf_model.csv, TP4",
    ),
    ("llama-2-70b", "a100"): Measurements(
        4,
        {512: 126.96, 1024: 227.08, 2048: 403.33, 4096: 965.15},
        {1: 44.99, 2: 45.00, 4: 45.09, 8: 45.80, 16: 48.52, 32: 52.35, 64: 72.95},
        512 + 64,
        "Splitwise (ISCA 2024) vLLM profile, splitwise-sim data/perf_model.csv, TP4",
    ),
    ("llama-2-7b", "a100"): Measurements(
        1,
        # TensorRT-LLM v0.6.1 first-token latency at batch 1
        {128: 16.0, 2048: 133.0},
        # NeMo: (latency - first token of b x 128 prompt tokens) / 19 further tokens, with the
        # first-token time interpolated on the two TensorRT-LLM points
        {
            b: (latency - (16.0 + (b * 128 - 128) * (133.0 - 16.0) / 1920)) / 19
            for b, latency in {1: 234.0, 2: 249.6, 4: 272.6, 8: 329.5}.items()
        },
        128 + 10,
        "NeMo Framework user guide (Llama-2 inference) and TensorRT-LLM v0.6.1 performance",
    ),
}
PAIRS = tuple(f"{m}@{g}" for m, g in MEASURED)


class ProfileError(ValueError):
    """A (model, GPU, share) the catalog cannot build; the message names the fix."""


def fit(model: Model, gpu: Gpu, measured: Measurements) -> InferenceProfile:
    """The linear iteration model that best matches the published points (least squares).

    The per-context-token cost is not in the measurements (their contexts barely vary): it is
    the KV bytes each GPU reads per token at the bandwidth efficiency the batch-1 step shows
    for the weights (weights per GPU / bandwidth / measured step).
    """
    step1_s = measured.decode_ms[min(measured.decode_ms)] / 1000
    weights_per_gpu = model.weights_b / measured.gpus
    efficiency = weights_per_gpu / gpu.bandwidth_b_per_s / step1_s
    per_context = model.kv_b_per_token / measured.gpus / (gpu.bandwidth_b_per_s * efficiency)
    batch = np.array(sorted(measured.decode_ms), dtype=float)
    step_s = np.array([measured.decode_ms[int(b)] for b in batch]) / 1000
    step_s = step_s - per_context * measured.decode_context * batch
    slope, intercept = np.polyfit(batch, step_s, 1)
    iteration = float(intercept)
    prompt = np.array(sorted(measured.prefill_ms), dtype=float)
    prefill_s = np.array([measured.prefill_ms[int(n)] for n in prompt]) / 1000 - iteration
    seconds_per_token = float(np.dot(prompt, prefill_s) / np.dot(prompt, prompt))
    batched, seqs = (8192, 1024) if gpu.large_batch_defaults else (2048, 256)
    return InferenceProfile(
        model=model.name,
        gpu=gpu.name,
        gpus=measured.gpus,
        prefill_tokens_per_s=1 / seconds_per_token,
        iteration_s=iteration,
        per_sequence_s=max(float(slope), 0.0),
        per_context_token_s=per_context,
        kv_capacity_tokens=kv_capacity(model, gpu, measured.gpus, 1.0),
        max_num_seqs=seqs,
        max_batched_tokens=batched,
        cold_start=ColdStart(NODE_BOOT_S, IMAGE_PULL_S, model.weights_b / LOAD_BYTES_PER_S),
    )


def kv_capacity(model: Model, gpu: Gpu, gpus: int, share: float) -> int:
    free = gpus * (gpu.memory_b * share * GPU_MEMORY_UTILIZATION - RESERVE_PER_GPU_B)
    return int((free - model.weights_b) // model.kv_b_per_token)


def profile(model: str, gpu: str, share: float = 1.0) -> InferenceProfile:
    """The calibrated profile of ``model`` on ``gpu``, optionally on a ``share`` of one GPU.

    A share runs as a slice of the GPU (MIG-like): a fraction ``share`` of its memory, and of
    its compute and memory bandwidth, so every time in the model divides by ``share``. It is
    offered only where the weights fit in the slice with ``MIN_KV_TOKENS`` of cache. Its cold
    start is the model load alone: the GPU it joins already runs other shares, so the node is
    up and holds the serving image.
    """
    key = (model, gpu)
    if key not in MEASURED:
        raise ProfileError(
            f"--model/--gpu: no calibration for {model}@{gpu}; known: {', '.join(PAIRS)}"
        )
    measured = MEASURED[key]
    whole = fit(MODELS[model], GPUS[gpu], measured)
    if share == 1.0:
        return whole
    if not 0 < share < 1:
        raise ProfileError("--share: a fraction of one GPU in (0, 1], e.g. 0.25")
    if measured.gpus != 1:
        raise ProfileError(
            f"--share: {model} needs {measured.gpus} GPUs per replica; only single-GPU "
            "models run on a share"
        )
    capacity = kv_capacity(MODELS[model], GPUS[gpu], 1, share)
    if capacity < MIN_KV_TOKENS:
        raise ProfileError(
            f"--share: {model} does not fit {share:g} of a {gpu} with {MIN_KV_TOKENS} tokens "
            "of KV cache; give a larger share"
        )
    return replace(
        whole,
        share=share,
        # the GPU's other shares keep its node up with the serving image pulled
        cold_start=ColdStart(0.0, 0.0, whole.cold_start.model_load_s),
        prefill_tokens_per_s=whole.prefill_tokens_per_s * share,
        iteration_s=whole.iteration_s / share,
        per_sequence_s=whole.per_sequence_s / share,
        per_context_token_s=whole.per_context_token_s / share,
        kv_capacity_tokens=capacity,
    )
