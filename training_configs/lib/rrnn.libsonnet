// Shared pieces of every rrnn_plugin training config.  Configs call `baseline(...)`,
// `structure_learning(...)` or `finetune(...)` (or compose the pieces below) instead of copying them.
//
// Paths come from environment variables (AllenNLP passes the environment to jsonnet as ext vars);
// importing rrnn_plugin sets defaults for both, so they need setting only to point elsewhere:
//   RRNN_DATA_DIR    folder with <domain>/{positive,negative}.review  (default ../shared/data/blitzer)
//   RRNN_GLOVE_FILE  GloVe text file                                   (default data/glove/glove.6B.50d.blitzer.txt,
//                                                                       written by `make glove`)
// Structure learning also reads (both default to '', i.e. the config's own value):
//   RRNN_LAMBDA             group-lasso strength, a JSON number (e.g. RRNN_LAMBDA=2e-4)
//   RRNN_STRUCTURE_ARCHIVE  learned-structure archive for the two-run `finetune` configs
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

  // An ext var (AllenNLP passes the environment), or `default` when it is '' (unset).
  env_string(name, default):: local value = std.extVar(name); if value == '' then default else value,
  env_number(name, default):: local value = std.extVar(name); if value == '' then default else std.parseJson(value),

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

  // ----- structure learning (method.md §2-§3) -----------------------------------------------

  // Hyperparameters of structure learning and finetuning (override any key per config).
  structure_defaults:: {
    eps: 0.1,  // a state survives if its group norm is > eps (and so are its predecessors')
    structure_epochs: 20,  // phase 1: constant learning rate, no early stopping
    finetune_epochs: 20,  // phase 2: at most this many epochs ...
    finetune_patience: 5,  // ... early-stopped on validation accuracy
    finetune_lr: 0.01,
    finetune_lr_factor: 0.5,  // reduce_on_plateau in phase 2 ("learning-rate schedule back on")
    finetune_lr_patience: 2,
  },

  // Group lasso over the rows (states) of the encoder's state_params.
  group_lasso(lambda):: { regexes: [['.*state_params', { type: 'state_group_lasso', alpha: lambda }]] },

  finetune_scheduler(hp):: {
    type: 'reduce_on_plateau', mode: 'max', factor: hp.finetune_lr_factor, patience: hp.finetune_lr_patience,
  },

  // One run: 24 WFSAs of 4 transitions with group lasso `lambda`, pruned at the best structure
  // epoch and finetuned (rrnn_plugin/training/prune_and_finetune.py).
  structure_learning(dataset, lambda, overrides={}):: (
    local hp = $.defaults + $.structure_defaults + overrides;
    $.with_structure_learning($.baseline(dataset, structures['4'], hp), lambda, hp)
  ),

  // Any classifier config + group lasso `lambda` + the prune_and_finetune callback (appended to
  // the config's own callbacks); `hp` must hold `structure_defaults`' keys.
  with_structure_learning(config, lambda, hp):: config + {
    model+: { regularizer: $.group_lasso(lambda) },
    trainer+: {
      num_epochs: hp.structure_epochs + hp.finetune_epochs,
      patience:: null,  // early stopping happens in phase 2 only, with finetune_patience
      callbacks+: [{
        type: 'prune_and_finetune',
        structure_epochs: hp.structure_epochs,
        finetune_epochs: hp.finetune_epochs,
        finetune_patience: hp.finetune_patience,
        eps: hp.eps,
        finetune_optimizer: { type: 'adam', lr: hp.finetune_lr },
        finetune_learning_rate_scheduler: $.finetune_scheduler(hp),
      }],
    },
  },


  // The paper's second command: finetune a learned-structure archive (`structure_model.tar.gz` of
  // a structure_learning run, or its model.tar.gz when run with finetune_epochs = 0).
  finetune(dataset, archive, overrides={}):: (
    local hp = $.defaults + $.structure_defaults + overrides;
    $.baseline(dataset, structures['4'], hp) + {
      vocabulary: { type: 'from_files', directory: archive },  // the archive's token indices
      model: { type: 'from_archive', archive_file: archive },
      trainer+: {
        optimizer: { type: 'adam', lr: hp.finetune_lr },
        num_epochs: hp.finetune_epochs,
        patience: hp.finetune_patience,
        learning_rate_scheduler: $.finetune_scheduler(hp),
      },
    }
  ),
}
