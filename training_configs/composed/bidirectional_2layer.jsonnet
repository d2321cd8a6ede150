// A stacked, bidirectional WFSA encoder (Peng et al. 2018 stack 2 layers): `rational_classifier`
// with a 2-layer bidirectional Seq2Vec `rational_rnn`, 12 WFSAs per direction (3 each of 1-4
// transitions), so each layer outputs 24 features (12 forward + 12 backward), as many as the
// paper's single layer of 24 WFSAs.  Layer 2 reads layer 1's h(t) at every token, with dropout 0.1
// in between (not tuned); the document vector is [forward h(T), backward h(1)] of layer 2.
// 4 x 30 = 120 transitions.  Blitzer kitchen, frozen GloVe 50d, the defaults of ../lib/rrnn.libsonnet.
//
//   allennlp train training_configs/composed/bidirectional_2layer.jsonnet -s runs/kitchen-bi2
//   allennlp predict runs/kitchen-bi2/model.tar.gz in.jsonl --predictor sentiment --silent
local rrnn = import '../lib/rrnn.libsonnet';
rrnn.baseline(
  'kitchen',
  { '1': 3, '2': 3, '3': 3, '4': 3 },
  { num_layers: 2, bidirectional: true, layer_dropout: 0.1 },
)
