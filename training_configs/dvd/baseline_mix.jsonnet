// Paper baseline on Blitzer dvd (no regularization): an equal mix: 6 WFSAs each of 1, 2, 3 and 4 transitions (60 transitions), frozen GloVe.
local rrnn = import '../lib/rrnn.libsonnet';
rrnn.baseline('dvd', rrnn.structures['mix'])
