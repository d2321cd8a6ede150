// Paper baseline on Blitzer dvd (no regularization): 24 WFSAs of 3 transition(s) each (72 transitions), frozen GloVe.
local rrnn = import '../lib/rrnn.libsonnet';
rrnn.baseline('dvd', rrnn.structures['3'])
