"""Tests of `rrnn_plugin.visualization` and the `rrnn-visualize` / `rrnn-draw-structure` commands:
the max/min-times Viterbi against brute-force enumeration (signed weights included), phrases of a
tiny trained model against the model's own weights, the four output formats, clean errors for bad
paths, and the structure pictures (baseline and pruned archives, both JSON schemas)."""
import itertools
import json
import math
import re
import sys
import xml.etree.ElementTree as ElementTree
from html.parser import HTMLParser
from pathlib import Path
from typing import List, Sequence

import pytest
import torch
from allennlp.commands import main as allennlp_main
from allennlp.commands.train import train_model_from_file

from rrnn_plugin.visualization import (
    extract_phrases,
    extreme_paths,
    find_encoder,
    load_model,
    draw_structure,
    load_structure,
    read_documents,
)
from rrnn_plugin.visualization.render import render
from rrnn_plugin.visualization.structure import structure_from_json

FIXTURES = Path(__file__).parent / "fixtures"
KITCHEN = str(FIXTURES / "blitzer" / "kitchen")


# ----- brute force ------------------------------------------------------------------------------
def path_score(
    u, f, length: int, k: int, positions: Sequence[int], trailing: bool, additive: bool
) -> float:
    """Score of one full path of WFSA k (u, f: (time, wfsas, states) of one document)."""
    times = (lambda a, b: a + b) if additive else (lambda a, b: a * b)
    score = 0.0 if additive else 1.0
    for j, e in enumerate(positions):
        if j > 0:
            for t in range(positions[j - 1] + 1, e):
                score = times(score, float(f[t, k, j - 1]))
        score = times(score, float(u[e, k, j]))
    if trailing:
        for t in range(positions[-1] + 1, length):
            score = times(score, float(f[t, k, len(positions) - 1]))
    return score


def brute_force(u, f, length: int, k: int, n: int, trailing: bool, additive: bool, any_final: bool = False):
    """(max, min) over every full path (any_final: every path of 1..n transitions), or None when
    the document is too short."""
    sizes = range(1, n + 1) if any_final else [n]
    paths = [p for m in sizes for p in itertools.combinations(range(length), m)]
    scores = [path_score(u, f, length, k, p, trailing, additive) for p in paths]
    return (max(scores), min(scores)) if scores else None


@pytest.mark.parametrize("any_final", [False, True])
@pytest.mark.parametrize("trailing", [True, False])
@pytest.mark.parametrize("additive", [False, True])
def test_extreme_paths_match_brute_force(trailing: bool, additive: bool, any_final: bool) -> None:
    generator = torch.Generator().manual_seed(3)
    lengths = [1, 2, 4, 7, 6, 0]
    wfsa_lengths = [1, 2, 3, 4, 3]
    for _ in range(8):
        # signed u as in plus-times (w·x unsquashed), f in (0, 1)
        u = 2 * torch.randn(len(lengths), 7, len(wfsa_lengths), 4, generator=generator, dtype=torch.float64)
        f = torch.rand(len(lengths), 7, len(wfsa_lengths), 4, generator=generator, dtype=torch.float64)
        result = extreme_paths(
            u, f, torch.tensor(lengths), wfsa_lengths, trailing, additive, any_final_state=any_final
        )
        for b, length in enumerate(lengths):
            for k, n in enumerate(wfsa_lengths):
                expected = brute_force(u[b], f[b], length, k, n, trailing, additive, any_final)
                for mode, index in (("max", 0), ("min", 1)):
                    score = result[mode].scores[b, k].item()
                    positions = result[mode].main_positions[b, k].tolist()
                    if expected is None:
                        assert math.isnan(score) and positions == [-1] * 4
                        continue
                    assert score == pytest.approx(expected[index], rel=1e-12, abs=1e-12)
                    used = [p for p in positions if p >= 0]
                    assert positions == used + [-1] * (4 - len(used))
                    assert len(used) == n or (any_final and 1 <= len(used) < n)
                    # the back-pointers give a path that really has this score
                    rescored = path_score(u[b], f[b], length, k, used, trailing, additive)
                    assert rescored == pytest.approx(score, rel=1e-12, abs=1e-12)


def test_negative_times_negative_is_the_best_path() -> None:
    """After token 1, q1's best is 0.1 and its worst -1.5 (= -3 then a self-loop); with u = -2 into
    q2, a max-only Viterbi would answer 0.1 * (-2) = -0.2 and miss (-3)(0.5)(-2) = 3."""
    u = torch.zeros(1, 3, 1, 2, dtype=torch.float64)
    u[0, :, 0, 0] = torch.tensor([-3.0, 0.1, 0.0])  # into q1
    u[0, :, 0, 1] = torch.tensor([0.5, 0.2, -2.0])  # into q2
    f = torch.full_like(u, 0.5)
    result = extreme_paths(u, f, torch.tensor([3]), [2], trailing=True)
    assert result["max"].scores.item() == pytest.approx(3.0)
    assert result["max"].main_positions[0, 0].tolist() == [0, 2]
    assert result["min"].scores.item() == pytest.approx(-0.3)  # (-3)(0.2), then q2's self-loop 0.5
    assert result["min"].main_positions[0, 0].tolist() == [0, 1]
    # a one-token document cannot hold a 2-transition path
    short = extreme_paths(u[:, :1], f[:, :1], torch.tensor([1]), [2])
    assert math.isnan(short["max"].scores.item())
    assert short["max"].main_positions[0, 0].tolist() == [-1, -1]


# ----- a tiny trained model ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def baseline_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("viz") / "baseline"
    train_model_from_file(str(FIXTURES / "rational_classifier.jsonnet"), str(directory))
    return directory


@pytest.fixture(scope="module")
def pruned_dir(tmp_path_factory) -> Path:
    """A structure-learning run: group lasso, pruning (mixed lengths, a WFSA removed), finetuning."""
    directory = tmp_path_factory.mktemp("viz") / "pruned"
    train_model_from_file(str(FIXTURES / "structure_learning.jsonnet"), str(directory))
    return directory


def test_phrases_of_a_trained_model_use_its_own_weights(baseline_dir: Path) -> None:
    model, reader = load_model(str(baseline_dir / "model.tar.gz"))
    documents = read_documents(reader, KITCHEN)
    encoder = find_encoder(model)
    phrases = extract_phrases(model, documents, top_k=3, batch_size=4, distinct=False)
    assert [p.wfsa for p in phrases] == list(range(encoder.num_wfsas))

    def weights(document: int):
        """u, f of one document alone (no padding), from the model's embedder, in eval mode."""
        instance = documents[document]
        token_ids = torch.tensor([[model.vocab.get_token_index(t.text) for t in instance["tokens"].tokens]])
        with torch.no_grad():
            embedded = model._text_field_embedder({"tokens": {"tokens": token_ids}})
            u, f = encoder.transition_weights(embedded)
        return u[0].double(), f[0].double(), token_ids.shape[1], [t.text for t in instance["tokens"].tokens]

    for wfsa in phrases:
        assert wfsa.length == encoder.wfsa_lengths[wfsa.wfsa] and wfsa.documents == len(documents)
        assert len(wfsa.top) == len(wfsa.bottom) == 3
        assert [m.score for m in wfsa.top] == sorted((m.score for m in wfsa.top), reverse=True)
        assert [m.score for m in wfsa.bottom] == sorted(m.score for m in wfsa.bottom)
        assert wfsa.top[0].score >= wfsa.bottom[0].score
        for match in wfsa.top + wfsa.bottom:
            u, f, length, words = weights(match.document)
            positions = [t.position for t in match.transitions]
            assert len(positions) == wfsa.length and positions == sorted(set(positions))
            for j, transition in enumerate(match.transitions):
                assert transition.token == words[transition.position]
                expected_loops = list(range(positions[j - 1] + 1, positions[j])) if j else []
                assert transition.self_loops == expected_loops
                assert transition.self_loop_tokens == [words[t] for t in expected_loops]
            assert match.trailing_self_loops == length - 1 - positions[-1]
            score = path_score(u, f, length, wfsa.wfsa, positions, trailing=True, additive=False)
            assert score == pytest.approx(match.score, rel=1e-4, abs=1e-9)
        if wfsa.length <= 2:  # exhaustive check of the best and worst document
            extremes = [
                brute_force(*weights(d)[:3], wfsa.wfsa, wfsa.length, True, False)
                for d in range(len(documents))
            ]
            assert wfsa.top[0].score == pytest.approx(max(e[0] for e in extremes), rel=1e-4, abs=1e-9)
            assert wfsa.bottom[0].score == pytest.approx(min(e[1] for e in extremes), rel=1e-4, abs=1e-9)

    # paths that may end in any (final) state: a superset, so at least as extreme
    anywhere = extract_phrases(model, documents, top_k=2, any_final_state=True)
    for full, free in zip(phrases, anywhere):
        assert free.top[0].score >= full.top[0].score - 1e-9
        assert free.bottom[0].score <= full.bottom[0].score + 1e-9
        assert all(1 <= len(m.transitions) <= free.length for m in free.top + free.bottom)
    for table, wfsa in zip(markdown_tables(render(anywhere, "markdown")), anywhere):
        assert {len(row) for row in table} <= {2 + wfsa.length, 3 + wfsa.length}
        assert len({len(row) for row in table}) == 1

    distinct = extract_phrases(model, documents, top_k=3, wfsas=[0])
    keys = [tuple(t.token for t in m.transitions) for m in distinct[0].top]
    assert len(keys) == len(set(keys))
    with pytest.raises(ValueError, match="no WFSA"):
        extract_phrases(model, documents, wfsas=[99])


# ----- the command line -------------------------------------------------------------------------
def run_cli(monkeypatch, *args: str) -> None:
    monkeypatch.setattr(sys, "argv", ["allennlp", *args])
    allennlp_main(prog="allennlp")


class TagChecker(HTMLParser):
    """Fails on a mis-nested or unclosed tag; collects the text of `.main` spans."""

    VOID = {"meta", "br", "img", "hr", "link", "input"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: List[str] = []
        self.main_tokens: List[str] = []
        self._in_main = False

    def handle_starttag(self, tag, attrs) -> None:
        if tag not in self.VOID:
            self.stack.append(tag)
        self._in_main = tag == "span" and ("class", "main") in attrs

    def handle_endtag(self, tag) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()
        self._in_main = False

    def handle_data(self, data) -> None:
        if self._in_main:
            self.main_tokens.append(data)


def markdown_tables(text: str) -> List[List[List[str]]]:
    tables, current = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            current.append([cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]])
        elif current:
            tables.append(current)
            current = []
    return tables


def test_command_formats_on_a_pruned_archive(pruned_dir: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    structure = json.loads((pruned_dir / "learned_structure.json").read_text())
    kept = [k for k, m in enumerate(structure["kept_lengths"]) if m > 0]
    lengths = [m for m in structure["kept_lengths"] if m > 0]
    archive = str(pruned_dir / "model.tar.gz")

    out = {}
    for fmt, name in (("markdown", "t.md"), ("html", "t.html"), ("json", "t.json")):
        run_cli(monkeypatch, "rrnn-visualize", archive, KITCHEN + "#train", "--top-k", "2",
                "--output-file", str(tmp_path / name), "--silent")  # format from the extension
        out[fmt] = (tmp_path / name).read_text(encoding="utf-8")

    data = json.loads(out["json"])
    assert [w["length"] for w in data["wfsas"]] == lengths
    assert [w["original_index"] for w in data["wfsas"]] == kept
    assert data["trailing_self_loops"] is True and data["semiring"] == "plus_times"
    assert all(set(w["label_weights"]) == {"negative", "positive"} for w in data["wfsas"])
    first = data["wfsas"][0]["top"][0]
    assert set(first) == {"wfsa", "document", "score", "transitions", "trailing_self_loops"}
    assert set(first["transitions"][0]) == {"position", "token", "self_loops", "self_loop_tokens"}

    tables = markdown_tables(out["markdown"])
    assert len(tables) == len(lengths)
    for table, n in zip(tables, lengths):
        widths = {len(row) for row in table}
        assert len(widths) == 1, table
        assert widths.pop() in (2 + n, 3 + n)  # label, score, one per transition (, after)
    assert "</s>" not in out["markdown"]  # escaped, so a renderer shows it instead of eating a tag
    shown = [t["token"] for w in data["wfsas"] for m in w["top"] + w["bottom"] for t in m["transitions"]]
    if "</s>" in shown:
        assert "&lt;/s&gt;" in out["markdown"]
    for k, was in enumerate(kept):
        if k != was:
            assert f"(was {was})" in out["markdown"]

    checker = TagChecker()
    checker.feed(out["html"])
    checker.close()
    assert checker.stack == []
    assert checker.main_tokens == shown

    run_cli(monkeypatch, "rrnn-visualize", archive, KITCHEN, "--wfsa", "0", "--max-documents", "5",
            "--no-trailing-self-loops", "--silent")
    text = capsys.readouterr().out
    assert text.startswith("WFSA 0") and "WFSA 1" not in text
    assert text.splitlines()[1].split()[-1] != "after"  # no trailing self-loops without trailing


def test_command_errors_are_one_line(baseline_dir: Path, tmp_path: Path, monkeypatch) -> None:
    archive = str(baseline_dir / "model.tar.gz")
    missing = str(tmp_path / "nothing" / "model.tar.gz")
    not_an_archive = tmp_path / "broken.tar.gz"
    not_an_archive.write_text("not a tar file")
    cases = [
        (["rrnn-visualize", missing, KITCHEN], missing),
        (["rrnn-visualize", str(not_an_archive), KITCHEN], str(not_an_archive)),
        (["rrnn-visualize", archive, str(tmp_path / "no-such-domain") + "#train"], "no-such-domain#train"),
        (["rrnn-visualize", archive, KITCHEN, "--wfsa", "7", "--silent"], "no WFSA [7]"),
        (["rrnn-visualize", archive, KITCHEN, "--output-file", archive], "also an input"),  # the model is kept
        (["rrnn-visualize", archive, KITCHEN, "--output-file", str(tmp_path)], "is a folder"),
        (["rrnn-draw-structure", missing, "--output", str(tmp_path / "x.png")], missing),
        (["rrnn-draw-structure", archive, "--output", str(tmp_path / "x.gif")], "x.gif"),
    ]
    for argv, named in cases:
        with pytest.raises(SystemExit) as raised:
            run_cli(monkeypatch, *argv)
        message = raised.value.code
        assert isinstance(message, str) and "\n" not in message, message  # exit status 1, one line
        assert message.startswith(argv[0] + ": error: ") and named in message, message
    assert (baseline_dir / "model.tar.gz").read_bytes()[:2] == b"\x1f\x8b"  # still the gzip archive


# ----- structure pictures -----------------------------------------------------------------------
def check_picture(path: Path) -> None:
    if path.suffix == ".png":
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert path.stat().st_size < 200_000
    else:
        ElementTree.parse(path)  # well-formed XML


def test_draw_structure(baseline_dir: Path, pruned_dir: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    # a pruned run: before/after panels, from the serialization dir (trainer's schema)
    run_cli(monkeypatch, "rrnn-draw-structure", str(pruned_dir), "--output", str(tmp_path / "pruned.svg"))
    check_picture(tmp_path / "pruned.svg")
    report = json.loads((pruned_dir / "learned_structure.json").read_text())
    kept = f"{sum(report['kept_lengths'])} of {sum(report['wfsa_lengths_before'])} transitions"
    assert kept in capsys.readouterr().out
    svg = (tmp_path / "pruned.svg").read_text()
    assert "before pruning" in svg and "after pruning" in svg

    # the trainer's schema and the minimal one describe the same structure
    minimal = {"eps": report["eps"], "wfsas": [
        {"original_length": n, "kept_length": m, "group_norms": s}
        for n, m, s in zip(report["wfsa_lengths_before"], report["kept_lengths"], report["state_norms"])
    ]}
    (tmp_path / "minimal.json").write_text(json.dumps(minimal))
    assert load_structure(str(tmp_path / "minimal.json")).wfsas == structure_from_json(report).wfsas

    # an archive alone (no learned_structure.json next to it): every state kept, norms from the weights
    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / "model.tar.gz").write_bytes((baseline_dir / "model.tar.gz").read_bytes())
    structure = load_structure(str(alone / "model.tar.gz"))
    assert not structure.pruned and [w.original_length for w in structure.wfsas] == [1, 2, 3, 3]
    assert all(w.norms is not None and len(w.norms) == w.original_length for w in structure.wfsas)
    draw_structure(structure, str(tmp_path / "alone.png"), title="baseline")
    check_picture(tmp_path / "alone.png")


def test_render_marks_self_loops_and_end_token() -> None:
    from rrnn_plugin.visualization import PathMatch, Transition, WfsaPhrases

    match = PathMatch(0, 3, 0.5, [
        Transition(1, "not"),
        Transition(3, "good", [2], ["very"]),
        Transition(9, "</s>", [4, 5, 6, 7, 8], ["a", "b", "c", "d", "e"]),
    ])
    phrases = [WfsaPhrases(0, 3, [match], [match])]
    text = render(phrases, "text")
    assert "not  very_SL good  …_SL </s>" in re.sub(r" {2,}", "  ", text)
    assert "very\\_SL **good**" in render(phrases, "markdown")
    assert "**&lt;/s&gt;**" in render(phrases, "markdown")
    assert 'title="self-loop: a b c d e"' in render(phrases, "html")
    with pytest.raises(ValueError, match="format"):
        render(phrases, "pdf")
