// Structure learning on Blitzer kitchen (docs/method.md §2-§3), one run: 24 WFSAs of 4 transitions (96),
// frozen GloVe, group lasso, then pruning at the best structure epoch and finetuning.
// lambda 3e-4 gives ~20 of 96 transitions on kitchen; change it without editing the file:
// RRNN_LAMBDA=1e-4 allennlp train ... (see ../lib/rrnn.libsonnet).
local rrnn = import '../lib/rrnn.libsonnet';
local lambda = rrnn.env_number('RRNN_LAMBDA', 3e-4);
rrnn.structure_learning('kitchen', lambda)
