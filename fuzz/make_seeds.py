#!/usr/bin/env python3
"""Write the seed inputs of the fuzz targets into fuzz/corpus/<target>/ (standard library only).

The corpora grow by fuzzing (`cargo fuzz run TARGET fuzz/corpus/TARGET`); these seeds are the
valid inputs each starts from, so that the fuzzer reaches past the magic bytes at once.
"""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


def npy(descr, shape, values, fortran=False, version=1):
    fmt = {"<f8": "d", "<f4": "f", "<i8": "q", "<i4": "i"}[descr]
    shape_text = "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
    header = f"{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape_text}, }}"
    pre = 10 if version == 1 else 12
    pad = 64 - (pre + len(header) + 1) % 64
    header = header + " " * pad + "\n"
    if version == 1:
        head = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header))
    else:
        head = b"\x93NUMPY\x02\x00" + struct.pack("<I", len(header))
    return head + header.encode() + struct.pack("<" + fmt * len(values), *values)


put("npy", "f8_2d", npy("<f8", (2, 3), [1, 2, 3, 4, 5, 6]))
put("npy", "f8_fortran", npy("<f8", (2, 3), [1, 4, 2, 5, 3, 6], fortran=True))
put("npy", "f4_1d", npy("<f4", (4,), [0.5, 1, 2, 3]))
put("npy", "i8_labels", npy("<i8", (5,), [0, 1, 2, 1, 0]))
put("npy", "i4_3d", npy("<i4", (2, 2, 2), list(range(8)), version=2))
put("npy", "f8_4d_fortran", npy("<f8", (1, 1, 2, 2), [1, 2, 3, 4], fortran=True))

# safetensors for fisherlab_io::fuzz::WEIGHTS_MODEL (Conv2d 1→2 3×3, BatchNorm2d(2),
# LayerNorm(32), Linear 32→3), float64 and float32
TENSORS = [
    ("0.weight", [2, 1, 3, 3]), ("0.bias", [2]),
    ("1.weight", [2]), ("1.bias", [2]), ("1.running_mean", [2]), ("1.running_var", [2]),
    ("4.weight", [32]), ("4.bias", [32]),
    ("5.weight", [3, 32]), ("5.bias", [3]),
]


def safetensors(dtype, extra=()):
    size = {"F64": 8, "F32": 4}[dtype]
    fmt = {"F64": "d", "F32": "f"}[dtype]
    header, data = {}, b""
    for k, (name, shape) in enumerate(list(TENSORS) + list(extra)):
        n = 1
        for s in shape:
            n *= s
        values = [0.01 * (k + 1) * (i % 7 + 1) for i in range(n)]
        if name.endswith("running_var"):
            values = [1.0] * n
        start = len(data)
        data += struct.pack("<" + fmt * n, *values)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [start, len(data)]}
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + data


put("safetensors", "f64", safetensors("F64"))
put("safetensors", "f32", safetensors("F32"))
put("safetensors", "extra_tensor", safetensors("F64", [("1.num_batches_tracked", [])]))

put("model_text", "mlp", """Sequential(
  (0): Linear(in_features=16, out_features=8, bias=True)
  (1): Tanh()
  (2): Linear(in_features=8, out_features=3, bias=False)
)""")
put("model_text", "cnn", """Sequential(
  (0): Conv2d(1, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
  (1): ReLU()
  (2): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
  (3): BatchNorm2d(4, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
  (4): Flatten(start_dim=1, end_dim=-1)
  (5): Linear(in_features=64, out_features=10, bias=True)
)""")
put("model_text", "residual", """Sequential(
  (0): Conv1d(1, 2, kernel_size=(3,), stride=(1,), padding=(1,))
  (1): Residual(
    (body): Sequential(
      (0): BatchNorm1d(2, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
      (1): Conv1d(2, 2, kernel_size=(3,), stride=(1,), padding=(1,))
    )
  )
  (2): AvgPool1d(kernel_size=(2,), stride=(2,), padding=(0,))
  (3): Flatten(start_dim=1, end_dim=-1)
  (4): LayerNorm((16,), eps=1e-05, elementwise_affine=True)
  (5): Linear(in_features=16, out_features=2, bias=True)
)""")

for k, e in enumerate([
    "-log(sigma) - 0.5*log(2*pi) - (x - mu)^2/(2*sigma^2)",
    "mu*log(sigma) - lgamma(mu) + (mu - 1)*log(x) - sigma*x",
    "x*mu - log(1 + exp(mu)) + abs(sigma - x)",
    "-log(pi*sigma*(1 + ((x - mu)/sigma)^2))",
    "digamma(mu) + trigamma(sigma) - sqrt(x^2 + 1) + erf(mu)*sin(x) - cos(sigma)",
]):
    put("expression", f"e{k}", e)

for k, c in enumerate([
    "[[1/sigma^2, 0], [0, 2/sigma^2]]",
    "[[trigamma(mu), -1/sigma], [-1/sigma, mu/sigma^2]]",
    "[[exp(mu)/(1 + exp(mu))^2, 0],[0, 1]]",
]):
    put("claim", f"c{k}", c)
