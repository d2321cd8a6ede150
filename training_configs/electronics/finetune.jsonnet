// Two-run form, second command: finetune the learned structure of a electronics structure_learning run
// (no regularizer, fresh optimizer, learning-rate schedule, early stopping).  The archive is
// runs/electronics-sl/structure_model.tar.gz unless RRNN_STRUCTURE_ARCHIVE names another one.
local rrnn = import '../lib/rrnn.libsonnet';
local archive = rrnn.env_string('RRNN_STRUCTURE_ARCHIVE', 'runs/electronics-sl/structure_model.tar.gz');
rrnn.finetune('electronics', archive)
