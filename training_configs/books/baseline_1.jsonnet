// Paper baseline on Blitzer books (no regularization): 24 WFSAs of 1 transition(s) each (24 transitions), frozen GloVe.
local rrnn = import '../lib/rrnn.libsonnet';
rrnn.baseline('books', rrnn.structures['1'])
