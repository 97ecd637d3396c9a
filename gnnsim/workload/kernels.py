"""What a GNN layer costs, as kernels with FLOPs and bytes (demands, not seconds).

GraphSAGE with the mean aggregator, as PyG's ``SAGEConv``: ``h_dst' = W_l mean(h_src)
+ W_r h_dst + b``. Forward per layer:

- ``aggregate``: gather each edge's source row and add it into its destination row
  (``index_add``), then divide by the in-degree;
- ``gemm`` x2: the neighbour and root projections;
- ``elementwise``: bias and ReLU (no ReLU on the last layer).

Backward differentiates each GEMM twice (input and weight gradients) and scatters the
aggregation gradient back to the sources, except on the input layer, whose input
features need no gradient. The same formulas feed calibration, so a fitted rate means
the same thing here as in the micro-benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

# Bytes per element as stored: tf32 keeps float32 tensors (only the GEMMs' inputs are
# rounded inside the tensor cores); int8 is quantized feature rows (graph.feature_dtype).
DTYPE_BYTES = {"float32": 4, "tf32": 4, "float16": 2, "bfloat16": 2, "int8": 1}
# Parameters, their gradients and the optimizer state stay float32 under torch.autocast
# (mixed precision keeps float32 master weights), whatever model.dtype computes in.
PARAM_BYTES = 4


@dataclass(frozen=True)
class Kernel:
    cls: str  # gemm | aggregate | gather | elementwise
    flops: float
    bytes: float
    name: str = ""
    out_bytes: float = 0.0  # bytes of newly allocated output (first touched by the kernel)
    # items of fixed work on top of the bytes, priced by a device's ``per_item_ns`` per
    # class where calibrated: the edges of an aggregation and the rows of a gather (index
    # reads, bounds checks, the serial scatter loop), an optimizer's step (its bookkeeping)
    items: float = 0.0
    # a GEMM's inner size k and output width n: narrow ones run below the FLOP rate
    # (priced by a device's ``k_half``/``n_half`` where calibrated; 0 for other kernels;
    # its rows m are ``flops / (2 k n)``, priced by ``m_half``)
    k_dim: float = 0.0
    n_dim: float = 0.0
    # the separate new allocations that add up to ``out_bytes`` where there are several
    # (an aggregation's gathered rows and its accumulator); () is one allocation
    out_parts: tuple[float, ...] = ()
    layer: int = -1  # the GNN layer it belongs to (input layer 0); -1: none (the loss, the optimizer)

    def fresh_bytes(self, threshold: float = 0.0) -> float:
        """Bytes of new output in allocations of at least ``threshold`` bytes: those that
        land on fresh pages (smaller ones reuse freed heap memory; see ``KernelRate``)."""
        return float(sum(part for part in (self.out_parts or (self.out_bytes,)) if part >= threshold))


def gemm(m: int, k: int, n: int, dtype_bytes: int = 4, name: str = "gemm", cls: str = "gemm") -> Kernel:
    """(m x k) @ (k x n): 2mkn FLOPs, reads both operands and writes the result once.

    ``cls="gemm_tn"`` marks a weight-gradient GEMM (``dy^T @ x``, transposed operand,
    long k: see :func:`weight_grad`), which devices may run at a different rate than a
    forward GEMM."""
    return Kernel(cls, 2.0 * m * k * n, float(dtype_bytes) * (m * k + k * n + m * n), name, float(dtype_bytes) * m * n,
                  k_dim=float(k), n_dim=float(n))


def weight_grad(rows: int, in_dim: int, out_dim: int, dtype_bytes: int = 4, name: str = "dW") -> Kernel:
    """The weight gradient of a linear layer ``y = x W^T`` (W is out x in) over ``rows``
    rows: torch's autograd computes it as ``dy^T @ x``, an (out x rows) @ (rows x in) GEMM
    whose output rows are the layer's outputs. A classifier's few classes make it a
    few-rows GEMM, which a CPU runs ~7x faster than the few-columns ``x^T @ dy`` (measured
    here: 4 x 4001 x 64 in 46 us, 64 x 4001 x 4 in 330 us).

    >>> k = weight_grad(4001, 64, 4); (k.cls, k.k_dim, k.n_dim, k.flops == 2 * 4 * 4001 * 64)
    ('gemm_tn', 4001.0, 64.0, True)
    """
    return gemm(out_dim, rows, in_dim, dtype_bytes, name, cls="gemm_tn")


def aggregate(num_edges: int, num_dst: int, dim: int, dtype_bytes: int = 4, name: str = "aggregate") -> Kernel:
    """Sum each edge's source row into its destination: one add per edge and column;
    reads the source row and the accumulator, writes the accumulator."""
    # new memory: the gathered source rows (one per edge) and the zeroed accumulator
    rows, accumulator = float(dtype_bytes) * dim * num_edges, float(dtype_bytes) * dim * num_dst
    return Kernel("aggregate", float(num_edges) * dim, float(dtype_bytes) * dim * (3 * num_edges + num_dst), name,
                  rows + accumulator, float(num_edges), out_parts=(rows, accumulator))


def gather(rows: int, dim: int, dtype_bytes: int = 4, name: str = "gather") -> Kernel:
    """Copy ``rows`` rows of width ``dim`` (index_select): read once, write once."""
    return Kernel("gather", 0.0, 2.0 * dtype_bytes * rows * dim, name, float(dtype_bytes) * rows * dim, float(rows))


def elementwise(elements: int, reads: int = 1, writes: int = 1, flops_per: float = 1.0,
                dtype_bytes: int = 4, name: str = "elementwise") -> Kernel:
    return Kernel("elementwise", flops_per * elements, float(dtype_bytes) * elements * (reads + writes), name,
                  float(dtype_bytes) * elements * writes)


def feature_cast(rows: int, dim: int, feature_bytes: int, dtype_bytes: int, name: str = "L0.features.cast") -> list[Kernel]:
    """The cast of a batch's input rows from their storage type (``graph.feature_dtype``,
    ``feature_bytes`` per element) to the compute type (``dtype_bytes``): one elementwise
    kernel that reads the rows once and writes them once (int8 rows are dequantized, a
    multiply by their scale), or nothing when the two have the same size.

    >>> k, = feature_cast(10, 8, 1, 4); (k.bytes, k.out_bytes, k.flops)
    (400.0, 320.0, 80.0)
    >>> feature_cast(10, 8, 4, 4)
    []
    """
    if feature_bytes == dtype_bytes or rows <= 0:
        return []
    elements = float(rows) * dim
    return [Kernel("elementwise", elements, elements * (feature_bytes + dtype_bytes), name, elements * dtype_bytes,
                   layer=0)]


def degree(num_edges: int, name: str = "degree") -> Kernel:
    """Counting each node's edges (a bincount over the edge list): one read per edge."""
    return elementwise(num_edges, reads=1, writes=0, name=name)


def layer_dims(in_dim: int, hidden_dim: int, out_dim: int, num_layers: int) -> list[tuple[int, int]]:
    """(in, out) of each layer, input layer first."""
    dims = [in_dim] + [hidden_dim] * (num_layers - 1) + [out_dim]
    return list(zip(dims[:-1], dims[1:]))


def sage_param_count(in_dim: int, hidden_dim: int, out_dim: int, num_layers: int) -> int:
    """Two weight matrices and one bias per layer: sum of 2*i*o + o."""
    return sum(2 * i * o + o for i, o in layer_dims(in_dim, hidden_dim, out_dim, num_layers))


def sage_param_tensors(num_layers: int) -> int:
    return 3 * num_layers


def at(layer: int, kernels):
    """``kernels`` (one or a list) marked as layer ``layer``'s work."""
    if isinstance(kernels, Kernel):
        return replace(kernels, layer=layer)
    return [replace(k, layer=layer) for k in kernels]


def layers(blocks: list[tuple[int, int, int]], dims: list[tuple[int, int]], *, backward: bool = False):
    """Walk a model's layers: ``(layer, is_last, (num_src, num_dst, num_edges), (i, o))``,
    input layer first, or output layer first with ``backward``."""
    last = len(dims) - 1
    for layer in (range(last, -1, -1) if backward else range(last + 1)):
        yield layer, layer == last, blocks[layer], dims[layer]


def loss_kernel(num_seeds: int, num_classes: int) -> Kernel:
    """Softmax cross-entropy over the seeds and its gradient, the first backward kernel."""
    return elementwise(num_seeds * num_classes, reads=2, flops_per=5.0, name="loss")


def sage_forward(blocks: list[tuple[int, int, int]], dims: list[tuple[int, int]], dtype_bytes: int = 4) -> list[Kernel]:
    """Kernels of a forward pass; ``blocks`` holds (num_src, num_dst, num_edges) per layer."""
    kernels = []
    for layer, is_last, (num_src, num_dst, num_edges), (i, o) in layers(blocks, dims):
        # in-degree of every destination for the mean
        kernels.append(at(layer, degree(num_edges, f"L{layer}.degree")))
        kernels.append(at(layer, aggregate(num_edges, num_dst, i, dtype_bytes, f"L{layer}.aggregate")))
        kernels.append(at(layer, elementwise(num_dst * i, name=f"L{layer}.mean")))
        kernels.append(at(layer, gemm(num_dst, i, o, dtype_bytes, f"L{layer}.lin_neigh")))
        kernels.append(at(layer, gemm(num_dst, i, o, dtype_bytes, f"L{layer}.lin_root")))
        kernels.append(at(layer, elementwise(num_dst * o, reads=2, name=f"L{layer}.bias_add")))
        if not is_last:
            kernels.append(at(layer, elementwise(num_dst * o, name=f"L{layer}.relu")))
    return kernels


def sage_backward(blocks: list[tuple[int, int, int]], dims: list[tuple[int, int]], num_seeds: int,
                  num_classes: int, dtype_bytes: int = 4) -> list[Kernel]:
    """Kernels of the loss and the backward pass (output layer first)."""
    kernels = [loss_kernel(num_seeds, num_classes)]
    for layer, is_last, (num_src, num_dst, num_edges), (i, o) in layers(blocks, dims, backward=True):
        if not is_last:
            kernels.append(at(layer, elementwise(num_dst * o, reads=2, name=f"L{layer}.relu_grad")))
        kernels.append(at(layer, elementwise(num_dst * o, name=f"L{layer}.bias_grad")))
        for proj in ("lin_neigh", "lin_root"):
            kernels.append(at(layer, weight_grad(num_dst, i, o, dtype_bytes, f"L{layer}.{proj}.dW")))
            if layer > 0:  # the input features need no gradient
                kernels.append(at(layer, gemm(num_dst, o, i, dtype_bytes, f"L{layer}.{proj}.dX")))
        if layer > 0:
            kernels.append(at(layer, elementwise(num_dst * i, name=f"L{layer}.mean_grad")))
            # the gradient of h_src: zero it, scatter the aggregation gradient into it,
            # then add the root term's gradient (the h[:num_dst] slice) into its first rows
            kernels.append(at(layer, elementwise(num_src * i, reads=0, name=f"L{layer}.grad_zero")))
            kernels.append(at(layer, aggregate(num_edges, num_src, i, dtype_bytes, f"L{layer}.aggregate_grad")))
            kernels.append(at(layer, elementwise(num_dst * i, reads=2, name=f"L{layer}.root_grad_add")))
    return kernels


GRAD_PACK = "grad.pack"  # the gradient copy that runs before the all-reduce (the others run after it)
GRAD_AVERAGE = "grad.average"  # the division by the number of ranks (after the all-reduce; DDP's hook: before)


def gradient_copy_kernels(param_count: int, param_tensors: int, dtype_bytes: int = 4) -> list[Kernel]:
    """The host work around a gradient all-reduce besides the collective, as the real
    trainer (``gnnsim.realrun.worker.allreduce_gradients``) and DDP's gradient buckets do
    it: every gradient copied into one flat buffer before it (``grad.pack``, a new buffer),
    and after it the buffer divided by the number of ranks in place (``grad.average``) and
    each tensor's share copied back into its gradient (one ``grad.unpack`` per tensor)."""
    nbytes = float(dtype_bytes) * param_count
    per_tensor = max(1, param_count // max(1, param_tensors))
    return ([Kernel("elementwise", 0.0, 2.0 * nbytes, GRAD_PACK, nbytes),
             Kernel("elementwise", float(param_count), 2.0 * nbytes, GRAD_AVERAGE)]
            + [Kernel("elementwise", 0.0, 2.0 * dtype_bytes * per_tensor, "grad.unpack") for _ in range(param_tensors)])


# Memory accesses per element in one optimizer step: Adam reads param, grad and two
# moments and writes param and both moments; SGD reads two and writes one.
OPTIMIZER_ACCESSES = {"adam": (4, 3, 10.0), "sgd": (2, 1, 2.0)}


def optimizer_kernels(param_count: int, param_tensors: int, optimizer: str) -> list[Kernel]:
    """One ``optimizer`` kernel per parameter tensor (the tensor's whole update, several
    tensor operations and their framework overhead, fitted as one), plus one for the step."""
    reads, writes, flops = OPTIMIZER_ACCESSES[optimizer]
    per_tensor = max(1, param_count // max(1, param_tensors))
    tensors = [Kernel("optimizer", flops * per_tensor, 4.0 * per_tensor * (reads + writes), f"{optimizer}.tensor")
               for _ in range(param_tensors)]
    # plus the step's own overhead (walking the parameter groups, state bookkeeping)
    return tensors + [Kernel("optimizer", 0.0, 0.0, f"{optimizer}.step", items=1.0)]
