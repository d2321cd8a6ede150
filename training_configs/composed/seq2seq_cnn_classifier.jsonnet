// The WFSAs as a Seq2Seq encoder inside AllenNLP's own `basic_classifier`: `rational_rnn` as the
// model's seq2seq_encoder returns h(t) after every token (24 WFSAs, 6 each of 1-4 transitions ->
// 24 features per token), and AllenNLP's stock `cnn` Seq2Vec encoder (8 filters each of widths
// 2 and 3) pools them into the document vector.  Blitzer kitchen, frozen GloVe 50d, the shared
// defaults of ../lib/rrnn.libsonnet.  Nothing here is specific to this plugin except the encoder.
//
//   allennlp train training_configs/composed/seq2seq_cnn_classifier.jsonnet -s runs/kitchen-s2s-cnn
//   allennlp predict runs/kitchen-s2s-cnn/model.tar.gz in.jsonl --predictor sentiment --silent
//
// (basic_classifier's default predictor, text_classifier, expects pre-cleaned text; `sentiment`
// sends {"sentence": ...} through the archived blitzer_reviews reader.)  RRNN_DATA_DIR and
// RRNN_GLOVE_FILE point elsewhere as for every config.  Structure learning also works on this
// model (with_structure_learning in ../lib/rrnn.libsonnet): pruned WFSAs drop the cnn's input channels.
local rrnn = import '../lib/rrnn.libsonnet';
rrnn.seq2seq_classifier(
  'kitchen',
  rrnn.structures.mix,
  function(dim) rrnn.cnn_pooler(dim, num_filters=8, ngram_filter_sizes=[2, 3]),
  model_type='basic_classifier',
)
