"""What a researcher's mistakes around ``ferkit train`` did before an audit, each refused now before any work:
folds of different experiments averaged into one summary, two processes in one run folder, a resume without
best.pt, a run folder inside the dataset, and a kill that left temporary checkpoints or a false promise."""

from __future__ import annotations

import json
import os
import signal

import pytest

from data.fixtures import write_ckplus, write_fer2013_folder
from ferkit.cli import main
from ferkit.errors import ConfigError
from ferkit.train.resume import RunLock, sweep_temporaries


def cli_train(data: str, out, *extra: str) -> int:
    return main(["train", "--recipe", "tiny-smoke-v1", "--data", data, "--out", str(out), "--quiet", "--device", "cpu", "--no-test",
                 "--set", "epochs=1", *extra])


def test_a_fold_with_other_settings_seed_or_data_is_refused_before_training(tmp_path, capsys):
    ck = f"ckplus48:{write_ckplus(tmp_path / 'ck', subjects=12)}"
    out = tmp_path / "run"
    assert cli_train(ck, out, "--fold", "0") == 0
    assert cli_train(ck, out, "--fold", "1", "--set", "lr=0.05") == 2  # averaged into one summary before
    assert f"{out / 'fold0'} was trained with other settings than this run (lr: 0.001 -> 0.05)" in capsys.readouterr().err
    assert cli_train(ck, out, "--fold", "1", "--set", "seed=7") == 2  # another seed redraws every fold's subjects
    assert "seed: 0 -> 7" in capsys.readouterr().err
    other = f"ckplus48:{write_ckplus(tmp_path / 'ck2', subjects=12, seed=5)}"
    assert cli_train(other, out, "--fold", "1") == 2
    assert f"{out / 'fold0' / 'last.pt'} was trained on other data than this fold0 training set" in capsys.readouterr().err
    assert not (out / "fold1").exists()  # refused before anything trained
    assert cli_train(ck, out, "--fold", "1", "--set", "cpu_amp=false") == 0  # precision is the host's: fp32 and bf16 folds join
    assert cli_train(ck, out, "--fold", "2", "--set", "epochs=2") == 0  # epochs may differ: a fold can be resumed to grow


def test_a_summary_of_another_recipe_is_refused_before_the_fold_trains(tmp_path, capsys):
    ck = f"ckplus48:{write_ckplus(tmp_path / 'ck', subjects=12)}"
    out = tmp_path / "run"
    out.mkdir()
    (out / "folds_summary.json").write_text(json.dumps({"recipe": "other-v1", "folds": []}))
    assert cli_train(ck, out, "--fold", "4") == 2
    assert "summarises recipe 'other-v1', not 'tiny-smoke-v1'; give another --out" in capsys.readouterr().err
    assert not (out / "fold4").exists()  # it trained the whole fold, then failed, before


def test_a_second_process_in_the_same_run_folder_is_refused(tmp_path, capsys):
    fer = f"fer2013:{write_fer2013_folder(tmp_path / 'fer', per_class=2)}"
    out = tmp_path / "run"
    out.mkdir()
    held = RunLock(out)
    held.acquire()  # what a first `ferkit train` into this folder holds while it trains
    try:
        assert cli_train(fer, out) == 2
        assert f"another process is training in {out} now" in capsys.readouterr().err
    finally:
        held.release()
    assert cli_train(fer, out) == 0  # the lock goes with the process that held it


def test_resume_without_best_pt_is_refused_before_training(tmp_path, capsys):
    fer = f"fer2013:{write_fer2013_folder(tmp_path / 'fer', per_class=2)}"
    out = tmp_path / "run"
    assert cli_train(fer, out) == 0
    (out / "best.pt").unlink()
    rows = (out / "metrics.jsonl").read_text()
    assert cli_train(fer, out, "--set", "epochs=2", "--resume") == 2  # trained every epoch, then failed, before
    assert "holds last.pt but its best.pt is missing" in capsys.readouterr().err
    assert (out / "metrics.jsonl").read_text() == rows


def test_an_out_inside_the_dataset_folder_is_refused(tmp_path, capsys):
    root = write_fer2013_folder(tmp_path / "fer", per_class=2)
    assert cli_train(f"fer2013:{root}", root / "runs" / "a") == 2
    assert "lies inside the dataset folder" in capsys.readouterr().err
    assert not (root / "runs").exists()  # the dataset stays readable


def test_stale_temporaries_of_a_killed_run_are_swept_and_others_kept(tmp_path):
    for name in (".last.pt.abc123.tmp", ".metrics.jsonl.x.tmp", ".mine.tmp", "notes.tmp"):
        (tmp_path / name).write_text("x")
    assert sorted(p.name for p in sweep_temporaries(tmp_path)) == [".last.pt.abc123.tmp", ".metrics.jsonl.x.tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".mine.tmp", "notes.tmp"]


def test_sigterm_ends_a_command_like_ctrl_c_and_says_when_nothing_can_be_resumed(tmp_path, capsys, monkeypatch):
    from ferkit import cli

    def killed(args):
        os.kill(os.getpid(), signal.SIGTERM)  # what `kill PID` or a job scheduler sends
        raise AssertionError("SIGTERM did not stop the command")

    monkeypatch.setitem(cli.COMMANDS, "train", killed)
    before = signal.getsignal(signal.SIGTERM)
    assert cli_train("fer2013:x", tmp_path / "run") == 130
    assert "interrupted before its first epoch finished: no last.pt to resume" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGTERM) == before  # restored for whoever called main()
    (tmp_path / "run" / "fold3").mkdir(parents=True)
    (tmp_path / "run" / "fold3" / "last.pt").write_bytes(b"")
    assert cli_train("fer2013:x", tmp_path / "run") == 130
    assert "a resumable last.pt is kept in the run directory" in capsys.readouterr().err


def test_run_lock_refuses_a_second_holder_and_frees_on_release(tmp_path):
    first, second = RunLock(tmp_path), RunLock(tmp_path)
    first.acquire()
    with pytest.raises(ConfigError, match="another process is training"):
        second.acquire()
    first.release()
    second.acquire()
    second.release()
