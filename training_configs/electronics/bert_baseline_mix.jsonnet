// Paper baseline, BERT setting, on Blitzer electronics (no regularization): an equal mix: 3 WFSAs each of 1, 2, 3 and 4 transitions (30 transitions),
// over frozen contextual features (sum of the last 4 layers, one WordPiece per step).
local bert = import '../lib/bert.libsonnet';
bert.baseline('electronics', bert.structures['mix'])
