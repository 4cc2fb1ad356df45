"""The token-level replay: requests, a router, inference servers, and one scaling policy.

Time advances in fixed steps of ``step_s`` (0.25 s by default); within a step every replica
is updated at once with numpy over all the requests in flight, so the cost of a step does not
grow with the number of replicas. Per step:

1. replicas whose cold start is over become Ready; the policy, when its period is due (or at
   once when a request finds no replica at all: the activator's poke), sees a
   ``ServingObservation`` and answers a replica count (new replicas start cold: node boot
   unless a free node lingers, image pull, model load; removed ones stop taking requests and
   drain what they hold, so no request is ever dropped);
2. the router admits waiting requests in arrival order (FIFO, no overtaking) to the Ready
   replica with the least reserved KV cache among those where the request's whole sequence
   fits and fewer than ``max_num_seqs`` run; with no Ready replica requests wait (Knative's
   activator buffer);
3. each replica runs its engine iterations for the step (the iteration model of
   ``InferenceProfile``, vLLM's chunked prefill: decode every running sequence, prefill
   waiting prompts first-come first-served in the rest of the token budget). A prompt that
   completes in the step gets its first token at the exact time the iterations before it
   take; decoding sequences get one token per iteration, a finishing one at its share of the
   step.

Each server keeps its own clock: an iteration that prefills runs whole, even past the step's
end (its prompts get their first token when it ends), so prefill timing is exact under the
iteration model. Approximations: a request is admitted at the first step boundary after it
arrives (its TTFT is over-estimated by half a step on average); decode-only iterations within
a step all take the time of the batch the stretch started with, and a finishing sequence's
last token is placed by interpolating the iteration count over the step.

Accounting: GPU-hours are billed from a replica's creation (a booting node is paid for) until
it is gone, plus free nodes while they linger (``node_linger_s``, after which the node
autoscaler removes them), each at the profile's ``gpu_fraction`` (a quarter GPU bills 0.25).
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from tidewise.model.inference import InferenceProfile
from tidewise.scaling.observation import ReplicaDecision
from tidewise.scaling.serving.observation import ServingObservation, ServingPolicy
from tidewise.sim.serving.requests import RequestTrace

GONE, STARTING, READY, DRAINING = 0, 1, 2, 3
EPS = 1e-9


@dataclass(frozen=True)
class History:
    """Per-step series of the service's past before t = 0 (what its metrics kept), so a
    forecaster can learn a daily cycle without replaying the days before."""

    arrivals: np.ndarray
    prompt_tokens: np.ndarray
    output_tokens: np.ndarray  # of the requests that arrived in the step


@dataclass(frozen=True)
class ReplaySettings:
    step_s: float = 0.25
    min_replicas: int = 0
    max_replicas: int = 64
    initial_replicas: int = 1  # Ready at t = 0, as a service that was already running
    node_linger_s: float = 30.0
    autoscale_after_s: float = 0.0  # the policy is first asked after this much of the trace
    history_step_s: float = 10.0
    drain_limit_s: float = 7200.0  # after the trace, how long the last requests may take
    history: History | None = None

    def __post_init__(self) -> None:
        if self.step_s <= 0 or self.history_step_s < self.step_s:
            raise ValueError("step_s > 0 and history_step_s >= step_s")
        if not 0 <= self.min_replicas <= self.max_replicas:
            raise ValueError("need 0 <= min_replicas <= max_replicas")
        if not self.min_replicas <= self.initial_replicas <= self.max_replicas:
            raise ValueError("initial_replicas must lie in [min_replicas, max_replicas]")
        if self.node_linger_s < 0:
            raise ValueError("node_linger_s must be >= 0")


@dataclass(frozen=True)
class ServingRun:
    """One replay's outcome: per request, per engine step, and totals."""

    policy: str
    profile: InferenceProfile
    duration_s: float
    step_s: float
    arrival_s: np.ndarray
    first_token_s: np.ndarray
    done_s: np.ndarray
    prompt_tokens: np.ndarray
    output_tokens: np.ndarray
    buffered: np.ndarray  # arrived while no replica was Ready
    replica: np.ndarray  # the replica that served each request
    admitted_s: np.ndarray
    replicas: np.ndarray = field(repr=False)  # per step: starting + ready + draining
    ready: np.ndarray = field(repr=False)
    gpu_seconds: float = 0.0
    cold_starts: int = 0
    zero_seconds: float = 0.0  # time with no replica at all (not even starting)
    rules: dict[str, int] = field(default_factory=dict)

    @property
    def ttft_s(self) -> np.ndarray:
        return self.first_token_s - self.arrival_s

    @property
    def tpot_s(self) -> np.ndarray:
        """Time per output token after the first; NaN for one-token answers."""
        with np.errstate(invalid="ignore", divide="ignore"):
            tpot = (self.done_s - self.first_token_s) / (self.output_tokens - 1)
        return np.where(self.output_tokens > 1, tpot, np.nan)

    @property
    def gpu_hours(self) -> float:
        return self.gpu_seconds / 3600


class _Server:
    """One replica: its lifecycle and its engine's state.

    A decoding sequence holds ``prompt + 1 + (iterations - start)`` tokens, so the server's
    context is ``offset + batch * iterations``, exact however many steps pass; a sequence
    finishes when ``iterations`` reaches ``start + output - 1`` (a heap), and prompts wait for
    prefill first come first served (a FIFO).
    """

    __slots__ = (
        "batch",
        "busy",
        "clock",
        "finishing",
        "id",
        "iterations",
        "kv",
        "offset",
        "pending",
        "prefill",
        "queued_prompt",
        "ready_at",
        "seqs",
        "state",
    )

    def __init__(self, id_: int, ready_at: float, state: int) -> None:
        self.id = id_
        self.state = state
        self.ready_at = ready_at
        self.kv = 0.0  # KV tokens reserved by admitted requests
        self.seqs = 0  # admitted, unfinished requests
        self.busy = 0.0  # GPU-busy seconds since the last decision
        self.clock = 0.0  # when the iteration under way ends
        self.batch = 0  # decoding sequences
        self.offset = 0.0
        self.iterations = 0.0  # engine iterations run so far
        self.pending = 0.0  # prompt tokens still to prefill
        self.queued_prompt = 0.0  # whole prompts of the requests in prefill
        self.prefill: deque[int] = deque()
        self.finishing: list[tuple[float, int]] = []

    @property
    def context(self) -> float:
        return self.offset + self.batch * self.iterations


def replay(
    requests: RequestTrace,
    profile: InferenceProfile,
    policy: ServingPolicy,
    name: str,
    settings: ReplaySettings = ReplaySettings(),
    progress: Callable[[float], None] | None = None,
) -> ServingRun:
    """Replay ``requests`` on replicas of ``profile`` scaled by ``policy``."""
    return _Replay(requests, profile, policy, name, settings).run(progress)


class _Replay:
    def __init__(
        self,
        requests: RequestTrace,
        profile: InferenceProfile,
        policy: ServingPolicy,
        name: str,
        settings: ReplaySettings,
    ) -> None:
        self.req = requests
        self.p = profile
        self.policy = policy
        self.name = name
        self.s = settings
        n = len(requests)
        self.arrival = requests.arrival_s
        self.prompt = requests.prompt_tokens.astype(float).tolist()
        self.output = requests.output_tokens.astype(float).tolist()
        capacity = float(profile.kv_capacity_tokens)
        self.need = [min(p + o, capacity) for p, o in zip(self.prompt, self.output, strict=True)]
        self.prefill_left = list(self.prompt)
        self.start = [0.0] * n  # the server's iteration count when decoding began
        self.rep = np.full(n, -1, np.int64)
        self.first = np.full(n, np.nan)
        self.done = np.full(n, np.nan)
        self.admitted = np.full(n, np.nan)
        self.buffered = np.zeros(n, bool)
        self.head = 0  # next request to admit
        self.seen = 0  # requests that have arrived
        self.finished = 0
        self.servers: list[_Server] = []  # every replica ever created; ids are indices
        self.live: list[_Server] = []  # those not gone
        self.linger: list[float] = []  # release times of free nodes
        self.desired = settings.initial_replicas
        for _ in range(settings.initial_replicas):
            self._add(0.0, READY)
        self.rules: dict[str, int] = {}
        self.cold_starts = 0
        hs = settings.history_step_s
        slots = math.ceil((requests.duration_s + settings.drain_limit_s) / hs) + 2
        bins = np.minimum((self.arrival // hs).astype(np.int64), slots - 1)
        self.h_arrivals = np.bincount(bins, minlength=slots).astype(float)
        self.h_prompt = np.bincount(bins, weights=requests.prompt_tokens, minlength=slots)
        self.h_completions = np.zeros(slots)
        self.h_output = np.zeros(slots)
        prefix = settings.history
        self.prefix = (
            (np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0))
            if prefix is None
            else (prefix.arrivals, prefix.prompt_tokens, prefix.arrivals, prefix.output_tokens)
        )
        self.last_decision = 0.0
        self.concurrency_s = 0.0  # integral of waiting + running since the last decision

    def _add(self, ready_at: float, state: int) -> None:
        server = _Server(len(self.servers), ready_at, state)
        self.servers.append(server)
        self.live.append(server)

    def _count(self, state: int) -> int:
        return sum(1 for s in self.live if s.state == state)

    # -- the loop ---------------------------------------------------------------------------

    def run(self, progress: Callable[[float], None] | None) -> ServingRun:
        dt = self.s.step_s
        duration = self.req.duration_s
        n = len(self.arrival)
        steps = math.ceil(duration / dt)
        replicas = np.zeros(steps)
        ready = np.zeros(steps)
        gpu_s = zero_s = 0.0
        next_decision = self.s.autoscale_after_s
        arrivals = self.arrival.tolist()
        k = 0
        while True:
            t = k * dt
            if t >= duration and self.finished == n:
                break
            if t >= duration + self.s.drain_limit_s:
                raise RuntimeError(
                    f"{self.name}: {n - self.finished} requests still unserved "
                    f"{self.s.drain_limit_s:g} s after the trace; the policy never scaled up"
                )
            for server in self.live:
                if server.state == STARTING and server.ready_at <= t + EPS:
                    server.state = READY
            arrived = self.seen
            while arrived < n and arrivals[arrived] <= t:
                arrived += 1
            if arrived > self.seen:
                if not self._count(READY):
                    self.buffered[self.seen : arrived] = True
                self.seen = arrived
            # the activator pokes the autoscaler when a request finds no replica at all
            poke = self.seen > self.head and not self.live and t >= self.s.autoscale_after_s
            if t >= next_decision - EPS or poke:
                self._decide(t)
                next_decision = t + self.policy.period_s
            if self.head < self.seen:
                self._admit(t)
            for server in self.live:
                if server.seqs:
                    self._iterate(server, t, dt)
            self.concurrency_s += (self.seen - self.finished) * dt
            if self.linger:
                self.linger = [r for r in self.linger if r + self.s.node_linger_s > t]
            if k < steps:
                live = len(self.live)
                replicas[k] = live
                ready[k] = self._count(READY)
                share = min(dt, duration - t)
                gpu_s += (live + len(self.linger)) * self.p.gpu_fraction * share
                zero_s += share if live == 0 else 0.0
                if progress is not None and k % 2400 == 0:
                    progress(t)
            k += 1
        if progress is not None:
            progress(duration)
        return ServingRun(
            policy=self.name,
            profile=self.p,
            duration_s=duration,
            step_s=dt,
            arrival_s=self.arrival,
            first_token_s=self.first,
            done_s=self.done,
            prompt_tokens=self.req.prompt_tokens,
            output_tokens=self.req.output_tokens,
            buffered=self.buffered,
            replica=self.rep,
            admitted_s=self.admitted,
            replicas=replicas,
            ready=ready,
            gpu_seconds=gpu_s,
            cold_starts=self.cold_starts,
            zero_seconds=zero_s,
            rules=self.rules,
        )

    # -- scaling ----------------------------------------------------------------------------

    def _decide(self, t: float) -> None:
        decision: ReplicaDecision = self.policy.recommend(self._observe(t))
        self.rules[decision.rule] = self.rules.get(decision.rule, 0) + 1
        target = min(max(decision.replicas, self.s.min_replicas), self.s.max_replicas)
        self._scale(target, t)
        self.desired = target
        self.last_decision = t
        self.concurrency_s = 0.0
        for server in self.live:
            server.busy = 0.0

    def _observe(self, t: float) -> ServingObservation:
        since = t - self.last_decision
        ready = [s for s in self.live if s.state == READY]
        busy = tuple(min(1.0, s.busy / since) for s in ready) if since > 0 else ()
        held = [s.context + s.queued_prompt - s.pending for s in ready]
        kv = sum(held) / len(held) / self.p.kv_capacity_tokens if held else 0.0
        waiting = self.seen - self.head
        complete = int(t // self.s.history_step_s)
        a, pr, c, o = self.prefix
        return ServingObservation(
            now_s=t,
            replicas=self.desired,
            ready=len(ready),
            starting=self._count(STARTING),
            waiting=waiting,
            running=self.head - self.finished,
            concurrency=(
                self.concurrency_s / since if since > 0 else float(self.seen - self.finished)
            ),
            pod_busy=busy,
            kv_usage=kv,
            history_step_s=self.s.history_step_s,
            arrivals=_frozen(a, self.h_arrivals[:complete]),
            prompt_tokens=_frozen(pr, self.h_prompt[:complete]),
            completions=_frozen(c, self.h_completions[:complete]),
            output_tokens=_frozen(o, self.h_output[:complete]),
        )

    def _scale(self, target: int, t: float) -> None:
        serving = [s for s in self.live if s.state in (STARTING, READY)]
        if target > len(serving):
            for _ in range(target - len(serving)):
                free = bool(self.linger)
                if free:
                    self.linger.pop()
                cold = self.p.cold_start.seconds(free_node=free)
                self._add(t + cold, STARTING if cold > 0 else READY)
                self.cold_starts += 1
        elif target < len(serving):
            drop = len(serving) - target
            starting = [s for s in reversed(serving) if s.state == STARTING][:drop]
            for server in starting:  # a node still booting is cancelled: nothing lingers
                server.state = GONE
            drop -= len(starting)
            ready = sorted((s for s in serving if s.state == READY), key=lambda s: (s.seqs, -s.id))
            for server in ready[:drop]:
                server.state = DRAINING
                self._release_if_empty(server, t)
            self.live = [s for s in self.live if s.state != GONE]

    def _release_if_empty(self, server: _Server, t: float) -> None:
        if server.state == DRAINING and server.seqs == 0:
            server.state = GONE
            self.linger.append(t)
            self.live = [s for s in self.live if s is not server]

    # -- routing ----------------------------------------------------------------------------

    def _admit(self, t: float) -> None:
        ready = [s for s in self.live if s.state == READY]
        if not ready:
            return
        cap = self.p.kv_capacity_tokens + EPS
        max_seqs = self.p.max_num_seqs
        while self.head < self.seen:
            i = self.head
            need = self.need[i]
            best = None
            for server in ready:
                if (
                    server.seqs < max_seqs
                    and server.kv + need <= cap
                    and (best is None or server.kv < best.kv)
                ):
                    best = server
            if best is None:
                break
            best.kv += need
            best.seqs += 1
            best.pending += self.prompt[i]
            best.queued_prompt += self.prompt[i]
            best.prefill.append(i)
            self.rep[i] = best.id
            self.admitted[i] = t
            self.head += 1

    # -- the servers ------------------------------------------------------------------------

    def _iterate(self, server: _Server, t: float, dt: float) -> None:
        """Run one server's engine up to the end of the step.

        The server keeps its own clock: an iteration that prefills runs whole (its prompts get
        their first token when it ends, even past the step's end, and the server resumes from
        there); decode-only iterations fill the rest of the step, fractionally.
        """
        p = self.p
        end = t + dt
        clock = max(server.clock, t)
        if clock >= end:
            return  # an iteration begun earlier is still running
        marks = [(server.iterations, clock)]  # iteration count at a time: to date finishes
        while server.pending > EPS and clock < end:
            step = p.decode_step_s(server.batch, server.context)
            take = min(p.prefill_chunk(server.batch), server.pending)
            length = step + take / p.prefill_tokens_per_s
            clock += length
            server.busy += length
            server.iterations += 1
            server.pending -= take
            self._prefill(server, take, clock)
            marks.append((server.iterations, clock))
        if clock < end and server.batch:
            step = p.decode_step_s(server.batch, server.context)
            server.iterations += (end - clock) / step
            server.busy += end - clock
            clock = end
            marks.append((server.iterations, clock))
        server.clock = clock
        if server.batch:
            self._finish_decodes(server, t, marks)

    def _finish_decodes(self, server: _Server, t: float, marks: list[tuple[float, float]]) -> None:
        heap = server.finishing
        reached = server.iterations + EPS
        counts = [m[0] for m in marks]
        times = [m[1] for m in marks]
        while heap and heap[0][0] <= reached:
            last, i = heapq.heappop(heap)
            self.done[i] = float(np.interp(last, counts, times))
            server.batch -= 1
            server.offset -= self.prompt[i] + 1 - self.start[i]
            self._leave(i, server, t)

    def _prefill(self, server: _Server, tokens: float, ended: float) -> None:
        """An iteration that ended at ``ended`` prefilled ``tokens`` prompt tokens, first come
        first served: the prompts it completed get their first token then and decode from
        the next iteration on; the next prompt keeps what is left of it."""
        queue = server.prefill
        while queue and tokens > EPS:
            i = queue[0]
            need = self.prefill_left[i]
            if need > tokens + EPS:
                self.prefill_left[i] = need - tokens
                return
            tokens -= need
            queue.popleft()
            self.prefill_left[i] = 0.0
            self.first[i] = ended
            server.queued_prompt -= self.prompt[i]
            if self.output[i] <= 1:
                self.done[i] = ended
                self._leave(i, server, ended)
                continue
            start = server.iterations
            self.start[i] = start
            server.batch += 1
            server.offset += self.prompt[i] + 1 - start
            heapq.heappush(server.finishing, (start + self.output[i] - 1, i))

    def _leave(self, i: int, server: _Server, t: float) -> None:
        server.kv -= self.need[i]
        server.seqs -= 1
        self.finished += 1
        slot = min(int(self.done[i] // self.s.history_step_s), len(self.h_completions) - 1)
        self.h_completions[slot] += 1
        self.h_output[slot] += self.output[i]
        self._release_if_empty(server, t)


def _frozen(prefix: np.ndarray, series: np.ndarray) -> np.ndarray:
    out = np.concatenate([prefix, series]) if len(prefix) else series.view()
    out.flags.writeable = False
    return out
