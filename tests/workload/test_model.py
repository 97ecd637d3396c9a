from gnnsim.workload import model as m


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
