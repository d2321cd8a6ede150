// Paper baseline, BERT setting, on Blitzer electronics (no regularization): 12 WFSAs of 1 transition (12 transitions),
// over frozen contextual features (sum of the last 4 layers, one WordPiece per step).
local bert = import '../lib/bert.libsonnet';
bert.baseline('electronics', bert.structures['1'])
