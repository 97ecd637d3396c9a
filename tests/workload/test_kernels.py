from gnnsim.workload import kernels as m


def test_gemm_counts():
    k = m.gemm(10, 20, 30)
    assert k.flops == 2 * 10 * 20 * 30
    assert k.bytes == 4 * (10 * 20 + 20 * 30 + 10 * 30)


def test_sage_param_count_by_hand():
    # 2 layers 16 -> 8 -> 3: (2*16*8 + 8) + (2*8*3 + 3) = 264 + 51
    assert m.sage_param_count(16, 8, 3, 2) == 315


def test_forward_flops_by_hand():
    # one layer, 6 edges, 2 dst, 4 -> 3
    kernels = m.sage_forward([(5, 2, 6)], [(4, 3)])
    by = {k.name: k for k in kernels}
    assert by["L0.aggregate"].flops == 6 * 4
    assert by["L0.lin_neigh"].flops == 2 * 2 * 4 * 3
    assert "L0.relu" not in by  # last layer has no activation


def test_input_layer_backward_has_no_input_gradient():
    names = [k.name for k in m.sage_backward([(50, 10, 60), (10, 2, 12)], [(8, 4), (4, 3)], 2, 3)]
    assert "L1.aggregate_grad" in names and "L0.aggregate_grad" not in names
    assert "L1.lin_root.dX" in names and "L0.lin_root.dX" not in names and "L0.lin_neigh.dX" not in names


def test_optimizer_bytes_total():
    kernels = m.optimizer_kernels(1200, 3, "adam")
    assert len(kernels) == 3 + 1 and all(k.cls == "optimizer" for k in kernels)
    assert abs(sum(k.bytes for k in kernels) - 1200 * 4 * 7) < 1e-6


def test_an_aggregation_faults_only_its_allocations_over_the_threshold():
    """Its gathered rows and its accumulator are two allocations: only one over glibc's
    mmap threshold lands on fresh pages (the other reuses freed heap memory)."""
    k = m.aggregate(num_edges=150_000, num_dst=15_000, dim=64)
    rows, accumulator = 4.0 * 150_000 * 64, 4.0 * 15_000 * 64
    assert k.out_bytes == rows + accumulator
    assert k.fresh_bytes(0.0) == rows + accumulator
    assert k.fresh_bytes(32 * 2**20) == rows  # 38.4 MB of rows, 3.8 MB of accumulator
    assert k.fresh_bytes(64 * 2**20) == 0.0
    one = m.gemm(32768, 256, 256)  # exactly 32 MiB out: glibc maps a block that large afresh
    assert one.fresh_bytes(32 * 2**20) == one.out_bytes == 32 * 2**20
