// Paper baseline on Blitzer mix (no regularization): 24 WFSAs of 3 transition(s) each (72 transitions), frozen GloVe.
local rrnn = import '../lib/rrnn.libsonnet';
rrnn.baseline('mix', rrnn.structures['3'])
