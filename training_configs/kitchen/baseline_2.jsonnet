// Paper baseline on Blitzer kitchen (no regularization): 24 WFSAs of 2 transition(s) each (48 transitions), frozen GloVe.
local rrnn = import '../lib/rrnn.libsonnet';
rrnn.baseline('kitchen', rrnn.structures['2'])
