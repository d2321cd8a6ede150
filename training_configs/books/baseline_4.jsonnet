// Paper baseline on Blitzer books (no regularization): 24 WFSAs of 4 transition(s) each (96 transitions), frozen GloVe.
local rrnn = import '../lib/rrnn.libsonnet';
rrnn.baseline('books', rrnn.structures['4'])
