// Version of the kernels' Python interface.  Bump it with any change to a binding's arguments or
// results, together with KERNEL_VERSION in rrnn_plugin/kernels/_loader.py: a .so built from
// older sources is then reported as stale (and the PyTorch path used) instead of failing on call.
#pragma once
#define RRNN_KERNEL_VERSION 2
