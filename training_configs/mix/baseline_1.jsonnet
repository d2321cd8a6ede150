// Paper baseline on Blitzer mix (no regularization): 24 WFSAs of 1 transition(s) each (24 transitions), frozen GloVe.
local rrnn = import '../lib/rrnn.libsonnet';
rrnn.baseline('mix', rrnn.structures['1'])
