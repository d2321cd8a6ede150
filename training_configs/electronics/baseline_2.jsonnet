// Paper baseline on Blitzer electronics (no regularization): 24 WFSAs of 2 transition(s) each (48 transitions), frozen GloVe.
local rrnn = import '../lib/rrnn.libsonnet';
rrnn.baseline('electronics', rrnn.structures['2'])
