"""`allennlp rrnn-serve` (rrnn_plugin/serve/): the JSON API on a tiny structure-learning model,
malformed requests that must get 4xx answers without stopping the server, and the page in a real
headless Chromium (skipped, saying why, where Debian's chromium and chromium-driver are missing)."""
import json
import os
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import rrnn_plugin  # noqa: F401
from tests import browser

FIXTURES = Path(os.environ["RRNN_FIXTURES"])


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> str:
    """A pruned model (structure learning, then finetuning) with learned_structure.json beside it."""
    from allennlp.commands.train import train_model_from_file

    run = tmp_path_factory.mktemp("serve") / "run"
    train_model_from_file(str(FIXTURES / "structure_learning.jsonnet"), str(run))
    return str(run / "model.tar.gz")


@pytest.fixture(scope="module")
def server(archive, tmp_path_factory):
    from allennlp.models.archival import load_archive

    from rrnn_plugin.serve import Explainer, make_server
    from rrnn_plugin.visualization import extract_phrases
    from rrnn_plugin.visualization.render import render_json

    from allennlp.predictors import Predictor

    loaded = load_archive(archive)
    model = loaded.model
    phrases_file = tmp_path_factory.mktemp("phrases") / "phrases.json"
    predictor = Predictor.from_archive(loaded, "sentiment")
    texts = ["great pan , works perfectly", "the handle broke , bad knife", "love it"]
    instances = [predictor._dataset_reader.text_to_instance(t) for t in texts]
    phrases_file.write_text(render_json(extract_phrases(model, instances, top_k=2)))
    http = make_server(Explainer(archive, str(phrases_file)), port=0, max_chars=500)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{http.server_address[1]}"
    http.shutdown()


def request(url: str, body: bytes = None, method: str = None):
    req = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_api_answers_with_label_probabilities_and_paths(server):
    status, body = request(server + "/api/predict", json.dumps({"sentence": "Great pan, it works perfectly."}).encode())
    assert status == 200
    answer = json.loads(body)
    assert answer["label"] in ("positive", "negative") and abs(sum(answer["probs"].values()) - 1) < 1e-5
    assert answer["tokens"][0] == "<s>" and answer["tokens"][-1] == "</s>"
    contributions = [w["contribution"] for w in answer["wfsas"]]
    assert contributions == sorted(contributions, reverse=True)  # the strongest support first
    paths = [w["path"] for w in answer["wfsas"] if w["path"]]
    assert paths, answer
    for path in paths:
        positions = [t["position"] for t in path["transitions"]]
        assert positions == sorted(positions) and all(0 <= p < len(answer["tokens"]) for p in positions)
        for t in path["transitions"]:
            assert answer["tokens"][t["position"]] == t["token"]
    assert any(w["dataset_phrases"] for w in answer["wfsas"])  # from --phrases
    assert answer["has_structure_picture"]
    status, svg = request(server + "/structure.svg")
    assert status == 200 and b"<svg" in svg
    status, page = request(server + "/")
    assert status == 200 and b'id="go"' in page


@pytest.mark.parametrize("body, status, fragment", [
    (b"", 400, "not valid JSON"),
    (b"{not json", 400, "not valid JSON"),
    (b"[1, 2]", 400, "expected a JSON object"),
    (b'"text"', 400, "expected a JSON object"),
    (b'{"text": "x"}', 400, 'missing field "sentence"'),
    (b'{"sentence": 5}', 400, "must be a string, got int"),
    (b'{"sentence": null}', 400, "must be a string"),
    (b'{"sentence": ["a"]}', 400, "must be a string, got list"),
    (b'{"sentence": "   "}', 400, "is empty"),
    (json.dumps({"sentence": "x" * 501}).encode(), 413, "at most 500"),
    (b"\xff\xfe\x00", 400, "not UTF-8"),
    (b"x" * 5000, 413, "too large"),
])
def test_malformed_requests_get_clear_4xx_answers(server, body, status, fragment):
    got, answer = request(server + "/api/predict", body)
    assert got == status and fragment in json.loads(answer)["error"]
    ok, _ = request(server + "/api/predict", b'{"sentence": "still alive"}')
    assert ok == 200  # the server keeps serving


@pytest.mark.parametrize("length", ["-1", "twelve"])
def test_a_content_length_below_zero_or_not_a_number_is_refused_at_once(server, length):
    """With Content-Length -1 the server read until the client closed, past its size limit."""
    import http.client

    host, port = server.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    connection.putrequest("POST", "/api/predict")
    connection.putheader("Content-Length", length)
    connection.endheaders()
    connection.send(b'{"sentence": "' + b"x" * 10000)  # the client keeps its side open
    response = connection.getresponse()
    assert response.status == 400 and "Content-Length" in json.loads(response.read())["error"]
    connection.close()


def test_unknown_paths_and_methods(server):
    assert request(server + "/nothing")[0] == 404
    assert request(server + "/api/other", b"{}")[0] == 404
    assert request(server + "/api/predict", b"{}", method="PUT")[0] == 405


@pytest.mark.skipif(browser.available() is not None, reason=f"browser test skipped: {browser.available()}")
def test_the_page_in_a_real_browser(server, tmp_path):
    with browser.browser() as page:
        shown = browser.explain_in_the_page(page, server + "/", "Great pan, it works perfectly. I love it!")
        page.screenshot(str(tmp_path / "page.png"))
    assert shown["label"].startswith("label: ") and shown["label"].split(": ")[1] in ("positive", "negative")
    assert "%" in shown["probs"] and shown["main_tokens"] >= 1
    assert (tmp_path / "page.png").read_bytes()[:4] == b"\x89PNG"
