// Shared pieces of every rrnn_plugin training config.  Configs call `baseline(...)` (or compose the
// pieces below) instead of copying them.
//
// Paths come from environment variables (AllenNLP passes the environment to jsonnet as ext vars);
// importing rrnn_plugin sets defaults for both, so they need setting only to point elsewhere:
//   RRNN_DATA_DIR    folder with <domain>/{positive,negative}.review  (default ../shared/data/blitzer)
//   RRNN_GLOVE_FILE  GloVe text file                                   (default data/glove/glove.6B.50d.blitzer.txt,
//                                                                       written by `make glove`)
local data_dir = std.extVar('RRNN_DATA_DIR');
local glove_file = std.extVar('RRNN_GLOVE_FILE');

// The paper's baselines: every WFSA of one length, or an equal mix of lengths 1-4 (24 WFSAs).
local structures = {
  '1': { '1': 24 },
  '2': { '2': 24 },
  '3': { '3': 24 },
  '4': { '4': 24 },
  mix: { '1': 6, '2': 6, '3': 6, '4': 6 },
};

{
  data_dir:: data_dir,
  structures:: structures,

  // Hyperparameters shared by the GloVe configs (override any key per config).
  defaults:: {
    embedding_dim: 50,
    glove_file: glove_file,
    semiring: 'plus_times',
    embedding_dropout: 0.2,
    feature_dropout: 0.1,
    lr: 0.03,
    batch_size: 64,
    grad_clipping: 5.0,
    num_epochs: 40,
    patience: 10,
    seed: 13,
  },

  reader():: {
    type: 'blitzer_reviews',
    lowercase: true,
    clean: true,
    add_boundary_tokens: true,
  },

  // Frozen GloVe through AllenNLP's stock `embedding` (rows L2-normalized when the file was written
  // with `allennlp rrnn-glove --normalize`).
  glove_embedder(hp):: {
    token_embedders: {
      tokens: {
        type: 'embedding',
        embedding_dim: hp.embedding_dim,
        pretrained_file: hp.glove_file,
        trainable: false,
      },
    },
  },

  encoder(lengths, hp):: {
    type: 'rational_rnn',
    input_dim: hp.embedding_dim,
    wfsa_lengths: lengths,
    semiring: hp.semiring,
    input_dropout: hp.embedding_dropout,
  },

  trainer(hp):: {
    optimizer: { type: 'adam', lr: hp.lr },
    num_epochs: hp.num_epochs,
    patience: hp.patience,
    grad_clipping: hp.grad_clipping,
    validation_metric: '+accuracy',
    cuda_device: -1,
  },

  // A full config: classifier with `lengths` WFSAs on `dataset` (a domain folder name under
  // RRNN_DATA_DIR, 'mix' for all domains, or 'books+dvd'-style unions).
  baseline(dataset, lengths, overrides={}):: (
    local hp = $.defaults + overrides;
    {
      random_seed: hp.seed,
      numpy_seed: hp.seed,
      pytorch_seed: hp.seed,
      dataset_reader: $.reader(),
      train_data_path: data_dir + '/' + dataset + '#train',
      validation_data_path: data_dir + '/' + dataset + '#validation',
      test_data_path: data_dir + '/' + dataset + '#test',
      evaluate_on_test: true,
      model: {
        type: 'rational_classifier',
        text_field_embedder: $.glove_embedder(hp),
        seq2vec_encoder: $.encoder(lengths, hp),
        dropout: hp.feature_dropout,
      },
      data_loader: {
        batch_sampler: { type: 'bucket', batch_size: hp.batch_size, sorting_keys: ['tokens'] },
      },
      trainer: $.trainer(hp),
    }
  ),
}
