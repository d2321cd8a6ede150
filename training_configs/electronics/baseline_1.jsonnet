// Paper baseline on Blitzer electronics (no regularization): 24 WFSAs of 1 transition(s) each (24 transitions), frozen GloVe.
local rrnn = import '../lib/rrnn.libsonnet';
rrnn.baseline('electronics', rrnn.structures['1'])
