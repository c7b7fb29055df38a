"""Does the occlusion-perception map find the occluders? (issue 5, occlusion-aware models only)

    python benchmarks/occlusion_map_agreement.py --data fer2013:../shared/data/fer2013 \
        --model double_channel=runs/fer2013-occnet-double-v1/best.pt --model double_supervised=runs/fer2013-occnet-double-v2/best.pt

Every face of the test split is occluded (10-50% covered, seed 0, the same set as the "all occluded"
column of the result tables); each model's N x N map is compared with the covered fraction of
each region: mean map value on covered and on clean regions, and the ROC AUC of the map for
telling them apart (``ferkit.evaluate.occlusion_maps.map_agreement``). Inference only.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import provenance, write_result  # noqa: E402

from ferkit.artifacts import load_model, to_model_input  # noqa: E402
from ferkit.data import load_split  # noqa: E402
from ferkit.errors import ConfigError  # noqa: E402
from ferkit.evaluate.occlusion_maps import map_agreement  # noqa: E402
from ferkit.occlusion import occlude_dataset  # noqa: E402


def predicted_maps(loaded, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    backbone = getattr(loaded.model, "backbone", None)
    if not hasattr(backbone, "occlusion_map"):
        raise ConfigError(f"{loaded.path}: model {loaded.model_name!r} has no occlusion map (only occlusion_net models do)")
    out = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            x = to_model_input(torch.from_numpy(images[start:start + batch_size]), loaded.in_chans, loaded.image_size)
            out.append(backbone.occlusion_map(x).numpy())
    return np.concatenate(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--model", action="append", required=True, metavar="NAME=CHECKPOINT")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default="occlusion_map_agreement_fer2013")
    args = parser.parse_args()

    started = time.perf_counter()
    test = load_split(args.data, args.split)
    occluded, info = occlude_dataset(test, fraction=1.0, ratio_range=(0.1, 0.5), seed=args.seed)
    result = {"data": args.data, "split": test.name, "seed": args.seed, "occlusion": "every face, 10-50% covered", "models": {}}
    for item in args.model:
        name, _, path = item.partition("=")
        loaded = load_model(path)
        scores = map_agreement(predicted_maps(loaded, occluded.images), info.masks)
        result["models"][name] = {"checkpoint": path, "run": Path(path).parent.name, **scores}
        print(f"{name}: map on covered regions {scores['mean_on_covered']:.3f}, on clean regions {scores['mean_on_clean']:.3f}, AUC {scores['auc']:.3f}")
    result.update(provenance("cpu", started))
    write_result(args.name, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
