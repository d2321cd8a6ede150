"""`allennlp train --recover` after a kill: the same result as the uninterrupted run, partial
checkpoints skipped, and the finetune phase's own rules (training/checkpointer.py,
training/prune_and_finetune.py)."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

FIXTURES = Path(os.environ["RRNN_FIXTURES"])
CONFIG = FIXTURES / "structure_learning.jsonnet"
ROOT = Path(__file__).parents[1]
# long enough to be killed in the middle: 6 structure epochs, up to 6 finetuning epochs
LONG = {"trainer.num_epochs": 12, "trainer.callbacks.0.structure_epochs": 6, "trainer.callbacks.0.finetune_epochs": 6,
        "trainer.callbacks.0.finetune_patience": 6, "data_loader.batch_size": 2,
        "random_seed": 5, "numpy_seed": 5, "pytorch_seed": 5}
COMPARED = ("best_epoch", "best_validation_accuracy", "best_validation_loss", "test_accuracy", "test_loss",
            "structure_transitions_after", "structure_best_epoch", "finetune_epochs_completed", "training_loss")


def allennlp(*args, wait=True):
    command = [sys.executable, "-m", "allennlp", *args, "--include-package", "rrnn_plugin"]
    if wait:
        return subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def metrics(run: Path) -> dict:
    return json.loads((run / "metrics.json").read_text())


def test_a_run_killed_mid_training_recovers_to_the_uninterrupted_result(tmp_path):
    overrides = json.dumps(LONG)
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    done = allennlp("train", str(CONFIG), "-s", str(whole), "-o", overrides)
    assert done.returncode == 0, done.stderr[-2000:]

    process = allennlp("train", str(CONFIG), "-s", str(killed), "-o", overrides, wait=False)
    deadline = time.time() + 120
    while not (killed / "metrics_epoch_3.json").exists() and time.time() < deadline:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)  # somewhere in epoch 4 or 5: no warning, no cleanup
    process.wait()
    assert not (killed / "metrics.json").exists()
    recovered = allennlp("train", str(CONFIG), "-s", str(killed), "-o", overrides, "--recover")
    assert recovered.returncode == 0, recovered.stderr[-2000:]

    for key in COMPARED:
        assert metrics(killed)[key] == metrics(whole)[key], key
    assert json.loads((killed / "learned_structure.json").read_text())["wfsa_lengths_after"] == \
        json.loads((whole / "learned_structure.json").read_text())["wfsa_lengths_after"]
    final = [torch.load(run / "best.th") for run in (whole, killed)]
    assert final[0].keys() == final[1].keys()
    for name in final[0]:
        assert torch.equal(final[0][name], final[1][name]), name


# `allennlp ...` that dies (as by SIGKILL: no cleanup) right after best.th first holds the pruned model
# (learned_structure.json exists), before the switch epoch's training state is written.
DIE_AFTER_PRUNED_BEST = """
import os, sys
replace = os.replace
def dying_replace(src, dst, *args, **kwargs):
    replace(src, dst, *args, **kwargs)
    folder = os.path.dirname(str(dst))
    if str(dst).endswith("best.th") and os.path.exists(os.path.join(folder, "learned_structure.json")):
        os._exit(137)
os.replace = dying_replace
from allennlp.commands import main
sys.argv = ["allennlp"] + sys.argv[1:]
main()
"""


def test_a_run_killed_as_best_th_becomes_the_pruned_model_recovers(tmp_path):
    """Recovery then replays the last structure epoch, whose switch read that best.th (the pruned
    model) as the structure phase's best weights and failed with a size mismatch on every retry."""
    overrides = json.dumps(LONG)
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    assert allennlp("train", str(CONFIG), "-s", str(whole), "-o", overrides).returncode == 0
    assert not (whole / "structure_best.th").exists()  # kept only while a replay of the switch can happen
    dying = subprocess.run([sys.executable, "-c", DIE_AFTER_PRUNED_BEST, "train", str(CONFIG), "-s", str(killed),
                            "-o", overrides, "--include-package", "rrnn_plugin"], cwd=ROOT, capture_output=True)
    assert dying.returncode == 137 and not (killed / "metrics.json").exists()
    recovered = allennlp("train", str(CONFIG), "-s", str(killed), "-o", overrides, "--recover")
    assert recovered.returncode == 0, recovered.stderr[-2000:]
    for key in COMPARED:
        assert metrics(killed)[key] == metrics(whole)[key], key


@pytest.mark.parametrize("stopped", ["before metrics.json", "in metrics.json", "before model.tar.gz"])
def test_a_run_stopped_while_writing_its_final_files_recovers_them(tmp_path, stopped):
    """After the last epoch, structure learning rewrites config.json (the pruned model), then
    AllenNLP evaluates on test, writes metrics.json and then model.tar.gz.  A run stopped in between
    failed on --recover (a KeyError comparing configs; 'a finished run' for a metrics.json without
    an archive) or ended with half its metrics."""
    import shutil

    overrides = json.dumps(LONG)
    whole = tmp_path / "whole"
    assert allennlp("train", str(CONFIG), "-s", str(whole), "-o", overrides).returncode == 0
    run = tmp_path / "run"
    shutil.copytree(whole, run)
    (run / "model.tar.gz").unlink()
    if stopped == "before metrics.json":
        (run / "metrics.json").unlink()
    elif stopped == "in metrics.json":
        (run / "metrics.json").write_text('{"best_epoch": ')
    recovered = allennlp("train", str(CONFIG), "-s", str(run), "-o", overrides, "--recover")
    assert recovered.returncode == 0, recovered.stderr[-2000:]
    assert (run / "model.tar.gz").is_file()
    ignored = {"training_duration", "training_start_epoch", "training_epochs", "epoch_start_time", "peak_worker_0_memory_MB",
               "peak_cpu_memory_MB", "training_cpu_memory_MB", "validation_cpu_memory_MB", "training_worker_0_memory_MB"}
    expected = {k: v for k, v in metrics(whole).items() if k not in ignored}
    assert {k: v for k, v in metrics(run).items() if k not in ignored} == expected
    assert json.loads((run / "config.json").read_text()) == json.loads((whole / "config.json").read_text())


def test_a_run_moved_to_another_folder_recovers_there(tmp_path):
    """The checkpoint records best.th's path: a run moved (say, to a bigger disk) and recovered
    trained to the end, then failed looking for best.th in the old folder."""
    overrides = json.dumps(LONG)
    first, moved = tmp_path / "first", tmp_path / "moved"
    assert allennlp("train", str(CONFIG), "-s", str(first), "-o", overrides).returncode == 0
    (first / "metrics.json").unlink()  # as if stopped after its last checkpoint: no epoch left to
    (first / "model.tar.gz").unlink()  # replay, so best.th is read from where the checkpoint says
    first.rename(moved)
    recovered = allennlp("train", str(CONFIG), "-s", str(moved), "-o", overrides, "--recover")
    assert recovered.returncode == 0, recovered.stderr[-2000:]
    assert (moved / "model.tar.gz").is_file() and not first.exists()


def test_a_partial_checkpoint_is_skipped_and_a_finished_run_is_not_retrained(tmp_path):
    overrides = json.dumps({"trainer.num_epochs": 4, "random_seed": 5, "numpy_seed": 5, "pytorch_seed": 5})
    run, config = tmp_path / "run", FIXTURES / "rational_classifier.jsonnet"
    assert allennlp("train", str(config), "-s", str(run), "-o", overrides).returncode == 0
    again = allennlp("train", str(config), "-s", str(run), "-o", overrides, "--recover")
    assert again.returncode != 0 and "finished run" in again.stderr

    # as if killed while writing the last checkpoint: its training state is cut short
    (run / "metrics.json").unlink()
    (run / "model.tar.gz").unlink()
    newest = run / "training_state_e4_b0.th"
    newest.write_bytes(newest.read_bytes()[:100])
    recovered = allennlp("train", str(config), "-s", str(run), "-o", overrides, "--recover")
    assert recovered.returncode == 0, recovered.stderr[-2000:]
    assert "skipping the incomplete checkpoint model_state_e4_b0.th / training_state_e4_b0.th" in \
        recovered.stdout + recovered.stderr
    assert metrics(run)["epoch"] == 3  # it redid the last epoch from the complete checkpoint of epoch 3


def test_finetuning_must_beat_the_pruned_model_and_stops_on_patience(tmp_path):
    """With a learning rate of 0, finetuning cannot improve the pruned model: the final model is the
    pruned one (its validation score is the bar), and patience 2 stops finetuning after 2 epochs."""
    overrides = json.dumps({"trainer.num_epochs": 12, "trainer.callbacks.0.structure_epochs": 2,
                            "trainer.callbacks.0.finetune_epochs": 10, "trainer.callbacks.0.finetune_patience": 2,
                            "trainer.callbacks.0.finetune_optimizer.lr": 0.0,
                            "random_seed": 5, "numpy_seed": 5, "pytorch_seed": 5})
    run = tmp_path / "run"
    done = allennlp("train", str(CONFIG), "-s", str(run), "-o", overrides)
    assert done.returncode == 0, done.stderr[-2000:]
    result = metrics(run)
    assert result["finetune_epochs_completed"] == 2  # stopped by patience, not after 10
    assert result["best_validation_accuracy"] == pytest.approx(result["structure_pruned_validation_accuracy"])
    assert result["best_epoch"] == result["structure_best_epoch"] or result["best_epoch"] <= 1
