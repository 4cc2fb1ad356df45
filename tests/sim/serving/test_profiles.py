"""The calibrated profiles reproduce the published measurements they were fitted to."""

import pytest

from tidewise.sim.serving.profiles import (
    GIB,
    GPUS,
    MEASURED,
    MODELS,
    ProfileError,
    kv_capacity,
    profile,
)


@pytest.mark.parametrize("pair", list(MEASURED))
def test_the_fit_reproduces_the_published_points(pair):
    server = profile(*pair)
    measured = MEASURED[pair]
    for batch, ms in measured.decode_ms.items():
        modelled = server.decode_step_s(batch, batch * measured.decode_context) * 1000
        assert modelled == pytest.approx(ms, rel=0.10)
    for tokens, ms in measured.prefill_ms.items():
        modelled = (server.iteration_s + tokens / server.prefill_tokens_per_s) * 1000
        assert modelled == pytest.approx(ms, rel=0.35)  # attention makes long prompts superlinear


def test_kv_capacity_by_hand():
    # Llama-2-7B on one A100: 0.9 x 80 GiB - 1.5 GiB reserve - 13.48 GB of weights,
    # at 32 layers x 32 heads x 128 x 2 x 2 bytes = 512 KiB a token
    free = 0.9 * 80 * GIB - 1.5 * GIB - 13.48e9
    assert kv_capacity(MODELS["llama-2-7b"], GPUS["a100"], 1, 1.0) == int(free // 524_288)


def test_a_quarter_gpu_is_a_quarter_of_the_speed_and_memory_and_bills_a_quarter():
    whole, quarter = profile("llama-2-7b", "a100"), profile("llama-2-7b", "a100", 0.25)
    assert quarter.gpu_fraction == 0.25
    assert quarter.prefill_tokens_per_s == pytest.approx(whole.prefill_tokens_per_s / 4)
    assert quarter.iteration_s == pytest.approx(whole.iteration_s * 4)
    free = 0.25 * 0.9 * 80 * GIB - 1.5 * GIB - 13.48e9
    assert quarter.kv_capacity_tokens == int(free // 524_288)
    # the node is up for the GPU's other shares: only the model loads
    assert quarter.cold_start.seconds() == pytest.approx(whole.cold_start.model_load_s)


def test_what_cannot_be_built_is_refused_with_the_fix():
    with pytest.raises(ProfileError, match="known: llama-2-70b@h100"):
        profile("llama-3-8b", "l4")
    with pytest.raises(ProfileError, match="only single-GPU models"):
        profile("llama-2-70b", "h100", 0.25)
    with pytest.raises(ProfileError, match="give a larger share"):
        profile("llama-2-7b", "a100", 0.1)
