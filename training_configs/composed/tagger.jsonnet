// A tagger: AllenNLP's stock `simple_tagger` whose encoder is the Seq2Seq `rational_rnn`
// (bidirectional, 1 layer, 4 WFSAs each of 1 and 2 transitions per direction -> 16 features per
// token, read by the tag projection), small trainable embeddings (16-d, no GloVe).
// Data: AllenNLP's `sequence_tagging` reader, one sentence per line, tokens `word###TAG` separated
// by spaces, files train.tsv and validation.tsv in the folder RRNN_TAGGING_DIR.  When that is
// empty ('') the folder is tests/fixtures/tagging, relative to the directory allennlp runs in
// (run from the project root): a toy task of 30 + 10 kitchen-review sentences whose words are
// tagged POS / NEG (sentiment words), NOT (negators) or O, with a sentiment word right after a
// negator (optionally "very"/"so"/... in between) taking the opposite tag ("not good" -> NEG).
//
//   allennlp train training_configs/composed/tagger.jsonnet -s runs/toy-tagger
//   RRNN_TAGGING_DIR=/data/my_tags allennlp train training_configs/composed/tagger.jsonnet -s runs/my-tagger
//
// Prediction: `allennlp predict ... --predictor sentence_tagger` needs a spaCy model; without
// en_core_web_sm pass `--predictor-args '{"language": "blank:en"}'`.
local rrnn = import '../lib/rrnn.libsonnet';
local data_dir = rrnn.env_string('RRNN_TAGGING_DIR', 'tests/fixtures/tagging');
rrnn.tagger(data_dir, { '1': 4, '2': 4 })
