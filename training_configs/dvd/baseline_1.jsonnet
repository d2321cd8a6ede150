// Paper baseline on Blitzer dvd (no regularization): 24 WFSAs of 1 transition(s) each (24 transitions), frozen GloVe.
local rrnn = import '../lib/rrnn.libsonnet';
rrnn.baseline('dvd', rrnn.structures['1'])
