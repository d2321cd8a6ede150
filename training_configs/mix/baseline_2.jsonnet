// Paper baseline on Blitzer mix (no regularization): 24 WFSAs of 2 transition(s) each (48 transitions), frozen GloVe.
local rrnn = import '../lib/rrnn.libsonnet';
rrnn.baseline('mix', rrnn.structures['2'])
