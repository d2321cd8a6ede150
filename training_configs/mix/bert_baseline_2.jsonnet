// Paper baseline, BERT setting, on Blitzer mix (no regularization): 12 WFSAs of 2 transitions (24 transitions),
// over frozen contextual features (sum of the last 4 layers, one WordPiece per step).
local bert = import '../lib/bert.libsonnet';
bert.baseline('mix', bert.structures['2'])
