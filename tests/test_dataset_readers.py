"""Tests of the Blitzer and TSV sentiment readers on small synthetic fixtures (plus one real-data check)."""
import logging
import os
import pickle
from pathlib import Path

import pytest
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import DatasetReader, Vocabulary
from allennlp.data.data_loaders import MultiProcessDataLoader

from rrnn_plugin.dataset_readers import (
    BlitzerReviewsReader,
    DataFormatError,
    SentimentReader,
    TsvSentimentReader,
    duplicate_flags,
    load_reviews,
    parse_data_path,
    read_review_file,
    select_reviews,
    split_reviews,
)

FIXTURES = Path(__file__).parent / "fixtures"
BLITZER = FIXTURES / "blitzer"
KITCHEN = BLITZER / "kitchen"
BAD = FIXTURES / "bad"
REAL_DATA = Path(
    os.environ.get("RRNN_DATA_DIR") or Path(__file__).parents[1] / ".." / "shared" / "data" / "blitzer"
)

# The fixture's only duplicate: kitchen/positive.review reviews 2 and 6 (0-based) share a text.
KITCHEN_DUPLICATE = "I love this kettle. It boils fast and looks beautiful on the stove."


def texts(instances):
    return [" ".join(t.text for t in instance["tokens"].tokens) for instance in instances]


def keys(reviews):
    return [(r.path, r.line) for r in reviews]


# ----------------------------------------------------------------------------------------------
# Parsing


def test_read_review_file_fields_and_labels():
    reviews = read_review_file(KITCHEN / "positive.review")
    assert len(reviews) == 10
    assert {r.label for r in reviews} == {"positive"}
    assert {r.domain for r in reviews} == {"kitchen"}
    first = reviews[0]
    assert first.title == "Great pan"
    assert first.rating == 4.0
    assert first.text == "This pan is great. Eggs slide right off and it heats evenly. I love it!"
    assert first.line == 2  # the <review> tag, after the <reviews> root on line 1
    assert first.path == str(KITCHEN / "positive.review")
    # A text spanning two lines is joined with a single space.
    assert reviews[3].text == "The blender works perfectly and makes wonderful smoothies. Highly recommended."
    assert {r.label for r in read_review_file(KITCHEN / "negative.review")} == {"negative"}


def test_entities_latin1_and_lost_characters():
    kitchen = {r.title: r.text for r in read_review_file(KITCHEN / "positive.review")}
    assert kitchen["Wonderful pot"] == 'A wonderful pot with a "lid that fits" - I said "wow" when it arrived.'
    assert "café" in kitchen["Superb"]  # a latin-1 byte \xe9
    negative = {r.title: r.text for r in read_review_file(KITCHEN / "negative.review")}
    assert "cracked & fell apart" in negative["Useless"]
    books = {r.title: r.text for r in read_review_file(BLITZER / "books" / "negative.review")}
    assert books["Dull"].startswith("Dull, clichd and")  # \x1a (a lost character) is deleted


def test_file_without_root_crlf_and_control_characters(tmp_path):
    path = tmp_path / "positive.review"
    path.write_bytes(
        b"<review>\r\n<rating>\r\n5.0\r\n</rating>\r\n<review_text>\r\nna\x1ave &amp; fine\r\n"
        b"</review_text>\r\n</review>\r\n\x1a"
    )
    (review,) = read_review_file(path, domain="toys")
    assert review.text == "nave & fine"
    assert review.domain == "toys"
    assert review.title == ""


def test_label_must_come_from_the_file_name(tmp_path):
    path = tmp_path / "unlabeled.review"
    path.write_text("<review>\n<review_text>\nx\n</review_text>\n</review>\n")
    with pytest.raises(ValueError, match="unlabeled.review"):
        read_review_file(path)
    assert read_review_file(path, label="positive")[0].label == "positive"


def test_rating_mismatch_is_counted_not_fatal(tmp_path, caplog):
    path = tmp_path / "negative.review"
    path.write_text(
        "<reviews>\n"
        + "".join(
            f"<review>\n<rating>\n{rating}\n</rating>\n<review_text>\ntext {i}\n</review_text>\n</review>\n"
            for i, rating in enumerate(["1.0", "5.0", "2.0", "4.0"])
        )
        + "</reviews>\n"
    )
    with caplog.at_level(logging.WARNING, logger="rrnn_plugin.dataset_readers.review_files"):
        reviews = read_review_file(path)
    assert [r.label for r in reviews] == ["negative"] * 4
    assert "2 of 4 reviews" in caplog.text


# ----------------------------------------------------------------------------------------------
# Bad input: DataFormatError names the file and the line


def test_truncated_file():
    path = BAD / "truncated" / "positive.review"
    with pytest.raises(DataFormatError) as info:
        read_review_file(path)
    assert str(path) in str(info.value)
    assert "line 72:" in str(info.value)  # the third <review>, cut off inside its review_text
    assert info.value.line == 72


def test_review_without_review_text():
    path = BAD / "no_review_text" / "negative.review"
    with pytest.raises(DataFormatError, match=r"negative\.review, line 37: review has no <review_text>"):
        read_review_file(path)


def test_reader_surfaces_format_errors():
    reader = BlitzerReviewsReader()
    with pytest.raises(DataFormatError, match=r"truncated.positive\.review, line 72:"):
        list(reader.read(f"{BAD / 'truncated'}#train"))


@pytest.mark.parametrize(
    "content, line, fragment",
    [
        ("<review>\n<review_text>\n\n</review_text>\n</review>\n", 1, "empty <review_text>"),
        ("<reviews>\n<product>\n</product>\n</reviews>\n", 2, "top level"),
        ("hello\n", 1, "top level"),
        ("<reviews>\n<review>\n<title>\nx\n</title>\nstray text\n</review>\n</reviews>\n", 6, "outside any field"),
        ("<review>\n<review_text>\nabc\n</review>\n", 4, "inside <review_text>"),
        ("<review>\n<review_text>\nabc\n</review_text>\n<review>\n", 1, "not closed before the next"),
        ("<reviews>\n<review>\n<review_text>\nabc\n</review_text>\n</review>\n", 1, "<reviews> is not closed"),
        ("<reviews>\n</reviews>\n<review>\n", 3, "top level"),
    ],
)
def test_structure_errors(tmp_path, content, line, fragment):
    path = tmp_path / "positive.review"
    path.write_text(content)
    with pytest.raises(DataFormatError) as info:
        read_review_file(path)
    message = str(info.value)
    assert message.startswith(f"{path}, line {line}: "), message
    assert fragment in message


def test_data_format_error_pickles():
    error = pickle.loads(pickle.dumps(DataFormatError("a.tsv", 3, "no tab")))
    assert str(error) == "a.tsv, line 3: no tab"
    assert isinstance(error, ValueError)


# ----------------------------------------------------------------------------------------------
# Data paths


def test_parse_data_path():
    assert parse_data_path("x/kitchen#train") == ("x/kitchen", "train")
    assert parse_data_path("x/kitchen#dev") == ("x/kitchen", "validation")
    assert parse_data_path("x/kitchen#validation") == ("x/kitchen", "validation")
    assert parse_data_path("x/kitchen") == ("x/kitchen", None)
    with pytest.raises(ConfigurationError, match="x/kitchen#tarin"):
        parse_data_path("x/kitchen#tarin")


def test_path_errors(tmp_path):
    reader = BlitzerReviewsReader()
    with pytest.raises(FileNotFoundError, match="no_such_domain"):
        list(reader.read(f"{BLITZER / 'no_such_domain'}#train"))
    with pytest.raises(FileNotFoundError, match="kitchen\\+toys"):
        list(reader.read(f"{BLITZER / 'kitchen+toys'}#train"))
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("nothing here")
    with pytest.raises(FileNotFoundError, match="empty: folder has no positive.review"):
        list(reader.read(str(tmp_path / "empty")))
    with pytest.raises(FileNotFoundError, match="mix"):
        list(reader.read(f"{tmp_path / 'mix'}#test"))
    with pytest.raises(ConfigurationError, match="#testing"):
        list(reader.read(f"{KITCHEN}#testing"))


# ----------------------------------------------------------------------------------------------
# Splits


def test_split_sizes_disjoint_and_complete():
    reviews = load_reviews(KITCHEN)
    assert len(reviews) == 20
    splits = split_reviews(reviews, (0.8, 0.1, 0.1), seed=13)
    assert [len(splits[s]) for s in ("train", "validation", "test")] == [16, 2, 2]
    all_keys = [k for s in splits.values() for k in keys(s)]
    assert len(set(all_keys)) == len(all_keys)  # disjoint
    assert set(all_keys) == set(keys(reviews))  # union = all


def test_split_is_stratified():
    splits = split_reviews(load_reviews(BLITZER / "mix"), (0.6, 0.2, 0.2), seed=13)
    for split, expected in (("train", 6), ("validation", 2), ("test", 2)):
        for domain in ("books", "kitchen"):
            for label in ("negative", "positive"):
                stratum = [r for r in splits[split] if r.domain == domain and r.label == label]
                assert len(stratum) == expected, (split, domain, label)


def test_split_rounding_gives_exact_sizes():
    from rrnn_plugin.dataset_readers.review_files import Review

    reviews = [Review(f"t{i}", "positive", "", 5.0, "d", "p", i) for i in range(1000)]
    splits = split_reviews(reviews, (0.8, 0.1, 0.1), seed=13)
    assert [len(splits[s]) for s in ("train", "validation", "test")] == [800, 100, 100]


def test_split_is_deterministic_and_seeded():
    first = BlitzerReviewsReader()
    second = BlitzerReviewsReader()
    for split in ("train", "validation", "test"):
        assert texts(first.read(f"{KITCHEN}#{split}")) == texts(second.read(f"{KITCHEN}#{split}"))
    # Pinned, so that a change of the split algorithm (which would silently change every reported
    # number) cannot go unnoticed: seed 13, kitchen fixture, test split.
    assert [r.title for r in select_reviews(f"{KITCHEN}#test", drop_duplicates=False)] == [
        "Bad",
        "Happy",
    ]
    other = BlitzerReviewsReader(seed=14)
    assert texts(other.read(f"{KITCHEN}#test")) != texts(first.read(f"{KITCHEN}#test"))


# ----------------------------------------------------------------------------------------------
# Cross-validation folds


def fold_parts(reviews, folds, **kwargs):
    """{fold: {part: [review ids]}} for every fold."""
    return {
        fold: {part: [r.review_id for r in members] for part, members in
               split_reviews(reviews, folds=folds, fold=fold, **kwargs).items()}
        for fold in range(folds)
    }


def synthetic_reviews(n_per_stratum, domains=("d",)):
    from rrnn_plugin.dataset_readers.review_files import Review

    return [Review(f"{domain} {label} {i}", label, "", None, domain, "p", i, index=i)
            for domain in domains for label in ("negative", "positive") for i in range(n_per_stratum)]


def test_folds_test_every_review_exactly_once():
    reviews = synthetic_reviews(1000, domains=("a", "b"))
    parts = fold_parts(reviews, 5)
    tested = [rid for fold in parts.values() for rid in fold["test"]]
    assert sorted(tested) == sorted(r.review_id for r in reviews)  # once each, all of them
    for fold in parts.values():
        # the usual protocol on this data: 1,400 / 200 / 400 per 2,000-review domain
        assert [len(fold[p]) for p in ("train", "validation", "test")] == [2800, 400, 800]
        all_ids = fold["train"] + fold["validation"] + fold["test"]
        assert len(set(all_ids)) == len(all_ids) == len(reviews)  # disjoint, complete


def test_folds_are_stratified_and_near_equal():
    reviews = synthetic_reviews(13, domains=("a", "b"))  # 13 per stratum: blocks of 2 or 3
    for fold, split in fold_parts(reviews, 5).items():
        for domain in ("a", "b"):
            for label in ("negative", "positive"):
                size = sum(rid.startswith(f"{domain}/{label}/") for rid in split["test"])
                assert size in (2, 3), (fold, domain, label)
    sizes = [len(split["test"]) for split in fold_parts(synthetic_reviews(13), 5).values()]
    assert sum(sizes) == 26 and max(sizes) - min(sizes) <= 2


def test_folds_are_deterministic_seeded_and_pinned():
    reviews = load_reviews(KITCHEN)
    assert fold_parts(reviews, 5) == fold_parts(load_reviews(KITCHEN), 5)
    assert fold_parts(reviews, 5) != fold_parts(reviews, 5, seed=14)
    # Pinned (as the plain split is): a change of the fold algorithm would silently change every
    # cross-validated number.  Seed 13, kitchen fixture, fold 0 of 5.
    assert sorted(fold_parts(reviews, 5)[0]["test"]) == [
        "kitchen/negative/5", "kitchen/negative/7", "kitchen/positive/2", "kitchen/positive/5",
    ]


def test_folds_reader_and_ids():
    reader = BlitzerReviewsReader(folds=5, fold=2)
    ids = reader.example_ids(f"{KITCHEN}#test")
    instances = list(reader.read(f"{KITCHEN}#test"))
    assert len(ids) == len(instances) == 4
    by_id = {r.review_id: r for r in load_reviews(KITCHEN)}
    assert [i["label"].label for i in instances] == [by_id[i].label for i in ids]
    plain = BlitzerReviewsReader()
    assert len(list(plain.read(f"{KITCHEN}#train"))) == 15  # 16 minus the duplicate


@pytest.mark.parametrize(
    "kwargs, fragment",
    [({"folds": 1, "fold": 0}, "folds must be an integer >= 2"),
     ({"folds": 5}, "fold must be an integer in 0 .. 4"),
     ({"folds": 5, "fold": 5}, "fold must be an integer in 0 .. 4"),
     ({"fold": 1}, "needs folds"),
     ({"folds": 5, "fold": 0, "validation_fraction": 0.9}, "validation_fraction")],
)
def test_fold_settings_are_checked(kwargs, fragment):
    with pytest.raises(ConfigurationError, match=fragment):
        BlitzerReviewsReader(**kwargs)


def test_tsv_folds(tmp_path):
    reader = TsvSentimentReader(folds=4, fold=1)
    parts = {p: reader.example_ids(f"{FIXTURES / 'reviews.tsv'}#{p}") for p in ("train", "validation", "test")}
    all_ids = [i for ids in parts.values() for i in ids]
    assert len(all_ids) == len(set(all_ids)) == 20
    tested = [i for fold in range(4) for i in TsvSentimentReader(folds=4, fold=fold).example_ids(
        f"{FIXTURES / 'reviews.tsv'}#test")]
    assert sorted(tested) == sorted(TsvSentimentReader().example_ids(FIXTURES / "reviews.tsv"))
    labels = [i["label"].label for i in reader.read(f"{FIXTURES / 'reviews.tsv'}#test")]
    assert sorted(labels) == ["0"] * 3 + ["1"] * 3  # stratified: 10 per label -> blocks of 2, 3, 2, 3
    with pytest.raises(ConfigurationError, match="has no folds"):
        list(TsvSentimentReader().read(f"{FIXTURES / 'reviews.tsv'}#test"))


def test_split_fractions_must_sum_to_one():
    with pytest.raises(ConfigurationError, match="split_fractions"):
        BlitzerReviewsReader(split_fractions=(0.8, 0.1, 0.2))
    with pytest.raises(ConfigurationError, match="split_fractions"):
        BlitzerReviewsReader(split_fractions=(0.9, 0.1))


def test_dev_alias():
    reader = BlitzerReviewsReader()
    assert texts(reader.read(f"{KITCHEN}#dev")) == texts(reader.read(f"{KITCHEN}#validation"))


def test_mix_is_union_of_domains():
    kwargs = dict(split_fractions=(0.6, 0.2, 0.2), drop_duplicates=False)
    for split in ("train", "validation", "test"):
        mix = select_reviews(f"{BLITZER / 'mix'}#{split}", **kwargs)
        plus = select_reviews(f"{BLITZER / 'kitchen+books'}#{split}", **kwargs)
        domains = select_reviews(f"{BLITZER / 'books'}#{split}", **kwargs) + select_reviews(
            f"{KITCHEN}#{split}", **kwargs
        )
        assert keys(mix) == keys(plus) == keys(domains)  # domains sorted: books before kitchen
    # With de-duplication too (the fixture has no duplicate across domains).
    for split in ("train", "validation", "test"):
        mix = select_reviews(f"{BLITZER / 'mix'}#{split}")
        domains = select_reviews(f"{BLITZER / 'books'}#{split}") + select_reviews(f"{KITCHEN}#{split}")
        assert keys(mix) == keys(domains)


# ----------------------------------------------------------------------------------------------
# Duplicates


def test_duplicates_dropped_and_logged(caplog):
    reviews = load_reviews(KITCHEN)
    assert sum(duplicate_flags(reviews)) == 1
    with caplog.at_level(logging.INFO, logger="rrnn_plugin.dataset_readers.blitzer"):
        kept = select_reviews(str(KITCHEN))
    assert len(kept) == 19
    assert "dropped 1 duplicate" in caplog.text
    assert [r.text for r in kept].count(KITCHEN_DUPLICATE) == 1
    # The first occurrence (in file order) is the one kept.
    assert next(r for r in kept if r.text == KITCHEN_DUPLICATE).title == "Love this kettle"
    assert len(select_reviews(str(KITCHEN), drop_duplicates=False)) == 20


def test_dropping_duplicates_moves_no_review_between_splits():
    for split in ("train", "validation", "test"):
        with_duplicates = keys(select_reviews(f"{KITCHEN}#{split}", drop_duplicates=False))
        without = keys(select_reviews(f"{KITCHEN}#{split}"))
        assert set(without) <= set(with_duplicates)
    total = sum(len(select_reviews(f"{KITCHEN}#{s}")) for s in ("train", "validation", "test"))
    assert total == 19


def test_duplicates_across_labels_and_splits(tmp_path):
    domain = tmp_path / "toys"
    domain.mkdir()
    record = "<review>\n<review_text>\n{}\n</review_text>\n</review>\n"
    (domain / "negative.review").write_text("".join(record.format(f"neg {i}") for i in range(9)) + record.format("same"))
    (domain / "positive.review").write_text(record.format("same") + "".join(record.format(f"pos {i}") for i in range(9)))
    everything = select_reviews(str(domain), drop_duplicates=True)
    assert len(everything) == 19
    assert next(r for r in everything if r.text == "same").label == "negative"  # negative file first
    splits = [select_reviews(f"{domain}#{s}") for s in ("train", "validation", "test")]
    assert sum(len(s) for s in splits) == 19
    assert sum(r.text == "same" for s in splits for r in s) == 1


# ----------------------------------------------------------------------------------------------
# Instances, registration, loaders


def test_instances_and_text_to_instance():
    reader = BlitzerReviewsReader()
    instances = list(reader.read(f"{KITCHEN}#train"))
    assert len(instances) == len(select_reviews(f"{KITCHEN}#train"))
    tokens = [t.text for t in instances[0]["tokens"].tokens]
    assert tokens[0] == "<s>" and tokens[-1] == "</s>"
    assert {i["label"].label for i in instances} == {"positive", "negative"}

    instance = reader.text_to_instance("Don't buy it!")
    assert "label" not in instance.fields
    assert [t.text for t in instance["tokens"].tokens] == ["<s>", "do", "n't", "buy", "it", "!", "</s>"]
    # Indexable at once (a predictor also calls apply_token_indexers, which must keep it so).
    vocab = Vocabulary.from_instances(instances)
    instance.index_fields(vocab)
    reader.apply_token_indexers(instance)
    instance.index_fields(vocab)
    assert instance.as_tensor_dict()["tokens"]["tokens"]["tokens"].shape[0] == 7


def test_reader_options():
    reader = BlitzerReviewsReader(
        lowercase=False, add_boundary_tokens=False, max_tokens=3, include_title=True
    )
    assert isinstance(reader, SentimentReader)
    first = next(iter(reader.read(str(KITCHEN))))
    assert [t.text for t in first["tokens"].tokens] == ["Terrible", "pan", "Terrible"]
    with pytest.raises(ConfigurationError, match="max_tokens"):
        BlitzerReviewsReader(max_tokens=0)


def test_from_params_and_max_instances():
    reader = DatasetReader.from_params(
        Params(
            {
                "type": "blitzer_reviews",
                "split_fractions": [0.6, 0.2, 0.2],
                "seed": 5,
                "lowercase": False,
                "max_instances": 4,
                "token_indexers": {"tokens": {"type": "single_id"}},
            }
        )
    )
    assert isinstance(reader, BlitzerReviewsReader)
    assert reader._split_fractions == (0.6, 0.2, 0.2)
    assert reader._lowercase is False
    assert len(list(reader.read(f"{KITCHEN}#train"))) == 4
    assert isinstance(DatasetReader.by_name("tsv_sentiment")(), TsvSentimentReader)


def test_multiprocess_loading_reads_every_instance_once():
    reader = BlitzerReviewsReader()
    expected = sorted(texts(reader.read(f"{BLITZER / 'mix'}#train")))
    loader = MultiProcessDataLoader(reader, f"{BLITZER / 'mix'}#train", batch_size=4, num_workers=2)
    got = sorted(texts(loader.iter_instances()))
    assert got == expected
    loader.index_with(Vocabulary.from_instances(loader.iter_instances()))
    assert sum(len(batch["label"]) for batch in loader) == len(expected)


# ----------------------------------------------------------------------------------------------
# TSV reader


def test_tsv_reader():
    reader = TsvSentimentReader()
    instances = list(reader.read(FIXTURES / "reviews.tsv"))
    assert len(instances) == 20  # the blank line is skipped
    assert [i["label"].label for i in instances[:2]] == ["1", "0"]
    assert [t.text for t in instances[0]["tokens"].tokens][:3] == ["<s>", "a", "gripping"]
    assert "caf" in " ".join(texts(instances))


def test_tsv_missing_tab():
    path = BAD / "missing_tab.tsv"
    with pytest.raises(DataFormatError) as info:
        list(TsvSentimentReader().read(path))
    assert str(info.value) == f"{path}, line 4: no tab between label and text"


@pytest.mark.parametrize(
    "content, line, fragment",
    [("1\tok\n\t text\n", 2, "empty label"), ("1\tok\n0\t  \n", 2, "empty text")],
)
def test_tsv_empty_fields(tmp_path, content, line, fragment):
    path = tmp_path / "data.tsv"
    path.write_text(content)
    with pytest.raises(DataFormatError, match=f"data.tsv, line {line}: {fragment}"):
        list(TsvSentimentReader().read(path))


def test_tsv_latin1_fallback_and_options(tmp_path):
    path = tmp_path / "latin1.tsv"
    path.write_bytes(b"pos\tUn caf\xe9 TR\xc8S bon\r\n\r\nneg\tMauvais\x85 film\r\n")
    instances = list(TsvSentimentReader(clean=False, lowercase=False).read(path))
    assert [i["label"].label for i in instances] == ["pos", "neg"]
    assert [t.text for t in instances[0]["tokens"].tokens] == ["<s>", "Un", "café", "TRÈS", "bon", "</s>"]
    assert len(instances) == 2  # \x85 (NEL) does not split a line


# ----------------------------------------------------------------------------------------------
# Real data (skipped where /work/shared/data/blitzer is absent)


@pytest.mark.skipif(not (REAL_DATA / "kitchen").is_dir(), reason=f"real Blitzer data not found at {REAL_DATA}")
def test_real_kitchen_data():
    reviews = load_reviews(REAL_DATA / "kitchen")
    assert len(reviews) == 2000
    assert sum(r.label == "positive" for r in reviews) == 1000
    splits = split_reviews(reviews)
    assert [len(splits[s]) for s in ("train", "validation", "test")] == [1600, 200, 200]
    folds = split_reviews(reviews, folds=5, fold=3)
    assert [len(folds[s]) for s in ("train", "validation", "test")] == [1400, 200, 400]
    n_duplicates = sum(duplicate_flags(reviews))
    assert 20 <= n_duplicates <= 46
    deduplicated = [select_reviews(f"{REAL_DATA / 'kitchen'}#{s}") for s in ("train", "validation", "test")]
    assert sum(map(len, deduplicated)) == 2000 - n_duplicates
    assert all(len(d) <= len(splits[s]) for d, s in zip(deduplicated, ("train", "validation", "test")))
