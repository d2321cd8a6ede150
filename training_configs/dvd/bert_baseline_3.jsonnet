// Paper baseline, BERT setting, on Blitzer dvd (no regularization): 12 WFSAs of 3 transitions (36 transitions),
// over frozen contextual features (sum of the last 4 layers, one WordPiece per step).
local bert = import '../lib/bert.libsonnet';
bert.baseline('dvd', bert.structures['3'])
