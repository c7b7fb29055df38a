"""Training throughput on the CPU: model x fp32/bf16 autocast x threads x layout (and torch.compile).

    python benchmarks/cpu_training_speed.py                  # the full table (about 10 minutes on 2 cores)
    python benchmarks/cpu_training_speed.py --models modified_resnet18 --quick
    python benchmarks/cpu_training_speed.py --models modified_resnet18 --dtypes fp32 --sharing 1x1 2x1 --no-extras --append

One training step is what ``ferkit.train.loop`` does per batch on synthetic 48x48 gray images:
forward under autocast, cross-entropy, backward, SGD nesterov step. "1 run x 2 threads" is one
process using both cores; "2 runs x 1 thread" is two processes at once, one core each, and the
figure is their summed images/s (how the earlier sessions shared the machine); "1 run x 1 thread" is one
process on one core with the other idle, which says what a second run beside it costs the first. Writes
benchmarks/results/cpu_training_speed.json (with --append, a row measured again the same day replaces its old copy; other days' rows stay, dated).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import provenance, write_result  # noqa: E402

DEFAULT_MODELS = ("modified_resnet18", "fer_resnet10_s2", "fer_resnet18_s2", "fer_resnet10_s2:width=96", "fer_resnet10_s1:width=32",
                  "fer_resnet10_s1", "resnet18")


def parse_model(spec: str) -> tuple[str, dict]:
    """``name`` or ``name:key=value,...`` (integer values), e.g. ``fer_resnet10_s1:width=32``."""
    name, _, options = spec.partition(":")
    return name, {k: int(v) for k, v in (item.split("=") for item in options.split(",") if item)}


def measure(model_name: str, *, dtype: str, threads: int, channels_last: bool, compile_model: bool, batch: int, steps: int,
            model_kwargs: dict | None = None) -> float:
    """Images per second of ``steps`` timed training steps after two warm-up steps."""
    import torch

    from ferkit.models import build_model

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = build_model(model_name, num_classes=7, **(model_kwargs or {})).to(memory_format=fmt)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    step_model = torch.compile(model) if compile_model else model
    x = torch.rand(batch, 1, 48, 48).contiguous(memory_format=fmt)
    y = torch.randint(0, 7, (batch,))
    for i in range(steps + 2):
        if i == 2:
            t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == "bf16"):
            logits = step_model(x)
        loss = torch.nn.functional.cross_entropy(logits.float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return batch * steps / (time.perf_counter() - t0)


def cpu_description() -> dict:
    """The processor and the instruction sets that decide whether bf16 autocast pays (AVX512-BF16 / AMX)."""
    import torch

    info = {"torch_cpu_capability": torch.backends.cpu.get_cpu_capability()}
    try:
        text = Path("/proc/cpuinfo").read_text()
        flags = set(next(line for line in text.splitlines() if line.startswith("flags")).split(":", 1)[1].split())
        fields = dict(line.split(":", 1) for line in text.splitlines()[:30] if ":" in line)
        info.update({"model_name": fields.get("model name\t", "").strip(), "cpu_family": fields.get("cpu family\t", "").strip(),
                     "model": fields.get("model\t\t", "").strip(),
                     "avx512f": "avx512f" in flags, "avx512_bf16": "avx512_bf16" in flags, "amx_bf16": "amx_bf16" in flags})
    except (OSError, StopIteration):
        pass
    return info


def run_child(config: dict) -> float:
    """One measurement in a fresh process (thread settings and compile caches do not leak)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(config["threads"])}
    out = subprocess.run([sys.executable, __file__, "--child", json.dumps(config)], capture_output=True, text=True, env=env, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def run_pair(config: dict) -> float:
    """Two one-thread processes at once; their summed images/s."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    child = {**config, "threads": 1}
    procs = [subprocess.Popen([sys.executable, __file__, "--child", json.dumps(child)], stdout=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    return sum(float(p.communicate()[0].strip().splitlines()[-1]) for p in procs)


def cpu_label(cpu: dict) -> str:
    """A ``cpu_description()`` (the file-level record of results written before rows named their CPU) as
    ``ferkit.devices.cpu_model()`` names a CPU, e.g. "AMD EPYC (family 25 model 1; AVX2)"."""
    if not cpu:
        return "?"
    vector = "AMX-BF16" if cpu.get("amx_bf16") else "AVX512-BF16" if cpu.get("avx512_bf16") else "AVX512" if cpu.get("avx512f") else cpu.get("torch_cpu_capability", "?")
    return f"{cpu.get('model_name', '?')} (family {cpu.get('cpu_family', '?')} model {cpu.get('model', '?')}; {vector})"


def merge_rows(before: dict | None, new: list[dict], models: list[str]) -> list[dict]:
    """The rows of an earlier result (each dated with its file's date, commit and steps if it has none) with the new
    ones (each row keeps the processor it ran on: the sessions' hosts differ); a new row replaces an earlier one of the same configuration measured the same day. Ordered for the table:
    fp32 before bf16, layout and compile variants last, models in ``models`` order, then sharing, then date."""
    old = [{"steps": before["steps"], "date": before["date"], "commit": before["commit"], "cpu": cpu_label(before.get("cpu", {})), **row}
           for row in before["rows"]] if before else []
    key = lambda row: (row["model"], row["dtype"], row["runs_x_threads"], row["channels_last"], row["compile"], row["date"][:10])  # noqa: E731
    replaced = {key(row) for row in new}
    order = {model: i for i, model in enumerate(dict.fromkeys(models))}  # first place of a model listed twice
    rows = [row for row in old if key(row) not in replaced] + new
    return sorted(rows, key=lambda row: (row["compile"] or not row["channels_last"], row["dtype"] != "fp32", order.get(row["model"], len(order)),
                                         ["1 x 2", "2 x 1", "1 x 1"].index(row["runs_x_threads"]), row["date"]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS))
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--quick", action="store_true", help="only 1 run x 2 threads, channels_last, no compile")
    parser.add_argument("--sharing", nargs="+", default=["1x2", "2x1", "1x1"], choices=["1x1", "1x2", "2x1"],
                        help="runs x threads per run: one run on both cores, two one-thread runs at once, one run on one core")
    parser.add_argument("--no-extras", action="store_true", help="skip the channels_last and torch.compile rows")
    parser.add_argument("--dtypes", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    parser.add_argument("--append", action="store_true", help="add rows to the existing result file instead of replacing it")
    parser.add_argument("--out", default="cpu_training_speed")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(measure(**json.loads(args.child)))
        return 0

    from common import RESULTS

    previous = RESULTS / f"{args.out}.json"
    before = json.loads(previous.read_text()) if args.append and previous.exists() else None
    from ferkit.devices import cpu_model

    stamp = provenance()
    rows: list[dict] = []

    def record(model: str, **config) -> None:
        name, model_kwargs = parse_model(model)
        base = {"model_name": name, "model_kwargs": model_kwargs, "batch": args.batch, "steps": args.steps, "compile_model": False, "channels_last": True, **config}
        pair = base.pop("pair", False)
        images_per_s = run_pair(base) if pair else run_child({**base, "threads": base.get("threads", 2)})
        row = {"model": model, "dtype": base["dtype"], "runs_x_threads": "2 x 1" if pair else f"1 x {base.get('threads', 2)}",
               "channels_last": base["channels_last"], "compile": base["compile_model"], "images_per_s": round(images_per_s, 1),
               "fer2013_epoch_s": round(28709 / images_per_s, 1), "steps": args.steps, "date": stamp["date"], "commit": stamp["commit"], "cpu": cpu_model()}
        rows.append(row)
        print(json.dumps(row), flush=True)

    sharing = ["1x2"] if args.quick else args.sharing
    for model in args.models:
        for dtype in args.dtypes:
            for runs_x_threads in sharing:
                if runs_x_threads == "2x1":
                    record(model, dtype=dtype, pair=True)
                else:
                    record(model, dtype=dtype, threads=int(runs_x_threads[-1]))
    if not (args.quick or args.no_extras):
        first = args.models[0]
        for dtype in args.dtypes:
            record(first, dtype=dtype, threads=2, channels_last=False)
            record(first, dtype=dtype, threads=2, compile_model=True)
    rows = merge_rows(before, rows, [*DEFAULT_MODELS, *args.models])
    write_result(args.out, {**provenance(), "cpu": cpu_description(), "benchmark": "cpu_training_speed", "batch": args.batch, "steps": args.steps,
                            "load_average_at_end": os.getloadavg(), "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
