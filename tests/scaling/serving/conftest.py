import numpy as np
import pytest

from tidewise.scaling.serving.observation import ServingObservation


def observe(
    now=0.0,
    replicas=1,
    ready=None,
    starting=0,
    waiting=0,
    running=0,
    concurrency=0.0,
    pod_busy=None,
    arrivals=(),
    prompt_tokens=None,
    completions=None,
    output_tokens=None,
    step=10.0,
):
    """An observation with sensible defaults; histories are per ``step`` seconds."""
    ready = replicas if ready is None else ready
    arrivals = np.asarray(arrivals, float)
    return ServingObservation(
        now_s=now,
        replicas=replicas,
        ready=ready,
        starting=starting,
        waiting=waiting,
        running=running,
        concurrency=concurrency,
        pod_busy=tuple(pod_busy if pod_busy is not None else [0.0] * ready),
        kv_usage=0.0,
        history_step_s=step,
        arrivals=arrivals,
        prompt_tokens=np.asarray(prompt_tokens if prompt_tokens is not None else arrivals * 1000),
        completions=np.asarray(completions if completions is not None else arrivals),
        output_tokens=np.asarray(output_tokens if output_tokens is not None else arrivals * 200),
    )


@pytest.fixture
def obs():
    return observe
