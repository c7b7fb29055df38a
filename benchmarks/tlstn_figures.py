"""Paper 000 Figure 3 (t-SNE: cross-entropy vs triplet, clean vs occluded) and an STN input/output grid.

    python benchmarks/tlstn_figures.py --data ckplus48:../shared/data/ckplus48 \
        --ce runs/ckplus-tlstn-ce-v2__random800/best.pt --triplet runs/ckplus-tlstn-triplet-v2__random800/best.pt

Embeddings of the test split of the given protocol (default random800, the papers' split), clean
and randomly erased (p = 1 so every image is erased, fixed seed).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO  # noqa: E402

from ferkit.artifacts import load_model, to_model_input  # noqa: E402
from ferkit.data import load_split  # noqa: E402
from ferkit.evaluate.predict import predict_embeddings  # noqa: E402
from ferkit.evaluate.tsne import stn_grid, tsne_grid  # noqa: E402
from ferkit.occlusion import erase_dataset  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="ckplus48:" + str(REPO.parent / "shared" / "data" / "ckplus48"))
    parser.add_argument("--protocol", default="random800")
    parser.add_argument("--ce", default=str(REPO / "runs" / "ckplus-tlstn-ce-v2__random800" / "best.pt"))
    parser.add_argument("--triplet", default=str(REPO / "runs" / "ckplus-tlstn-triplet-v2__random800" / "best.pt"))
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "tlstn_figures"))
    args = parser.parse_args()
    test = load_split(args.data, "test", protocol=args.protocol)
    erased = erase_dataset(test, p=1.0, seed=0)
    panels = []
    for title, path in (("cross-entropy", args.ce), ("triplet", args.triplet)):
        loaded = load_model(path)
        for condition, data in (("clean", test), ("randomly erased", erased)):
            emb = predict_embeddings(loaded.model, data.images, in_chans=loaded.in_chans, image_size=loaded.image_size)
            panels.append((f"{title}, {condition}", emb, data.labels))
    panels = [panels[0], panels[1], panels[2], panels[3]]
    out = Path(args.out)
    tsne_grid(panels, list(test.class_names), out / "tsne.png", seed=0)
    loaded = load_model(args.triplet)
    stn = loaded.model.input_transform
    x = to_model_input(torch.from_numpy(erased.images[:8]), loaded.in_chans, loaded.image_size)
    with torch.no_grad():
        transformed = stn.transform(x).numpy()
    stn_grid(x.numpy(), transformed, out / "stn_grid.png")
    print(f"wrote {out / 'tsne.png'} and {out / 'stn_grid.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
