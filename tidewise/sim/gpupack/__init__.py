"""GPU packing: Alibaba's openb node and pod lists (``openb``) and the FGD paper's one-pass
placement experiment behind ``tidewise bench gpu-pack`` (``bench``) (docs/gpu-pack.md)."""
