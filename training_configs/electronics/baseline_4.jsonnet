// Paper baseline on Blitzer electronics (no regularization): 24 WFSAs of 4 transition(s) each (96 transitions), frozen GloVe.
local rrnn = import '../lib/rrnn.libsonnet';
rrnn.baseline('electronics', rrnn.structures['4'])
