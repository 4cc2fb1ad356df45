"""How many requests a second one replica serves within a service objective, in steady state.

A closed form from the iteration model of ``InferenceProfile``, for a replica receiving
``rate`` requests a second of ``prompt`` and ``output`` tokens on average:

* iterations run back to back; each spends ``rate * prompt * t / P`` on prefill (the prompts
  that arrived during it) and ``(ks + kc * c) * b`` on the ``b`` decoding sequences, which
  hold ``c = prompt + output / 2`` tokens on average; by Little's law ``b = rate * output * t``;
* so the iteration time ``t = t0 / (1 - rho)`` with the load
  ``rho = rate * (prompt / P + output * (ks + kc * c))``: it is the time per output token,
  and it grows without bound as ``rho`` reaches 1;
* prompts are prefilled first come first served at the rate the iterations leave them,
  ``P_eff = chunk / (t + chunk / P)`` for a full chunk of ``max_batched_tokens - b`` tokens;
  a new prompt waits for the prompts ahead of it as in an M/G/1 queue with exponential-like
  prompt lengths, on average ``rho_p / (1 - rho_p) * prompt / P_eff`` with
  ``rho_p = rate * prompt / P_eff``; the tail time to first token is taken as a tail prompt
  (``prompt_tail``) prefilled after three mean waits (an exponential wait's 95th percentile),
  plus the iteration that samples the token.

The rate a replica may carry is the highest one whose load stays under ``max_load`` and whose
times meet the objective, and whose batch fits the KV cache and ``max_num_seqs``. This is the
capacity model of tidewise's serving policy and the Little's-law concurrency it implies is a
sensible Knative target (docs/serving.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tidewise.model.inference import InferenceProfile, ServiceObjective

TAIL_WAITS = 3.0  # an exponential wait's 95th percentile is three times its mean


@dataclass(frozen=True, slots=True)
class SteadyState:
    rate: float  # requests per second on one replica
    load: float  # rho: the GPU time fraction the work needs
    tpot_s: float
    ttft_s: float
    batch: float  # decoding sequences (Little's law)
    kv_tokens: float

    @property
    def concurrency(self) -> float:
        """Requests in flight on the replica: decoding, plus prefilling for a TTFT each."""
        return self.batch + self.rate * self.ttft_s


def steady_state(
    profile: InferenceProfile,
    rate: float,
    prompt: float,
    output: float,
    prompt_tail: float | None = None,
) -> SteadyState:
    """The replica at ``rate`` requests a second; ``load >= 1`` means it cannot keep up."""
    context = prompt + output / 2
    per_request = prompt / profile.prefill_tokens_per_s + output * (
        profile.per_sequence_s + profile.per_context_token_s * context
    )
    load = rate * per_request
    if load >= 1:
        inf = float("inf")
        return SteadyState(rate, load, inf, inf, inf, inf)
    tpot = profile.iteration_s / (1 - load)
    batch = rate * output * tpot
    chunk = profile.prefill_chunk(math.ceil(batch))
    prefill_rate = chunk / (
        profile.decode_step_s(batch, batch * context) + chunk / profile.prefill_tokens_per_s
    )
    prefill_load = rate * prompt / prefill_rate
    if prefill_load >= 1:
        inf = float("inf")
        return SteadyState(rate, load, tpot, inf, batch, batch * (prompt + output))
    wait = prefill_load / (1 - prefill_load) * prompt / prefill_rate
    tail = prompt if prompt_tail is None else prompt_tail
    ttft = tail / prefill_rate + TAIL_WAITS * wait + tpot
    return SteadyState(rate, load, tpot, ttft, batch, batch * (prompt + output))


def slo_rate(
    profile: InferenceProfile,
    prompt: float,
    output: float,
    objective: ServiceObjective | None,
    *,
    max_load: float = 0.9,
    prompt_tail: float | None = None,
) -> SteadyState:
    """The busiest steady state of one replica that keeps the objective (bisection: every
    quantity grows with the rate); with no objective, only the load and the cache bound it."""
    if prompt <= 0 or output <= 0:
        raise ValueError("prompt and output must be > 0")

    def fits(rate: float) -> bool:
        s = steady_state(profile, rate, prompt, output, prompt_tail)
        timely = objective is None or (
            s.ttft_s <= objective.ttft_s
            and (objective.tpot_s is None or s.tpot_s <= objective.tpot_s)
        )
        return (
            s.load <= max_load
            and timely
            and s.kv_tokens <= profile.kv_capacity_tokens
            and s.batch <= profile.max_num_seqs
        )

    low, high = 0.0, 1.0
    while fits(high):
        low, high = high, high * 2
    for _ in range(50):
        middle = (low + high) / 2
        low, high = (middle, high) if fits(middle) else (low, middle)
    if low <= 0:
        raise ValueError(
            f"the objective is out of reach of {profile.name} even idle, for "
            f"{prompt:.0f}-token prompts and {output:.0f}-token answers"
        )
    return steady_state(profile, low, prompt, output, prompt_tail)
