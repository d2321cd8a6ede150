// Paper baseline on Blitzer mix (no regularization): 24 WFSAs of 4 transition(s) each (96 transitions), frozen GloVe.
local rrnn = import '../lib/rrnn.libsonnet';
rrnn.baseline('mix', rrnn.structures['4'])
