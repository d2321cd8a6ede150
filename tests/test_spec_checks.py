"""experiments/spec_checks.py: a sweep spec's wrong types and ranges are refused when it loads,
naming the key (and the file), before any folder is made."""
import json

import pytest

from rrnn_plugin.experiments.spec import SweepSpec
from rrnn_plugin.experiments.spec_checks import SpecError

GOOD = {"name": "s", "datasets": ["kitchen"], "seeds": [0], "baselines": ["1"], "targets": [20]}

BAD = [
    ({"seeds": ["a/../../victim"]}, "'seeds'"),  # a seed becomes the folder seed_<seed>
    ({"seeds": []}, "'seeds'"),
    ({"seeds": [0, 0]}, "a seed twice"),
    ({"seeds": [True]}, "'seeds'"),
    ({"datasets": "kitchen"}, "'datasets'"),  # a string would be swept letter by letter
    ({"datasets": []}, "'datasets'"),
    ({"datasets": ["../x"]}, "plain name"),
    ({"baselines": ["a/b"]}, "plain name"),
    ({"targets": [float("nan")]}, "'targets'"),
    ({"targets": ["20"]}, "'targets'"),
    ({"targets": [0]}, "'targets'"),
    ({"tolerance": -1}, "'tolerance'"),
    ({"start_lambda": float("nan")}, "'start_lambda'"),
    ({"start_lambda": -1e-4}, "'start_lambda'"),
    ({"start_lambda": {"twenty": 1e-4}}, "not a target"),
    ({"max_tries": 0}, "'max_tries'"),
    ({"folds": 1}, "'folds'"),
    ({"tuning": {"trials": -5}}, "'tuning.trials'"),
    ({"tuning": {"trails": 5}}, "unknown keys"),
    ({"env": {"X": 1}}, "'env'"),
    ({"overrides": ["trainer.num_epochs", 1]}, "'overrides'"),
    ({"multi_objective": {"n_trails": 3}}, "unknown keys"),
]


@pytest.mark.parametrize("change, message", BAD, ids=[next(iter(c)) + str(i) for i, (c, _) in enumerate(BAD)])
def test_bad_values_are_refused_naming_the_key(change, message):
    with pytest.raises(SpecError, match=message):
        SweepSpec.from_json({**GOOD, **change})


def test_the_file_is_named_for_bad_json_and_bad_values(tmp_path):
    path = tmp_path / "spec.json"
    path.write_text('{"name": "s",\n "datasets": [kitchen]}')
    with pytest.raises(SpecError, match=r"spec.json, line 2: not valid JSON"):
        SweepSpec.from_file(str(path))
    path.write_text(json.dumps([GOOD]))
    with pytest.raises(SpecError, match=r"spec.json: a sweep spec is a JSON object"):
        SweepSpec.from_file(str(path))
    path.write_text(json.dumps({**GOOD, "seeds": "0"}))
    with pytest.raises(SpecError, match=r"spec.json: sweep spec key 'seeds'"):
        SweepSpec.from_file(str(path))


def test_a_good_spec_and_its_saved_form_load():
    spec = SweepSpec.from_json({**GOOD, "baselines": [1, "mix"], "start_lambda": {"20": 3e-4}, "folds": 5,
                                "tuning": {"trials": 2}, "env": {"RRNN_BERT_MODEL": "x"}})
    assert spec.baselines == ["1", "mix"] and spec.tuning.trials == 2
    again = SweepSpec.from_json({k: v for k, v in spec.to_json().items() if v is not None})  # as the report reloads it
    assert again == spec
