// The WFSAs as a Seq2Seq encoder under a stock pooler: `rational_classifier` whose seq2seq_encoder
// is `rational_rnn` (h(t) after every token; 24 WFSAs, 6 each of 1-4 transitions) and whose
// seq2vec_encoder is AllenNLP's `boe` (averaged), i.e. the document vector is the mean of the WFSA
// scores over all prefixes instead of the score after the last token.  Blitzer kitchen, frozen
// GloVe 50d, the shared defaults of ../lib/rrnn.libsonnet.
//
//   allennlp train training_configs/composed/seq2seq_boe_classifier.jsonnet -s runs/kitchen-s2s-boe
//   allennlp predict runs/kitchen-s2s-boe/model.tar.gz in.jsonl --predictor sentiment --silent
//
// RRNN_DATA_DIR and RRNN_GLOVE_FILE point elsewhere as for every config.
local rrnn = import '../lib/rrnn.libsonnet';
rrnn.seq2seq_classifier('kitchen', rrnn.structures.mix, rrnn.boe_pooler)
