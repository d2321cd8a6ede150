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
// ../composed/tagger.jsonnet reads RRNN_TAGGING_DIR (folder with train.tsv / validation.tsv;
// '' = tests/fixtures/tagging, relative to the project root).
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
  env_number(name, default):: (
    local value = std.extVar(name);
    if value == '' then default
    else if std.all([std.member('0123456789.eE+-', c) for c in std.stringChars(value)]) then std.parseJson(value)
    else error 'environment variable ' + name + ' must be a number (e.g. 2e-4), got "' + value + '"'
  ),

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

  // The `rational_rnn` encoder.  The same JSON builds the Seq2Vec form (as `seq2vec_encoder`, the
  // scores after the last token) and the Seq2Seq form (as `seq2seq_encoder` or a tagger's
  // `encoder`, the scores after every token).  Optional keys of `hp` (see `encoder_defaults`):
  //   num_layers     stacked layers; layer l+1 reads layer l's scores at every token
  //   bidirectional  a second, backward set of `lengths` WFSAs in every layer (outputs concatenated)
  //   layer_dropout  dropout between layers (the encoder's `dropout`)
  //   input_dropout_per_document  one input dropout mask per document (the BERT configs; fast on wide inputs)
  // Each is written into the JSON only when it differs from its default, so the single-layer
  // configs are exactly what they were before stacking existed.
  encoder_defaults:: { num_layers: 1, bidirectional: false, layer_dropout: 0, input_dropout_per_document: false },
  encoder(lengths, hp):: (
    local e = $.encoder_defaults + hp;
    {
      type: 'rational_rnn',
      input_dim: hp.embedding_dim,
      wfsa_lengths: lengths,
      semiring: hp.semiring,
      input_dropout: hp.embedding_dropout,
    }
    + (if e.num_layers != 1 then { num_layers: e.num_layers } else {})
    + (if e.bidirectional then { bidirectional: true } else {})
    + (if e.layer_dropout != 0 then { dropout: e.layer_dropout } else {})
    + (if e.input_dropout_per_document then { input_dropout_per_document: true } else {})
  ),

  // Number of WFSAs in `lengths` ({'1': 3, '4': 2} or a list of lengths).
  num_wfsas(lengths):: (
    if std.isArray(lengths) then std.length(lengths)
    else std.foldl(function(total, k) total + lengths[k], std.objectFields(lengths), 0)
  ),

  // Features the encoder outputs (per token in the Seq2Seq form): the top layer's WFSAs, twice
  // that if bidirectional.  What a pooler, feedforward or tag projection reading it gets.
  encoder_output_dim(lengths, hp):: (
    local e = $.encoder_defaults + hp;
    $.num_wfsas(lengths) * (if e.bidirectional then 2 else 1)
  ),

  // ----- the Seq2Seq form under stock AllenNLP modules --------------------------------------
  // Poolers (stock Seq2Vec encoders) over the Seq2Seq encoder's h(t); `dim` = encoder_output_dim.
  boe_pooler(dim, averaged=true):: { type: 'boe', embedding_dim: dim, averaged: averaged },
  cnn_pooler(dim, num_filters=8, ngram_filter_sizes=[2, 3]):: {
    type: 'cnn', embedding_dim: dim, num_filters: num_filters, ngram_filter_sizes: ngram_filter_sizes,
  },

  // A `baseline` classifier whose WFSAs run as a Seq2Seq encoder (h(t) at every token) under a
  // stock pooler: `pooler` is a function of the encoder's output size, e.g. $.boe_pooler or
  // function(dim) $.cnn_pooler(dim, 16, [2, 3]).  `model_type` 'rational_classifier' (size
  // metrics, `sentiment` predictor by default) or AllenNLP's own 'basic_classifier'.
  seq2seq_classifier(dataset, lengths, pooler, overrides={}, model_type='rational_classifier'):: (
    local hp = $.defaults + overrides;
    $.baseline(dataset, lengths, hp) + {
      model+: {
        type: model_type,
        seq2seq_encoder: $.encoder(lengths, hp),
        seq2vec_encoder: pooler($.encoder_output_dim(lengths, hp)),
      },
    }
  ),

  trainer(hp):: {
    optimizer: { type: 'adam', lr: hp.lr },
    num_epochs: hp.num_epochs,
    patience: hp.patience,
    grad_clipping: hp.grad_clipping,
    validation_metric: '+accuracy',
    cuda_device: -1,
    callbacks: [{ type: 'check_labels' }],  // two labels at least, no validation label unseen in training
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

  // ----- your own data -------------------------------------------------------------------------
  // Any config of this library (or of bert.libsonnet) on label<TAB>text files of your own instead
  // of a Blitzer domain: the reader keeps every setting of the config (cleaning and lower-casing
  // for GloVe, neither for contextual features), only its format and the paths change.  Without a
  // test file there is no test evaluation.  docs/own-data.md has the recipes.
  tsv_files(config, train, validation, test=null):: config + {
    dataset_reader+: { type: std.strReplace(super.type, 'blitzer_reviews', 'tsv_sentiment') },
    train_data_path: train,
    validation_data_path: validation,
  } + (if test == null then { test_data_path:: null, evaluate_on_test: false } else { test_data_path: test }),

  // ----- a tagger: AllenNLP's simple_tagger over the Seq2Seq form ----------------------------

  // Hyperparameters of `tagger` (small trainable embeddings, no GloVe; override any key).
  tagging_defaults:: {
    embedding_dim: 16,
    semiring: 'plus_times',
    embedding_dropout: 0.1,
    num_layers: 1,
    bidirectional: true,
    layer_dropout: 0,
    lr: 0.03,
    batch_size: 8,
    grad_clipping: 5.0,
    num_epochs: 40,
    patience: 10,
    seed: 13,
  },

  // `simple_tagger` on `<data_dir>/train.tsv` and `<data_dir>/validation.tsv`, read by AllenNLP's
  // `sequence_tagging` reader (one sentence per line, tokens `word###TAG` separated by spaces).
  // Its tag projection reads the encoder's h(t) at every token (encoder_output_dim features).
  tagger(data_dir, lengths, overrides={}):: (
    local hp = $.tagging_defaults + overrides;
    {
      random_seed: hp.seed,
      numpy_seed: hp.seed,
      pytorch_seed: hp.seed,
      dataset_reader: { type: 'sequence_tagging' },
      train_data_path: data_dir + '/train.tsv',
      validation_data_path: data_dir + '/validation.tsv',
      model: {
        type: 'simple_tagger',
        text_field_embedder: {
          token_embedders: { tokens: { type: 'embedding', embedding_dim: hp.embedding_dim, trainable: true } },
        },
        encoder: $.encoder(lengths, hp),
      },
      data_loader: {
        batch_sampler: { type: 'bucket', batch_size: hp.batch_size, sorting_keys: ['tokens'] },
      },
      trainer: $.trainer(hp),
    }
  ),

  // ----- structure learning (docs/method.md §2-§3) -----------------------------------------------

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

  // Any config whose model pruning supports (basic_classifier / rational_classifier with
  // rational_rnn encoders, stacked or bidirectional, or simple_tagger with a rational_rnn encoder)
  // + group lasso `lambda` (one group per state of every layer and direction) + the
  // prune_and_finetune callback (before the config's own callbacks); `hp` must hold
  // `structure_defaults`' keys.
  with_structure_learning(config, lambda, hp):: config + {
    model+: { regularizer: $.group_lasso(lambda) },
    trainer+: {
      num_epochs: hp.structure_epochs + hp.finetune_epochs,
      patience:: null,  // early stopping happens in phase 2 only, with finetune_patience
      // first, so that `trainer.callbacks.0.*` overrides (sweep specs, tests) address it
      callbacks: [{
        type: 'prune_and_finetune',
        structure_epochs: hp.structure_epochs,
        finetune_epochs: hp.finetune_epochs,
        finetune_patience: hp.finetune_patience,
        eps: hp.eps,
        finetune_optimizer: { type: 'adam', lr: hp.finetune_lr },
        finetune_learning_rate_scheduler: $.finetune_scheduler(hp),
      }] + (if 'callbacks' in super then super.callbacks else []),
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
