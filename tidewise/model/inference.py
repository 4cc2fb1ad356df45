"""An LLM inference server replica as the twin and the serving policies see it.

One replica is one inference server (vLLM-like: continuous batching with chunked prefill and
a paged KV cache) of one model on ``gpus`` GPUs, or on a ``share`` of one GPU. Its speed is a
linear iteration model, the form LLM serving simulators use (Splitwise's, Vidur's):

* one engine iteration costs ``iteration_s + per_sequence_s * b + per_context_token_s * C +
  p / prefill_tokens_per_s`` for ``b`` decoding sequences holding ``C`` context tokens and
  ``p`` prompt tokens prefilled in the same iteration (at most ``max_batched_tokens - b``);
* every decoding sequence gets one token per iteration, so its time per output token is the
  iteration time: it grows with the batch (weights are read once per iteration, the KV cache
  once per sequence and token);
* a request is admitted only while its whole sequence fits in the free KV cache
  (``kv_capacity_tokens``) and fewer than ``max_num_seqs`` sequences run.

Numbers are the replica's own, already scaled for tensor parallelism and sharing; where they
come from is ``tidewise.sim.serving.profiles`` (published measurements, docs/serving.md).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ColdStart:
    """What a new replica waits for before it serves: a node (only when no free node holds
    its GPU), the image pull (only on a node that never ran it), then the model load."""

    node_boot_s: float = 0.0
    image_pull_s: float = 0.0
    model_load_s: float = 0.0

    def __post_init__(self) -> None:
        for name in ("node_boot_s", "image_pull_s", "model_load_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")

    def seconds(self, *, free_node: bool = False) -> float:
        """Seconds from creation to Ready; a free node that ran the replica before has the
        image cached, so it skips both the boot and the pull."""
        if free_node:
            return self.model_load_s
        return self.node_boot_s + self.image_pull_s + self.model_load_s


@dataclass(frozen=True, slots=True)
class InferenceProfile:
    model: str
    gpu: str
    gpus: int  # GPUs per replica (tensor parallelism)
    prefill_tokens_per_s: float
    iteration_s: float
    per_sequence_s: float
    per_context_token_s: float
    kv_capacity_tokens: int
    max_num_seqs: int
    max_batched_tokens: int
    cold_start: ColdStart = ColdStart()
    share: float = 1.0  # fraction of each GPU the replica holds (0.25: a quarter GPU)

    def __post_init__(self) -> None:
        if self.gpus < 1:
            raise ValueError("gpus must be >= 1")
        if not 0 < self.share <= 1:
            raise ValueError("share must be in (0, 1]")
        if self.share < 1 and self.gpus != 1:
            raise ValueError("a GPU share is a part of one GPU; gpus must be 1")
        for name in ("prefill_tokens_per_s", "iteration_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0")
        for name in ("per_sequence_s", "per_context_token_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.kv_capacity_tokens < 1 or self.max_num_seqs < 1:
            raise ValueError("kv_capacity_tokens and max_num_seqs must be >= 1")
        if self.max_batched_tokens <= self.max_num_seqs:
            raise ValueError("max_batched_tokens must exceed max_num_seqs (room for prefill)")

    @property
    def name(self) -> str:
        shared = f" x{self.share:g}" if self.share < 1 else ""
        return f"{self.model}@{self.gpus}x{self.gpu}{shared}"

    @property
    def gpu_fraction(self) -> float:
        """GPUs one replica is billed for: whole GPUs, or the share of one."""
        return self.gpus * self.share

    def decode_step_s(self, batch: float, context_tokens: float) -> float:
        """One iteration that decodes ``batch`` sequences holding ``context_tokens``."""
        return (
            self.iteration_s
            + self.per_sequence_s * batch
            + self.per_context_token_s * context_tokens
        )

    def prefill_chunk(self, batch: int) -> int:
        """Prompt tokens one iteration can prefill beside ``batch`` decoding sequences."""
        return max(1, self.max_batched_tokens - batch)

    def alone_ttft_s(self, prompt_tokens: int) -> float:
        """Time to first token of one request on an idle replica: its prompt in chunks of
        ``max_batched_tokens``, one iteration each; the last one samples the first token."""
        chunks = max(1, -(-prompt_tokens // self.max_batched_tokens))
        return chunks * self.iteration_s + prompt_tokens / self.prefill_tokens_per_s


@dataclass(frozen=True, slots=True)
class ServiceObjective:
    """The service level a serving policy must keep: in at least ``attainment`` of the minutes
    that saw requests, the ``percentile`` of their time to first token is under ``ttft_s`` (and
    of their time per output token under ``tpot_s``, when given)."""

    ttft_s: float = 2.0
    tpot_s: float | None = None
    percentile: float = 95.0
    attainment: float = 0.99

    def __post_init__(self) -> None:
        if self.ttft_s <= 0 or (self.tpot_s is not None and self.tpot_s <= 0):
            raise ValueError("ttft_s and tpot_s must be > 0")
        if not 0 < self.percentile <= 100:
            raise ValueError("percentile must be in (0, 100]")
        if not 0 < self.attainment <= 1:
            raise ValueError("attainment must be in (0, 1]")
