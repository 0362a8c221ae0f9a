"""Speed: FLOPs and the machine's matmul peak (``flops``), and the benchmarks' timing helpers (``bench``)."""
