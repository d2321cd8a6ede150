// Structure learning on Blitzer mix over frozen contextual features (the paper's BERT setting;
// MiniLM-L6 offline by default): 12 WFSAs of 4 transitions (48), group lasso, pruning, finetuning.
// lambda: RRNN_LAMBDA=... (default 3e-4).
local bert = import '../lib/bert.libsonnet';
local rrnn = import '../lib/rrnn.libsonnet';
bert.structure_learning('mix', rrnn.env_number('RRNN_LAMBDA', 3e-4))
