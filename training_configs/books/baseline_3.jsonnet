// Paper baseline on Blitzer books (no regularization): 24 WFSAs of 3 transition(s) each (72 transitions), frozen GloVe.
local rrnn = import '../lib/rrnn.libsonnet';
rrnn.baseline('books', rrnn.structures['3'])
