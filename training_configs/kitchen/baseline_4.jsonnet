// Paper baseline on Blitzer kitchen (no regularization): 24 WFSAs of 4 transition(s) each (96 transitions), frozen GloVe.
local rrnn = import '../lib/rrnn.libsonnet';
rrnn.baseline('kitchen', rrnn.structures['4'])
