// Paper baseline on Blitzer dvd (no regularization): 24 WFSAs of 4 transition(s) each (96 transitions), frozen GloVe.
local rrnn = import '../lib/rrnn.libsonnet';
rrnn.baseline('dvd', rrnn.structures['4'])
