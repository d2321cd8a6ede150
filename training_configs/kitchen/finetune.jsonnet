// Two-run form, second command: finetune the learned structure of a kitchen structure_learning run
// (no regularizer, fresh optimizer, learning-rate schedule, early stopping).  The archive is
// runs/kitchen-sl/structure_model.tar.gz unless RRNN_STRUCTURE_ARCHIVE names another one.
local rrnn = import '../lib/rrnn.libsonnet';
local archive = rrnn.env_string('RRNN_STRUCTURE_ARCHIVE', 'runs/kitchen-sl/structure_model.tar.gz');
rrnn.finetune('kitchen', archive)
