// Paper baseline on Blitzer books (no regularization): 24 WFSAs of 2 transition(s) each (48 transitions), frozen GloVe.
local rrnn = import '../lib/rrnn.libsonnet';
rrnn.baseline('books', rrnn.structures['2'])
